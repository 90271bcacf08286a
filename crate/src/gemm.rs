//! Matrix product `C = epilogue(A B)` with B packed once into 8-column panels.
//!
//! The register tile and its epilogues live in [`crate::tile`]; this module packs B and offers
//! the plain GEMM. Each output element is `((0 + a0 b0) + a1 b1) + ... + a(K-1) b(K-1)`, then the
//! epilogue's ops in order: the same in the 4-row tile, in the row remainder and in
//! [`gemm_reference`], so the results agree bit for bit and never depend on tiling.

pub use crate::tile::{Epilogue, Op, MR, NR};

/// Number of `f32` in B (`k x n`) packed as panels.
pub fn packed_len(k: usize, n: usize) -> usize {
    n.div_ceil(NR) * NR * k
}

/// Packs row-major `b` (`k x n`, row stride `ldb`) into panels `[n/8][k][8]`, zero-padding the
/// last panel. Done once per weight matrix, never per call.
pub fn pack_b(b: &[f32], k: usize, n: usize, ldb: usize, out: &mut [f32]) {
    assert!(ldb >= n && (k == 0 || b.len() >= (k - 1) * ldb + n));
    assert!(out.len() >= packed_len(k, n));
    for p in 0..n.div_ceil(NR) {
        let panel = &mut out[p * NR * k..(p + 1) * NR * k];
        for kk in 0..k {
            for j in 0..NR {
                let col = p * NR + j;
                panel[kk * NR + j] = if col < n { b[kk * ldb + col] } else { 0.0 };
            }
        }
    }
}

/// `C[m x n] (row stride ldc) = epilogue(A[m x k] (row stride lda) . B)`, B packed by [`pack_b`].
#[allow(clippy::too_many_arguments)]
pub fn gemm(m: usize, n: usize, k: usize, a: &[f32], lda: usize, bp: &[f32], ep: Epilogue, c: &mut [f32], ldc: usize) {
    crate::tile::multiply(m, n, k, a, lda, bp, ep, c, ldc);
}

/// Plain loops over unpacked row-major `b` (`k x n`, stride `ldb`), in the kernel's order.
#[allow(clippy::too_many_arguments)]
pub fn gemm_reference(m: usize, n: usize, k: usize, a: &[f32], lda: usize, b: &[f32], ldb: usize, ep: Epilogue, c: &mut [f32], ldc: usize) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for kk in 0..k {
                s += a[i * lda + kk] * b[kk * ldb + j];
            }
            c[i * ldc + j] = ep.apply_scalar(s, i, j, c[i * ldc + j]);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::simd::{relu, F4};

    /// Deterministic pseudo-random values in [-1, 1) (xorshift; no dependency needed).
    pub(crate) fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn check(m: usize, n: usize, k: usize, bias: bool, relu: bool, seed: u64) {
        let a = random(m * k, seed);
        let b = random(k * n, seed + 1);
        let bias_v = random(n, seed + 2);
        let ep = Epilogue::columns(bias.then_some(&bias_v[..]), relu);
        let mut packed = vec![f32::NAN; packed_len(k, n)];
        pack_b(&b, k, n, n, &mut packed);
        let mut c = vec![f32::NAN; m * n];
        gemm(m, n, k, &a, k, &packed, ep, &mut c, n);
        let mut r = vec![f32::NAN; m * n];
        gemm_reference(m, n, k, &a, k, &b, n, ep, &mut r, n);
        for (idx, (x, y)) in c.iter().zip(&r).enumerate() {
            assert_eq!(x.to_bits(), y.to_bits(), "m={m} n={n} k={k} at {idx}: {x} vs {y}");
        }
    }

    #[test]
    fn matches_reference_bit_for_bit_on_awkward_shapes() {
        let sizes = [1, 3, 5, 17, 64, 129];
        let mut seed = 1;
        for &m in &sizes {
            for &n in &sizes {
                for &k in &sizes {
                    seed += 3;
                    check(m, n, k, seed % 2 == 0, seed % 3 == 0, seed);
                }
            }
        }
    }

    #[test]
    fn row_bias() {
        let (m, n, k) = (7, 13, 9);
        let a = random(m * k, 31);
        let b = random(k * n, 32);
        let bias = random(m, 33);
        let ep = Epilogue::rows(Some(&bias), true);
        let mut packed = vec![0.0; packed_len(k, n)];
        pack_b(&b, k, n, n, &mut packed);
        let mut c = vec![0.0; m * n];
        gemm(m, n, k, &a, k, &packed, ep, &mut c, n);
        let mut r = vec![0.0; m * n];
        gemm_reference(m, n, k, &a, k, &b, n, ep, &mut r, n);
        assert_eq!(c, r);
    }

    #[test]
    fn zero_k_gives_bias_only() {
        check(5, 9, 0, true, false, 7);
        check(5, 9, 0, false, true, 8);
    }

    #[test]
    fn strided_operands() {
        let (m, n, k, lda, ldc) = (6, 11, 7, 10, 13);
        let a = random(m * lda, 3);
        let b = random(k * n, 4);
        let mut packed = vec![0.0; packed_len(k, n)];
        pack_b(&b, k, n, n, &mut packed);
        let ep = Epilogue::columns(None, false);
        let mut c = vec![-7.0; m * ldc];
        gemm(m, n, k, &a, lda, &packed, ep, &mut c, ldc);
        let mut r = vec![-7.0; m * ldc];
        gemm_reference(m, n, k, &a, lda, &b, n, ep, &mut r, ldc);
        assert_eq!(c, r, "padding columns of C must be left untouched");
    }

    #[test]
    fn relu_keeps_nan_and_zeroes_negative_zero() {
        assert!(relu(f32::NAN).is_nan());
        assert_eq!(relu(-0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(relu(-3.0), 0.0);
        assert_eq!(relu(2.5), 2.5);
        let v = unsafe { F4::load([f32::NAN, -0.0, -1.0, 4.0].as_ptr()) }.relu();
        let mut out = [0.0f32; 4];
        unsafe { v.store(out.as_mut_ptr()) };
        assert!(out[0].is_nan());
        assert_eq!(out[1].to_bits(), 0);
        assert_eq!(&out[2..], &[0.0, 4.0]);
    }
}
