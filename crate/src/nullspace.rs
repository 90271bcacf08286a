//! The space of equivariant linear maps, in f64: the vectors a representation
//! `H = rho_out (x) rho_in^*` of a group leaves fixed.
//!
//! `W : R^{d_in} -> R^{d_out}` is equivariant when `rho_out(g) W rho_in(g)^-1 = W` for every `g`,
//! that is when `vec(W)` (row-major) is fixed by `H(g) = rho_out(g) (x) rho_in(g)^-T`. Both
//! representations are tensor products of small **atoms** (`perm (x) perm (x) perm`, `V (x) V`),
//! so `H(g)` is a Kronecker product of small factor matrices, one per atom, and is applied factor
//! by factor (mode products) and never formed: a vector of `n = prod d_i` entries costs
//! `n * sum d_i` multiply-adds per element instead of `n^2`, and a factor that is a signed
//! permutation (permutation representations, signs) costs `n` moves.
//!
//! Three solvers, all deterministic (fixed orders of operations, no fused multiply-add, seeded
//! random vectors from mulberry32):
//!
//! - [`orbits`]: when every factor of every generator is a signed permutation, `H(g)` maps each
//!   coordinate to plus or minus one coordinate, and a fixed vector is constant (up to those
//!   signs) on the orbits of the generated group on coordinates. Union-find with parity over the
//!   generators gives the orbits; an orbit on which some element maps a coordinate to minus
//!   itself carries no fixed vector. Exact, `O(n * generators * atoms)`, and the basis is sparse:
//!   one signed indicator per orbit.
//! - [`range`]: the exact projector `P = S_m ... S_1` onto the fixed vectors, each stage a
//!   weighted sum of elements (for a finite group the averages over the coset representatives of
//!   a subgroup chain, so `P` costs the sum of the indices instead of `|G|` elements; for SO(2)
//!   and SO(3) a quadrature that integrates every matrix entry exactly), applied to `r` random
//!   vectors; Gram-Schmidt with column pivoting then reveals the rank (the pivots drop from
//!   order one to rounding) and leaves an orthonormal basis.
//! - [`dense_nullspace`]: EMLP's formulation for small problems: `Q = sum over constraints of
//!   C^T C` formed densely (`C = H(g) - I` for elements, `C = dH(X)` for Lie-algebra
//!   generators), eigen-decomposed by [`sym_eigen`]; the eigenvectors of eigenvalue ~0 span the
//!   null space.

/// Entries of a factor matrix within this of 0 are zero, within this of +-1 are +-1, when a
/// factor is classified (rounding of `cos(pi/2)` and the like).
pub const SNAP: f64 = 1e-12;

/// One factor of a Kronecker product, classified once so the product skips or gathers where it
/// can.
#[derive(Clone, Debug)]
pub enum Factor {
    /// The identity: skipped.
    Identity(usize),
    /// `F e_c = sign[c] e_{to[c]}`: a signed permutation.
    Signed { to: Vec<u32>, sign: Vec<f64> },
    /// A dense `d x d` matrix, row-major.
    Dense { d: usize, m: Vec<f64> },
}

impl Factor {
    /// Classifies the row-major `d x d` matrix `m`.
    pub fn classify(d: usize, m: &[f64]) -> Factor {
        debug_assert_eq!(m.len(), d * d);
        let mut to = vec![u32::MAX; d];
        let mut sign = vec![0.0; d];
        let mut row_used = vec![false; d];
        let mut signed = true;
        'cols: for c in 0..d {
            for r in 0..d {
                let v = m[r * d + c];
                if v.abs() <= SNAP {
                    continue;
                }
                if (v.abs() - 1.0).abs() > SNAP || to[c] != u32::MAX || row_used[r] {
                    signed = false;
                    break 'cols;
                }
                to[c] = r as u32;
                sign[c] = if v > 0.0 { 1.0 } else { -1.0 };
                row_used[r] = true;
            }
            if to[c] == u32::MAX {
                signed = false;
                break;
            }
        }
        if signed {
            if to.iter().enumerate().all(|(c, &r)| r as usize == c) && sign.iter().all(|&s| s == 1.0) {
                return Factor::Identity(d);
            }
            return Factor::Signed { to, sign };
        }
        Factor::Dense { d, m: m.to_vec() }
    }

    pub fn dim(&self) -> usize {
        match self {
            Factor::Identity(d) | Factor::Dense { d, .. } => *d,
            Factor::Signed { to, .. } => to.len(),
        }
    }

    pub fn is_signed(&self) -> bool {
        !matches!(self, Factor::Dense { .. })
    }
}

/// `out = (I_pre (x) F (x) I_post) x` for the factor at an axis of extent `d` with `pre` and
/// `post` the products of the extents before and after it.
fn mode_product(f: &Factor, pre: usize, post: usize, x: &[f64], out: &mut [f64]) {
    match f {
        Factor::Identity(_) => out.copy_from_slice(x),
        Factor::Signed { to, sign } => {
            let d = to.len();
            for a in 0..pre {
                for c in 0..d {
                    let src = &x[(a * d + c) * post..(a * d + c + 1) * post];
                    let r = to[c] as usize;
                    let dst = &mut out[(a * d + r) * post..(a * d + r + 1) * post];
                    if sign[c] > 0.0 {
                        dst.copy_from_slice(src);
                    } else {
                        for (o, &v) in dst.iter_mut().zip(src) {
                            *o = -v;
                        }
                    }
                }
            }
        }
        Factor::Dense { d, m } => {
            let d = *d;
            if post == 1 {
                for a in 0..pre {
                    let xs = &x[a * d..(a + 1) * d];
                    for r in 0..d {
                        let row = &m[r * d..(r + 1) * d];
                        let mut s = 0.0;
                        for c in 0..d {
                            s += row[c] * xs[c];
                        }
                        out[a * d + r] = s;
                    }
                }
                return;
            }
            for a in 0..pre {
                for r in 0..d {
                    let base = (a * d + r) * post;
                    out[base..base + post].fill(0.0);
                    for c in 0..d {
                        let w = m[r * d + c];
                        if w == 0.0 {
                            continue;
                        }
                        let src = (a * d + c) * post;
                        for i in 0..post {
                            out[base + i] += w * x[src + i];
                        }
                    }
                }
            }
        }
    }
}

/// A Kronecker product `F_1 (x) ... (x) F_k` of classified factors (index row-major, `F_1`
/// slowest).
#[derive(Clone, Debug)]
pub struct Kron {
    pub factors: Vec<Factor>,
}

impl Kron {
    pub fn new(dims: &[usize], matrices: &[f64]) -> Kron {
        let mut at = 0;
        let factors = dims
            .iter()
            .map(|&d| {
                let f = Factor::classify(d, &matrices[at..at + d * d]);
                at += d * d;
                f
            })
            .collect();
        Kron { factors }
    }

    pub fn len(&self) -> usize {
        self.factors.iter().map(|f| f.dim()).product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `out = K x`; `tmp` is scratch of the same length.
    pub fn apply(&self, x: &[f64], out: &mut [f64], tmp: &mut [f64]) {
        let n = x.len();
        let active: Vec<usize> = (0..self.factors.len()).filter(|&i| !matches!(self.factors[i], Factor::Identity(_))).collect();
        if active.is_empty() {
            out.copy_from_slice(x);
            return;
        }
        // Ping-pong so that the last product lands in `out`.
        let mut src_is_x = true;
        let mut in_out = active.len() % 2 == 1;
        let mut pre = 1;
        let mut i_active = 0;
        for (i, f) in self.factors.iter().enumerate() {
            let d = f.dim();
            let post = n / (pre * d);
            if i_active < active.len() && active[i_active] == i {
                let (s, o): (&[f64], &mut [f64]) = if src_is_x {
                    if in_out { (x, &mut *out) } else { (x, &mut *tmp) }
                } else if in_out {
                    (&*tmp, &mut *out)
                } else {
                    (&*out, &mut *tmp)
                };
                mode_product(f, pre, post, s, o);
                src_is_x = false;
                in_out = !in_out;
                i_active += 1;
            }
            pre *= d;
        }
    }

    /// Where the signed permutation sends coordinate `p`: `(q, sign)` with `K e_p = sign e_q`.
    /// Only for products of signed factors.
    fn image(&self, p: usize, digits: &mut [usize]) -> (usize, f64) {
        let mut rest = p;
        for i in (0..self.factors.len()).rev() {
            let d = self.factors[i].dim();
            digits[i] = rest % d;
            rest /= d;
        }
        let mut q = 0;
        let mut s = 1.0;
        for (i, f) in self.factors.iter().enumerate() {
            let d = f.dim();
            let c = digits[i];
            let (r, sg) = match f {
                Factor::Identity(_) => (c, 1.0),
                Factor::Signed { to, sign } => (to[c] as usize, sign[c]),
                Factor::Dense { .. } => unreachable!("image of a dense factor"),
            };
            q = q * d + r;
            s *= sg;
        }
        (q, s)
    }
}

/// Weighted sums of elements applied one after another: `P = S_m ... S_1`, `S_j = sum w_e K_e`.
pub struct Stages {
    pub stages: Vec<Vec<(f64, Kron)>>,
}

impl Stages {
    /// `x <- P x`, with three scratch vectors of the same length.
    pub fn apply(&self, x: &mut [f64], acc: &mut [f64], t1: &mut [f64], t2: &mut [f64]) {
        for stage in &self.stages {
            acc.fill(0.0);
            for (w, k) in stage {
                k.apply(x, t1, t2);
                for (a, &v) in acc.iter_mut().zip(t1.iter()) {
                    *a += *w * v;
                }
            }
            x.copy_from_slice(acc);
        }
    }
}

/// mulberry32, as `seededRng` in the facade.
pub struct Mulberry(u32);

impl Mulberry {
    pub fn new(seed: u32) -> Mulberry {
        Mulberry(seed)
    }
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x6d2b_79f5);
        let mut t = self.0;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        t ^ (t >> 14)
    }
    /// Uniform in `[-1, 1)`.
    pub fn symmetric(&mut self) -> f64 {
        (self.next_u32() as f64 / 4_294_967_296.0) * 2.0 - 1.0
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four accumulators in a fixed pattern (index mod 4), summed at the end in a fixed order.
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        s[0] += x[0] * y[0];
        s[1] += x[1] * y[1];
        s[2] += x[2] * y[2];
        s[3] += x[3] * y[3];
    }
    for (i, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        s[i] += x * y;
    }
    (s[0] + s[2]) + (s[1] + s[3])
}

fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    for (v, &u) in y.iter_mut().zip(x) {
        *v -= a * u;
    }
}

/// What the rank-revealing orthonormalisation found.
#[derive(Clone, Debug, Default)]
pub struct RankInfo {
    pub rank: usize,
    /// Largest column norm before any step.
    pub first: f64,
    /// The smallest pivot kept and the largest refused, relative to `first` (the gap).
    pub last_kept: f64,
    pub first_dropped: f64,
}

/// One step of pivoted Gram-Schmidt on the vectors `vs` (length `n` each, one after another;
/// `0..k` orthonormal already, `norms` the squared norms of the rest): the remaining vector of
/// largest norm moves to `k`, is normalised, orthogonalised once more against `0..k` ("twice is
/// enough") and normalised again, and is projected out of the later ones. `Ok(norm)` when kept;
/// `Err(norm)`, nothing moved, when its norm is at most `floor`.
fn pivot_step(vs: &mut [f64], norms: &mut [f64], n: usize, k: usize, floor: f64) -> Result<f64, f64> {
    let mut best = k;
    for j in k + 1..norms.len() {
        if norms[j] > norms[best] {
            best = j;
        }
    }
    let nb = norms[best].sqrt();
    if nb <= floor {
        return Err(nb);
    }
    if best != k {
        for i in 0..n {
            vs.swap(k * n + i, best * n + i);
        }
        norms.swap(k, best);
    }
    let (done, rest) = vs.split_at_mut((k + 1) * n);
    let (prev, q) = done.split_at_mut(k * n);
    let inv = 1.0 / nb;
    for v in q.iter_mut() {
        *v *= inv;
    }
    for i in 0..k {
        let c = dot(&prev[i * n..(i + 1) * n], q);
        axpy(q, c, &prev[i * n..(i + 1) * n]);
    }
    let inv = 1.0 / dot(q, q).sqrt();
    for v in q.iter_mut() {
        *v *= inv;
    }
    for (j, col) in rest.chunks_exact_mut(n).enumerate() {
        let c = dot(q, col);
        axpy(col, c, q);
        norms[k + 1 + j] = dot(col, col);
    }
    Ok(nb)
}

/// Gram-Schmidt with column pivoting on `r` vectors of length `n` stored one after another in
/// `y`: at each step the remaining vector of largest norm is normalised (after a second
/// orthogonalisation against the basis so far) and projected out of the others; it stops when
/// the largest remaining norm is at most `tol` times the largest initial norm. The first `rank`
/// vectors of `y` are then an orthonormal basis of the span.
pub fn orthonormalise(y: &mut [f64], n: usize, r: usize, tol: f64) -> RankInfo {
    let mut norms: Vec<f64> = (0..r).map(|j| dot(&y[j * n..(j + 1) * n], &y[j * n..(j + 1) * n])).collect();
    let first = norms.iter().cloned().fold(0.0, f64::max).sqrt();
    let mut info = RankInfo { rank: 0, first, last_kept: 0.0, first_dropped: 0.0 };
    if first == 0.0 || !first.is_finite() {
        return info;
    }
    let mut k = 0;
    while k < r {
        match pivot_step(&mut y[..r * n], &mut norms, n, k, tol * first) {
            Ok(nb) => info.last_kept = nb / first,
            Err(nb) => {
                info.first_dropped = nb / first;
                break;
            }
        }
        k += 1;
    }
    info.rank = k;
    if k == r {
        info.first_dropped = 0.0;
    }
    info
}

/// Columns per block of [`orthonormalise_blocked`], and entries per chunk of a vector.
const BLOCK: usize = 32;
const CHUNK: usize = 2048;

/// `c[i * len + j] = q_i . y_j` over `rank` basis vectors and a block of `len` vectors, chunk by
/// chunk of the coordinates (each chunk of the block stays in cache while the basis streams),
/// four basis vectors by two block vectors at a time (eight sums in registers). Each sum runs
/// over the coordinates in order.
fn block_dots(q: &[f64], block: &[f64], n: usize, rank: usize, len: usize, c: &mut [f64]) {
    c[..rank * len].fill(0.0);
    let mut s = 0;
    while s < n {
        let e = (s + CHUNK).min(n);
        let mut i = 0;
        while i < rank {
            let ti = (rank - i).min(4);
            let mut j = 0;
            while j < len {
                let tj = (len - j).min(2);
                if ti == 4 && tj == 2 {
                    let (q0, q1, q2, q3) = (&q[i * n + s..i * n + e], &q[(i + 1) * n + s..(i + 1) * n + e], &q[(i + 2) * n + s..(i + 2) * n + e], &q[(i + 3) * n + s..(i + 3) * n + e]);
                    let (y0, y1) = (&block[j * n + s..j * n + e], &block[(j + 1) * n + s..(j + 1) * n + e]);
                    // Two lanes (even and odd coordinates), which the wasm build runs as f64x2.
                    let mut a = [[0.0f64; 2]; 8];
                    let m = e - s;
                    let mut t = 0;
                    while t + 1 < m {
                        for l in 0..2 {
                            let (u, v) = (y0[t + l], y1[t + l]);
                            a[0][l] += q0[t + l] * u;
                            a[1][l] += q0[t + l] * v;
                            a[2][l] += q1[t + l] * u;
                            a[3][l] += q1[t + l] * v;
                            a[4][l] += q2[t + l] * u;
                            a[5][l] += q2[t + l] * v;
                            a[6][l] += q3[t + l] * u;
                            a[7][l] += q3[t + l] * v;
                        }
                        t += 2;
                    }
                    if t < m {
                        let (u, v) = (y0[t], y1[t]);
                        a[0][0] += q0[t] * u;
                        a[1][0] += q0[t] * v;
                        a[2][0] += q1[t] * u;
                        a[3][0] += q1[t] * v;
                        a[4][0] += q2[t] * u;
                        a[5][0] += q2[t] * v;
                        a[6][0] += q3[t] * u;
                        a[7][0] += q3[t] * v;
                    }
                    for di in 0..4 {
                        c[(i + di) * len + j] += a[2 * di][0] + a[2 * di][1];
                        c[(i + di) * len + j + 1] += a[2 * di + 1][0] + a[2 * di + 1][1];
                    }
                } else {
                    for di in 0..ti {
                        for dj in 0..tj {
                            let qi = &q[(i + di) * n + s..(i + di) * n + e];
                            let yj = &block[(j + dj) * n + s..(j + dj) * n + e];
                            let mut a = 0.0;
                            for t in 0..e - s {
                                a += qi[t] * yj[t];
                            }
                            c[(i + di) * len + j + dj] += a;
                        }
                    }
                }
                j += tj;
            }
            i += ti;
        }
        s = e;
    }
}

/// `y_j -= sum_i c[i * len + j] q_i` for the block, chunk by chunk, four basis vectors at a time
/// (subtracted one after another, in order of `i`).
fn block_update(q: &[f64], block: &mut [f64], n: usize, rank: usize, len: usize, c: &[f64]) {
    let mut s = 0;
    while s < n {
        let e = (s + CHUNK).min(n);
        let mut i = 0;
        while i < rank {
            let ti = (rank - i).min(4);
            for j in 0..len {
                let y = &mut block[j * n + s..j * n + e];
                if ti == 4 {
                    let (c0, c1, c2, c3) = (c[i * len + j], c[(i + 1) * len + j], c[(i + 2) * len + j], c[(i + 3) * len + j]);
                    let (q0, q1, q2, q3) = (&q[i * n + s..i * n + e], &q[(i + 1) * n + s..(i + 1) * n + e], &q[(i + 2) * n + s..(i + 2) * n + e], &q[(i + 3) * n + s..(i + 3) * n + e]);
                    for t in 0..e - s {
                        y[t] = y[t] - c0 * q0[t] - c1 * q1[t] - c2 * q2[t] - c3 * q3[t];
                    }
                } else {
                    for di in 0..ti {
                        let a = c[(i + di) * len + j];
                        axpy(y, a, &q[(i + di) * n + s..(i + di) * n + e]);
                    }
                }
            }
            i += ti;
        }
        s = e;
    }
}

/// Block Gram-Schmidt, rank-revealing: vectors are taken [`BLOCK`] at a time, projected out of
/// the basis so far twice (classical Gram-Schmidt, twice is enough), then orthonormalised
/// within the block by Gram-Schmidt with column pivoting; a vector whose remaining norm is at most
/// `tol` times the largest initial norm is dropped. The same decisions as [`orthonormalise`]
/// when the vectors have full rank up to the last ones (the projector's `dim + 4` random images),
/// with the products done in cache-sized chunks. The first `rank` vectors of `y` are the basis.
pub fn orthonormalise_blocked(y: &mut [f64], n: usize, r: usize, tol: f64) -> RankInfo {
    let first = (0..r).map(|j| dot(&y[j * n..(j + 1) * n], &y[j * n..(j + 1) * n])).fold(0.0, f64::max).sqrt();
    let mut info = RankInfo { rank: 0, first, last_kept: 0.0, first_dropped: 0.0 };
    if first == 0.0 || !first.is_finite() {
        return info;
    }
    let mut rank = 0;
    let mut c = vec![0.0; r * BLOCK];
    let mut j0 = 0;
    while j0 < r {
        let len = BLOCK.min(r - j0);
        // Move the block next to the basis (it never overlaps a vector still to come).
        if j0 != rank {
            for j in 0..len {
                let (dst, src) = ((rank + j) * n, (j0 + j) * n);
                y.copy_within(src..src + n, dst);
            }
        }
        let (q, rest) = y.split_at_mut(rank * n);
        let block = &mut rest[..len * n];
        for _pass in 0..2 {
            block_dots(q, block, n, rank, len, &mut c);
            block_update(q, block, n, rank, len, &c);
        }
        // Pivoted Gram-Schmidt inside the block, against the global threshold.
        let mut norms: Vec<f64> = (0..len).map(|j| dot(&block[j * n..(j + 1) * n], &block[j * n..(j + 1) * n])).collect();
        let mut k = 0;
        while k < len {
            match pivot_step(block, &mut norms, n, k, tol * first) {
                Ok(nb) => info.last_kept = if info.last_kept == 0.0 { nb / first } else { info.last_kept.min(nb / first) },
                Err(nb) => {
                    info.first_dropped = info.first_dropped.max(nb / first);
                    break;
                }
            }
            k += 1;
        }
        rank += k;
        j0 += len;
    }
    info.rank = rank;
    info
}

/// An orthonormal basis of the range of `stages` applied to `r` seeded random vectors of
/// length `n`, written to `y` (`r * n`, vector after vector; the first `rank` are the basis).
pub fn range(stages: &Stages, n: usize, r: usize, seed: u32, tol: f64, y: &mut [f64]) -> RankInfo {
    let mut rng = Mulberry::new(seed);
    let (mut acc, mut t1, mut t2) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for j in 0..r {
        let v = &mut y[j * n..(j + 1) * n];
        for e in v.iter_mut() {
            *e = rng.symmetric();
        }
        stages.apply(v, &mut acc, &mut t1, &mut t2);
    }
    orthonormalise_blocked(y, n, r, tol)
}

/// The orbits of the group the signed-permutation generators generate, on the `n` coordinates,
/// with the sign each coordinate carries relative to its orbit's first coordinate. An orbit on
/// which some element maps a coordinate to minus itself has no fixed vector: its coordinates get
/// `u32::MAX`. Returns the number of orbits that carry one; `orbit[p]` numbers them in order of
/// their first coordinate and `value[p]` is `+-1/sqrt(size)`, so the fixed vectors
/// `sum over p in orbit o of value[p] e_p` are orthonormal.
pub fn orbits(n: usize, generators: &[Kron], orbit: &mut [u32], value: &mut [f64]) -> usize {
    let mut parent: Vec<u32> = (0..n as u32).collect();
    let mut rel = vec![1i8; n]; // x_p = rel[p] * x_parent[p]
    let mut size = vec![1u32; n];
    let mut dead = vec![false; n];
    fn find(parent: &mut [u32], rel: &mut [i8], p: usize) -> (usize, i8) {
        // First pass: the root and the sign of p relative to it.
        let mut root = p;
        let mut s = 1i8;
        while parent[root] as usize != root {
            s *= rel[root];
            root = parent[root] as usize;
        }
        // Second pass: point every node on the path at the root with its own sign.
        let mut q = p;
        let mut sq = s;
        while parent[q] as usize != root && q != root {
            let next = parent[q] as usize;
            let s_next = sq * rel[q];
            parent[q] = root as u32;
            rel[q] = sq;
            q = next;
            sq = s_next;
        }
        (root, s)
    }
    let mut digits = vec![0usize; generators.first().map_or(0, |g| g.factors.len())];
    for g in generators {
        if digits.len() < g.factors.len() {
            digits.resize(g.factors.len(), 0);
        }
        for p in 0..n {
            let (q, s) = g.image(p, &mut digits);
            // A fixed x has x_q = s x_p.
            let (rp, sp) = find(&mut parent, &mut rel, p);
            let (rq, sq) = find(&mut parent, &mut rel, q);
            let s = if s > 0.0 { 1i8 } else { -1i8 };
            // x_rq = (s sp sq) x_rp
            let link = s * sp * sq;
            if rp == rq {
                if link != 1 {
                    dead[rp] = true;
                }
                continue;
            }
            let (big, small) = if size[rp] >= size[rq] { (rp, rq) } else { (rq, rp) };
            parent[small] = big as u32;
            rel[small] = link;
            size[big] += size[small];
            dead[big] = dead[big] || dead[small];
        }
    }
    // Number the live orbits by their first coordinate; signs relative to that coordinate.
    let mut id = vec![u32::MAX; n];
    let mut first_sign = vec![0i8; n];
    let mut count = 0u32;
    let mut sizes: Vec<u32> = Vec::new();
    for p in 0..n {
        let (root, s) = find(&mut parent, &mut rel, p);
        if dead[root] {
            orbit[p] = u32::MAX;
            value[p] = 0.0;
            continue;
        }
        if id[root] == u32::MAX {
            id[root] = count;
            first_sign[root] = s;
            sizes.push(0);
            count += 1;
        }
        orbit[p] = id[root];
        sizes[id[root] as usize] += 1;
        value[p] = (s * first_sign[root]) as f64;
    }
    for p in 0..n {
        if orbit[p] != u32::MAX {
            value[p] /= (sizes[orbit[p] as usize] as f64).sqrt();
        }
    }
    count as usize
}

// ---------------------------------------------------------------------------------------------
// Dense symmetric eigen-decomposition: Householder tridiagonalisation, then implicit QR steps with
// Wilkinson shifts (Golub & Van Loan, sections 8.3.1-8.3.3), written for this crate.

/// Eigenvalues (ascending, into `w`) and eigenvectors (row `i` of `a` becomes the eigenvector of
/// `w[i]`) of the symmetric row-major `n x n` matrix `a` (only its lower triangle is read).
/// Returns false if the iteration did not converge (never seen; reported, not hidden).
pub fn sym_eigen(a: &mut [f64], n: usize, w: &mut [f64]) -> bool {
    if n == 0 {
        return true;
    }
    for i in 0..n {
        for j in i + 1..n {
            a[i * n + j] = a[j * n + i];
        }
    }
    let mut d = vec![0.0; n];
    let mut e = vec![0.0; n];
    // Householder vectors, kept to accumulate Q afterwards.
    let mut vs: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n.saturating_sub(2));
    let mut p = vec![0.0; n];
    for k in 0..n.saturating_sub(2) {
        let m = n - k - 1;
        let x: Vec<f64> = (0..m).map(|i| a[(k + 1 + i) * n + k]).collect();
        let sigma: f64 = x[1..].iter().map(|v| v * v).sum();
        let (mut v, beta, alpha) = if sigma == 0.0 {
            (vec![0.0; m], 0.0, x[0])
        } else {
            let mu = (x[0] * x[0] + sigma).sqrt();
            let v0 = if x[0] <= 0.0 { x[0] - mu } else { -sigma / (x[0] + mu) };
            let beta = 2.0 * v0 * v0 / (sigma + v0 * v0);
            let mut v = x.clone();
            for t in v.iter_mut() {
                *t /= v0;
            }
            (v, beta, mu)
        };
        if beta != 0.0 {
            v[0] = 1.0;
            // p = beta * A22 v; w = p - (beta p.v / 2) v; A22 -= v w^T + w v^T.
            for i in 0..m {
                let row = (k + 1 + i) * n + k + 1;
                let mut s = 0.0;
                for j in 0..m {
                    s += a[row + j] * v[j];
                }
                p[i] = beta * s;
            }
            let pv: f64 = (0..m).map(|i| p[i] * v[i]).sum();
            let kk = beta * pv / 2.0;
            for i in 0..m {
                p[i] -= kk * v[i];
            }
            for i in 0..m {
                let row = (k + 1 + i) * n + k + 1;
                for j in 0..m {
                    a[row + j] -= v[i] * p[j] + p[i] * v[j];
                }
            }
        }
        d[k] = a[k * n + k];
        e[k] = alpha;
        vs.push((v, beta));
    }
    if n >= 2 {
        d[n - 2] = a[(n - 2) * n + n - 2];
        e[n - 2] = a[(n - 1) * n + n - 2];
    }
    d[n - 1] = a[(n - 1) * n + n - 1];
    // Q = H_0 H_1 ... H_{n-3}, accumulated from the right end; a holds Q (row-major) after this.
    a.fill(0.0);
    for i in 0..n {
        a[i * n + i] = 1.0;
    }
    for k in (0..vs.len()).rev() {
        let (v, beta) = &vs[k];
        if *beta == 0.0 {
            continue;
        }
        let m = n - k - 1;
        // Q[k+1.., k+1..] = (I - beta v v^T) Q[k+1.., k+1..]
        let mut t = vec![0.0; m];
        for i in 0..m {
            let vi = v[i];
            if vi == 0.0 {
                continue;
            }
            let row = (k + 1 + i) * n + k + 1;
            for j in 0..m {
                t[j] += vi * a[row + j];
            }
        }
        for i in 0..m {
            let f = beta * v[i];
            let row = (k + 1 + i) * n + k + 1;
            for j in 0..m {
                a[row + j] -= f * t[j];
            }
        }
    }
    // Work on V = Q^T so rotations touch rows.
    for i in 0..n {
        for j in i + 1..n {
            a.swap(i * n + j, j * n + i);
        }
    }
    let eps = f64::EPSILON;
    let mut iterations = 0usize;
    let mut q = n - 1;
    while q > 0 {
        // Deflate negligible off-diagonals.
        for i in 0..q {
            if e[i].abs() <= eps * (d[i].abs() + d[i + 1].abs()) {
                e[i] = 0.0;
            }
        }
        while q > 0 && e[q - 1] == 0.0 {
            q -= 1;
        }
        if q == 0 {
            break;
        }
        let mut pp = q - 1;
        while pp > 0 && e[pp - 1] != 0.0 {
            pp -= 1;
        }
        iterations += 1;
        if iterations > 60 * n {
            return false;
        }
        // Wilkinson shift from the trailing 2x2 block.
        let t = (d[q - 1] - d[q]) / 2.0;
        let b2 = e[q - 1] * e[q - 1];
        let sgn = if t >= 0.0 { 1.0 } else { -1.0 };
        let mu = d[q] - b2 / (t + sgn * (t * t + b2).sqrt());
        let mut x = d[pp] - mu;
        let mut z = e[pp];
        let mut bulge = 0.0;
        for k in pp..q {
            let r = x.hypot(z);
            let (c, s) = if r == 0.0 { (1.0, 0.0) } else { (x / r, -z / r) };
            if k > pp {
                e[k - 1] = r;
            }
            let (ak, bk, dk) = (d[k], e[k], d[k + 1]);
            d[k] = c * c * ak - 2.0 * c * s * bk + s * s * dk;
            d[k + 1] = s * s * ak + 2.0 * c * s * bk + c * c * dk;
            e[k] = c * s * (ak - dk) + (c * c - s * s) * bk;
            if k + 1 < q {
                let f = e[k + 1];
                bulge = -s * f;
                e[k + 1] = c * f;
            }
            // Rows k, k+1 of V: v_k' = c v_k - s v_{k+1}, v_{k+1}' = s v_k + c v_{k+1}.
            let (lo, hi) = a.split_at_mut((k + 1) * n);
            let vk = &mut lo[k * n..];
            let vk1 = &mut hi[..n];
            for j in 0..n {
                let (u, v) = (vk[j], vk1[j]);
                vk[j] = c * u - s * v;
                vk1[j] = s * u + c * v;
            }
            if k + 1 < q {
                x = e[k];
                z = bulge;
            }
        }
    }
    // Sort ascending, moving the eigenvector rows along.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| d[i].partial_cmp(&d[j]).unwrap_or(core::cmp::Ordering::Equal).then(i.cmp(&j)));
    let old = a.to_vec();
    for (to, &from) in order.iter().enumerate() {
        w[to] = d[from];
        a[to * n..(to + 1) * n].copy_from_slice(&old[from * n..(from + 1) * n]);
    }
    true
}

/// One constraint of the dense method: an element (`C = K - I`) or a Lie-algebra generator
/// (`C = sum_i I (x) X_i (x) I`, one matrix per factor).
pub enum Constraint {
    Element(Vec<Vec<f64>>),
    Algebra(Vec<Vec<f64>>),
}

/// The dense matrix `C` of a constraint on `n = prod dims` unknowns (row-major `n x n`).
fn constraint_matrix(dims: &[usize], c: &Constraint) -> Vec<f64> {
    let n: usize = dims.iter().product();
    let mut m = vec![0.0; n * n];
    let (mut x, mut y, mut t) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    match c {
        Constraint::Element(fs) => {
            let flat: Vec<f64> = fs.iter().flatten().cloned().collect();
            let k = Kron::new(dims, &flat);
            for col in 0..n {
                x.fill(0.0);
                x[col] = 1.0;
                k.apply(&x, &mut y, &mut t);
                y[col] -= 1.0;
                for row in 0..n {
                    m[row * n + col] = y[row];
                }
            }
        }
        Constraint::Algebra(fs) => {
            for (i, f) in fs.iter().enumerate() {
                // I (x) ... (x) X_i (x) ... (x) I
                let mut flat = Vec::new();
                for (j, &d) in dims.iter().enumerate() {
                    if j == i {
                        flat.extend_from_slice(f);
                    } else {
                        for r in 0..d {
                            for cc in 0..d {
                                flat.push(if r == cc { 1.0 } else { 0.0 });
                            }
                        }
                    }
                }
                let k = Kron::new(dims, &flat);
                for col in 0..n {
                    x.fill(0.0);
                    x[col] = 1.0;
                    k.apply(&x, &mut y, &mut t);
                    for row in 0..n {
                        m[row * n + col] += y[row];
                    }
                }
            }
        }
    }
    m
}

/// EMLP's method: the null space of the stacked constraints, as the eigenvectors of
/// `Q = sum C^T C` with eigenvalue at most `tol` times the largest. Writes the null vectors
/// into `basis` (vector after vector) and returns `(rank of the null space, eigenvalues)`.
pub fn dense_nullspace(dims: &[usize], constraints: &[Constraint], tol: f64, basis: &mut Vec<f64>) -> Result<(usize, Vec<f64>), String> {
    let n: usize = dims.iter().product();
    let mut q = vec![0.0; n * n];
    for c in constraints {
        let m = constraint_matrix(dims, c);
        // q += m^T m, row by row of m (i-k-j order, lower triangle).
        for k in 0..n {
            let row = &m[k * n..(k + 1) * n];
            for i in 0..n {
                let v = row[i];
                if v == 0.0 {
                    continue;
                }
                for j in 0..=i {
                    q[i * n + j] += v * row[j];
                }
            }
        }
    }
    let mut w = vec![0.0; n];
    if !sym_eigen(&mut q, n, &mut w) {
        return Err("the eigenvalue iteration did not converge".into());
    }
    let top = w.iter().fold(0.0f64, |a, &b| a.max(b.abs())).max(1.0);
    let mut count = 0;
    basis.clear();
    for i in 0..n {
        if w[i].abs() <= tol * top {
            basis.extend_from_slice(&q[i * n..(i + 1) * n]);
            count += 1;
        }
    }
    Ok((count, w))
}

/// `G[i][j] = v_i . v_j` for `m` vectors of length `n` stored one after another.
pub fn gram(v: &[f64], m: usize, n: usize, g: &mut [f64]) {
    for i in 0..m {
        for j in 0..=i {
            let s = dot(&v[i * n..(i + 1) * n], &v[j * n..(j + 1) * n]);
            g[i * m + j] = s;
            g[j * m + i] = s;
        }
    }
}

/// `max over elements and basis vectors of |K b - b|` (the residual of fixed vectors).
pub fn residual(elements: &[Kron], basis: &[f64], n: usize) -> f64 {
    let (mut y, mut t) = (vec![0.0; n], vec![0.0; n]);
    let mut worst = 0.0f64;
    for b in basis.chunks_exact(n) {
        for k in elements {
            k.apply(b, &mut y, &mut t);
            for i in 0..n {
                let e = (y[i] - b[i]).abs();
                if e > worst || e.is_nan() {
                    worst = if e.is_nan() { f64::INFINITY } else { e };
                }
            }
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm_matrix(p: &[usize]) -> Vec<f64> {
        let d = p.len();
        let mut m = vec![0.0; d * d];
        for (c, &r) in p.iter().enumerate() {
            m[r * d + c] = 1.0;
        }
        m
    }

    fn dense_kron(mats: &[Vec<f64>], dims: &[usize]) -> Vec<f64> {
        let mut out = vec![1.0];
        let mut size = 1;
        for (m, &d) in mats.iter().zip(dims) {
            let ns = size * d;
            let mut next = vec![0.0; ns * ns];
            for i in 0..size {
                for j in 0..size {
                    for k in 0..d {
                        for l in 0..d {
                            next[(i * d + k) * ns + j * d + l] = out[i * size + j] * m[k * d + l];
                        }
                    }
                }
            }
            out = next;
            size = ns;
        }
        out
    }

    #[test]
    fn kronecker_products_equal_the_formed_matrix() {
        let mut rng = Mulberry::new(3);
        let dims = [2usize, 3, 2, 4];
        let mut mats: Vec<Vec<f64>> = dims.iter().map(|&d| (0..d * d).map(|_| rng.symmetric()).collect()).collect();
        mats[2] = perm_matrix(&[1, 0]);
        mats[1] = vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let flat: Vec<f64> = mats.iter().flatten().cloned().collect();
        let k = Kron::new(&dims, &flat);
        assert!(matches!(k.factors[1], Factor::Identity(3)));
        assert!(matches!(k.factors[2], Factor::Signed { .. }));
        let n = k.len();
        let full = dense_kron(&mats, &dims);
        let x: Vec<f64> = (0..n).map(|_| rng.symmetric()).collect();
        let (mut y, mut t) = (vec![0.0; n], vec![0.0; n]);
        k.apply(&x, &mut y, &mut t);
        for i in 0..n {
            let want: f64 = (0..n).map(|j| full[i * n + j] * x[j]).sum();
            assert!((y[i] - want).abs() < 1e-12, "{i}: {} vs {want}", y[i]);
        }
    }

    #[test]
    fn symmetric_eigen_decomposition() {
        let mut rng = Mulberry::new(7);
        for n in [1usize, 2, 3, 5, 17, 40] {
            let mut a = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..=i {
                    let v = rng.symmetric();
                    a[i * n + j] = v;
                    a[j * n + i] = v;
                }
            }
            // Repeated eigenvalues too: a projector-like block.
            if n >= 17 {
                for i in 0..n {
                    for j in 0..n {
                        a[i * n + j] = if i == j { if i % 3 == 0 { 2.0 } else { 0.0 } } else { 0.0 } + 1e-3 * a[i * n + j];
                    }
                }
            }
            let orig = a.clone();
            let mut w = vec![0.0; n];
            assert!(sym_eigen(&mut a, n, &mut w));
            for i in 0..n {
                let v = &a[i * n..(i + 1) * n];
                for r in 0..n {
                    let av: f64 = (0..n).map(|c| orig[r * n + c] * v[c]).sum();
                    assert!((av - w[i] * v[r]).abs() < 1e-10, "n {n}: residual");
                }
                for j in 0..n {
                    let d = dot(v, &a[j * n..(j + 1) * n]);
                    assert!((d - if i == j { 1.0 } else { 0.0 }).abs() < 1e-10);
                }
                if i > 0 {
                    assert!(w[i] >= w[i - 1]);
                }
            }
        }
    }

    /// S_3 on R^3 (x) R^3 -> its fixed vectors: 2 orbits (diagonal, off-diagonal).
    fn s3_generators(k: usize) -> Vec<Kron> {
        let swap = perm_matrix(&[1, 0, 2]);
        let cycle = perm_matrix(&[1, 2, 0]);
        [swap, cycle]
            .iter()
            .map(|m| {
                let flat: Vec<f64> = (0..k).flat_map(|_| m.clone()).collect();
                Kron::new(&vec![3; k], &flat)
            })
            .collect()
    }

    #[test]
    fn orbits_of_permutation_representations() {
        // Bell numbers restricted to at most 3 blocks: k = 2 -> 2, k = 3 -> 5, k = 4 -> 14.
        for (k, want) in [(2usize, 2usize), (3, 5), (4, 14)] {
            let gens = s3_generators(k);
            let n = 3usize.pow(k as u32);
            let (mut orbit, mut value) = (vec![0u32; n], vec![0.0; n]);
            assert_eq!(orbits(n, &gens, &mut orbit, &mut value), want);
            // The signed indicators are fixed by every generator.
            let mut basis = vec![0.0; want * n];
            for p in 0..n {
                basis[orbit[p] as usize * n + p] = value[p];
            }
            assert!(residual(&gens, &basis, n) < 1e-15);
        }
        // The sign representation: on R^3 (x) sign the swap maps e_p to -e_q: no fixed vector on
        // orbits where a transposition fixes a coordinate.
        let swap = perm_matrix(&[1, 0, 2]);
        let cycle = perm_matrix(&[1, 2, 0]);
        let gens = vec![Kron::new(&[3, 1], &[swap.clone(), vec![-1.0]].concat()), Kron::new(&[3, 1], &[cycle, vec![1.0]].concat())];
        let (mut orbit, mut value) = (vec![0u32; 3], vec![0.0; 3]);
        assert_eq!(orbits(3, &gens, &mut orbit, &mut value), 0);
        assert!(orbit.iter().all(|&o| o == u32::MAX));
    }

    #[test]
    fn projector_range_and_dense_constraints_agree() {
        // S_3 on R^3 (x) R^3 -> R^3: dimension 5 (orbits on triples with at most 3 blocks).
        let n = 27;
        let perms: Vec<Vec<usize>> = vec![vec![0, 1, 2], vec![0, 2, 1], vec![1, 0, 2], vec![1, 2, 0], vec![2, 0, 1], vec![2, 1, 0]];
        let stage: Vec<(f64, Kron)> = perms
            .iter()
            .map(|p| {
                let m = perm_matrix(p);
                (1.0 / 6.0, Kron::new(&[3, 3, 3], &[m.clone(), m.clone(), m].concat()))
            })
            .collect();
        let stages = Stages { stages: vec![stage] };
        let r = 9;
        let mut y = vec![0.0; r * n];
        let info = range(&stages, n, r, 1, 1e-9, &mut y);
        assert_eq!(info.rank, 5);
        assert!(info.first_dropped < 1e-12 && info.last_kept > 1e-3);
        let gens = s3_generators(3);
        assert!(residual(&gens, &y[..5 * n], n) < 1e-12);
        let cons: Vec<Constraint> = [vec![1, 0, 2], vec![1, 2, 0]].iter().map(|p| Constraint::Element(vec![perm_matrix(p); 3])).collect();
        let mut basis = Vec::new();
        let (rank, _) = dense_nullspace(&[3, 3, 3], &cons, 1e-9, &mut basis).unwrap();
        assert_eq!(rank, 5);
        assert!(residual(&gens, &basis, n) < 1e-10);
        // Blocked and plain pivoted Gram-Schmidt: the same rank and span on a wider problem.
        let (m, rr) = (300usize, 70usize);
        let mut rng = Mulberry::new(5);
        let base: Vec<f64> = (0..50 * m).map(|_| rng.symmetric()).collect();
        let mut z = vec![0.0; rr * m];
        for j in 0..rr {
            let w: Vec<f64> = (0..50).map(|_| rng.symmetric()).collect();
            for (i, b) in base.chunks_exact(m).enumerate() {
                axpy(&mut z[j * m..(j + 1) * m], -w[i], b);
            }
        }
        let mut z2 = z.clone();
        let a = orthonormalise(&mut z, m, rr, 1e-9);
        let b = orthonormalise_blocked(&mut z2, m, rr, 1e-9);
        assert_eq!((a.rank, b.rank), (50, 50));
        for q in z2[..50 * m].chunks_exact(m) {
            let kept: f64 = z[..50 * m].chunks_exact(m).map(|p| dot(p, q).powi(2)).sum();
            assert!((kept - 1.0).abs() < 1e-10);
            for p in z2[..50 * m].chunks_exact(m) {
                let d = dot(p, q);
                assert!(d.abs() < 1e-12 || (d - 1.0).abs() < 1e-12);
            }
        }
        // The two bases span the same space: projecting one onto the other keeps its norm.
        for b in basis.chunks_exact(n) {
            let kept: f64 = y[..5 * n].chunks_exact(n).map(|q| dot(q, b).powi(2)).sum();
            assert!((kept - 1.0).abs() < 1e-10);
        }
    }
}
