//! The one register-tile driver every product in the crate runs on: GEMM, convolution
//! (implicit GEMM), Winograd's 16 products, the MLPs of `omega` and the projections of attention.
//!
//! Shape (after XNNPACK's `4x8` SIMD128 kernels): for each `k`, one packed row of B (two vectors)
//! against four rows of A, each value of A read into all lanes by one `v128.load32_splat`, into
//! eight accumulators. (Reading four `k` of A as vectors and broadcasting lanes made the wasm
//! backend build each accumulator's four steps as one expression tree, keeping eight B vectors
//! live, and V8 spilled: 28 against 37-42 GFLOP/s here.) B is packed in panels `[k][8]` (see
//! [`crate::gemm::pack_b`], or packed straight from an input by the convolutions). What happens
//! to a sum before it is stored is an open list of [`Op`]s, applied in order inside the register
//! tile (after tract's fused epilogues): bias by row or column, scale, ReLU, SiLU, accumulate
//! into C. Each output element is
//! `((0 + a0 b0) + a1 b1) + ... + a(K-1) b(K-1)`, then the ops in order, whatever the tiling, so
//! results never depend on how a caller blocks the work.

use crate::simd::F4;
use crate::vmath;

/// Columns per packed panel of B (two `f32x4`).
pub const NR: usize = 8;
/// Rows of A per register tile.
pub const MR: usize = 4;
/// Bytes of packed B a cache block aims for (panels are walked in blocks of about this size).
const B_BLOCK_BYTES: usize = 256 * 1024;

/// One step of an epilogue. Row and column indices are those of the `c` slice the driver writes.
#[derive(Clone, Copy, Debug)]
pub enum Op<'a> {
    /// `+ v[row]` (a convolution's bias: rows are output channels).
    AddRows(&'a [f32]),
    /// `+ v[col]` (a linear layer's bias).
    AddCols(&'a [f32]),
    /// `* v[row]`.
    MulRows(&'a [f32]),
    /// `* v[col]`.
    MulCols(&'a [f32]),
    /// `* s`.
    Scale(f32),
    /// `x > 0 || x is NaN ? x : +0` (ReLU that keeps NaN, bit-exact everywhere).
    Relu,
    /// `x * sigmoid(x)` (SiLU, also called Swish), with the crate's fixed-order `exp`.
    Silu,
    /// `+ c`: add the value already stored in C (a residual, or a sum over several products).
    Accumulate,
}

/// At most this many ops per epilogue.
pub const MAX_OPS: usize = 6;

/// An ordered list of [`Op`]s; `Copy`, so it passes by value into the tile.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue<'a> {
    ops: [Op<'a>; MAX_OPS],
    len: usize,
}

impl<'a> Epilogue<'a> {
    /// Store the sums as they are.
    pub const fn none() -> Self {
        Epilogue { ops: [Op::Relu; MAX_OPS], len: 0 }
    }

    /// The ops in order (at most [`MAX_OPS`]).
    pub fn new(ops: &[Op<'a>]) -> Self {
        assert!(ops.len() <= MAX_OPS, "an epilogue holds at most {MAX_OPS} ops");
        let mut e = Self::none();
        e.ops[..ops.len()].copy_from_slice(ops);
        e.len = ops.len();
        e
    }

    /// This epilogue with one more op at the end.
    pub fn then(mut self, op: Op<'a>) -> Self {
        assert!(self.len < MAX_OPS, "an epilogue holds at most {MAX_OPS} ops");
        self.ops[self.len] = op;
        self.len += 1;
        self
    }

    /// A bias per column (or none), then ReLU if asked: what a linear layer does.
    pub fn columns(bias: Option<&'a [f32]>, relu: bool) -> Self {
        let mut e = Self::none();
        if let Some(b) = bias {
            e = e.then(Op::AddCols(b));
        }
        if relu {
            e = e.then(Op::Relu);
        }
        e
    }

    /// A bias per row (or none), then ReLU if asked: what a convolution does.
    pub fn rows(bias: Option<&'a [f32]>, relu: bool) -> Self {
        let mut e = Self::none();
        if let Some(b) = bias {
            e = e.then(Op::AddRows(b));
        }
        if relu {
            e = e.then(Op::Relu);
        }
        e
    }

    pub fn ops(&self) -> &[Op<'a>] {
        &self.ops[..self.len]
    }

    /// Checks that every per-row and per-column vector covers `m` rows and `n` columns.
    pub fn check(&self, m: usize, n: usize) {
        for op in self.ops() {
            match op {
                Op::AddRows(v) | Op::MulRows(v) => assert!(v.len() >= m, "epilogue: a row vector is shorter than {m}"),
                Op::AddCols(v) | Op::MulCols(v) => assert!(v.len() >= n, "epilogue: a column vector is shorter than {n}"),
                _ => {}
            }
        }
    }

    /// The ops applied to one scalar at (`row`, `col`) whose C entry is `c`: the same arithmetic
    /// as the tile's lanes, for references and remainders.
    pub fn apply_scalar(&self, mut s: f32, row: usize, col: usize, c: f32) -> f32 {
        for op in self.ops() {
            s = match *op {
                Op::AddRows(v) => s + v[row],
                Op::AddCols(v) => s + v[col],
                Op::MulRows(v) => s * v[row],
                Op::MulCols(v) => s * v[col],
                Op::Scale(f) => s * f,
                Op::Relu => crate::simd::relu(s),
                Op::Silu => vmath::silu(s),
                Op::Accumulate => s + c,
            }
        }
        s
    }
}

/// `C[m x n] (row stride ldc) = epilogue(A[m x k] (row stride lda) . B)`, with B given as
/// `ceil(n / 8)` packed panels `[k][8]` (`bp`). Panels are walked in cache-sized blocks, rows of
/// A in fours.
#[allow(clippy::too_many_arguments)]
pub fn multiply(m: usize, n: usize, k: usize, a: &[f32], lda: usize, bp: &[f32], ep: Epilogue, c: &mut [f32], ldc: usize) {
    if m == 0 || n == 0 {
        return;
    }
    let panels = n.div_ceil(NR);
    assert!(lda >= k && ldc >= n);
    assert!(a.len() >= (m - 1) * lda + k, "A too short");
    assert!(bp.len() >= panels * NR * k, "packed B too short");
    assert!(c.len() >= (m - 1) * ldc + n, "C too short");
    ep.check(m, n);
    let block = (B_BLOCK_BYTES / (4 * NR * k.max(1))).max(1);
    let mut p0 = 0;
    while p0 < panels {
        let p1 = (p0 + block).min(panels);
        let mut i = 0;
        while i + MR <= m {
            for p in p0..p1 {
                // SAFETY: the asserts above bound every row, panel and column touched.
                unsafe { tile::<MR>(i, p, n, k, a, lda, bp, &ep, c, ldc) };
            }
            i += MR;
        }
        while i < m {
            for p in p0..p1 {
                unsafe { tile::<1>(i, p, n, k, a, lda, bp, &ep, c, ldc) };
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
unsafe fn tile<const R: usize>(i: usize, p: usize, n: usize, k: usize, a: &[f32], lda: usize, bp: &[f32], ep: &Epilogue, c: &mut [f32], ldc: usize) {
    let a = a.as_ptr().add(i * lda);
    let b = bp.as_ptr().add(p * NR * k);
    let mut acc = [[F4::zero(); 2]; R];

    // What V8 makes of this loop decides a tile's cost at small k (scores with k = 8, the MLPs of
    // omega with k = 6 or 16), where a tile was once twice its arithmetic: the epilogue is taken
    // by reference (by value it was copied per tile, a `memory.copy`, which V8 runs as a call);
    // the loop walks pointers with no counter (a register less; V8 had kept the count on the
    // stack); and the accumulators leave through `black_box` into one stack slot, which the
    // epilogue works on, so LLVM neither zero-fills them in memory per tile (a `memory.fill`)
    // nor keeps them live in registers across the epilogue (which cost the loop 6% at long k).
    let (mut ak, mut bk) = (a, b);
    let end = b.add(k * NR);
    while bk < end {
        step(&mut acc, bk, |r| F4::load_splat(ak.add(r * lda)));
        ak = ak.add(1);
        bk = bk.add(NR);
    }
    let mut acc = core::hint::black_box(acc);

    let col = p * NR;
    let width = (n - col).min(NR);
    let cp = c.as_mut_ptr();
    let out = |r: usize| cp.add((i + r) * ldc + col);
    // The ops outermost and rows inside: one dispatch per op and tile, a column vector read once
    // per tile; each element still sees the ops in order.
    for op in ep.ops() {
        match *op {
            Op::AddRows(v) => {
                for (r, a) in acc.iter_mut().enumerate() {
                    let s = F4::splat(*v.get_unchecked(i + r));
                    a[0] = a[0].add(s);
                    a[1] = a[1].add(s);
                }
            }
            Op::MulRows(v) => {
                for (r, a) in acc.iter_mut().enumerate() {
                    let s = F4::splat(*v.get_unchecked(i + r));
                    a[0] = a[0].mul(s);
                    a[1] = a[1].mul(s);
                }
            }
            Op::AddCols(v) => {
                let (c0, c1) = load8(v.as_ptr().add(col), width);
                for a in acc.iter_mut() {
                    a[0] = a[0].add(c0);
                    a[1] = a[1].add(c1);
                }
            }
            Op::MulCols(v) => {
                let (c0, c1) = load8(v.as_ptr().add(col), width);
                for a in acc.iter_mut() {
                    a[0] = a[0].mul(c0);
                    a[1] = a[1].mul(c1);
                }
            }
            Op::Scale(f) => {
                let s = F4::splat(f);
                for a in acc.iter_mut() {
                    a[0] = a[0].mul(s);
                    a[1] = a[1].mul(s);
                }
            }
            Op::Relu => {
                for a in acc.iter_mut() {
                    a[0] = a[0].relu();
                    a[1] = a[1].relu();
                }
            }
            Op::Silu => {
                for a in acc.iter_mut() {
                    a[0] = vmath::silu4(a[0]);
                    a[1] = vmath::silu4(a[1]);
                }
            }
            Op::Accumulate => {
                for (r, a) in acc.iter_mut().enumerate() {
                    let (c0, c1) = load8(out(r), width);
                    a[0] = a[0].add(c0);
                    a[1] = a[1].add(c1);
                }
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        let o = out(r);
        if width == NR {
            a[0].store(o);
            a[1].store(o.add(4));
        } else {
            store_part(a[0], a[1], o, width);
        }
    }
}

/// The first `width` of eight values, by lane stores; out of line, so full tiles keep a lean
/// body (inline, it cost tiles at small k a tenth).
#[cold]
#[inline(never)]
unsafe fn store_part(v0: F4, v1: F4, o: *mut f32, width: usize) {
    v0.store_first(o, width.min(4));
    if width > 4 {
        // Only then: `o + 4` may lie past the end of C otherwise.
        v1.store_first(o.add(4), width - 4);
    }
}

/// Eight values from `p` (the first `width` of them; zeros after), as two vectors.
#[inline(always)]
unsafe fn load8(p: *const f32, width: usize) -> (F4, F4) {
    if width == NR {
        return (F4::load(p), F4::load(p.add(4)));
    }
    load_part(p, width)
}

/// The first `width` of eight values by lane loads, zeros after; out of line as [`store_part`].
#[cold]
#[inline(never)]
unsafe fn load_part(p: *const f32, width: usize) -> (F4, F4) {
    (F4::load_first(p, width.min(4)), if width > 4 { F4::load_first(p.add(4), width - 4) } else { F4::zero() })
}

/// `acc[r] += a(r) * b[0..8]` for every row of the tile.
#[inline(always)]
pub(crate) unsafe fn step<const R: usize>(acc: &mut [[F4; 2]; R], b: *const f32, a: impl Fn(usize) -> F4) {
    let b0 = F4::load(b);
    let b1 = F4::load(b.add(4));
    for (r, row) in acc.iter_mut().enumerate() {
        let s = a(r);
        row[0] = row[0].add(s.mul(b0));
        row[1] = row[1].add(s.mul(b1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::{gemm_reference, pack_b, packed_len, tests::random};

    /// Every op, alone and chained, against the scalar twin, on shapes with row and column tails.
    #[test]
    fn epilogue_ops_match_their_scalar_twin_bit_for_bit() {
        // Every width of a last panel (lane loads and stores of 1 to 8 columns), and no k at all.
        for (n, k) in [(1, 9), (2, 9), (3, 9), (4, 9), (5, 9), (6, 9), (7, 9), (8, 9), (13, 9), (13, 1), (6, 0)] {
            epilogue_case(7, n, k);
        }
    }

    fn epilogue_case(m: usize, n: usize, k: usize) {
        let a = random(m * k, 1);
        let b = random(k * n, 2);
        let rows = random(m, 3);
        let cols = random(n, 4);
        let c0: Vec<f32> = random(m * n, 5).iter().map(|v| v * 4.0).collect();
        let mut packed = vec![0.0; packed_len(k, n)];
        pack_b(&b, k, n, n, &mut packed);
        let lists: Vec<Vec<Op>> = vec![
            vec![],
            vec![Op::AddRows(&rows), Op::Relu],
            vec![Op::AddCols(&cols), Op::Silu],
            vec![Op::MulRows(&rows), Op::MulCols(&cols), Op::Scale(0.37)],
            vec![Op::Scale(3.0), Op::Silu, Op::Accumulate],
            vec![Op::AddCols(&cols), Op::Accumulate, Op::Relu, Op::Scale(-1.5), Op::AddRows(&rows), Op::Silu],
        ];
        for ops in &lists {
            let ep = Epilogue::new(ops);
            let mut c = c0.clone();
            multiply(m, n, k, &a, k, &packed, ep, &mut c, n);
            // The bare sums, then the epilogue as scalars.
            let mut sums = vec![0.0; m * n];
            gemm_reference(m, n, k, &a, k, &b, n, Epilogue::none(), &mut sums, n);
            for i in 0..m {
                for j in 0..n {
                    let want = ep.apply_scalar(sums[i * n + j], i, j, c0[i * n + j]);
                    assert_eq!(c[i * n + j].to_bits(), want.to_bits(), "{ops:?} at ({i}, {j})");
                }
            }
        }
    }
}
