//! Checked allocations: every buffer JavaScript hands to a kernel is named by a **handle** that
//! this module issued, never by an address.
//!
//! The module keeps a table of live allocations, `handle -> (address, length)`. A handle is an
//! odd number drawn from a counter that only moves forward, so a handle is never reused while the
//! counter has not wrapped (2^31 allocations later, and even then a handle still in use is
//! skipped): a freed handle stays invalid even when its memory block has been handed out again,
//! and no byte pattern in tensor data can make an address pass for an allocation. The binding
//! layer resolves handles here before any kernel runs and checks that the length a kernel will
//! touch fits the allocation. Handles are odd on purpose: one mistaken for an address makes a
//! `Float32Array` view throw instead of reading the wrong memory.
//!
//! Data is 16-byte aligned for SIMD loads. One allocation holds at most [`MAX_BYTES`]
//! (`isize::MAX` rounded down to the alignment: 2 GiB - 16 bytes on wasm32), the limit Rust's
//! allocator API puts on a single block; all allocations together are bounded by the 4 GiB a
//! wasm32 memory can address.

use std::alloc::{alloc, alloc_zeroed, dealloc, Layout};
use std::collections::BTreeMap;
use std::sync::Mutex;

const ALIGN: usize = 16;
/// The largest single allocation, in bytes.
pub const MAX_BYTES: usize = (isize::MAX as usize) & !(ALIGN - 1);

struct Block {
    addr: usize,
    bytes: usize,
}

struct Table {
    blocks: BTreeMap<u32, Block>,
    /// The counter handles are made from: `handle = 2 * counter + 1`.
    counter: u32,
    live_bytes: usize,
}

static TABLE: Mutex<Table> = Mutex::new(Table { blocks: BTreeMap::new(), counter: 0, live_bytes: 0 });

fn table() -> std::sync::MutexGuard<'static, Table> {
    // panic = "abort": a panic never unwinds while the lock is held, so the lock is never
    // poisoned on wasm; on the host (tests) take the data anyway.
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a handle was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AccessError {
    Null,
    NotAllocated(u32),
    TooShort { handle: u32, have: usize, need: usize },
}

impl core::fmt::Display for AccessError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AccessError::Null => write!(f, "null handle"),
            AccessError::NotAllocated(h) => write!(f, "handle {h} is not a live allocation (never issued, or already freed)"),
            AccessError::TooShort { handle, have, need } => {
                write!(f, "allocation {handle} holds {have} bytes, the kernel needs {need}")
            }
        }
    }
}

fn layout(bytes: usize) -> Option<Layout> {
    // Zero-byte tensors still get a block (the allocator API needs a non-zero size).
    Layout::from_size_align(bytes.max(ALIGN), ALIGN).ok()
}

/// Allocates `bytes` (zero-filled); `None` when memory cannot grow that far.
pub fn allocate(bytes: usize) -> Option<u32> {
    allocate_with(bytes, true)
}

/// Allocates `bytes`, zero-filled or not (kernel outputs, which every kernel overwrites whole);
/// returns its handle, or `None` when the size is over [`MAX_BYTES`] or memory cannot grow.
pub fn allocate_with(bytes: usize, zeroed: bool) -> Option<u32> {
    if bytes > MAX_BYTES {
        return None;
    }
    let lay = layout(bytes)?;
    // SAFETY: the layout has a non-zero size.
    let addr = unsafe { if zeroed { alloc_zeroed(lay) } else { alloc(lay) } };
    if addr.is_null() {
        return None;
    }
    let mut t = table();
    let handle = loop {
        t.counter = if t.counter >= (u32::MAX >> 1) { 1 } else { t.counter + 1 };
        let h = 2 * t.counter + 1;
        if !t.blocks.contains_key(&h) {
            break h;
        }
    };
    t.blocks.insert(handle, Block { addr: addr as usize, bytes });
    t.live_bytes += bytes;
    Some(handle)
}

/// The address and length in bytes of the live allocation `handle`.
pub fn resolve(handle: u32) -> Result<(usize, usize), AccessError> {
    if handle == 0 {
        return Err(AccessError::Null);
    }
    table().blocks.get(&handle).map(|b| (b.addr, b.bytes)).ok_or(AccessError::NotAllocated(handle))
}

/// Checks that `handle` is a live allocation of at least `need` bytes; returns its address.
pub fn check(handle: u32, need: usize) -> Result<usize, AccessError> {
    let (addr, have) = resolve(handle)?;
    if need > have {
        return Err(AccessError::TooShort { handle, have, need });
    }
    Ok(addr)
}

/// Frees an allocation made by [`allocate`]; the handle is invalid from then on.
pub fn release(handle: u32) -> Result<(), AccessError> {
    if handle == 0 {
        return Err(AccessError::Null);
    }
    let block = {
        let mut t = table();
        let b = t.blocks.remove(&handle).ok_or(AccessError::NotAllocated(handle))?;
        t.live_bytes -= b.bytes;
        b
    };
    // SAFETY: the table held this block with this layout, and it is now removed from it.
    unsafe { dealloc(block.addr as *mut u8, layout(block.bytes).expect("layout was valid at allocation")) };
    Ok(())
}

pub fn live_bytes() -> usize {
    table().live_bytes
}

pub fn live_count() -> usize {
    table().blocks.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_check_release() {
        let h = allocate(64).unwrap();
        assert_eq!(h % 2, 1, "handles are odd");
        let (addr, len) = resolve(h).unwrap();
        assert_eq!(addr % 16, 0);
        assert_eq!(len, 64);
        assert_eq!(check(h, 64), Ok(addr));
        assert_eq!(check(h, 65), Err(AccessError::TooShort { handle: h, have: 64, need: 65 }));
        assert_eq!(check(0, 4), Err(AccessError::Null));
        assert!(matches!(check(h + 2_000_000, 4), Err(AccessError::NotAllocated(_))));
        release(h).unwrap();
        assert_eq!(check(h, 4), Err(AccessError::NotAllocated(h)));
        assert_eq!(release(h), Err(AccessError::NotAllocated(h)));
    }

    #[test]
    fn a_freed_handle_stays_invalid_when_its_block_is_reused() {
        let a = allocate(256).unwrap();
        let (addr, _) = resolve(a).unwrap();
        release(a).unwrap();
        // The allocator is free to hand the same block out again; the old handle must not
        // come back to life with it.
        let b = allocate(256).unwrap();
        assert_ne!(a, b);
        let _ = addr;
        assert_eq!(check(a, 4), Err(AccessError::NotAllocated(a)));
        assert!(check(b, 256).is_ok());
        release(b).unwrap();
    }

    #[test]
    fn data_cannot_imitate_an_allocation() {
        // Under the old header scheme a magic word and a length written into tensor data made an
        // interior address pass. Handles are looked up in the table, and addresses (16-aligned,
        // so even) are never handles (odd), whatever the data holds.
        let h = allocate(128).unwrap();
        let (addr, _) = resolve(h).unwrap();
        let words = unsafe { core::slice::from_raw_parts_mut(addr as *mut u32, 32) };
        words[0] = 0x4551_5641; // the old magic word
        words[2] = 64; // and a length
        assert!(matches!(check((addr + 16) as u32, 4), Err(AccessError::NotAllocated(_))));
        assert!(matches!(check(addr as u32, 4), Err(AccessError::NotAllocated(_))));
        release(h).unwrap();
    }

    #[test]
    fn zero_filled_and_zero_sized() {
        let h = allocate(256).unwrap();
        let (addr, _) = resolve(h).unwrap();
        let s = unsafe { core::slice::from_raw_parts(addr as *const u8, 256) };
        assert!(s.iter().all(|&b| b == 0));
        release(h).unwrap();
        let z = allocate(0).unwrap();
        assert_eq!(resolve(z).unwrap().1, 0);
        release(z).unwrap();
        assert_eq!(allocate(MAX_BYTES + 1), None);
    }
}
