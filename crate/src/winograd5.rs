//! 5x5, stride-1 convolution by Winograd's minimal filtering F(2x2, 5x5).
//!
//! Each 2x2 block of outputs is `A^T [U (.) V] A` with `V = B^T d B` over a 6x6 input patch `d`
//! and `U = G g G^T`: 36 multiplications per input channel instead of 100. The transforms are
//! those of the interpolation points 0, 3/2, -3/2, 2/3, -2/3 and infinity, chosen among sets of
//! small rationals for the least f32 rounding on random layers (about 3x less than 0, +-1, +-2
//! in a simulation of this kernel's summation order):
//!
//! ```text
//! B^T = [1    0 -97/36    0 1 0]   G = [     1      0      0      0      0]   A^T = [1   1    1   1    1 0]
//!       [0 -2/3   -4/9  3/2 1 0]       [  8/65  12/65  18/65  27/65 81/130]         [0 3/2 -3/2 2/3 -2/3 1]
//!       [0  2/3   -4/9 -3/2 1 0]       [  8/65 -12/65  18/65 -27/65 81/130]
//!       [0 -3/2   -9/4  2/3 1 0]       [-81/130 -27/65 -18/65 -12/65 -8/65]
//!       [0  3/2   -9/4 -2/3 1 0]       [-81/130  27/65 -18/65  12/65 -8/65]
//!       [0    1      0 -97/36 0 1]     [     0      0      0      0      1]
//! ```
//!
//! As in [`crate::winograd`], summed over input channels the 36 products are 36 GEMMs
//! `M[xi] = U[xi] (cout x cin) . V[xi] (cin x tiles)` on the one register-tile driver
//! ([`crate::tile::multiply`]); the order of every sum is fixed by the output position alone, so
//! results are deterministic and differ from direct convolution by rounding only (the larger
//! transform entries make that rounding a few times larger than F(2x2, 3x3)'s).

use crate::simd::F4;
use crate::tile::NR;
use crate::winograd::{drive, patch_origins, store_tiles, Driver};

/// Tiles per block (a multiple of the panel width): fewer for wide layers, so V and M stay small.
fn block_tiles(cin: usize, cout: usize) -> usize {
    if cin.max(cout) > 256 {
        32
    } else {
        64
    }
}

const G: [[f64; 5]; 6] = [
    [1.0, 0.0, 0.0, 0.0, 0.0],
    [8.0 / 65.0, 12.0 / 65.0, 18.0 / 65.0, 27.0 / 65.0, 81.0 / 130.0],
    [8.0 / 65.0, -12.0 / 65.0, 18.0 / 65.0, -27.0 / 65.0, 81.0 / 130.0],
    [-81.0 / 130.0, -27.0 / 65.0, -18.0 / 65.0, -12.0 / 65.0, -8.0 / 65.0],
    [-81.0 / 130.0, 27.0 / 65.0, -18.0 / 65.0, 12.0 / 65.0, -8.0 / 65.0],
    [0.0, 0.0, 0.0, 0.0, 1.0],
];

/// `u[xi][co][ci] = (G g[co][ci] G^T)[xi]` for 5x5 filters `w` `[cout][cin][5][5]` (in f64, rounded once).
pub fn transform_weights(w: &[f32], cout: usize, cin: usize, u: &mut [f32]) {
    assert!(w.len() >= cout * cin * 25 && u.len() >= 36 * cout * cin);
    for co in 0..cout {
        for ci in 0..cin {
            let g = &w[(co * cin + ci) * 25..(co * cin + ci + 1) * 25];
            let mut t = [[0.0f64; 5]; 6];
            for (i, row) in t.iter_mut().enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = (0..5).map(|k| G[i][k] * g[k * 5 + j] as f64).sum();
                }
            }
            for i in 0..6 {
                for j in 0..6 {
                    let v: f64 = (0..5).map(|k| t[i][k] * G[j][k]).sum();
                    u[((i * 6 + j) * cout + co) * cin + ci] = v as f32;
                }
            }
        }
    }
}

/// Geometry of F(2x2, 5x5): zero padding `pad` at most 4, output `[n, cout, h + 2 pad - 4, w + 2 pad - 4]`.
pub type Shape = crate::winograd::WinogradShape<5>;

/// Weights given at a few coordinates only (a steerable layer's, whose filters the grid's
/// symmetries relate): coordinate `xi` uses `u[rep_of[xi]]` with its input channels permuted and
/// scaled, `U[xi][co][ci] = out_scale[xi][co] in_scale[xi][ci] u[rep_of[xi]][out_perm[xi][co]][in_perm[xi][ci]]`.
/// The input transform writes each `V[xi]` row at `in_perm` (scaled), the output transform reads
/// `M[xi][co]` at `out_perm` (scaled), so the 36 products run on the few stored matrices.
#[derive(Clone, Copy)]
pub struct Sym<'a> {
    pub rep_of: [usize; 36],
    pub reps: usize,
    pub in_perm: &'a [u32],
    pub in_scale: &'a [f32],
    pub out_perm: &'a [u32],
    pub out_scale: &'a [f32],
}

impl Sym<'_> {
    /// Checks sizes and that every `rep_of` and permutation entry is in range.
    pub fn check(&self, cout: usize, cin: usize) -> Result<(), String> {
        if self.in_perm.len() != 36 * cin || self.in_scale.len() != 36 * cin || self.out_perm.len() != 36 * cout || self.out_scale.len() != 36 * cout {
            return Err("the permutations and scales must hold 36 x cin and 36 x cout entries".into());
        }
        if self.rep_of.iter().any(|&r| r >= self.reps) {
            return Err(format!("a coordinate refers to a matrix beyond the {} stored", self.reps));
        }
        for (perm, n) in [(self.in_perm, cin), (self.out_perm, cout)] {
            for row in perm.chunks(n.max(1)) {
                let mut seen = vec![false; n];
                for &p in row {
                    if p as usize >= n || seen[p as usize] {
                        return Err(format!("a channel permutation is not a permutation of 0..{n}"));
                    }
                    seen[p as usize] = true;
                }
            }
        }
        Ok(())
    }
}

/// `out = relu?(conv5x5(x, w) + bias)` with `u` from [`transform_weights`] (or the few matrices of `sym`).
pub fn conv5x5(s: &Shape, x: &[f32], u: &[f32], sym: Option<&Sym>, bias: Option<&[f32]>, relu_on: bool, out: &mut [f32]) {
    let (ho, wo) = (s.ho(), s.wo());
    let mats = sym.map_or(36, |y| y.reps);
    assert!(s.pad <= 4 && x.len() >= s.n * s.cin * s.h * s.w && u.len() >= mats * s.cout * s.cin);
    assert!(out.len() >= s.n * s.cout * ho * wo);
    if ho == 0 || wo == 0 || s.cout == 0 {
        return;
    }
    let tw = wo.div_ceil(2);
    let d = Driver { coords: 36, n: s.n, cin: s.cin, plane: s.h * s.w, cout: s.cout, ho, wo, tb: block_tiles(s.cin, s.cout) };
    drive(&d, x, out, u, |c| sym.map_or(c, |y| y.rep_of[c]), |xi, t0, nt, v| input_transform(s, xi, t0, nt, tw, sym, v), |m, t0, nt, oi| output_transform(s, m, d.tb, t0, nt, tw, ho, wo, sym, bias, relu_on, oi));
}

/// `B^T d` for six vectors `d[0..6]` (rows or columns of four patches at once).
#[inline(always)]
fn bt(d: [F4; 6]) -> [F4; 6] {
    let c97 = F4::splat(97.0 / 36.0);
    let (c49, c94, c23, c32) = (F4::splat(4.0 / 9.0), F4::splat(9.0 / 4.0), F4::splat(2.0 / 3.0), F4::splat(1.5));
    let a = d[4].sub(d[2].mul(c49));
    let b = d[3].mul(c32).sub(d[1].mul(c23));
    let c = d[4].sub(d[2].mul(c94));
    let e = d[3].mul(c23).sub(d[1].mul(c32));
    [d[0].sub(d[2].mul(c97)).add(d[4]), a.add(b), a.sub(b), c.add(e), c.sub(e), d[1].sub(d[3].mul(c97)).add(d[5])]
}

/// V for tiles `t0..t0+nt` of one image, packed per `xi` as GEMM panels `[panel][ci][8]`; four
/// tiles at a time, each vector holding one patch entry of the four tiles.
fn input_transform(s: &Shape, x: &[f32], t0: usize, nt: usize, tw: usize, sym: Option<&Sym>, v: &mut [f32]) {
    let k = s.cin;
    let panels = nt.div_ceil(NR);
    let per_xi = panels * NR * k;
    let (h, w) = (s.h as isize, s.w as isize);
    let mut q = 0;
    while q < nt {
        let origin = patch_origins(t0 + q, nt - q, tw, s.pad, h, w, 6);
        let base = (q / NR) * NR * k + q % NR;
        for ci in 0..k {
            let plane = &x[ci * s.h * s.w..(ci + 1) * s.h * s.w];
            // d[i][j]: entry (i, j) of the four patches (a vector over the tiles).
            let mut d = [[F4::zero(); 6]; 6];
            for (i, row) in d.iter_mut().enumerate() {
                // Columns 0..4 and 2..6 of row i of each patch, transposed over the four tiles.
                let mut lo = [F4::zero(); 4];
                let mut hi = [F4::zero(); 4];
                for (l, o) in origin.iter().enumerate() {
                    let Some((y0, x0, interior)) = *o else { continue };
                    let yy = y0 + i as isize;
                    if interior {
                        // SAFETY: interior patches lie inside the plane.
                        unsafe {
                            let p = plane.as_ptr().add(yy as usize * s.w + x0 as usize);
                            lo[l] = F4::load(p);
                            hi[l] = F4::load(p.add(2));
                        }
                    } else if yy >= 0 && yy < h {
                        let mut tmp = [0.0f32; 6];
                        for (j, e) in tmp.iter_mut().enumerate() {
                            let xx = x0 + j as isize;
                            if xx >= 0 && xx < w {
                                *e = plane[yy as usize * s.w + xx as usize];
                            }
                        }
                        lo[l] = unsafe { F4::load(tmp.as_ptr()) };
                        hi[l] = unsafe { F4::load(tmp.as_ptr().add(2)) };
                    }
                }
                F4::transpose(&mut lo);
                F4::transpose(&mut hi);
                *row = [lo[0], lo[1], lo[2], lo[3], hi[2], hi[3]];
            }
            // B^T d, column by column, then (B^T d) B, row by row.
            let mut t = [[F4::zero(); 6]; 6];
            for j in 0..6 {
                let c = bt(core::array::from_fn(|i| d[i][j]));
                for i in 0..6 {
                    t[i][j] = c[i];
                }
            }
            for (i, ti) in t.iter().enumerate() {
                let vals = bt(*ti);
                for (j, val) in vals.iter().enumerate() {
                    let xi_ = i * 6 + j;
                    let (row, val) = match sym {
                        Some(y) => (y.in_perm[xi_ * k + ci] as usize, val.mul(F4::splat(y.in_scale[xi_ * k + ci]))),
                        None => (ci, *val),
                    };
                    // SAFETY: base + row * NR + 4 <= per_xi: lanes q%8..q%8+4 of a panel row.
                    unsafe { val.store(v.as_mut_ptr().add(xi_ * per_xi + base + row * NR)) };
                }
            }
        }
        q += 4;
    }
}

/// `A^T m` for six vectors: `[m0 + m1 + m2 + m3 + m4, 3/2 (m1 - m2) + 2/3 (m3 - m4) + m5]`.
#[inline(always)]
fn at(m: [F4; 6]) -> [F4; 2] {
    let (c32, c23) = (F4::splat(1.5), F4::splat(2.0 / 3.0));
    [m[0].add(m[1]).add(m[2]).add(m[3]).add(m[4]), m[1].sub(m[2]).mul(c32).add(m[3].sub(m[4]).mul(c23)).add(m[5])]
}

/// `Y = A^T M A` (+ bias, ReLU) for tiles `t0..t0+nt`, storing the outputs inside `ho x wo`.
#[allow(clippy::too_many_arguments)]
fn output_transform(s: &Shape, m: &[f32], tb: usize, t0: usize, nt: usize, tw: usize, ho: usize, wo: usize, sym: Option<&Sym>, bias: Option<&[f32]>, relu_on: bool, out: &mut [f32]) {
    let stride_xi = s.cout * tb;
    for co in 0..s.cout {
        let b = F4::splat(bias.map_or(0.0, |b| b[co]));
        let plane = &mut out[co * ho * wo..(co + 1) * ho * wo];
        let mut q = 0;
        while q < nt {
            // SAFETY: q + 4 <= tb (blocks are a multiple of 8 tiles wide), so every load is in `m`.
            let e: [F4; 36] = core::array::from_fn(|xi| match sym {
                Some(y) => unsafe { F4::load(m.as_ptr().add(xi * stride_xi + y.out_perm[xi * s.cout + co] as usize * tb + q)).mul(F4::splat(y.out_scale[xi * s.cout + co])) },
                None => unsafe { F4::load(m.as_ptr().add(xi * stride_xi + co * tb + q)) },
            });
            // Rows: r[a][j] = sum over i of A^T[a][i] e[i][j].
            let cols: [[F4; 2]; 6] = core::array::from_fn(|j| at(core::array::from_fn(|i| e[i * 6 + j])));
            let r0 = at(core::array::from_fn(|j| cols[j][0]));
            let r1 = at(core::array::from_fn(|j| cols[j][1]));
            let mut y = [r0[0].add(b), r0[1].add(b), r1[0].add(b), r1[1].add(b)];
            if relu_on {
                y = y.map(F4::relu);
            }
            store_tiles(plane, y, t0 + q, nt - q, tw, ho, wo);
            q += 4;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::{conv2d_reference, ConvShape};
    use crate::gemm::tests::random;

    fn check(n: usize, cin: usize, h: usize, w: usize, cout: usize, pad: usize, seed: u64) -> f32 {
        let s = Shape { n, cin, h, w, cout, pad };
        let x = random(n * cin * h * w, seed);
        let wt = random(cout * cin * 25, seed + 1);
        let b = random(cout, seed + 2);
        let mut u = vec![0.0; 36 * cout * cin];
        transform_weights(&wt, cout, cin, &mut u);
        let (ho, wo) = (s.ho(), s.wo());
        let mut got = vec![f32::NAN; n * cout * ho * wo];
        conv5x5(&s, &x, &u, None, Some(&b), true, &mut got);
        let cs = ConvShape { n, cin, h, w, cout, kh: 5, kw: 5, stride: 1, pad_top: pad, pad_left: pad, ho, wo };
        let mut want = vec![0.0; got.len()];
        conv2d_reference(&cs, &x, &wt, Some(&b), true, &mut want);
        let scale = want.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let err = got.iter().zip(&want).fold(0.0f32, |a, (g, w)| a.max((g - w).abs()));
        eprintln!("{s:?}: relative error {:.2e}", err / scale);
        assert!(err <= 5e-6 * scale.max(1.0), "{s:?}: error {err} (scale {scale})");
        err / scale
    }

    #[test]
    fn matches_direct_convolution() {
        check(1, 1, 6, 6, 1, 0, 1);
        check(2, 3, 9, 11, 5, 2, 2); // odd outputs: partial tiles
        check(1, 64, 14, 14, 64, 2, 3); // a C8 layer of the demo, one image
        check(3, 10, 8, 8, 7, 1, 4);
        check(1, 130, 9, 8, 6, 2, 5); // several panels of input channels
        check(2, 2, 5, 5, 3, 0, 6); // one output pixel
        check(1, 4, 30, 30, 9, 2, 7); // several blocks of tiles
        check(1, 3, 7, 7, 4, 4, 8); // padding 4
        check(1, 300, 7, 7, 20, 1, 9); // wide layers, blocks of 32 tiles
    }

    #[test]
    fn stored_at_a_few_coordinates_equals_the_full_weights() {
        // Two matrices stand for all 36: U[xi] = diag(os) P_o u[rep] P_i^T diag(is).
        let s = Shape { n: 2, cin: 5, h: 9, w: 8, cout: 3, pad: 2 };
        let x = random(2 * 5 * 72, 21);
        let u2 = random(2 * 3 * 5, 22);
        let rep_of: [usize; 36] = core::array::from_fn(|xi| xi % 2);
        let perm = |n: usize, xi: usize| -> Vec<u32> { (0..n).map(|c| ((c + xi) % n) as u32).collect() };
        let in_perm: Vec<u32> = (0..36).flat_map(|xi| perm(5, xi)).collect();
        let out_perm: Vec<u32> = (0..36).flat_map(|xi| perm(3, 2 * xi)).collect();
        let in_scale: Vec<f32> = (0..36 * 5).map(|t| if t % 3 == 0 { -0.5 } else { 2.0 }).collect();
        let out_scale: Vec<f32> = (0..36 * 3).map(|t| if t % 2 == 0 { 1.0 } else { -1.5 }).collect();
        let sym = Sym { rep_of, reps: 2, in_perm: &in_perm, in_scale: &in_scale, out_perm: &out_perm, out_scale: &out_scale };
        sym.check(3, 5).unwrap();
        let mut full = vec![0.0f32; 36 * 15];
        for xi in 0..36 {
            for co in 0..3 {
                for ci in 0..5 {
                    full[(xi * 3 + co) * 5 + ci] = out_scale[xi * 3 + co] * in_scale[xi * 5 + ci] * u2[(rep_of[xi] * 3 + out_perm[xi * 3 + co] as usize) * 5 + in_perm[xi * 5 + ci] as usize];
                }
            }
        }
        let (ho, wo) = (s.ho(), s.wo());
        let mut a = vec![0.0; 2 * 3 * ho * wo];
        let mut b = a.clone();
        conv5x5(&s, &x, &full, None, None, false, &mut a);
        conv5x5(&s, &x, &u2, Some(&sym), None, false, &mut b);
        // The same sums, scaled at other points: equal to rounding (relative to the outputs' scale).
        let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = a.iter().zip(&b).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(err <= 1e-5 * scale, "error {err} at scale {scale}");
        let bad = Sym { rep_of: [2; 36], ..sym };
        assert!(bad.check(3, 5).is_err());
    }

    #[test]
    fn deterministic_across_batch_composition() {
        let s1 = Shape { n: 3, cin: 5, h: 10, w: 10, cout: 6, pad: 2 };
        let x = random(3 * 5 * 100, 9);
        let wt = random(6 * 5 * 25, 10);
        let mut u = vec![0.0; 36 * 30];
        transform_weights(&wt, 6, 5, &mut u);
        let mut all = vec![0.0; 3 * 6 * 100];
        conv5x5(&s1, &x, &u, None, None, false, &mut all);
        let s2 = Shape { n: 1, ..s1 };
        let mut one = vec![0.0; 600];
        conv5x5(&s2, &x[500..1000], &u, None, None, false, &mut one);
        assert_eq!(&all[600..1200], &one[..]);
    }
}
