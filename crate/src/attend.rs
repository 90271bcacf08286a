//! Softmax attention for rows that share one list of keys (global neighbourhoods) with narrow
//! heads, fused: for four query rows at a time, the scores `scale (q . k)` against every key,
//! their maximum, `exp(s - max)` and its sum, and the weighted sum of values, all in one buffer of
//! four rows that stays in L1.
//!
//! Why not the register tile: with a head width of 4 to 16 the score product `Q K^T` has an inner
//! dimension that small, and the tile's fixed cost per `4 x 8` block (a run-time `k` loop, the
//! epilogue's dispatch, stores) was twice its arithmetic: 16 GFLOP/s against 40 on long inner
//! dimensions. Here the width is a constant, so every step unrolls; the maximum is taken as the
//! scores are stored, one pass less; and four rows' `exp`s run side by side, four independent
//! chains for the out-of-order core to overlap.
//!
//! Same bits as the unfused path (the tile, [`crate::engine`]'s softmax, the tile again): every
//! score is `((0 + q0 k0) + q1 k1 + ...) * scale`, the maximum is exact in any order, each row's
//! sum runs in four lanes over the first `n - n % 4` values, then `(l0 + l1) + (l2 + l3)`, then
//! the rest in order, and every output is `((0 + p0 v0) + p1 v1 + ...) * (1 / sum)`.

use crate::simd::{max_nan, F4};
use crate::tile::{step, NR};
use crate::vmath::{exp_nonpos, exp_nonpos4};

/// Query rows per group.
const ROWS: usize = 4;

/// Whether [`shared_softmax`] has a kernel for keys of width `dk` and values of width `dv`.
pub fn fits(dk: usize, dv: usize) -> bool {
    matches!(dk, 4 | 8 | 16) && matches!(dv, 4 | 8)
}

/// Floats of scratch [`shared_softmax`] needs for a list of `n` keys.
pub fn scratch_len(n: usize) -> usize {
    ROWS * row_stride(n)
}

/// Floats from one row of scores to the next: the panels, and 16 more so rows of 1,024 scores
/// are not 4 KiB apart (loads from one row behind stores to another at the same offset modulo
/// 4 KiB wait on a false dependency).
fn row_stride(n: usize) -> usize {
    n.div_ceil(NR) * NR + 16
}

/// Softmax attention of `m` query rows (`q`, row stride `ldq`, `dk` wide) over one list of `n`
/// keys and values: `out[r] (row stride ldo, dv wide) = softmax_j(scale q_r . k_j) . v_j`.
/// Keys come packed in panels `[n / 8][dk][8]` (`kp`, zeros past `n`), values in one panel
/// `[n][8]` (`vp`, zeros past `dv`): the layouts [`crate::engine`] packs for the tile. Panics on
/// widths [`fits`] refuses or on slices too short.
#[allow(clippy::too_many_arguments)]
pub fn shared_softmax(m: usize, n: usize, dk: usize, dv: usize, q: &[f32], ldq: usize, kp: &[f32], vp: &[f32], scale: f32, s: &mut [f32], out: &mut [f32], ldo: usize) {
    if m == 0 {
        return;
    }
    assert!(fits(dk, dv), "attend: no kernel for dk = {dk}, dv = {dv}");
    assert!(n > 0 && ldq >= dk && ldo >= dv);
    assert!(q.len() >= (m - 1) * ldq + dk, "attend: queries too short");
    assert!(kp.len() >= n.div_ceil(NR) * NR * dk, "attend: packed keys too short");
    assert!(vp.len() >= n * NR, "attend: packed values too short");
    assert!(s.len() >= scratch_len(n), "attend: scratch too short");
    assert!(out.len() >= (m - 1) * ldo + dv, "attend: output too short");
    match (dk, dv) {
        (4, 4) => rows::<4, 1>(m, n, q, ldq, kp, vp, scale, s, out, ldo),
        (4, 8) => rows::<4, 2>(m, n, q, ldq, kp, vp, scale, s, out, ldo),
        (8, 4) => rows::<8, 1>(m, n, q, ldq, kp, vp, scale, s, out, ldo),
        (8, 8) => rows::<8, 2>(m, n, q, ldq, kp, vp, scale, s, out, ldo),
        (16, 4) => rows::<16, 1>(m, n, q, ldq, kp, vp, scale, s, out, ldo),
        _ => rows::<16, 2>(m, n, q, ldq, kp, vp, scale, s, out, ldo),
    }
}

#[allow(clippy::too_many_arguments)]
fn rows<const DK: usize, const DV4: usize>(m: usize, n: usize, q: &[f32], ldq: usize, kp: &[f32], vp: &[f32], scale: f32, s: &mut [f32], out: &mut [f32], ldo: usize) {
    let mut i = 0;
    while i + ROWS <= m {
        // SAFETY: shared_softmax checked every slice against m, n and the widths.
        unsafe { group::<ROWS, DK, DV4>(n, q.as_ptr().add(i * ldq), ldq, kp, vp, scale, s, out.as_mut_ptr().add(i * ldo), ldo) };
        i += ROWS;
    }
    while i < m {
        unsafe { group::<1, DK, DV4>(n, q.as_ptr().add(i * ldq), ldq, kp, vp, scale, s, out.as_mut_ptr().add(i * ldo), ldo) };
        i += 1;
    }
}

/// `R` query rows from `q` into `R` output rows at `o`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn group<const R: usize, const DK: usize, const DV4: usize>(n: usize, q: *const f32, ldq: usize, kp: &[f32], vp: &[f32], scale: f32, s: &mut [f32], o: *mut f32, ldo: usize) {
    let panels = n.div_ceil(NR);
    let full = n / NR;
    let np = row_stride(n);
    let sp = s.as_mut_ptr();
    let sc = F4::splat(scale);

    // Scores, and each row's maximum over the full panels as they are stored.
    let mut mx = [F4::splat(f32::NEG_INFINITY); R];
    let mut nan = [F4::zero(); R];
    for pi in 0..panels {
        let b = kp.as_ptr().add(pi * NR * DK);
        let mut acc = [[F4::zero(); 2]; R];
        for i in 0..DK {
            step(&mut acc, b.add(i * NR), |r| F4::load_splat(q.add(r * ldq + i)));
        }
        for (r, a) in acc.iter().enumerate() {
            let (v0, v1) = (a[0].mul(sc), a[1].mul(sc));
            let at = sp.add(r * np + pi * NR);
            v0.store(at);
            v1.store(at.add(4));
            if pi < full {
                // `pmax` keeps the earlier of equal values as `max_nan` does, but drops NaN:
                // NaN is tracked beside it (three instructions against about eight).
                mx[r] = mx[r].pmax(v0).pmax(v1);
                nan[r] = nan[r].or(v0.nan_mask()).or(v1.nan_mask());
            }
        }
    }
    let mut max = [0.0f32; R];
    for (r, m) in max.iter_mut().enumerate() {
        let v = mx[r];
        *m = if nan[r].any_bit() { f32::NAN } else { max_nan(max_nan(v.get(0), v.get(1)), max_nan(v.get(2), v.get(3))) };
        for j in full * NR..n {
            *m = max_nan(*m, *sp.add(r * np + j));
        }
    }

    // exp(s - max) in place, the rows side by side; sums in four lanes, then the rest in order.
    let body = n - n % 4;
    let mut sums = [F4::zero(); R];
    let ms: [F4; R] = core::array::from_fn(|r| F4::splat(max[r]));
    let mut j = 0;
    while j < body {
        for r in 0..R {
            let at = sp.add(r * np + j);
            let e = exp_nonpos4(F4::load(at).sub(ms[r]));
            e.store(at);
            sums[r] = sums[r].add(e);
        }
        j += 4;
    }
    let mut inv = [F4::zero(); R];
    for r in 0..R {
        let v = sums[r];
        let mut sum = (v.get(0) + v.get(1)) + (v.get(2) + v.get(3));
        for j in body..n {
            let at = sp.add(r * np + j);
            *at = exp_nonpos(*at - max[r]);
            sum += *at;
        }
        inv[r] = F4::splat(1.0 / sum);
    }

    // The weighted sum of values.
    let mut acc = [[F4::zero(); DV4]; R];
    for j in 0..n {
        let v = vp.as_ptr().add(j * NR);
        let vs: [F4; DV4] = core::array::from_fn(|c| F4::load(v.add(4 * c)));
        for (r, a) in acc.iter_mut().enumerate() {
            let p = F4::load_splat(sp.add(r * np + j));
            for c in 0..DV4 {
                a[c] = a[c].add(p.mul(vs[c]));
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        for (c, v) in a.iter().enumerate() {
            v.mul(inv[r]).store(o.add(r * ldo + 4 * c));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gemm::tests::random;

    /// Keys `[n][dk]` as panels `[n / 8][dk][8]`, values `[n][dv]` as `[n][8]`, zeros padding.
    pub(crate) fn pack(k: &[f32], v: &[f32], n: usize, dk: usize, dv: usize) -> (Vec<f32>, Vec<f32>) {
        let mut kp = vec![0.0; n.div_ceil(NR) * NR * dk];
        for j in 0..n {
            for i in 0..dk {
                kp[(j / NR) * NR * dk + i * NR + j % NR] = k[j * dk + i];
            }
        }
        let mut vp = vec![0.0; n * NR];
        for j in 0..n {
            vp[j * NR..j * NR + dv].copy_from_slice(&v[j * dv..(j + 1) * dv]);
        }
        (kp, vp)
    }

    /// The unfused path's arithmetic as plain loops: the tile's sums in `k` order, the engine's
    /// softmax (lane sums over the first `n - n % 4`, then the rest), the tile again.
    fn reference(m: usize, n: usize, dk: usize, dv: usize, q: &[f32], k: &[f32], v: &[f32], scale: f32) -> Vec<f32> {
        let mut out = vec![0.0; m * dv];
        for r in 0..m {
            let s: Vec<f32> = (0..n).map(|j| (0..dk).fold(0.0f32, |a, i| a + q[r * dk + i] * k[j * dk + i]) * scale).collect();
            let max = s.iter().fold(f32::NEG_INFINITY, |a, &x| max_nan(a, x));
            let e: Vec<f32> = s.iter().map(|&x| exp_nonpos(x - max)).collect();
            let body = n - n % 4;
            let mut lanes = [0.0f32; 4];
            for j in 0..body {
                lanes[j % 4] += e[j];
            }
            let mut sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
            for &x in &e[body..] {
                sum += x;
            }
            let inv = 1.0 / sum;
            for c in 0..dv {
                out[r * dv + c] = (0..n).fold(0.0f32, |a, j| a + e[j] * v[j * dv + c]) * inv;
            }
        }
        out
    }

    fn run(m: usize, n: usize, dk: usize, dv: usize, q: &[f32], k: &[f32], v: &[f32], scale: f32) -> Vec<f32> {
        let (kp, vp) = pack(k, v, n, dk, dv);
        let mut s = vec![f32::NAN; scratch_len(n)];
        let mut out = vec![f32::NAN; m * dv];
        shared_softmax(m, n, dk, dv, q, dk, &kp, &vp, scale, &mut s, &mut out, dv);
        out
    }

    #[test]
    fn every_width_matches_the_unfused_order_bit_for_bit_and_f64() {
        for (dk, dv) in [(4, 4), (4, 8), (8, 4), (8, 8), (16, 4), (16, 8)] {
            for (m, n) in [(1, 1), (4, 3), (7, 8), (5, 13), (9, 37), (4, 64)] {
                let (q, k, v) = (random(m * dk, 1), random(n * dk, 2), random(n * dv, 3));
                let scale = 1.7;
                let got = run(m, n, dk, dv, &q, &k, &v, scale);
                let want = reference(m, n, dk, dv, &q, &k, &v, scale);
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(a.to_bits(), b.to_bits(), "dk {dk} dv {dv} m {m} n {n} at {i}: {a} vs {b}");
                }
                for r in 0..m {
                    let l: Vec<f64> = (0..n).map(|j| (0..dk).map(|i| q[r * dk + i] as f64 * k[j * dk + i] as f64).sum::<f64>() * scale as f64).collect();
                    let mx = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = l.iter().map(|x| (x - mx).exp()).sum();
                    for c in 0..dv {
                        let w: f64 = (0..n).map(|j| (l[j] - mx).exp() / z * v[j * dv + c] as f64).sum();
                        assert!((got[r * dv + c] as f64 - w).abs() <= 2e-6, "dk {dk} dv {dv} m {m} n {n}: {} vs {w}", got[r * dv + c]);
                    }
                }
            }
        }
    }

    /// Logits far beyond `exp`'s range stay finite after the max is subtracted (one key dominates),
    /// and a NaN query spoils its own row only.
    #[test]
    fn large_logits_stay_finite_and_nan_stays_in_its_row() {
        let (m, n, dk, dv) = (6, 21, 8, 8);
        let (mut q, k, v) = (random(m * dk, 4), random(n * dk, 5), random(n * dv, 6));
        let big = run(m, n, dk, dv, &q, &k, &v, 1e4);
        for r in 0..m {
            let l: Vec<f32> = (0..n).map(|j| (0..dk).map(|i| q[r * dk + i] * k[j * dk + i]).sum()).collect();
            let top = (0..n).fold(0, |b, j| if l[j] > l[b] { j } else { b });
            for c in 0..dv {
                assert!((big[r * dv + c] - v[top * dv + c]).abs() <= 1e-6, "row {r}: {} vs the top key's {}", big[r * dv + c], v[top * dv + c]);
            }
        }
        q[4 * dk + 3] = f32::NAN;
        let out = run(m, n, dk, dv, &q, &k, &v, 1.0);
        let clean = reference(m, n, dk, dv, &q, &k, &v, 1.0);
        for r in 0..m {
            for c in 0..dv {
                let x = out[r * dv + c];
                if r == 4 {
                    assert!(x.is_nan(), "row 4 (NaN query) gave {x}");
                } else {
                    assert_eq!(x.to_bits(), clean[r * dv + c].to_bits(), "row {r} changed by row 4's NaN");
                }
            }
        }
    }
}
