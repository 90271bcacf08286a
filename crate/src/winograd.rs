//! 3x3, stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3).
//!
//! Each 2x2 block of outputs is computed from a 4x4 input patch `d` as `A^T [U (.) V] A`, with
//! `V = B^T d B` and `U = G g G^T`: 16 multiplications per input channel instead of 36. Summed
//! over input channels, the 16 elementwise products become 16 independent GEMMs
//! `M[xi] = U[xi] (cout x cin) . V[xi] (cin x tiles)`, which the 4x8 tile of [`crate::gemm`]
//! runs on panels packed straight from the transformed input. `U` is computed once per layer
//! ([`transform_weights`]). The order of every sum is fixed by the output position alone (the
//! tile it falls in, then `ci = 0..cin-1` inside each GEMM), never by the batch or by blocking,
//! so results are deterministic; they differ from direct convolution by rounding only.

use crate::scratch;
use crate::simd::F4;
use crate::tile::{multiply, Epilogue, NR};

/// Tiles per block (a multiple of the panel width).
fn block_tiles(cin: usize, cout: usize) -> usize {
    if cin.max(cout) > 64 {
        32
    } else {
        64
    }
}

/// `u[xi][co][ci] = (G g[co][ci] G^T)[xi]` for 3x3 filters `w` `[cout][cin][3][3]`.
pub fn transform_weights(w: &[f32], cout: usize, cin: usize, u: &mut [f32]) {
    assert!(w.len() >= cout * cin * 9 && u.len() >= 16 * cout * cin);
    for co in 0..cout {
        for ci in 0..cin {
            let g = &w[(co * cin + ci) * 9..(co * cin + ci + 1) * 9];
            // G g: 4x3.
            let mut t = [[0.0f32; 3]; 4];
            for j in 0..3 {
                let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
                t[0][j] = g0;
                t[1][j] = (g0 + g1 + g2) * 0.5;
                t[2][j] = (g0 - g1 + g2) * 0.5;
                t[3][j] = g2;
            }
            // (G g) G^T: 4x4.
            for i in 0..4 {
                let (a, b, c) = (t[i][0], t[i][1], t[i][2]);
                let row = [a, (a + b + c) * 0.5, (a - b + c) * 0.5, c];
                for (j, v) in row.iter().enumerate() {
                    u[((i * 4 + j) * cout + co) * cin + ci] = *v;
                }
            }
        }
    }
}

/// Geometry of an `R x R` Winograd convolution: input `[n, cin, h, w]`, zero padding `pad` on
/// every side, output `[n, cout, ho, wo]` with `ho = h + 2 pad - (R - 1)`, `wo = w + 2 pad - (R - 1)`.
#[derive(Clone, Copy, Debug)]
pub struct WinogradShape<const R: usize> {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub pad: usize,
}

impl<const R: usize> WinogradShape<R> {
    pub fn ho(&self) -> usize {
        (self.h + 2 * self.pad).saturating_sub(R - 1)
    }
    pub fn wo(&self) -> usize {
        (self.w + 2 * self.pad).saturating_sub(R - 1)
    }
}

/// Geometry of F(2x2, 3x3).
pub type Shape = WinogradShape<3>;

/// `out = relu?(conv3x3(x, w) + bias)` with `u` from [`transform_weights`].
pub fn conv3x3(s: &Shape, x: &[f32], u: &[f32], bias: Option<&[f32]>, relu_on: bool, out: &mut [f32]) {
    let (ho, wo) = (s.ho(), s.wo());
    assert!(s.pad <= 1 && x.len() >= s.n * s.cin * s.h * s.w && u.len() >= 16 * s.cout * s.cin);
    assert!(out.len() >= s.n * s.cout * ho * wo);
    if ho == 0 || wo == 0 || s.cout == 0 {
        return;
    }
    let tw = wo.div_ceil(2);
    let d = Driver { coords: 16, n: s.n, cin: s.cin, plane: s.h * s.w, cout: s.cout, ho, wo, tb: block_tiles(s.cin, s.cout) };
    drive(&d, x, out, u, |q| q, |xi, t0, nt, v| input_transform(s, xi, t0, nt, tw, v), |m, t0, nt, oi| output_transform(s, m, d.tb, t0, nt, tw, ho, wo, bias, relu_on, oi));
}

/// The shape of a Winograd F(2x2, r x r) convolution, for [`drive`]: `coords` transformed
/// coordinates ((r + 1)^2), `n` images of `cin` planes of `plane` values, `cout` output planes of
/// `ho x wo`, blocks of `tb` tiles.
pub(crate) struct Driver {
    pub coords: usize,
    pub n: usize,
    pub cin: usize,
    pub plane: usize,
    pub cout: usize,
    pub ho: usize,
    pub wo: usize,
    pub tb: usize,
}

/// The loop both Winograd kernels run: per image, blocks of `tb` tiles; the input transform packs
/// V (`coords` GEMM operands), one tile product per coordinate with the weights `u` (matrix
/// `weight_of(xi)`, `cout x cin` each), then the output transform reads M. Scratch is reused.
pub(crate) fn drive(
    d: &Driver,
    x: &[f32],
    out: &mut [f32],
    u: &[f32],
    weight_of: impl Fn(usize) -> usize,
    input: impl Fn(&[f32], usize, usize, &mut [f32]),
    output: impl Fn(&[f32], usize, usize, &mut [f32]),
) {
    let tiles = d.ho.div_ceil(2) * d.wo.div_ceil(2);
    let (k, q) = (d.cin, d.coords);
    // V lanes past the last tile must be zero: the input transform leaves them untouched.
    scratch::with2(q * d.tb * k.max(1), q * d.cout * d.tb, true, |v, m| {
        for img in 0..d.n {
            let xi = &x[img * k * d.plane..(img + 1) * k * d.plane];
            let oi = &mut out[img * d.cout * d.ho * d.wo..(img + 1) * d.cout * d.ho * d.wo];
            let mut t0 = 0;
            while t0 < tiles {
                let nt = (tiles - t0).min(d.tb);
                let panels = nt.div_ceil(NR);
                input(xi, t0, nt, &mut v[..q * panels * NR * k]);
                for c in 0..q {
                    let r = weight_of(c);
                    let a = &u[r * d.cout * k..(r + 1) * d.cout * k];
                    let bp = &v[c * panels * NR * k..(c + 1) * panels * NR * k];
                    let mc = &mut m[c * d.cout * d.tb..(c + 1) * d.cout * d.tb];
                    multiply(d.cout, nt, k, a, k, bp, Epilogue::none(), mc, d.tb);
                }
                output(m, t0, nt, oi);
                t0 += nt;
            }
        }
    });
}

/// V for tiles `t0..t0+nt` of one image, packed per `xi` as GEMM panels `[panel][ci][8]`.
/// Four tiles at a time: each tile's 4x4 patch is loaded as four row vectors, the rows of the
/// four tiles are transposed so each vector holds one patch entry of all four tiles, and the
/// transform is then vector arithmetic with one contiguous store per `xi`.
fn input_transform(s: &Shape, x: &[f32], t0: usize, nt: usize, tw: usize, v: &mut [f32]) {
    let k = s.cin;
    let panels = nt.div_ceil(NR);
    let per_xi = panels * NR * k;
    let (h, w) = (s.h as isize, s.w as isize);
    let mut q = 0;
    while q < nt {
        let origin = patch_origins(t0 + q, nt - q, tw, s.pad, h, w, 4);
        let base = (q / NR) * NR * k + q % NR;
        for ci in 0..k {
            let plane = &x[ci * s.h * s.w..(ci + 1) * s.h * s.w];
            // d[i][lane]: row i of the lane's patch.
            let mut d = [[F4::zero(); 4]; 4];
            for (l, o) in origin.iter().enumerate() {
                let Some((y0, x0, interior)) = *o else { continue };
                for (i, row) in d.iter_mut().enumerate() {
                    let yy = y0 + i as isize;
                    if interior {
                        // SAFETY: interior patches lie inside the plane.
                        row[l] = unsafe { F4::load(plane.as_ptr().add(yy as usize * s.w + x0 as usize)) };
                    } else if yy >= 0 && yy < h {
                        let mut tmp = [0.0f32; 4];
                        for (j, e) in tmp.iter_mut().enumerate() {
                            let xx = x0 + j as isize;
                            if xx >= 0 && xx < w {
                                *e = plane[yy as usize * s.w + xx as usize];
                            }
                        }
                        row[l] = unsafe { F4::load(tmp.as_ptr()) };
                    }
                }
            }
            // Now d[i][j] holds entry (i, j) of the four patches.
            for row in d.iter_mut() {
                F4::transpose(row);
            }
            let r: [[F4; 4]; 4] = [
                core::array::from_fn(|j| d[0][j].sub(d[2][j])),
                core::array::from_fn(|j| d[1][j].add(d[2][j])),
                core::array::from_fn(|j| d[2][j].sub(d[1][j])),
                core::array::from_fn(|j| d[1][j].sub(d[3][j])),
            ];
            let o = base + ci * NR;
            for (i, ri) in r.iter().enumerate() {
                let vals = [ri[0].sub(ri[2]), ri[1].add(ri[2]), ri[2].sub(ri[1]), ri[1].sub(ri[3])];
                for (j, val) in vals.iter().enumerate() {
                    // SAFETY: o + 4 <= per_xi: lanes q%8..q%8+4 of a panel.
                    unsafe { val.store(v.as_mut_ptr().add((i * 4 + j) * per_xi + o)) };
                }
            }
        }
        q += 4;
    }
}

/// `Y = A^T M A` (+ bias, ReLU) for tiles `t0..t0+nt`, storing the outputs inside `ho x wo`;
/// four tiles at a time, like the input transform.
#[allow(clippy::too_many_arguments)]
fn output_transform(s: &Shape, m: &[f32], tb: usize, t0: usize, nt: usize, tw: usize, ho: usize, wo: usize, bias: Option<&[f32]>, relu_on: bool, out: &mut [f32]) {
    let stride_xi = s.cout * tb;
    for co in 0..s.cout {
        let b = F4::splat(bias.map_or(0.0, |b| b[co]));
        let plane = &mut out[co * ho * wo..(co + 1) * ho * wo];
        let mut q = 0;
        while q < nt {
            let at = co * tb + q;
            // SAFETY: q + 4 <= tb (blocks are a multiple of 8 tiles wide), so every load is in `m`.
            let e: [F4; 16] = core::array::from_fn(|xi| unsafe { F4::load(m.as_ptr().add(xi * stride_xi + at)) });
            let s0: [F4; 4] = core::array::from_fn(|j| e[j].add(e[4 + j]).add(e[8 + j]));
            let s1: [F4; 4] = core::array::from_fn(|j| e[4 + j].sub(e[8 + j]).sub(e[12 + j]));
            let mut y = [
                s0[0].add(s0[1]).add(s0[2]).add(b),
                s0[1].sub(s0[2]).sub(s0[3]).add(b),
                s1[0].add(s1[1]).add(s1[2]).add(b),
                s1[1].sub(s1[2]).sub(s1[3]).add(b),
            ];
            if relu_on {
                y = y.map(F4::relu);
            }
            store_tiles(plane, y, t0 + q, nt - q, tw, ho, wo);
            q += 4;
        }
    }
}

/// The origins of the `size x size` input patches of up to four consecutive 2x2-output tiles
/// (`left` tiles remain from tile `t`, `tw` tiles per row, padding `pad`), with whether each
/// patch lies inside the `h x w` plane; None for a lane past the last tile (left as zeros).
pub(crate) fn patch_origins(t: usize, left: usize, tw: usize, pad: usize, h: isize, w: isize, size: isize) -> [Option<(isize, isize, bool)>; 4] {
    core::array::from_fn(|l| {
        (l < left).then(|| {
            let (ty, tx) = ((t + l) / tw, (t + l) % tw);
            let (y0, x0) = ((2 * ty) as isize - pad as isize, (2 * tx) as isize - pad as isize);
            (y0, x0, y0 >= 0 && x0 >= 0 && y0 + size <= h && x0 + size <= w)
        })
    })
}

/// Writes the 2x2 outputs `y` (`[y00, y01, y10, y11]`, lane `l` for tile `t + l`) of up to four
/// consecutive tiles (`left` tiles remain) into an output plane `ho x wo` with `tw` tiles per row;
/// four tiles side by side in one row of tiles are two rows of eight outputs, stored whole.
pub(crate) fn store_tiles(plane: &mut [f32], y: [F4; 4], t: usize, left: usize, tw: usize, ho: usize, wo: usize) {
    let (ty, tx) = (t / tw, t % tw);
    let lanes = left.min(4);
    if lanes == 4 && tx + 4 <= tw && 2 * tx + 8 <= wo && 2 * ty + 2 <= ho {
        for (r, (a, c)) in [(y[0], y[1]), (y[2], y[3])].into_iter().enumerate() {
            let at = (2 * ty + r) * wo + 2 * tx;
            assert!(at + 8 <= plane.len());
            // SAFETY: at + 8 <= plane.len(), checked above.
            unsafe {
                a.zip_lo(c).store(plane.as_mut_ptr().add(at));
                a.zip_hi(c).store(plane.as_mut_ptr().add(at + 4));
            }
        }
    } else {
        for l in 0..lanes {
            let (ty, tx) = ((t + l) / tw, (t + l) % tw);
            for r in 0..2 {
                let yy = 2 * ty + r;
                if yy >= ho {
                    continue;
                }
                for c in 0..2 {
                    let xx = 2 * tx + c;
                    if xx < wo {
                        plane[yy * wo + xx] = y[2 * r + c].get(l);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::{conv2d_reference, ConvShape};
    use crate::gemm::tests::random;

    fn check(n: usize, cin: usize, h: usize, w: usize, cout: usize, pad: usize, seed: u64) {
        let s = Shape { n, cin, h, w, cout, pad };
        let x = random(n * cin * h * w, seed);
        let wt = random(cout * cin * 9, seed + 1);
        let b = random(cout, seed + 2);
        let mut u = vec![0.0; 16 * cout * cin];
        transform_weights(&wt, cout, cin, &mut u);
        let (ho, wo) = (s.ho(), s.wo());
        let mut got = vec![f32::NAN; n * cout * ho * wo];
        conv3x3(&s, &x, &u, Some(&b), true, &mut got);
        let cs = ConvShape { n, cin, h, w, cout, kh: 3, kw: 3, stride: 1, pad_top: pad, pad_left: pad, ho, wo };
        let mut want = vec![0.0; got.len()];
        conv2d_reference(&cs, &x, &wt, Some(&b), true, &mut want);
        let scale = want.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let err = got.iter().zip(&want).fold(0.0f32, |a, (g, w)| a.max((g - w).abs()));
        assert!(err <= 2e-6 * scale.max(1.0), "{s:?}: error {err} (scale {scale})");
    }

    #[test]
    fn matches_direct_convolution() {
        check(1, 1, 4, 4, 1, 0, 1);
        check(2, 3, 7, 9, 5, 1, 2); // odd outputs: partial tiles
        check(1, 40, 28, 28, 40, 1, 3); // L1's layer, one image
        check(3, 10, 6, 6, 7, 0, 4);
        check(1, 130, 9, 8, 6, 1, 5); // several panels of input channels, blocks of 32 tiles
        check(2, 2, 3, 3, 3, 0, 6); // one output pixel
        check(1, 4, 30, 30, 9, 1, 7); // several blocks of tiles
    }

    #[test]
    fn deterministic_across_batch_composition() {
        let s1 = Shape { n: 3, cin: 5, h: 10, w: 10, cout: 6, pad: 1 };
        let x = random(3 * 5 * 100, 9);
        let wt = random(6 * 5 * 9, 10);
        let mut u = vec![0.0; 16 * 30];
        transform_weights(&wt, 6, 5, &mut u);
        let mut all = vec![0.0; 3 * 6 * 100];
        conv3x3(&s1, &x, &u, None, false, &mut all);
        let s2 = Shape { n: 1, ..s1 };
        let mut one = vec![0.0; 600];
        conv3x3(&s2, &x[500..1000], &u, None, false, &mut one);
        assert_eq!(&all[600..1200], &one[..]);
    }
}
