//! Matrix product `C = relu?(A B + bias)` with B packed once into 8-column panels.
//!
//! Shape of the kernel (after XNNPACK's `4x8` SIMD128 kernels): four rows of A are read four
//! `k` at a time as vectors and broadcast lane by lane against one packed row of B (two vectors),
//! into eight accumulators. The bias and the ReLU are applied in the epilogue, before the single
//! store. Each output element is `((0 + a0 b0) + a1 b1) + ... + a(K-1) b(K-1)`, then `+ bias`,
//! then ReLU: the same order in the 4-row tile, in the row remainder and in
//! [`gemm_reference`], so the results agree bit for bit and never depend on tiling.

use crate::simd::{relu, F4};

/// Columns per packed panel of B (two `f32x4`).
pub const NR: usize = 8;
/// Rows of A per register tile.
pub const MR: usize = 4;
/// Bytes of packed B a cache block aims for (panels are walked in blocks of about this size).
const B_BLOCK_BYTES: usize = 256 * 1024;

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

/// A bias added to every sum, per column of C (a linear layer) or per row (a convolution,
/// whose rows are output channels).
#[derive(Clone, Copy)]
pub enum Bias<'a> {
    None,
    Columns(&'a [f32]),
    Rows(&'a [f32]),
}

/// What happens to each sum before it is stored.
#[derive(Clone, Copy)]
pub struct Epilogue<'a> {
    pub bias: Bias<'a>,
    pub relu: bool,
}

impl<'a> Epilogue<'a> {
    /// Column bias (or none), as a linear layer uses.
    pub fn columns(bias: Option<&'a [f32]>, relu: bool) -> Self {
        Epilogue { bias: bias.map_or(Bias::None, Bias::Columns), relu }
    }
}

/// `C[m x n] (row stride ldc) = epilogue(A[m x k] (row stride lda) . B)`, B packed by [`pack_b`].
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    bp: &[f32],
    ep: Epilogue,
    c: &mut [f32],
    ldc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(lda >= k && ldc >= n);
    assert!(a.len() >= (m - 1) * lda + k, "A too short");
    assert!(bp.len() >= packed_len(k, n), "packed B too short");
    assert!(c.len() >= (m - 1) * ldc + n, "C too short");
    match ep.bias {
        Bias::Columns(b) => assert!(b.len() >= n, "bias too short"),
        Bias::Rows(b) => assert!(b.len() >= m, "bias too short"),
        Bias::None => {}
    }
    let panels = n.div_ceil(NR);
    let block = (B_BLOCK_BYTES / (4 * NR * k.max(1))).max(1);
    let mut p0 = 0;
    while p0 < panels {
        let p1 = (p0 + block).min(panels);
        let mut i = 0;
        while i + MR <= m {
            for p in p0..p1 {
                // SAFETY: the asserts above bound every row, panel and column touched.
                unsafe { tile::<MR>(i, p, n, k, a, lda, bp, ep, c, ldc) };
            }
            i += MR;
        }
        while i < m {
            for p in p0..p1 {
                unsafe { tile::<1>(i, p, n, k, a, lda, bp, ep, c, ldc) };
            }
            i += 1;
        }
        p0 = p1;
    }
}

/// One `R x 8` block of C: rows `i..i+R` of A, panel `p` of packed B (columns `8p..8p+8`,
/// clipped to `n`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile<const R: usize>(
    i: usize,
    p: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    bp: &[f32],
    ep: Epilogue,
    c: &mut [f32],
    ldc: usize,
) {
    let a = a.as_ptr().add(i * lda);
    let b = bp.as_ptr().add(p * NR * k);
    let mut acc = [[F4::zero(); 2]; R];

    let mut kk = 0;
    while kk + 4 <= k {
        let av: [F4; R] = core::array::from_fn(|r| F4::load(a.add(r * lda + kk)));
        step(&mut acc, b.add(kk * NR), |r| av[r].lane::<0>());
        step(&mut acc, b.add((kk + 1) * NR), |r| av[r].lane::<1>());
        step(&mut acc, b.add((kk + 2) * NR), |r| av[r].lane::<2>());
        step(&mut acc, b.add((kk + 3) * NR), |r| av[r].lane::<3>());
        kk += 4;
    }
    while kk < k {
        step(&mut acc, b.add(kk * NR), |r| F4::splat(*a.add(r * lda + kk)));
        kk += 1;
    }

    let col = p * NR;
    let width = (n - col).min(NR);
    let mut bias = [0.0f32; NR];
    if let Bias::Columns(bv) = ep.bias {
        bias[..width].copy_from_slice(&bv[col..col + width]);
    }
    let (b0, b1) = (F4::load(bias.as_ptr()), F4::load(bias.as_ptr().add(4)));
    for (r, row) in acc.iter().enumerate() {
        let mut v0 = row[0];
        let mut v1 = row[1];
        match ep.bias {
            Bias::Columns(_) => {
                v0 = v0.add(b0);
                v1 = v1.add(b1);
            }
            Bias::Rows(bv) => {
                let b = F4::splat(*bv.get_unchecked(i + r));
                v0 = v0.add(b);
                v1 = v1.add(b);
            }
            Bias::None => {}
        }
        if ep.relu {
            v0 = v0.relu();
            v1 = v1.relu();
        }
        let out = c.as_mut_ptr().add((i + r) * ldc + col);
        if width == NR {
            v0.store(out);
            v1.store(out.add(4));
        } else {
            let mut tmp = [0.0f32; NR];
            v0.store(tmp.as_mut_ptr());
            v1.store(tmp.as_mut_ptr().add(4));
            core::ptr::copy_nonoverlapping(tmp.as_ptr(), out, width);
        }
    }
}

/// `acc[r] += a(r) * b[0..8]` for every row of the tile.
#[inline(always)]
unsafe fn step<const R: usize>(acc: &mut [[F4; 2]; R], b: *const f32, a: impl Fn(usize) -> F4) {
    let b0 = F4::load(b);
    let b1 = F4::load(b.add(4));
    for (r, row) in acc.iter_mut().enumerate() {
        let s = a(r);
        row[0] = row[0].add(s.mul(b0));
        row[1] = row[1].add(s.mul(b1));
    }
}

/// Plain loops over unpacked row-major `b` (`k x n`, stride `ldb`), in the kernel's order.
#[allow(clippy::too_many_arguments)]
pub fn gemm_reference(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    ep: Epilogue,
    c: &mut [f32],
    ldc: usize,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for kk in 0..k {
                s += a[i * lda + kk] * b[kk * ldb + j];
            }
            match ep.bias {
                Bias::Columns(b) => s += b[j],
                Bias::Rows(b) => s += b[i],
                Bias::None => {}
            }
            c[i * ldc + j] = if ep.relu { relu(s) } else { s };
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
        let ep = Epilogue { bias: Bias::Rows(&bias), relu: true };
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
