//! 2-D convolution (cross-correlation, as PyTorch's `conv2d`) as an implicit GEMM.
//!
//! Per image, `out[co, q] = sum_k W[co, k] col[k, q]` where `q` runs over output pixels and
//! `k = (ci, i, j)` over input channels and kernel taps. The weights `W` (`cout x K`, row-major,
//! K ordered `(ci, i, j)`) are the GEMM's A operand as they are stored: the layer expands and
//! lays them out once. The im2col matrix is never built: blocks of 8 output pixels are packed
//! straight from the input into the kernel's `[K][8]` panel layout (zeros where the tap falls in
//! the padding), a cache-sized block of panels at a time, and the 4x8 tile of [`crate::gemm`]
//! writes `out` in NCHW order with the bias per output channel and ReLU fused. The order of each
//! output's sum is `k = 0..K-1` whatever the batch, block or tile, so results are identical
//! however the work is split.

use crate::scratch;
use crate::simd::{relu, F4};
use crate::tile::{multiply, Epilogue, NR};

/// The geometry of one convolution call. Padding may be asymmetric (top/left given; bottom and
/// right follow from the output size).
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub ho: usize,
    pub wo: usize,
}

impl ConvShape {
    pub fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }
    pub fn input_len(&self) -> usize {
        self.n * self.cin * self.h * self.w
    }
    pub fn output_len(&self) -> usize {
        self.n * self.cout * self.ho * self.wo
    }
    pub fn weight_len(&self) -> usize {
        self.cout * self.k()
    }
    /// Every output tap must read inside the padded input (so padding is at most k-1 per side).
    pub fn valid(&self) -> Result<(), String> {
        let s = self;
        if s.stride == 0 || s.kh == 0 || s.kw == 0 {
            return Err("stride and kernel size must be positive".into());
        }
        if s.pad_top >= s.kh || s.pad_left >= s.kw {
            return Err(format!("padding ({}, {}) must be smaller than the kernel ({}x{})", s.pad_top, s.pad_left, s.kh, s.kw));
        }
        let need_h = if s.ho == 0 { 0 } else { (s.ho - 1) * s.stride + s.kh };
        let need_w = if s.wo == 0 { 0 } else { (s.wo - 1) * s.stride + s.kw };
        if need_h > s.h + s.pad_top + s.kh - 1 || need_w > s.w + s.pad_left + s.kw - 1 {
            return Err(format!("output {}x{} does not fit input {}x{} with this padding", s.ho, s.wo, s.h, s.w));
        }
        Ok(())
    }
}

/// Bytes of packed panels a block aims for.
const BLOCK_BYTES: usize = 128 * 1024;

/// `out = relu?(conv(x, w) + bias)`; `bias` (length `cout`) per output channel.
pub fn conv2d(s: &ConvShape, x: &[f32], w: &[f32], bias: Option<&[f32]>, relu: bool, out: &mut [f32]) {
    let k = s.k();
    let p = s.ho * s.wo;
    assert!(x.len() >= s.input_len() && w.len() >= s.weight_len() && out.len() >= s.output_len());
    if let Some(b) = bias {
        assert!(b.len() >= s.cout);
    }
    if p == 0 || s.cout == 0 {
        return;
    }
    let ep = Epilogue::rows(bias, relu);
    if p < SMALL_OUTPUT {
        return conv2d_batched(s, x, w, ep, out);
    }
    let panels = p.div_ceil(NR);
    let block = (BLOCK_BYTES / (4 * NR * k.max(1))).clamp(1, panels);
    scratch::with(block * NR * k.max(1), false, |packed| conv2d_images(s, x, w, ep, out, packed, block));
}

fn conv2d_images(s: &ConvShape, x: &[f32], w: &[f32], ep: Epilogue, out: &mut [f32], packed: &mut [f32], block: usize) {
    let (k, p) = (s.k(), s.ho * s.wo);
    let panels = p.div_ceil(NR);
    for img in 0..s.n {
        let xi = &x[img * s.cin * s.h * s.w..(img + 1) * s.cin * s.h * s.w];
        let oi = &mut out[img * s.cout * p..(img + 1) * s.cout * p];
        let mut p0 = 0;
        while p0 < panels {
            let p1 = (p0 + block).min(panels);
            for (b, panel) in (p0..p1).enumerate() {
                pack_panel(s, xi, panel * NR, p, &mut packed[b * NR * k..(b + 1) * NR * k]);
            }
            // The packed block stands for columns p0*8.. of this image's output.
            let cols = (p - p0 * NR).min((p1 - p0) * NR);
            multiply(s.cout, cols, k, w, k, packed, ep, &mut oi[p0 * NR..], p);
            p0 = p1;
        }
    }
}

/// Outputs per image below which columns are packed across images (a panel is 8 wide, so a
/// small output would leave most lanes empty).
const SMALL_OUTPUT: usize = 32;

/// Small outputs: columns run over (image, pixel) of the whole batch; each block is computed
/// into a scratch matrix and scattered to NCHW. Each output's sum is the same as per image.
fn conv2d_batched(s: &ConvShape, x: &[f32], w: &[f32], ep: Epilogue, out: &mut [f32]) {
    let (k, p) = (s.k(), s.ho * s.wo);
    let total = s.n * p;
    let panels = total.div_ceil(NR);
    let block = (BLOCK_BYTES / (4 * NR * k.max(1))).clamp(1, panels);
    scratch::with2(block * NR * k.max(1), s.cout * block * NR, false, |packed, scratch| {
    let mut p0 = 0;
    while p0 < panels {
        let p1 = (p0 + block).min(panels);
        for (b, panel) in (p0..p1).enumerate() {
            pack_panel(s, x, panel * NR, total, &mut packed[b * NR * k..(b + 1) * NR * k]);
        }
        let c0 = p0 * NR;
        let cols = (total - c0).min((p1 - p0) * NR);
        let ldc = block * NR;
        multiply(s.cout, cols, k, w, k, packed, ep, scratch, ldc);
        for co in 0..s.cout {
            for j in 0..cols {
                let (img, q) = ((c0 + j) / p, (c0 + j) % p);
                out[(img * s.cout + co) * p + q] = scratch[co * ldc + j];
            }
        }
        p0 = p1;
    }
    });
}

/// A run of panel lanes whose pixels lie in one output row of one image.
#[derive(Clone, Copy, Default)]
struct Run {
    lane0: usize,
    len: usize,
    img: usize,
    oh: usize,
    ow0: usize,
}

/// Packs columns `c0..c0+8` (clipped to `total`) as a `[K][8]` panel, where column `c` is output
/// pixel `c % p` of image `c / p` (`p = ho * wo`); `x` holds those images.
fn pack_panel(s: &ConvShape, x: &[f32], c0: usize, total: usize, panel: &mut [f32]) {
    let p = s.ho * s.wo;
    let lanes = (total - c0).min(NR);
    let mut runs = [Run::default(); NR];
    let mut nruns = 0;
    let mut l = 0;
    while l < lanes {
        let c = c0 + l;
        let (img, q) = (c / p, c % p);
        let (oh, ow0) = (q / s.wo, q % s.wo);
        let len = (s.wo - ow0).min(lanes - l);
        runs[nruns] = Run { lane0: l, len, img, oh, ow0 };
        nruns += 1;
        l += len;
    }
    let (h, w) = (s.h as isize, s.w as isize);
    let plane_len = s.h * s.w;
    let mut kidx = 0;
    for ci in 0..s.cin {
        for i in 0..s.kh {
            // The input row each run reads for this (ci, i), or None in the padding.
            let rows: [Option<usize>; NR] = core::array::from_fn(|r| {
                let run = &runs[r.min(nruns.max(1) - 1)];
                let ih = (run.oh * s.stride + i) as isize - s.pad_top as isize;
                (r < nruns && ih >= 0 && ih < h).then(|| (run.img * s.cin + ci) * plane_len + ih as usize * s.w)
            });
            for j in 0..s.kw {
                let dst = &mut panel[kidx * NR..(kidx + 1) * NR];
                kidx += 1;
                if lanes < NR {
                    dst[lanes..].fill(0.0);
                }
                for (r, run) in runs[..nruns].iter().enumerate() {
                    let d = &mut dst[run.lane0..run.lane0 + run.len];
                    let Some(row_at) = rows[r] else {
                        d.fill(0.0);
                        continue;
                    };
                    let row = &x[row_at..row_at + s.w];
                    let iw0 = (run.ow0 * s.stride + j) as isize - s.pad_left as isize;
                    if s.stride == 1 {
                        // Lanes t with 0 <= iw0 + t < w copy a contiguous run of the row.
                        let lo = (-iw0).clamp(0, run.len as isize) as usize;
                        let hi = (w - iw0).clamp(0, run.len as isize) as usize;
                        if lo == 0 && hi == NR {
                            // The common case: a full panel inside the row, two vector moves.
                            // SAFETY: iw0 >= 0 and iw0 + 8 <= w; d has 8 lanes.
                            unsafe {
                                let src = row.as_ptr().add(iw0 as usize);
                                F4::load(src).store(d.as_mut_ptr());
                                F4::load(src.add(4)).store(d.as_mut_ptr().add(4));
                            }
                            continue;
                        }
                        for (t, v) in d.iter_mut().enumerate() {
                            *v = if t >= lo && t < hi { row[(iw0 + t as isize) as usize] } else { 0.0 };
                        }
                    } else {
                        for (t, v) in d.iter_mut().enumerate() {
                            let iw = iw0 + (t * s.stride) as isize;
                            *v = if iw >= 0 && iw < w { row[iw as usize] } else { 0.0 };
                        }
                    }
                }
            }
        }
    }
}

/// Plain loops in the kernel's summation order.
pub fn conv2d_reference(s: &ConvShape, x: &[f32], w: &[f32], bias: Option<&[f32]>, relu_on: bool, out: &mut [f32]) {
    let k = s.k();
    for img in 0..s.n {
        for co in 0..s.cout {
            for oh in 0..s.ho {
                for ow in 0..s.wo {
                    let mut acc = 0.0f32;
                    for ci in 0..s.cin {
                        for i in 0..s.kh {
                            for j in 0..s.kw {
                                let ih = (oh * s.stride + i) as isize - s.pad_top as isize;
                                let iw = (ow * s.stride + j) as isize - s.pad_left as isize;
                                let v = if ih >= 0 && iw >= 0 && (ih as usize) < s.h && (iw as usize) < s.w {
                                    x[((img * s.cin + ci) * s.h + ih as usize) * s.w + iw as usize]
                                } else {
                                    0.0
                                };
                                acc += w[co * k + (ci * s.kh + i) * s.kw + j] * v;
                            }
                        }
                    }
                    if let Some(b) = bias {
                        acc += b[co];
                    }
                    out[((img * s.cout + co) * s.ho + oh) * s.wo + ow] = if relu_on { relu(acc) } else { acc };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::tests::random;

    fn check(s: ConvShape, seed: u64) {
        s.valid().unwrap();
        let x = random(s.input_len(), seed);
        let w = random(s.weight_len(), seed + 1);
        let b = random(s.cout, seed + 2);
        for (bias, relu) in [(None, false), (Some(&b[..]), true)] {
            let mut got = vec![f32::NAN; s.output_len()];
            conv2d(&s, &x, &w, bias, relu, &mut got);
            let mut want = vec![f32::NAN; s.output_len()];
            conv2d_reference(&s, &x, &w, bias, relu, &mut want);
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "{s:?} at {i}: {a} vs {b}");
            }
        }
    }

    fn shape(n: usize, cin: usize, hw: usize, cout: usize, k: usize, stride: usize, pad: usize) -> ConvShape {
        let o = (hw + 2 * pad - k) / stride + 1;
        ConvShape { n, cin, h: hw, w: hw, cout, kh: k, kw: k, stride, pad_top: pad, pad_left: pad, ho: o, wo: o }
    }

    #[test]
    fn matches_reference_bit_for_bit() {
        let mut seed = 100;
        for &(n, cin, hw, cout, k, stride, pad) in &[
            (1, 1, 5, 1, 3, 1, 0),
            (2, 3, 7, 5, 3, 1, 1),
            (1, 4, 28, 8, 3, 1, 1),
            (3, 2, 9, 6, 3, 2, 1),
            (2, 5, 10, 7, 4, 1, 0),
            (1, 3, 6, 4, 4, 2, 2),
            (2, 40, 12, 40, 3, 1, 1),
            (1, 2, 3, 3, 3, 1, 0),
            (1, 1, 1, 2, 1, 1, 0),
            (1, 3, 11, 9, 5, 3, 2),
        ] {
            seed += 7;
            check(shape(n, cin, hw, cout, k, stride, pad), seed);
        }
        // Asymmetric 'same' padding for an even kernel, and a non-square input.
        check(ConvShape { n: 2, cin: 3, h: 6, w: 9, cout: 5, kh: 4, kw: 2, stride: 1, pad_top: 1, pad_left: 0, ho: 6, wo: 9 }, 9);
    }

    #[test]
    fn small_outputs_pack_across_images() {
        // 1x1 and 3x3 outputs: columns of several images share panels.
        check(shape(5, 6, 4, 7, 4, 1, 0), 41);
        check(shape(3, 4, 5, 9, 3, 1, 0), 42);
        check(shape(7, 3, 6, 5, 3, 2, 1), 43);
    }

    #[test]
    fn large_k_uses_several_blocks() {
        // K = 64 * 9 = 576: several panels per block, several blocks per image.
        check(shape(1, 64, 20, 12, 3, 1, 1), 77);
    }

    #[test]
    fn rejects_impossible_geometry() {
        let mut s = shape(1, 1, 5, 1, 3, 1, 0);
        s.ho = 5; // bottom padding 2 = kh - 1: allowed
        assert!(s.valid().is_ok());
        s.ho = 6; // would need bottom padding 3 > kh - 1
        assert!(s.valid().is_err());
        s = shape(1, 1, 5, 1, 3, 1, 0);
        s.pad_top = 3;
        assert!(s.valid().is_err());
    }
}
