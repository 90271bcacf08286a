//! Kernel scratch: one reusable buffer instead of a `Vec` per call.
//!
//! A trap (a Rust panic, which aborts in wasm) unwinds nothing, so a `Vec` a kernel allocated
//! would stay allocated forever. Scratch taken from here instead is owned by this module: after a
//! trap the facade calls [`reset`], which frees it, and [`bytes`] reports what it holds, so
//! `memory()` counts it. The buffer grows to the largest request and is kept for the next call,
//! up to [`KEEP_BYTES`]; a larger one is freed after use. A nested request (a kernel's scratch
//! while another kernel's is in use) gets a temporary buffer of its own.

use std::cell::{Cell, UnsafeCell};

/// Scratch up to this size is kept between calls.
pub const KEEP_BYTES: usize = 64 * 1024 * 1024;

thread_local! {
    static ARENA: UnsafeCell<Vec<f32>> = const { UnsafeCell::new(Vec::new()) };
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with `len` floats of scratch, zero-filled when `zeroed` (else unspecified).
pub fn with<R>(len: usize, zeroed: bool, f: impl FnOnce(&mut [f32]) -> R) -> R {
    if BUSY.with(|b| b.replace(true)) {
        let mut own = vec![0.0f32; len];
        return f(&mut own);
    }
    let r = ARENA.with(|a| {
        // SAFETY: BUSY guards the only mutable access; single-threaded per thread-local.
        let v = unsafe { &mut *a.get() };
        if v.len() < len {
            v.clear();
            v.resize(len, 0.0);
        } else if zeroed {
            v[..len].fill(0.0);
        }
        f(&mut v[..len])
    });
    ARENA.with(|a| {
        let v = unsafe { &mut *a.get() };
        if v.len() * 4 > KEEP_BYTES {
            *v = Vec::new();
        }
    });
    BUSY.with(|b| b.set(false));
    r
}

/// Two scratch regions of `a` and `b` floats, taken together.
pub fn with2<R>(a: usize, b: usize, zeroed: bool, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    with(a + b, zeroed, |s| {
        let (x, y) = s.split_at_mut(a);
        f(x, y)
    })
}

/// Bytes the scratch buffer holds now.
pub fn bytes() -> usize {
    ARENA.with(|a| unsafe { (*a.get()).capacity() * 4 })
}

/// Frees the scratch and clears the in-use mark: after a trap, nothing of it is left behind.
pub fn reset() {
    ARENA.with(|a| unsafe { *a.get() = Vec::new() });
    BUSY.with(|b| b.set(false));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_zeroes_nests_and_resets() {
        reset();
        with(10, true, |s| s.fill(3.0));
        assert!(bytes() >= 40);
        with(10, true, |s| assert!(s.iter().all(|&v| v == 0.0)));
        with(5, false, |outer| {
            outer[0] = 1.0;
            with(7, true, |inner| {
                assert_eq!(inner.len(), 7);
                inner.fill(2.0);
            });
            assert_eq!(outer[0], 1.0);
        });
        with2(3, 4, true, |a, b| {
            assert_eq!((a.len(), b.len()), (3, 4));
        });
        // A "trap" leaves BUSY set; reset frees everything and makes the arena usable again.
        BUSY.with(|b| b.set(true));
        reset();
        assert_eq!(bytes(), 0);
        with(4, true, |s| assert_eq!(s.len(), 4));
    }
}
