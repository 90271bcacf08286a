//! Checked allocations: every buffer JavaScript hands to a kernel must be one of these.
//!
//! Each allocation carries a 16-byte header (a magic word and its length) just before the data,
//! so the boundary can check in O(1), without a table that could itself fail to allocate, that a
//! pointer is the start of a live allocation and that the length a kernel will touch fits inside
//! it. Data is 16-byte aligned for SIMD loads.

use std::alloc::{alloc, alloc_zeroed, dealloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

const HEADER: usize = 16;
const ALIGN: usize = 16;
const MAGIC: u32 = 0x4551_5641; // "EQVA"
const FREED: u32 = 0x4652_4545; // "FREE"

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Why a pointer was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AccessError {
    Null,
    Misaligned(usize),
    NotAllocated(usize),
    Freed(usize),
    TooShort { ptr: usize, have: usize, need: usize },
}

impl core::fmt::Display for AccessError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AccessError::Null => write!(f, "null pointer"),
            AccessError::Misaligned(p) => write!(f, "pointer {p} is not 16-byte aligned"),
            AccessError::NotAllocated(p) => write!(f, "pointer {p} is not a live allocation"),
            AccessError::Freed(p) => write!(f, "pointer {p} was already freed"),
            AccessError::TooShort { ptr, have, need } => {
                write!(f, "allocation {ptr} holds {have} bytes, the kernel needs {need}")
            }
        }
    }
}

fn layout(bytes: usize) -> Option<Layout> {
    Layout::from_size_align(bytes.checked_add(HEADER)?, ALIGN).ok()
}

/// Allocates `bytes` (zero-filled); `None` when memory cannot grow that far.
pub fn allocate(bytes: usize) -> Option<*mut u8> {
    allocate_with(bytes, true)
}

/// Allocates `bytes`, zero-filled or not (kernel outputs, which every kernel overwrites whole).
pub fn allocate_with(bytes: usize, zeroed: bool) -> Option<*mut u8> {
    let lay = layout(bytes)?;
    // SAFETY: the layout has a non-zero size (it includes the header).
    let base = unsafe { if zeroed { alloc_zeroed(lay) } else { alloc(lay) } };
    if base.is_null() {
        return None;
    }
    // SAFETY: base is valid for HEADER + bytes and 16-byte aligned.
    unsafe {
        (base as *mut u32).write(MAGIC);
        (base as *mut u64).add(1).write(bytes as u64);
    }
    LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed);
    LIVE_COUNT.fetch_add(1, Ordering::Relaxed);
    Some(unsafe { base.add(HEADER) })
}

/// Length in bytes of the live allocation that starts at `ptr`.
pub fn length(ptr: *const u8) -> Result<usize, AccessError> {
    let p = ptr as usize;
    if p == 0 {
        return Err(AccessError::Null);
    }
    if p % ALIGN != 0 {
        return Err(AccessError::Misaligned(p));
    }
    if p < HEADER {
        return Err(AccessError::NotAllocated(p));
    }
    // SAFETY: on wasm32 every address below the memory size is readable; the caller (the
    // binding layer) has checked `p` against the memory size before calling.
    let (magic, len) = unsafe {
        let h = ptr.sub(HEADER);
        ((h as *const u32).read(), (h as *const u64).add(1).read() as usize)
    };
    match magic {
        MAGIC => Ok(len),
        FREED => Err(AccessError::Freed(p)),
        _ => Err(AccessError::NotAllocated(p)),
    }
}

/// Checks that `ptr` starts a live allocation of at least `need` bytes.
pub fn check(ptr: *const u8, need: usize) -> Result<(), AccessError> {
    let have = length(ptr)?;
    if need > have {
        return Err(AccessError::TooShort { ptr: ptr as usize, have, need });
    }
    Ok(())
}

/// Frees an allocation made by [`allocate`].
pub fn release(ptr: *mut u8) -> Result<(), AccessError> {
    let bytes = length(ptr)?;
    // SAFETY: `length` verified the header, so this is our allocation with this layout.
    unsafe {
        let base = ptr.sub(HEADER);
        (base as *mut u32).write(FREED);
        dealloc(base, layout(bytes).expect("layout was valid at allocation"));
    }
    LIVE_BYTES.fetch_sub(bytes, Ordering::Relaxed);
    LIVE_COUNT.fetch_sub(1, Ordering::Relaxed);
    Ok(())
}

pub fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

pub fn live_count() -> usize {
    LIVE_COUNT.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_check_release() {
        let p = allocate(64).unwrap();
        assert_eq!(p as usize % 16, 0);
        assert_eq!(length(p), Ok(64));
        assert!(check(p, 64).is_ok());
        assert_eq!(check(p, 65), Err(AccessError::TooShort { ptr: p as usize, have: 64, need: 65 }));
        assert!(matches!(check(unsafe { p.add(16) }, 4), Err(AccessError::NotAllocated(_))));
        assert!(matches!(check(unsafe { p.add(4) }, 4), Err(AccessError::Misaligned(_))));
        assert_eq!(check(core::ptr::null(), 4), Err(AccessError::Null));
        release(p).unwrap();
    }

    #[test]
    fn zero_filled() {
        let p = allocate(256).unwrap();
        let s = unsafe { core::slice::from_raw_parts(p, 256) };
        assert!(s.iter().all(|&b| b == 0));
        release(p).unwrap();
    }
}
