//! The SIMD multiply + add peak of this machine, measured rather than assumed.
//!
//! `chains` independent `f32x4` accumulator chains (enough of them cover the latency of the
//! dependent multiply and add), each step one multiply and one add, no memory traffic.
//! FLOPs per call: `iters * chains * 4 lanes * 2`. The best chain count depends on the engine's
//! register allocation, so callers try several and keep the fastest.

use crate::simd::F4;

/// Chain counts [`peak`] accepts.
pub const CHAIN_COUNTS: [u32; 6] = [8, 10, 12, 13, 14, 16];

fn run<const C: usize>(iters: u32, seed: f32) -> f32 {
    let m = F4::splat(0.999_999);
    let d = F4::splat(seed * 1e-7);
    let mut acc = [F4::zero(); C];
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

/// Runs `iters` steps on `chains` chains (one of [`CHAIN_COUNTS`], else 12) and returns a value
/// that depends on all of them, so the work cannot be optimised away.
pub fn peak(iters: u32, seed: f32, chains: u32) -> f32 {
    match chains {
        8 => run::<8>(iters, seed),
        10 => run::<10>(iters, seed),
        13 => run::<13>(iters, seed),
        14 => run::<14>(iters, seed),
        16 => run::<16>(iters, seed),
        _ => run::<12>(iters, seed),
    }
}

/// FLOPs performed by one [`peak`] call.
pub fn peak_flops(iters: u32, chains: u32) -> f64 {
    let c = if CHAIN_COUNTS.contains(&chains) { chains } else { 12 };
    iters as f64 * c as f64 * 4.0 * 2.0
}
