//! Depthwise Gaussian blur, sampled with a stride: the second half of anti-aliased pooling
//! (escnn's `PointwiseMaxPoolAntialiased2D`, `PointwiseAvgPoolAntialiased2D`). The 2-D filter
//! `exp(-(i^2 + j^2) / (2 sigma^2))`, normalised, is the outer product of the normalised 1-D one,
//! so each plane is filtered down its columns (only at the output rows, four columns at a time)
//! and then along the rows (only at the output columns). Zero padding on every side. The dense
//! 2x2 max (or mean) that anti-aliased max pooling takes first can be applied on the fly
//! ([`Pre`]), so its map is never stored.

/// What is taken of the input before the blur: itself, or the max or mean of each 2x2 window
/// (stride 1: an `h x w` input gives an `(h-1) x (w-1)` map).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pre {
    None,
    Max2,
    Mean2,
}

use crate::scratch;
use crate::simd::{max_nan, F4};

/// Geometry: `planes` maps of `h x w` (after [`Pre`]), a filter of `taps` (odd) 1-D weights,
/// stride and padding.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub taps: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Shape {
    pub fn ho(&self) -> usize {
        (self.h + 2 * self.pad).saturating_sub(self.taps) / self.stride.max(1) + 1
    }
    pub fn wo(&self) -> usize {
        (self.w + 2 * self.pad).saturating_sub(self.taps) / self.stride.max(1) + 1
    }
    pub fn valid(&self) -> Result<(), String> {
        if self.stride == 0 || self.taps == 0 {
            return Err("stride and taps must be positive".into());
        }
        if self.h + 2 * self.pad < self.taps || self.w + 2 * self.pad < self.taps {
            return Err(format!("a {}-tap filter does not fit {}x{} with padding {}", self.taps, self.h, self.w, self.pad));
        }
        Ok(())
    }
}

/// `out[p][i][j] = sum over a, b of g[a] g[b] m[p][i s + a - pad][j s + b - pad]` with `m` the
/// input (`h x w`) or its 2x2 max or mean (the input is then `(h+1) x (w+1)`).
pub fn blur(s: &Shape, pre: Pre, x: &[f32], g: &[f32], out: &mut [f32]) {
    let (ho, wo) = (s.ho(), s.wo());
    let (ih, iw) = if pre == Pre::None { (s.h, s.w) } else { (s.h + 1, s.w + 1) };
    assert!(x.len() >= s.planes * ih * iw && out.len() >= s.planes * ho * wo && g.len() >= s.taps);
    let w4 = s.w.div_ceil(4) * 4;
    scratch::with2(ho * w4, if pre == Pre::None { 0 } else { s.h * s.w }, true, |tmp, pooled| {
        for p in 0..s.planes {
            let mut xp = &x[p * ih * iw..(p + 1) * ih * iw];
            if pre != Pre::None {
                pool_plane(xp, ih, iw, pre, pooled);
                xp = pooled;
            }
            // Down the columns, at the output rows.
            for i in 0..ho {
                let row = &mut tmp[i * w4..(i + 1) * w4];
                row.fill(0.0);
                for (a, &ga) in g[..s.taps].iter().enumerate() {
                    let y = (i * s.stride + a) as isize - s.pad as isize;
                    if y < 0 || y >= s.h as isize {
                        continue;
                    }
                    let src = &xp[y as usize * s.w..(y as usize + 1) * s.w];
                    let gv = F4::splat(ga);
                    let mut c = 0;
                    while c + 4 <= s.w {
                        // SAFETY: c + 4 <= w <= w4.
                        unsafe {
                            let acc = F4::load(row.as_ptr().add(c)).add(gv.mul(F4::load(src.as_ptr().add(c))));
                            acc.store(row.as_mut_ptr().add(c));
                        }
                        c += 4;
                    }
                    while c < s.w {
                        row[c] += ga * src[c];
                        c += 1;
                    }
                }
            }
            // Along the rows, at the output columns.
            let op = &mut out[p * ho * wo..(p + 1) * ho * wo];
            for i in 0..ho {
                let row = &tmp[i * w4..i * w4 + s.w];
                for j in 0..wo {
                    let mut acc = 0.0f32;
                    for (b, &gb) in g[..s.taps].iter().enumerate() {
                        let c = (j * s.stride + b) as isize - s.pad as isize;
                        if c >= 0 && c < s.w as isize {
                            acc += gb * row[c as usize];
                        }
                    }
                    op[i * wo + j] = acc;
                }
            }
        }
    });
}

/// The 2x2 max or mean (stride 1) of one `ih x iw` plane into `out` (`(ih-1) x (iw-1)`), in the
/// order of crate::pointwise's loop: `((a b) c) d`, `(((a + b) + c) + d) / 4`.
fn pool_plane(x: &[f32], ih: usize, iw: usize, pre: Pre, out: &mut [f32]) {
    let (h, w) = (ih - 1, iw - 1);
    for y in 0..h {
        let (r0, r1) = (&x[y * iw..(y + 1) * iw], &x[(y + 1) * iw..(y + 2) * iw]);
        let d = &mut out[y * w..(y + 1) * w];
        let mut c = 0;
        while c + 5 <= iw {
            // SAFETY: c + 5 <= iw: lanes c..c+4 and c+1..c+5 of both rows are inside.
            unsafe {
                let (a, b) = (F4::load(r0.as_ptr().add(c)), F4::load(r0.as_ptr().add(c + 1)));
                let (e, f) = (F4::load(r1.as_ptr().add(c)), F4::load(r1.as_ptr().add(c + 1)));
                let v = if pre == Pre::Max2 { a.max_nan(b).max_nan(e).max_nan(f) } else { a.add(b).add(e).add(f).mul(F4::splat(0.25)) };
                v.store(d.as_mut_ptr().add(c));
            }
            c += 4;
        }
        while c < w {
            let (a, b, e, f) = (r0[c], r0[c + 1], r1[c], r1[c + 1]);
            d[c] = if pre == Pre::Max2 { max_nan(max_nan(max_nan(a, b), e), f) } else { (((a + b) + e) + f) / 4.0 };
            c += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::tests::random;

    #[test]
    fn pooling_first_equals_pooling_then_blurring() {
        let (h, w) = (9, 8);
        let x = random(2 * h * w, 7);
        let g = [0.25f32, 0.5, 0.25];
        for pre in [Pre::Max2, Pre::Mean2] {
            let mut m = vec![0.0; 2 * (h - 1) * (w - 1)];
            for p in 0..2 {
                for i in 0..h - 1 {
                    for j in 0..w - 1 {
                        let v = |a: usize, b: usize| x[(p * h + i + a) * w + j + b];
                        m[(p * (h - 1) + i) * (w - 1) + j] = if pre == Pre::Max2 { v(0, 0).max(v(0, 1)).max(v(1, 0)).max(v(1, 1)) } else { ((v(0, 0) + v(0, 1)) + (v(1, 0) + v(1, 1))) * 0.25 };
                    }
                }
            }
            let s = Shape { planes: 2, h: h - 1, w: w - 1, taps: 3, stride: 2, pad: 1 };
            let mut a = vec![0.0; 2 * s.ho() * s.wo()];
            let mut b = a.clone();
            blur(&s, pre, &x, &g, &mut a);
            blur(&s, Pre::None, &m, &g, &mut b);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn equals_the_two_dimensional_filter() {
        for &(h, w, taps, stride, pad) in &[(8, 8, 5, 2, 2), (27, 27, 7, 2, 3), (7, 9, 5, 1, 2), (13, 13, 5, 1, 0), (6, 5, 3, 3, 1)] {
            let s = Shape { planes: 3, h, w, taps, stride, pad };
            s.valid().unwrap();
            let x = random(3 * h * w, 5);
            let g: Vec<f32> = (0..taps).map(|t| (-((t as f32 - (taps - 1) as f32 / 2.0).powi(2)) / 2.0).exp()).collect();
            let (ho, wo) = (s.ho(), s.wo());
            let mut got = vec![f32::NAN; 3 * ho * wo];
            blur(&s, Pre::None, &x, &g, &mut got);
            for p in 0..3 {
                for i in 0..ho {
                    for j in 0..wo {
                        let mut want = 0.0f64;
                        for a in 0..taps {
                            for b in 0..taps {
                                let (y, c) = ((i * stride + a) as isize - pad as isize, (j * stride + b) as isize - pad as isize);
                                if y >= 0 && c >= 0 && (y as usize) < h && (c as usize) < w {
                                    want += (g[a] * g[b]) as f64 * x[(p * h + y as usize) * w + c as usize] as f64;
                                }
                            }
                        }
                        let v = got[(p * ho + i) * wo + j] as f64;
                        assert!((v - want).abs() < 1e-5, "{s:?} at ({p}, {i}, {j}): {v} vs {want}");
                    }
                }
            }
        }
    }
}
