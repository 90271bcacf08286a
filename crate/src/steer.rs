//! Steerable convolutions: writing a filter bank (or its Winograd transform) from the products
//! of basis coefficients.
//!
//! An R2Conv's filter bank is, for every pair of an output field `a` and an input field `b` of
//! one pair of representation types, a block `sum over d of w[a, b, d] B_d` (`out x in x q`,
//! `q` the kernel's pixels or its Winograd coordinates). The facade computes those sums for all
//! field pairs at once as one GEMM, only at one coordinate of each orbit of the grid's exact
//! symmetries (rotations by 90 degrees, the reflection) when the representations are signed
//! permutations there: the rest of the block follows by `kappa(h x) = rho_out(h) kappa(x)
//! rho_in(h)^T`, which on Winograd coordinates is a scaled permutation too. [`scatter_blocks`]
//! then writes every block into place, each entry one computed value times a fixed scale.

/// Where a block entry goes and where its value comes from.
pub struct Blocks<'a> {
    /// Computed values: one row of `stride` per field pair `(a, b)`, row `a * n_in + b`.
    pub src: &'a [f32],
    pub stride: usize,
    /// Per block entry `(o, i, q)` (index `(o * i_size + i) * q_size + q`): a column of the row, and its scale.
    pub table: &'a [u32],
    pub scales: &'a [f32],
    pub o_size: usize,
    pub i_size: usize,
    pub q_size: usize,
    /// Channel offsets of the output fields `a` and input fields `b`.
    pub out_off: &'a [u32],
    pub in_off: &'a [u32],
}

/// Destination layout: entry `(co, ci, q)` of the bank at `co * s_co + ci * s_ci + q * s_q`; one
/// of `s_ci`, `s_q` is 1 (`[cout][cin][q]` filters, or `[q][cout][cin]` Winograd weights).
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub s_co: usize,
    pub s_ci: usize,
    pub s_q: usize,
    pub len: usize,
}

/// Writes every block of `b` into `out` (see the module comment).
pub fn scatter_blocks(b: &Blocks, l: Layout, out: &mut [f32]) {
    let (n_in, qs, is) = (b.in_off.len(), b.q_size, b.i_size);
    for (a, &oo) in b.out_off.iter().enumerate() {
        for o in 0..b.o_size {
            let co = (oo as usize + o) * l.s_co;
            if l.s_q == 1 {
                // [cout][cin][q]: each (b, i) is a contiguous run of q.
                for (bi, &io) in b.in_off.iter().enumerate() {
                    let row = &b.src[(a * n_in + bi) * b.stride..(a * n_in + bi + 1) * b.stride];
                    for i in 0..is {
                        let dst = &mut out[co + (io as usize + i) * l.s_ci..][..qs];
                        let e = (o * is + i) * qs;
                        for ((d, &t), &s) in dst.iter_mut().zip(&b.table[e..e + qs]).zip(&b.scales[e..e + qs]) {
                            *d = s * row[t as usize];
                        }
                    }
                }
            } else {
                // [q][cout][cin]: for each q, the fields b and components i run along cin.
                for q in 0..qs {
                    let base = co + q * l.s_q;
                    for (bi, &io) in b.in_off.iter().enumerate() {
                        let row = &b.src[(a * n_in + bi) * b.stride..(a * n_in + bi + 1) * b.stride];
                        let dst = &mut out[base + io as usize * l.s_ci..][..is];
                        for (i, d) in dst.iter_mut().enumerate() {
                            let e = (o * is + i) * qs + q;
                            *d = b.scales[e] * row[b.table[e] as usize];
                        }
                    }
                }
            }
        }
    }
}

/// A block basis in two factors (the facade's `rowFactor`): every pair of fields `(a, b)` has
/// combinations `v` (`i x nphi`, one per input component) and the block entry `(o, i, r)` is
/// `sign[o, i] * sum over j of v[comp[o, i]][j] * phi[j][o * r_size + r]`.
pub struct Factored<'a> {
    /// One row of `i * nphi` per field pair, row `a * n_in + b`.
    pub v: &'a [f32],
    pub nphi: usize,
    /// `nphi x (o * r_size)`.
    pub phi: &'a [f32],
    /// Per `(o, i)`: the component read and its sign.
    pub comp: &'a [u32],
    pub sign: &'a [f32],
    pub o_size: usize,
    pub i_size: usize,
    pub r_size: usize,
    pub out_off: &'a [u32],
    pub in_off: &'a [u32],
}

/// Writes Winograd weights `[r][cout][cin]` from two factors (see [`Factored`]): per field pair,
/// the `i` small products `v_c phi` (`o * r_size` values each, four lanes at a time, `j` in
/// order) stay in cache and are placed at once, instead of a product matrix written for every
/// pair and read back by [`scatter_blocks`].
pub fn scatter_factored(f: &Factored, cout: usize, cin: usize, out: &mut [f32]) {
    use crate::simd::F4;
    let (n_in, is, np, width) = (f.in_off.len(), f.i_size, f.nphi, f.o_size * f.r_size);
    let lanes = width.div_ceil(4) * 4;
    // Phi padded to whole vectors per row.
    let mut phi = vec![0.0f32; np * lanes];
    for j in 0..np {
        phi[j * lanes..j * lanes + width].copy_from_slice(&f.phi[j * width..(j + 1) * width]);
    }
    let mut y = vec![0.0f32; is * lanes];
    for (a, &oo) in f.out_off.iter().enumerate() {
        for (bi, &io) in f.in_off.iter().enumerate() {
            let v = &f.v[(a * n_in + bi) * is * np..][..is * np];
            for c in 0..is {
                let vc = &v[c * np..(c + 1) * np];
                for t in (0..lanes).step_by(4) {
                    let mut acc = F4::zero();
                    for j in 0..np {
                        // SAFETY: t + 4 <= lanes, the padded row length.
                        acc = acc.add(F4::splat(vc[j]).mul(unsafe { F4::load(phi.as_ptr().add(j * lanes + t)) }));
                    }
                    // SAFETY: c * lanes + t + 4 <= is * lanes.
                    unsafe { acc.store(y.as_mut_ptr().add(c * lanes + t)) };
                }
            }
            for r in 0..f.r_size {
                for o in 0..f.o_size {
                    let dst = &mut out[(r * cout + oo as usize + o) * cin + io as usize..][..is];
                    for (i, d) in dst.iter_mut().enumerate() {
                        let e = o * is + i;
                        *d = f.sign[e] * y[f.comp[e] as usize * lanes + o * f.r_size + r];
                    }
                }
            }
        }
    }
}

/// Checks the arguments of [`scatter_factored`] against a bank of `cout x cin` per coordinate.
pub fn check_factored(f: &Factored, cout: usize, cin: usize, out_len: usize) -> Result<(), String> {
    let (oi, width) = (f.o_size * f.i_size, f.o_size * f.r_size);
    if f.comp.len() != oi || f.sign.len() != oi {
        return Err(format!("{} components and {} signs for {oi} block entries", f.comp.len(), f.sign.len()));
    }
    if let Some(c) = f.comp.iter().find(|&&c| c as usize >= f.i_size) {
        return Err(format!("component {c} is not below {}", f.i_size));
    }
    if f.phi.len() != f.nphi * width {
        return Err(format!("phi has {} values, expected {} x {width}", f.phi.len(), f.nphi));
    }
    if f.v.len() != f.out_off.len() * f.in_off.len() * f.i_size * f.nphi {
        return Err(format!("v has {} values, expected {} pairs x {} x {}", f.v.len(), f.out_off.len() * f.in_off.len(), f.i_size, f.nphi));
    }
    if out_len != f.r_size * cout * cin {
        return Err(format!("the bank has {out_len} values, expected {} x {cout} x {cin}", f.r_size));
    }
    if let Some(o) = f.out_off.iter().find(|&&o| o as usize + f.o_size > cout) {
        return Err(format!("out field at {o} runs past {cout} channels"));
    }
    if let Some(i) = f.in_off.iter().find(|&&i| i as usize + f.i_size > cin) {
        return Err(format!("in field at {i} runs past {cin} channels"));
    }
    Ok(())
}

/// Checks the arguments of [`scatter_blocks`]: table entries inside a row, blocks inside the bank.
pub fn check(b: &Blocks, l: Layout, cout: usize, cin: usize) -> Result<(), String> {
    let block = b.o_size * b.i_size * b.q_size;
    if b.table.len() != block || b.scales.len() != block {
        return Err(format!("the table has {} entries and {} scales, a block {block}", b.table.len(), b.scales.len()));
    }
    if b.src.len() < b.out_off.len() * b.in_off.len() * b.stride {
        return Err("the computed values are shorter than rows x stride".into());
    }
    if let Some((i, t)) = b.table.iter().enumerate().find(|(_, &t)| t as usize >= b.stride) {
        return Err(format!("table[{i}] = {t} is outside a row of {}", b.stride));
    }
    if l.s_ci != 1 && l.s_q != 1 {
        return Err("the bank must be contiguous along its input channels or its coordinates".into());
    }
    let last = |n: usize, s: usize| n.saturating_sub(1) * s;
    if b.out_off.iter().any(|&o| o as usize + b.o_size > cout) || b.in_off.iter().any(|&i| i as usize + b.i_size > cin) {
        return Err(format!("a block does not fit a {cout} x {cin} bank"));
    }
    if last(cout, l.s_co) + last(cin, l.s_ci) + last(b.q_size, l.s_q) >= l.len.max(1) && cout * cin * b.q_size > 0 {
        return Err(format!("the bank holds {} values, too few for {cout} x {cin} x {}", l.len, b.q_size));
    }
    Ok(())
}

/// The sizes of a row fit: `d` basis elements of `o x i` blocks over `p` grid points, `nphi`
/// sampled scalar functions.
#[derive(Clone, Copy, Debug)]
pub struct FitDims {
    pub d: usize,
    pub o: usize,
    pub i: usize,
    pub p: usize,
    pub nphi: usize,
}

/// Row 0 of a block basis as combinations of sampled scalar functions, and the check that those
/// reproduce every row (the facade's `rowFactor` in ts/gspaces/expand.ts says why they should).
/// `f0` (`p x nphi`): the functions at the grid points; `f` (`o x p x nphi`): at the points
/// rotated back by the element taking axis 0 to axis `a`; `basis` (`d x o x i x p`); `comp`,
/// `sign` (`o x i`): entry `(a, b)` reads input component `comp` of row 0, times `sign`. Writes
/// `m` (`d x i x nphi`): per `(d, c)` the least-squares fit of row 0's entries over the grid
/// (Cholesky of `f0^T f0`). Returns false when `f0^T f0` is not positive definite or an entry
/// of the basis differs from its reconstruction by more than `tol`. Fixed order of operations.
pub fn fit_rows(f0: &[f64], f: &[f64], basis: &[f64], comp: &[u32], sign: &[f64], s: FitDims, tol: f64, m: &mut [f64]) -> bool {
    let FitDims { d, o, i, p, nphi: n } = s;
    let mut l = vec![0.0; n * n];
    for u in 0..n {
        for v in 0..=u {
            let mut acc = 0.0;
            for q in 0..p {
                acc += f0[q * n + u] * f0[q * n + v];
            }
            for t in 0..v {
                acc -= l[u * n + t] * l[v * n + t];
            }
            if u == v {
                if !(acc > 1e-10) {
                    return false;
                }
                l[u * n + u] = acc.sqrt();
            } else {
                l[u * n + v] = acc / l[v * n + v];
            }
        }
    }
    let mut rhs = vec![0.0; n];
    for dd in 0..d {
        for c in 0..i {
            let src = (dd * o * i + c) * p; // row 0, column c
            for j in 0..n {
                let mut acc = 0.0;
                for q in 0..p {
                    acc += f0[q * n + j] * basis[src + q];
                }
                for t in 0..j {
                    acc -= l[j * n + t] * rhs[t];
                }
                rhs[j] = acc / l[j * n + j];
            }
            for j in (0..n).rev() {
                let mut acc = rhs[j];
                for t in j + 1..n {
                    acc -= l[t * n + j] * rhs[t];
                }
                rhs[j] = acc / l[j * n + j];
            }
            m[(dd * i + c) * n..(dd * i + c + 1) * n].copy_from_slice(&rhs);
        }
    }
    for dd in 0..d {
        for a in 0..o {
            for b in 0..i {
                let row = &m[(dd * i + comp[a * i + b] as usize) * n..][..n];
                let (sg, src) = (sign[a * i + b], ((dd * o + a) * i + b) * p);
                for q in 0..p {
                    let fq = &f[(a * p + q) * n..][..n];
                    let mut v = 0.0;
                    for j in 0..n {
                        v += row[j] * fq[j];
                    }
                    if (sg * v - basis[src + q]).abs() > tol {
                        return false;
                    }
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The factored writer equals the product matrix followed by the table scatter.
    #[test]
    fn scatter_factored_equals_product_then_scatter() {
        let (o, i, r, np) = (4usize, 4usize, 3usize, 5usize);
        let (out_off, in_off) = (vec![0u32, 8], vec![4u32, 0, 8]);
        let (cout, cin) = (12usize, 12usize);
        let mut seed = 3u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let pairs = out_off.len() * in_off.len();
        let v: Vec<f32> = (0..pairs * i * np).map(|_| rnd()).collect();
        let phi: Vec<f32> = (0..np * o * r).map(|_| rnd()).collect();
        // Row a reads components shifted by a (a regular representation's pattern), signs mixed.
        let comp: Vec<u32> = (0..o * i).map(|e| ((e / i + e % i) % i) as u32).collect();
        let sign: Vec<f32> = (0..o * i).map(|e| if e % 3 == 0 { -1.0 } else { 1.0 }).collect();
        let f = Factored { v: &v, nphi: np, phi: &phi, comp: &comp, sign: &sign, o_size: o, i_size: i, r_size: r, out_off: &out_off, in_off: &in_off };
        let mut fused = vec![0.0f32; r * cout * cin];
        check_factored(&f, cout, cin, fused.len()).unwrap();
        scatter_factored(&f, cout, cin, &mut fused);
        // The product: column (c * o + a) * r + q of each pair's row, j in order.
        let stride = i * o * r;
        let mut prod = vec![0.0f32; pairs * stride];
        for p in 0..pairs {
            for c in 0..i {
                for col in 0..o * r {
                    let mut acc = 0.0f32;
                    for j in 0..np {
                        acc += v[(p * i + c) * np + j] * phi[j * o * r + col];
                    }
                    prod[p * stride + c * o * r + col] = acc;
                }
            }
        }
        let table: Vec<u32> = (0..o * i * r).map(|e| { let (oi, q) = (e / r, e % r); (comp[oi] as usize * o * r + (oi / i) * r + q) as u32 }).collect();
        let scales: Vec<f32> = (0..o * i * r).map(|e| sign[e / r]).collect();
        let b = Blocks { src: &prod, stride, table: &table, scales: &scales, o_size: o, i_size: i, q_size: r, out_off: &out_off, in_off: &in_off };
        let l = Layout { s_co: cin, s_ci: 1, s_q: cout * cin, len: r * cout * cin };
        let mut want = vec![0.0f32; r * cout * cin];
        check(&b, l, cout, cin).unwrap();
        scatter_blocks(&b, l, &mut want);
        assert_eq!(fused, want);
        // Bad arguments are refused, not written.
        let bad = Factored { comp: &[9; 16], ..f };
        assert!(check_factored(&bad, cout, cin, fused.len()).unwrap_err().contains("component 9"));
        let off = [10u32];
        let past = Factored { out_off: &off, v: &v[..in_off.len() * i * np], ..f };
        assert!(check_factored(&past, cout, cin, fused.len()).unwrap_err().contains("runs past"));
    }

    /// A basis made from known row combinations is fitted back exactly and passes the check;
    /// one entry off by 1e-3 fails it, and so does a rank-deficient sampling.
    #[test]
    fn fit_rows_recovers_combinations_and_checks_every_entry() {
        let s = FitDims { d: 3, o: 2, i: 2, p: 9, nphi: 4 };
        let mut seed = 7u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 8) as f64 / (1u32 << 24) as f64 - 0.5
        };
        let f0: Vec<f64> = (0..s.p * s.nphi).map(|_| rnd()).collect();
        let mut f = f0.clone();
        f.extend((0..s.p * s.nphi).map(|_| rnd()));
        let m0: Vec<f64> = (0..s.d * s.i * s.nphi).map(|_| rnd()).collect();
        // Row 0 reads its own components; row 1 swaps them, one with a sign.
        let (comp, sign) = ([0u32, 1, 1, 0], [1.0, 1.0, -1.0, 1.0]);
        let mut basis = vec![0.0; s.d * s.o * s.i * s.p];
        for d in 0..s.d {
            for a in 0..s.o {
                for b in 0..s.i {
                    for q in 0..s.p {
                        let c = comp[a * s.i + b] as usize;
                        let v: f64 = (0..s.nphi).map(|j| m0[(d * s.i + c) * s.nphi + j] * f[(a * s.p + q) * s.nphi + j]).sum();
                        basis[((d * s.o + a) * s.i + b) * s.p + q] = sign[a * s.i + b] * v;
                    }
                }
            }
        }
        let mut m = vec![0.0; m0.len()];
        assert!(fit_rows(&f0, &f, &basis, &comp, &sign, s, 1e-9, &mut m));
        for (x, y) in m.iter().zip(&m0) {
            assert!((x - y).abs() < 1e-9, "{x} vs {y}");
        }
        let mut off = basis.clone();
        off[((2 * s.o + 1) * s.i + 1) * s.p + 5] += 1e-3;
        assert!(!fit_rows(&f0, &f, &off, &comp, &sign, s, 1e-6, &mut m));
        let mut flat = f0.clone();
        for q in 0..s.p {
            flat[q * s.nphi + 3] = flat[q * s.nphi + 2];
        }
        assert!(!fit_rows(&flat, &f, &basis, &comp, &sign, s, 1e-6, &mut m));
    }

    #[test]
    fn writes_each_block_in_place_with_scales_in_both_layouts() {
        // One output field (2 components) and two input fields (1 component), q = 2: rows
        // (a=0, b=0) and (a=0, b=1) of 3 values; channels: out 0..2, in fields at 1 and 0 (cin 2).
        let src = [1.0, 2.0, 3.0, 10.0, 20.0, 30.0];
        let table = [0, 1, 2, 0];
        let scales = [1.0, -1.0, 0.5, 2.0];
        let b = Blocks { src: &src, stride: 3, table: &table, scales: &scales, o_size: 2, i_size: 1, q_size: 2, out_off: &[0], in_off: &[1, 0] };
        // [cout][cin][q].
        let l = Layout { s_co: 4, s_ci: 2, s_q: 1, len: 8 };
        let mut f = vec![0.0; 8];
        assert!(check(&b, l, 2, 2).is_ok());
        scatter_blocks(&b, l, &mut f);
        assert_eq!(f, [10.0, -20.0, 1.0, -2.0, 15.0, 20.0, 1.5, 2.0]);
        // [q][cout][cin]: the same values, transposed.
        let l2 = Layout { s_co: 2, s_ci: 1, s_q: 4, len: 8 };
        let mut u = vec![0.0; 8];
        scatter_blocks(&b, l2, &mut u);
        for co in 0..2 {
            for ci in 0..2 {
                for q in 0..2 {
                    assert_eq!(u[q * 4 + co * 2 + ci], f[co * 4 + ci * 2 + q]);
                }
            }
        }
        assert!(check(&Blocks { stride: 2, ..b }, l, 2, 2).is_err());
        assert!(check(&Blocks { out_off: &[1], ..b }, l, 2, 2).is_err());
        assert!(check(&b, Layout { len: 7, ..l }, 2, 2).is_err());
    }
}
