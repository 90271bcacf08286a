//! The SIMD multiply + add peak of this machine, measured rather than assumed.
//!
//! Twelve independent `f32x4` accumulator chains (enough to cover the add latency), each step
//! one multiply and one add, no memory traffic. FLOPs per call: `iters * 12 chains * 4 lanes * 2`.

use crate::simd::F4;

pub const CHAINS: usize = 12;

/// Runs `iters` steps on every chain and returns a value that depends on all of them (so the
/// work cannot be optimised away).
pub fn peak(iters: u32, seed: f32) -> f32 {
    let m = F4::splat(0.999_999);
    let d = F4::splat(seed * 1e-7);
    let mut acc = [F4::zero(); CHAINS];
    for (i, a) in acc.iter_mut().enumerate() {
        *a = F4::splat(seed + i as f32);
    }
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul(m).add(d);
        }
    }
    let mut s = F4::zero();
    for a in acc {
        s = s.add(a);
    }
    let mut out = [0.0f32; 4];
    // SAFETY: out has four lanes.
    unsafe { s.store(out.as_mut_ptr()) };
    out.iter().sum()
}

/// FLOPs performed by one [`peak`] call.
pub fn peak_flops(iters: u32) -> f64 {
    iters as f64 * CHAINS as f64 * 4.0 * 2.0
}
