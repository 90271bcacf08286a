//! `exp`, sigmoid and SiLU in a fixed order of IEEE operations, for four lanes and for one value,
//! with identical bits: softmax and the MLPs' activations give the same results on every
//! platform (no libm, no fused multiply-add).
//!
//! `exp(x)`: `n = nearest(x log2 e)`, `r = (x - n ln2_hi) - n ln2_lo` (Cody-Waite), then the
//! degree-7 polynomial `1 + r + r^2 (c2 + r (c3 + ... ))` (minimax coefficients, Cephes' `expf`),
//! scaled by `2^n` as two exact powers of two so the result underflows gradually. `x` is clamped
//! to `[-104, 88.8]` first (beyond, the result is `0` or `+inf` anyway); NaN stays NaN. Measured
//! error against f64: at most 2 ulp on `[-87, 88]` (the crate's tests check it). Softmax uses
//! `exp_nonpos` (arguments `<= 0`): the same reduction and polynomial with a single scale.

use crate::simd::{pow2i, F4};

const LOG2E: f32 = core::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const C: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5.000_000_1e-1];
const LO: f32 = -104.0;
const HI: f32 = 88.8;

/// For a clamped argument: `n = nearest(x log2 e)` and `e^(x - n ln 2)` by Cody-Waite and the
/// polynomial, the part every `exp` here shares (each then scales by `2^n` its own way).
#[inline(always)]
fn reduced4(xc: F4) -> (F4, F4) {
    let n = xc.mul(F4::splat(LOG2E)).nearest();
    let r = xc.sub(n.mul(F4::splat(LN2_HI))).sub(n.mul(F4::splat(LN2_LO)));
    let mut p = F4::splat(C[0]);
    for &c in &C[1..] {
        p = p.mul(r).add(F4::splat(c));
    }
    (n, p.mul(r.mul(r)).add(r).add(F4::splat(1.0)))
}

/// [`reduced4`] for one value, with its bits.
#[inline(always)]
fn reduced(xc: f32) -> (f32, f32) {
    let n = (xc * LOG2E).round_ties_even();
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let mut p = C[0];
    for &c in &C[1..] {
        p = p * r + c;
    }
    (n, p * (r * r) + r + 1.0)
}

/// `e^x` for four lanes.
#[inline(always)]
pub fn exp4(x: F4) -> F4 {
    let xc = x.pmax(F4::splat(LO)).pmin(F4::splat(HI));
    let (n, y) = reduced4(xc);
    // 2^n = 2^h 2^(n-h), h = trunc(n / 2): both factors are normal numbers.
    let h = n.mul(F4::splat(0.5)).trunc();
    y.mul(h.pow2i()).mul(n.sub(h).pow2i()).keep_nan_of(x)
}

/// `e^x` for one value, with the bits of [`exp4`].
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let xc = if x < LO { LO } else if HI < x { HI } else { x };
    let (n, y) = reduced(xc);
    let h = (n * 0.5).trunc();
    y * pow2i(h) * pow2i(n - h)
}

/// The smallest argument of [`exp_nonpos4`]: `ln 2^-126`, where its single scale `2^n` is
/// still a normal number.
pub const NONPOS_LO: f32 = -87.336_54;

/// `e^x` for `x <= 0`, four lanes: softmax's `exp(x - max)`. The reduction and polynomial of
/// [`exp4`] (so the same bits wherever `2^n` is normal) with one scale and no upper clamp;
/// arguments below [`NONPOS_LO`] give `e^NONPOS_LO`, about `2^-126` (within 1.2e-38 of the truth:
/// nothing next to a softmax's sum of at least 1). NaN stays NaN. About a quarter fewer operations than `exp4`.
#[inline(always)]
pub fn exp_nonpos4(x: F4) -> F4 {
    let xc = x.pmax(F4::splat(NONPOS_LO));
    let (n, y) = reduced4(xc);
    y.mul(n.pow2i())
}

/// [`exp_nonpos4`] for one value, with its bits.
#[inline(always)]
pub fn exp_nonpos(x: f32) -> f32 {
    let xc = if x < NONPOS_LO { NONPOS_LO } else { x };
    let (n, y) = reduced(xc);
    y * pow2i(n)
}

/// `x * sigmoid(x) = x / (1 + e^-x)` for four lanes: the bits of `x / (1 + exp4(-x))`, with an
/// `e^-x` of a fifth fewer operations ([`exp_in_ratio4`]).
#[inline(always)]
pub fn silu4(x: F4) -> F4 {
    x.div(F4::splat(1.0).add(exp_in_ratio4(F4::zero().sub(x))))
}

/// The smallest argument of [`exp_in_ratio4`]: `n = nearest(x log2 e)` is at least -125 above it,
/// so `2^(n - 1)` is a normal number; `e^RATIO_LO` is about `2^-125`, far below half an ulp of 1.
const RATIO_LO: f32 = -86.6;

/// `e^x` where only `1 + e^x` is used: [`exp4`] scaled by `2^(n - 1)` and then 2 (one power of
/// two from bits where `exp4` builds two) and with no NaN fix-up: a fifth fewer operations. Both
/// scalings are exact where `y 2^(n - 1)` is normal, and then the bits are `exp4`'s (overflow
/// included); below, and below [`RATIO_LO`] (to which arguments are raised), results are under
/// `2^-124` and `1 +` them is exactly 1, as it is for `exp4`'s. NaN stays NaN. So
/// `1 + exp_in_ratio4(x)` has the bits of `1 + exp4(x)` for every `x` (the crate's tests sweep
/// it), and SiLU keeps its bits while its `exp`, most of its cost, shrinks (SiLU runs on 24 M
/// values in the location MLP of a LieTransformer block on QM9-sized clouds).
#[inline(always)]
fn exp_in_ratio4(x: F4) -> F4 {
    let xc = x.pmax(F4::splat(RATIO_LO)).pmin(F4::splat(HI));
    let (n, y) = reduced4(xc);
    y.mul(n.pow2i_half()).mul(F4::splat(2.0))
}

/// `x / (1 + e^-x)`, with the bits of [`silu4`].
#[inline(always)]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + exp(0.0 - x))
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(0.0 - x))
}

/// `e^x` over a slice, four lanes at a time, the tail by the scalar twin (same bits).
pub fn exp_slice(x: &mut [f32]) {
    let mut chunks = x.chunks_exact_mut(4);
    for c in &mut chunks {
        // SAFETY: each chunk holds four f32.
        unsafe { exp4(F4::load(c.as_ptr())).store(c.as_mut_ptr()) };
    }
    for v in chunks.into_remainder() {
        *v = exp(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f64) -> f64 {
        let b32 = b as f32;
        if a == b32 {
            return 0.0;
        }
        let ulp = (f32::from_bits(b32.abs().to_bits() + 1) - b32.abs()) as f64;
        (a as f64 - b).abs() / ulp
    }

    #[test]
    fn exp_is_within_two_ulp_of_f64_and_lanes_match_the_scalar() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let xs = [x, x + 0.0137, x + 0.31, x + 0.77];
            let v = unsafe { exp4(F4::load(xs.as_ptr())) };
            for (l, &xi) in xs.iter().enumerate() {
                let s = exp(xi);
                assert_eq!(v.get(l).to_bits(), s.to_bits(), "lane and scalar differ at {xi}");
                worst = worst.max(ulps(s, (xi as f64).exp()));
            }
            x += 0.0917;
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
    }

    #[test]
    fn exp_nonpos_is_within_two_ulp_of_f64_matches_exp_and_its_lanes() {
        let mut worst = 0.0f64;
        let mut x = NONPOS_LO;
        while x <= 0.0 {
            let xs = [x, (x + 0.0137).min(0.0), (x + 0.31).min(0.0), (x + 0.77).min(0.0)];
            let v = unsafe { exp_nonpos4(F4::load(xs.as_ptr())) };
            for (l, &xi) in xs.iter().enumerate() {
                let s = exp_nonpos(xi);
                assert_eq!(v.get(l).to_bits(), s.to_bits(), "lane and scalar differ at {xi}");
                if xi > -87.0 {
                    // Where 2^n is normal the result is exp's.
                    assert_eq!(s.to_bits(), exp(xi).to_bits(), "exp_nonpos({xi}) differs from exp");
                }
                worst = worst.max(ulps(s, (xi as f64).exp()));
            }
            x += 0.0917;
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert!(exp_nonpos(f32::NAN).is_nan());
        // Below the clamp: e^NONPOS_LO, about 2^-126.
        let floor = exp_nonpos(NONPOS_LO);
        assert!((floor as f64 - 2f64.powi(-126)).abs() < 1e-43);
        assert_eq!(exp_nonpos(-1000.0), floor);
        assert_eq!(exp_nonpos(f32::NEG_INFINITY), floor);
        let xs = [f32::NAN, -1000.0, -0.5, 0.0];
        let v = unsafe { exp_nonpos4(F4::load(xs.as_ptr())) };
        assert!(v.get(0).is_nan());
        assert_eq!((v.get(1), v.get(2).to_bits(), v.get(3)), (floor, exp(-0.5).to_bits(), 1.0));
    }

    #[test]
    fn exp_edges() {
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(-1000.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(1000.0), f32::INFINITY);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        // Gradual underflow: e^-100 is a subnormal f32, close to the truth.
        let t = (-100.0f64).exp();
        assert!(((exp(-100.0) as f64) - t).abs() <= 2e-45 + t * 1e-3);
        let xs = [f32::NAN, -1000.0, 1000.0, 0.5];
        let v = unsafe { exp4(F4::load(xs.as_ptr())) };
        assert!(v.get(0).is_nan());
        assert_eq!((v.get(1), v.get(2), v.get(3).to_bits()), (0.0, f32::INFINITY, exp(0.5).to_bits()));
    }

    #[test]
    fn silu_and_sigmoid() {
        for &x in &[-30.0f32, -2.5, -0.1, 0.0, 0.3, 4.0, 50.0] {
            let want = x as f64 / (1.0 + (-(x as f64)).exp());
            assert!((silu(x) as f64 - want).abs() <= 1e-6 * want.abs().max(1e-30), "silu({x})");
            let xs = [x; 4];
            assert_eq!(unsafe { silu4(F4::load(xs.as_ptr())) }.get(2).to_bits(), silu(x).to_bits());
            assert!((sigmoid(x) as f64 - 1.0 / (1.0 + (-(x as f64)).exp())).abs() < 1e-7);
        }
        assert_eq!(silu(-1000.0), 0.0);
    }

    /// The same claim over every f32 (2^32 patterns, about two minutes on the host: run with
    /// `cargo test --release -- --ignored`; it passed when `exp_in_ratio4` was written).
    #[test]
    #[ignore]
    fn silu4_keeps_the_bits_of_the_full_exp_for_every_f32() {
        let mut bits = 0u64;
        while bits < 1 << 32 {
            let xs: [f32; 4] = core::array::from_fn(|l| f32::from_bits((bits + l as u64) as u32));
            let x = unsafe { F4::load(xs.as_ptr()) };
            let full = F4::splat(1.0).add(exp4(F4::zero().sub(x)));
            let fast = F4::splat(1.0).add(exp_in_ratio4(F4::zero().sub(x)));
            for l in 0..4 {
                let (a, b) = (full.get(l), fast.get(l));
                assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "1 + e^-x at x = {:e}: {a:e} vs {b:e}", xs[l]);
            }
            bits += 4;
        }
    }

    /// `silu4` takes its `e^-x` from `exp_in_ratio4`; `1 + ` it must equal `1 + exp4` bit for bit
    /// everywhere, so SiLU has the bits of `x / (1 + exp4(-x))` and of the scalar `silu`: swept
    /// over every exponent (both signs, steps of 1/64 of a binade), the clamps' edges, subnormals,
    /// zeros, infinities and NaN.
    #[test]
    fn silu4_keeps_the_bits_of_the_full_exp() {
        let mut xs = vec![0.0f32, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, 1e-45, -1e-45, f32::MAX, f32::MIN];
        for e in -149i32..=127 {
            for m in 0..64 {
                let v = 2f32.powi(e) * (1.0 + m as f32 / 64.0);
                xs.push(v);
                xs.push(-v);
            }
        }
        for edge in [NONPOS_LO, HI, LO, 87.0, 88.0, 88.72, 88.73, 89.0, 103.9, 104.1] {
            for d in -40i32..=40 {
                let v = f32::from_bits((edge.to_bits() as i32 + d) as u32);
                xs.push(v);
                xs.push(-v);
            }
        }
        xs.resize(xs.len().div_ceil(4) * 4, 0.5);
        for c in xs.chunks_exact(4) {
            let x = unsafe { F4::load(c.as_ptr()) };
            let full = F4::splat(1.0).add(exp4(F4::zero().sub(x)));
            let fast = F4::splat(1.0).add(exp_in_ratio4(F4::zero().sub(x)));
            let s4 = silu4(x);
            for l in 0..4 {
                let (a, b) = (full.get(l), fast.get(l));
                assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "1 + e^-x at x = {:e}: {a:e} vs {b:e}", c[l]);
                let (s, t) = (s4.get(l), silu(c[l]));
                assert!(s.to_bits() == t.to_bits() || (s.is_nan() && t.is_nan()), "silu({:e}): lanes {s:e}, scalar {t:e}", c[l]);
            }
        }
    }
}
