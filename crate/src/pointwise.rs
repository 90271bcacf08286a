//! Pooling, reductions and pointwise kernels: the small layers between convolutions.
//!
//! Every reduction visits its elements in index order, so results never depend on how a caller
//! batches. Max propagates NaN (as PyTorch does); means sum in order and divide once.

use crate::simd::{max_nan, relu, F4};

/// How a reduction combines its elements.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reduce {
    Max,
    Mean,
}

impl Reduce {
    pub fn from_code(code: u32) -> Option<Reduce> {
        match code {
            0 => Some(Reduce::Max),
            1 => Some(Reduce::Mean),
            _ => None,
        }
    }
}

/// `x` viewed as `[outer, len, inner]` reduced over the middle axis into `[outer, inner]`
/// (group pooling: `len` = the group axis; global pooling: `inner` = 1).
pub fn reduce_axis(x: &[f32], outer: usize, len: usize, inner: usize, op: Reduce, out: &mut [f32]) {
    assert!(x.len() >= outer * len * inner && out.len() >= outer * inner && len > 0);
    for o in 0..outer {
        let src = &x[o * len * inner..(o + 1) * len * inner];
        let dst = &mut out[o * inner..(o + 1) * inner];
        dst.copy_from_slice(&src[..inner]);
        for t in 1..len {
            let row = &src[t * inner..(t + 1) * inner];
            match op {
                Reduce::Max => dst.iter_mut().zip(row).for_each(|(d, &v)| *d = max_nan(*d, v)),
                Reduce::Mean => dst.iter_mut().zip(row).for_each(|(d, &v)| *d += v),
            }
        }
        if op == Reduce::Mean {
            let n = len as f32;
            dst.iter_mut().for_each(|d| *d /= n);
        }
    }
}

/// Layer norm over the `c` values of each row: `(x - mean) / sqrt(var + eps) * gamma + beta`,
/// the mean and the (biased) variance summed in index order, as PyTorch's `LayerNorm` defines it.
/// Acts on each element's channels alone, so it commutes with any action that moves elements.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm(x: &[f32], rows: usize, c: usize, gamma: &[f32], beta: &[f32], eps: f32, out: &mut [f32]) {
    assert!(x.len() >= rows * c && out.len() >= rows * c && gamma.len() >= c && beta.len() >= c && c > 0);
    let n = c as f32;
    for r in 0..rows {
        let row = &x[r * c..(r + 1) * c];
        let mut sum = 0.0f32;
        for &v in row {
            sum += v;
        }
        let mean = sum / n;
        let mut var = 0.0f32;
        for &v in row {
            let d = v - mean;
            var += d * d;
        }
        let inv = 1.0 / (var / n + eps).sqrt();
        let o = &mut out[r * c..(r + 1) * c];
        for i in 0..c {
            o[i] = (row[i] - mean) * inv * gamma[i] + beta[i];
        }
    }
}

/// `out = f(x)` elementwise: four lanes at a time by `f4`, the tail (fewer than four) by its scalar
/// twin `f`.
#[inline(always)]
pub fn map_lanes(x: &[f32], out: &mut [f32], f4: impl Fn(F4) -> F4, f: impl Fn(f32) -> f32) {
    let n = x.len().min(out.len());
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: i + 4 <= n for both slices.
        unsafe { f4(F4::load(x.as_ptr().add(i))).store(out.as_mut_ptr().add(i)) };
        i += 4;
    }
    while i < n {
        out[i] = f(x[i]);
        i += 1;
    }
}

/// `out = x * sigmoid(x)` (SiLU, Swish) over `x`, four lanes at a time, the tail by the scalar twin.
pub fn silu_all(x: &[f32], out: &mut [f32]) {
    map_lanes(x, out, crate::vmath::silu4, crate::vmath::silu);
}

/// Rows of `x` (`[m, c]`) reduced by segment: `out[s] = op over e with seg[e] = s of x[e]`,
/// in element order; rows whose segment is `u32::MAX` (masked) are skipped. An empty segment
/// gives zeros (its mean is taken over no rows). Pooling a batch of lifted clouds.
pub fn segment_reduce(x: &[f32], m: usize, c: usize, seg: &[u32], segments: usize, op: Reduce, out: &mut [f32]) {
    assert!(x.len() >= m * c && seg.len() >= m && out.len() >= segments * c);
    let mut count = vec![0u32; segments];
    for (e, &s) in seg[..m].iter().enumerate() {
        if s == u32::MAX {
            continue;
        }
        let s = s as usize;
        let (dst, row) = (&mut out[s * c..(s + 1) * c], &x[e * c..(e + 1) * c]);
        if count[s] == 0 {
            dst.copy_from_slice(row);
        } else {
            match op {
                Reduce::Max => dst.iter_mut().zip(row).for_each(|(d, &v)| *d = max_nan(*d, v)),
                Reduce::Mean => dst.iter_mut().zip(row).for_each(|(d, &v)| *d += v),
            }
        }
        count[s] += 1;
    }
    for (s, &n) in count.iter().enumerate() {
        let dst = &mut out[s * c..(s + 1) * c];
        if n == 0 {
            dst.fill(0.0);
        } else if op == Reduce::Mean {
            let n = n as f32;
            dst.iter_mut().for_each(|d| *d /= n);
        }
    }
}

/// 2-D pooling over `planes` planes of `h x w`: window `k`, stride `s`, no padding, output
/// `floor((h - k) / s) + 1` (as PyTorch's `max_pool2d` / `avg_pool2d` defaults).
pub fn pool2d(x: &[f32], planes: usize, h: usize, w: usize, k: usize, s: usize, op: Reduce, out: &mut [f32]) {
    assert!(k >= 1 && s >= 1 && k <= h && k <= w);
    let (ho, wo) = ((h - k) / s + 1, (w - k) / s + 1);
    assert!(x.len() >= planes * h * w && out.len() >= planes * ho * wo);
    if k == 2 && s == 2 && op == Reduce::Max {
        return max_pool_2x2(x, planes, h, w, out);
    }
    if k == 2 && s == 1 {
        return pool_2x2_dense(x, planes, h, w, op, out);
    }
    let area = (k * k) as f32;
    for p in 0..planes {
        let src = &x[p * h * w..(p + 1) * h * w];
        for oh in 0..ho {
            for ow in 0..wo {
                let mut acc = src[oh * s * w + ow * s];
                let mut first = true;
                for i in 0..k {
                    for j in 0..k {
                        let v = src[(oh * s + i) * w + ow * s + j];
                        if first {
                            first = false;
                            continue;
                        }
                        acc = match op {
                            Reduce::Max => max_nan(acc, v),
                            Reduce::Mean => acc + v,
                        };
                    }
                }
                out[(p * ho + oh) * wo + ow] = if op == Reduce::Mean { acc / area } else { acc };
            }
        }
    }
}

/// 2x2 stride-1 pooling (the first step of anti-aliased pooling), four outputs at a time; the
/// same order of operations as the general loop: `((a b) c) d` for the max, `(((a + b) + c) + d) / 4` for the mean.
fn pool_2x2_dense(x: &[f32], planes: usize, h: usize, w: usize, op: Reduce, out: &mut [f32]) {
    let (ho, wo) = (h - 1, w - 1);
    for p in 0..planes {
        let src = &x[p * h * w..(p + 1) * h * w];
        let dst = &mut out[p * ho * wo..(p + 1) * ho * wo];
        for oh in 0..ho {
            let (r0, r1) = (&src[oh * w..(oh + 1) * w], &src[(oh + 1) * w..(oh + 2) * w]);
            let d = &mut dst[oh * wo..(oh + 1) * wo];
            let mut ow = 0;
            while ow + 5 <= w {
                // SAFETY: ow + 5 <= w, so lanes ow..ow+4 and ow+1..ow+5 of both rows are inside.
                unsafe {
                    let (a, b) = (F4::load(r0.as_ptr().add(ow)), F4::load(r0.as_ptr().add(ow + 1)));
                    let (c, e) = (F4::load(r1.as_ptr().add(ow)), F4::load(r1.as_ptr().add(ow + 1)));
                    let v = match op {
                        Reduce::Max => a.max_nan(b).max_nan(c).max_nan(e),
                        Reduce::Mean => a.add(b).add(c).add(e).mul(F4::splat(0.25)),
                    };
                    v.store(d.as_mut_ptr().add(ow));
                }
                ow += 4;
            }
            while ow < wo {
                let (a, b, c, e) = (r0[ow], r0[ow + 1], r1[ow], r1[ow + 1]);
                d[ow] = match op {
                    Reduce::Max => max_nan(max_nan(max_nan(a, b), c), e),
                    Reduce::Mean => (((a + b) + c) + e) / 4.0,
                };
                ow += 1;
            }
        }
    }
}

/// 2x2 stride-2 max pooling, four outputs at a time: the max of the two rows, then of the
/// horizontal pairs (for values that are not NaN the order does not change the result).
fn max_pool_2x2(x: &[f32], planes: usize, h: usize, w: usize, out: &mut [f32]) {
    let (ho, wo) = (h / 2, w / 2);
    for p in 0..planes {
        let src = &x[p * h * w..(p + 1) * h * w];
        let dst = &mut out[p * ho * wo..(p + 1) * ho * wo];
        for oh in 0..ho {
            let r0 = &src[2 * oh * w..2 * oh * w + w];
            let r1 = &src[(2 * oh + 1) * w..(2 * oh + 1) * w + w];
            let d = &mut dst[oh * wo..(oh + 1) * wo];
            let mut ow = 0;
            while ow + 4 <= wo {
                // SAFETY: 2 * (ow + 4) <= 2 * wo <= w.
                unsafe {
                    let a0 = F4::load(r0.as_ptr().add(2 * ow));
                    let a1 = F4::load(r0.as_ptr().add(2 * ow + 4));
                    let b0 = F4::load(r1.as_ptr().add(2 * ow));
                    let b1 = F4::load(r1.as_ptr().add(2 * ow + 4));
                    let c0 = a0.max_nan(b0);
                    let c1 = a1.max_nan(b1);
                    c0.even(c1).max_nan(c0.odd(c1)).store(d.as_mut_ptr().add(ow));
                }
                ow += 4;
            }
            while ow < wo {
                let c0 = max_nan(r0[2 * ow], r1[2 * ow]);
                let c1 = max_nan(r0[2 * ow + 1], r1[2 * ow + 1]);
                d[ow] = max_nan(c0, c1);
                ow += 1;
            }
        }
    }
}

/// `out[n, c, i] = relu?(x[n, c, i] * scale[c] + shift[c])` over `[n, c, inner]`: inference
/// batch norm (one statistic per channel, shared across the group axis and space).
pub fn channel_affine(x: &[f32], n: usize, c: usize, inner: usize, scale: &[f32], shift: &[f32], relu_on: bool, out: &mut [f32]) {
    assert!(x.len() >= n * c * inner && out.len() >= n * c * inner && scale.len() >= c && shift.len() >= c);
    for b in 0..n {
        for ch in 0..c {
            let base = (b * c + ch) * inner;
            let (sc, sh) = (F4::splat(scale[ch]), F4::splat(shift[ch]));
            let src = &x[base..base + inner];
            let dst = &mut out[base..base + inner];
            let mut i = 0;
            while i + 4 <= inner {
                // SAFETY: i + 4 <= inner bounds both slices.
                unsafe {
                    let mut v = F4::load(src.as_ptr().add(i)).mul(sc).add(sh);
                    if relu_on {
                        v = v.relu();
                    }
                    v.store(dst.as_mut_ptr().add(i));
                }
                i += 4;
            }
            while i < inner {
                let v = src[i] * scale[ch] + shift[ch];
                dst[i] = if relu_on { relu(v) } else { v };
                i += 1;
            }
        }
    }
}

/// `out = relu(x)`.
pub fn relu_all(x: &[f32], out: &mut [f32]) {
    assert!(out.len() >= x.len());
    out.iter_mut().zip(x).for_each(|(o, &v)| *o = relu(v));
}

#[cfg(test)]
mod segment_tests {
    use super::*;

    #[test]
    fn layer_norm_and_silu() {
        let x = [1.0f32, 2.0, 3.0, 4.0, -1.0, 0.0, 1.0, 2.0];
        let (g, b) = ([1.0f32, 2.0, 1.0, 0.5], [0.0f32, 0.1, 0.0, -1.0]);
        let mut out = [0.0f32; 8];
        layer_norm(&x, 2, 4, &g, &b, 1e-5, &mut out);
        let inv = 1.0 / (1.25f64 + 1e-5).sqrt();
        let want = [-1.5 * inv, -0.5 * inv * 2.0 + 0.1, 0.5 * inv, 1.5 * inv * 0.5 - 1.0];
        for r in 0..2 {
            for i in 0..4 {
                assert!((out[r * 4 + i] as f64 - want[i]).abs() < 1e-6);
            }
        }
        let mut y = [0.0f32; 7];
        silu_all(&[-3.0, -1.0, 0.0, 0.5, 2.0, 7.0, -20.0], &mut y);
        for (v, x) in y.iter().zip([-3.0f64, -1.0, 0.0, 0.5, 2.0, 7.0, -20.0]) {
            assert!((*v as f64 - x / (1.0 + (-x).exp())).abs() < 1e-6);
        }
    }

    #[test]
    fn segments_skip_masked_rows_and_empty_ones_are_zero() {
        let x = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0];
        let seg = [0, u32::MAX, 0, 2];
        let mut out = [9.0; 6];
        segment_reduce(&x, 4, 2, &seg, 3, Reduce::Mean, &mut out);
        assert_eq!(out, [2.0, 20.0, 0.0, 0.0, 4.0, 40.0]);
        segment_reduce(&x, 4, 2, &seg, 3, Reduce::Max, &mut out);
        assert_eq!(out, [3.0, 30.0, 0.0, 0.0, 4.0, 40.0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduce_axis_max_and_mean() {
        // [outer=1, len=3, inner=2]
        let x = [1.0, 5.0, 3.0, -1.0, 2.0, 7.0];
        let mut out = [0.0; 2];
        reduce_axis(&x, 1, 3, 2, Reduce::Max, &mut out);
        assert_eq!(out, [3.0, 7.0]);
        reduce_axis(&x, 1, 3, 2, Reduce::Mean, &mut out);
        assert_eq!(out, [2.0, 11.0 / 3.0]);
        let nan = [1.0, f32::NAN, 3.0];
        let mut o = [0.0];
        reduce_axis(&nan, 1, 3, 1, Reduce::Max, &mut o);
        assert!(o[0].is_nan());
    }

    #[test]
    fn pool2d_windows() {
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let mut out = [0.0; 4];
        pool2d(&x, 1, 4, 4, 2, 2, Reduce::Max, &mut out);
        assert_eq!(out, [5.0, 7.0, 13.0, 15.0]);
        // The 2x2 fast path against the general loop, with NaN, on rows of 4+ outputs.
        let y: Vec<f32> = (0..2 * 10 * 18).map(|v| ((v * 37 % 23) as f32 - 11.0) * 0.5).collect();
        let mut y2 = y.clone();
        y2[41] = f32::NAN;
        for data in [&y, &y2] {
            let mut fast = vec![0.0; 2 * 5 * 9];
            pool2d(data, 2, 10, 18, 2, 2, Reduce::Max, &mut fast);
            for (i, v) in fast.iter().enumerate() {
                let (p, r) = (i / 45, i % 45);
                let (oh, ow) = (r / 9, r % 9);
                let b = p * 180 + 2 * oh * 18 + 2 * ow;
                let want = [data[b], data[b + 1], data[b + 18], data[b + 19]].into_iter().fold(f32::NEG_INFINITY, |m, v| if m.is_nan() || v.is_nan() { f32::NAN } else { m.max(v) });
                assert!(v.to_bits() == want.to_bits() || (v.is_nan() && want.is_nan()), "at {i}: {v} vs {want}");
            }
        }
        pool2d(&x, 1, 4, 4, 2, 2, Reduce::Mean, &mut out);
        assert_eq!(out, [2.5, 4.5, 10.5, 12.5]);
        let mut odd = [0.0; 1];
        pool2d(&x[..9], 1, 3, 3, 2, 2, Reduce::Max, &mut odd); // floor: one window
        assert_eq!(odd, [4.0]);
        // The dense 2x2 (stride 1) fast path against the windows summed in the same order.
        for op in [Reduce::Max, Reduce::Mean] {
            let mut dense = vec![0.0; 2 * 9 * 17];
            pool2d(&y, 2, 10, 18, 2, 1, op, &mut dense);
            for (i, v) in dense.iter().enumerate() {
                let (p, r) = (i / 153, i % 153);
                let b = p * 180 + (r / 17) * 18 + r % 17;
                let (a, c, d, e) = (y[b], y[b + 1], y[b + 18], y[b + 19]);
                let want = if op == Reduce::Max { a.max(c).max(d).max(e) } else { (((a + c) + d) + e) / 4.0 };
                assert_eq!(v.to_bits(), want.to_bits(), "{op:?} at {i}");
            }
        }
    }

    #[test]
    fn affine_per_channel() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, -6.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let mut out = [0.0; 12];
        channel_affine(&x, 2, 2, 3, &[2.0, 1.0], &[0.0, -1.0], true, &mut out);
        assert_eq!(out, [2.0, 4.0, 6.0, 3.0, 4.0, 0.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0]);
    }
}
