//! The one engine every configuration of `Phi` runs on:
//!
//! ```text
//! [Phi f](g) = sum over g' in N(g) of omega(f, g, g')
//! ```
//!
//! `N(g)` is a compressed neighbour list (`offsets`, `indices`) built by a domain (a finite
//! group, a grid, a lifted point cloud), and the relative element `g^-1 g'` of every pair arrives
//! as a table index (finite groups, grids) or as coordinates (the Lie algebra's, on lifted
//! clouds). For each block of output elements the engine gathers the pairs, evaluates `psi` on
//! them (an MLP run as batched products on the crate's register tile, activations fused into
//! its epilogue), normalises over `g'` and contracts:
//!
//! - **basis**: `out(g) = W vec(N(sum_j psi_j (x) f(g'_j))) + b`, `psi_j` either the one-hot
//!   vector of the table index (then `W` holds a kernel table: the group convolution) or an MLP's
//!   output (LieConv's kernel of the log);
//! - **matrix**: `out(g) = N(sum_j Psi_j f(g'_j)) + b`, `Psi_j` an MLP's `out x in` output (an
//!   implicit kernel, which may read `f(g)` and `f(g'_j)` too);
//! - **heads**: `out_h(g) = sum_j w_jh V_h(g'_j)`, `w_jh = N_j(logit_jh)`, the logit the sum of
//!   a content term `q_h(g) . k_h(g'_j) * scale` and a location term (a table of the index, or an
//!   MLP's per-head output): attention.
//!
//! `N` is none, mean (divide by the neighbour count: LieTransformer's `dot_product`), softmax
//! (max-subtracted, with the crate's fixed-order `exp`) or `norm_exp` (`exp`, divided by the
//! count). Every sum runs over the list in its order, so results are deterministic and never
//! depend on blocking. One call does a whole batch (grids and finite groups share one list for
//! every batch item); nothing crosses back to JavaScript per pair.

use crate::attend;
use crate::scratch;
use crate::simd::{relu, F4};
use crate::tile::{multiply, Epilogue, Op, NR};
use crate::vmath;

/// Strided view of `[batch, elements, channels]` features (strides in floats).
#[derive(Clone, Copy, Debug)]
pub struct Strides {
    pub batch: usize,
    pub elem: usize,
    pub chan: usize,
}

impl Strides {
    #[inline(always)]
    fn at(&self, b: usize, e: usize, c: usize) -> usize {
        b * self.batch + e * self.elem + c * self.chan
    }
    /// The largest index touched for the given extents, plus one.
    pub fn extent(&self, batch: usize, elems: usize, chans: usize) -> Option<usize> {
        if batch == 0 || elems == 0 || chans == 0 {
            return Some(0);
        }
        let last = (batch - 1).checked_mul(self.batch)?.checked_add((elems - 1).checked_mul(self.elem)?)?.checked_add((chans - 1).checked_mul(self.chan)?)?;
        last.checked_add(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    None,
    Relu,
    Silu,
}

impl Act {
    pub fn from_code(c: u32) -> Option<Act> {
        Some(match c {
            0 => Act::None,
            1 => Act::Relu,
            2 => Act::Silu,
            _ => return None,
        })
    }
    fn op(self) -> Option<Op<'static>> {
        match self {
            Act::None => None,
            Act::Relu => Some(Op::Relu),
            Act::Silu => Some(Op::Silu),
        }
    }
    #[inline(always)]
    fn scalar(self, x: f32) -> f32 {
        match self {
            Act::None => x,
            Act::Relu => relu(x),
            Act::Silu => vmath::silu(x),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    None,
    Mean,
    Softmax,
    NormExp,
}

impl Norm {
    pub fn from_code(c: u32) -> Option<Norm> {
        Some(match c {
            0 => Norm::None,
            1 => Norm::Mean,
            2 => Norm::Softmax,
            3 => Norm::NormExp,
            _ => return None,
        })
    }
}

/// One dense layer of an MLP, `y = act(x W + b)`, optionally block-diagonal: `groups` equal
/// slices of the input each map to their slice of the output (per-head MLPs side by side).
/// `w` holds the groups' `[in/groups, out/groups]` matrices packed one after another.
#[derive(Clone, Copy, Debug)]
pub struct Dense<'a> {
    pub inp: usize,
    pub out: usize,
    pub groups: usize,
    pub w: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub act: Act,
}

impl Dense<'_> {
    pub fn packed_len(inp: usize, out: usize, groups: usize) -> usize {
        (out / groups).div_ceil(NR) * NR * (inp / groups) * groups
    }
}

/// An MLP over the pairs: its input is `[rel, f(g), f(g')]` (the parts `uses` selects).
#[derive(Clone, Debug)]
pub struct Mlp<'a> {
    pub layers: Vec<Dense<'a>>,
    pub uses_rel: bool,
    pub uses_fg: bool,
    pub uses_fgp: bool,
}

impl Mlp<'_> {
    fn out(&self) -> usize {
        self.layers.last().map_or(0, |l| l.out)
    }
    fn widest(&self) -> usize {
        self.layers.iter().map(|l| l.out.max(l.inp)).max().unwrap_or(0)
    }
}

/// The relative element of every pair: a table index (below `size`), coordinates (`width`
/// per pair), or both (grids: the index for kernel tables, coordinates for an MLP).
#[derive(Clone, Copy, Debug, Default)]
pub struct Rel<'a> {
    pub index: Option<(&'a [u32], usize)>,
    pub coords: Option<(&'a [f32], usize)>,
}

impl Rel<'_> {
    /// Width of the relative part of an MLP's input: the coordinates, else the one-hot index.
    fn width(&self) -> usize {
        match (self.coords, self.index) {
            (Some((_, w)), _) => w,
            (None, Some((_, size))) => size,
            (None, None) => 0,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Mode<'a> {
    /// `W vec(N(sum_j psi_j (x) f_j)) + b`: `psi` one-hot of the index (no MLP) or the MLP's.
    Basis { mlp: Option<Mlp<'a>>, m: usize, w: &'a [f32], bias: Option<&'a [f32]>, act: Act, norm: Norm },
    /// `N(sum_j Psi_j f_j) + b` with `Psi_j` the MLP's `c_out x c_in` output.
    Matrix { mlp: Mlp<'a>, bias: Option<&'a [f32]>, act: Act, norm: Norm },
    /// Attention: weights per head from content and location (`combine`d), then values.
    Heads { heads: usize, dv: usize, v: &'a [f32], content: Option<Content<'a>>, location: Location<'a>, combine: Combine, norm: Norm },
}

/// `q_h(g) . k_h(g') * scale`, `q` `[batch, m_out, heads*dk]`, `k` `[batch, m_in, heads*dk]`.
#[derive(Clone, Copy, Debug)]
pub struct Content<'a> {
    pub dk: usize,
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub scale: f32,
}

/// How attention's content and location terms make a logit: their sum (LieTransformer's
/// default), or their product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    Sum,
    Product,
}

#[derive(Clone, Debug)]
pub enum Location<'a> {
    None,
    /// `b[h * size + index]` (needs `Rel::Index`).
    Table(&'a [f32]),
    /// An MLP with `heads` outputs.
    Mlp(Mlp<'a>),
}

/// Everything one call needs.
#[derive(Clone, Debug)]
pub struct Plan<'a> {
    pub batch: usize,
    pub m_out: usize,
    pub m_in: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub f: &'a [f32],
    pub fs: Strides,
    pub os: Strides,
    pub offsets: &'a [u32],
    pub indices: &'a [u32],
    pub rel: Rel<'a>,
    pub mode: Mode<'a>,
}

/// Pairs per block (the MLP's batch), and a cap on the rows of the basis matrix per block.
const PAIR_BLOCK: usize = 2048;
/// Rows of attention sharing one neighbour list taken together (their queries, one product).
const SHARED_ROWS: usize = 64;
const BASIS_BLOCK_FLOATS: usize = 1 << 18;

impl Plan<'_> {
    /// Checks everything a call will read or write; `Err` says what is wrong.
    pub fn validate(&self, out_len: usize) -> Result<(), String> {
        let nnz = self.indices.len();
        if self.offsets.len() != self.m_out + 1 || self.offsets[0] != 0 || self.offsets[self.m_out] as usize != nnz {
            return Err(format!("offsets must hold {} entries from 0 to {nnz}", self.m_out + 1));
        }
        if let Some(i) = self.offsets.windows(2).position(|w| w[1] < w[0]) {
            return Err(format!("offsets decrease at {i}"));
        }
        if let Some((i, &v)) = self.indices.iter().enumerate().find(|(_, &v)| v as usize >= self.m_in) {
            return Err(format!("indices[{i}] = {v} is not an input element (there are {})", self.m_in));
        }
        let need_f = self.fs.extent(self.batch, self.m_in, self.c_in).ok_or("feature strides overflow")?;
        if self.f.len() < need_f {
            return Err(format!("features hold {} values, the strides reach {need_f}", self.f.len()));
        }
        let need_o = self.os.extent(self.batch, self.m_out, self.c_out).ok_or("output strides overflow")?;
        if out_len < need_o {
            return Err(format!("the output holds {out_len} values, the strides reach {need_o}"));
        }
        if let Some((idx, size)) = self.rel.index {
            if idx.len() != nnz {
                return Err(format!("relative indices: {} for {nnz} pairs", idx.len()));
            }
            if let Some((i, &v)) = idx.iter().enumerate().find(|(_, &v)| v as usize >= size) {
                return Err(format!("relative index [{i}] = {v} is not below {size}"));
            }
        }
        if let Some((x, width)) = self.rel.coords {
            if x.len() < nnz * width {
                return Err(format!("relative coordinates: {} values for {nnz} pairs of {width}", x.len()));
            }
        }
        let check_mlp = |mlp: &Mlp, out: usize, what: &str| -> Result<(), String> {
            let z = self.z_width(mlp);
            if mlp.layers.is_empty() || mlp.layers[0].inp != z {
                return Err(format!("{what}: the first layer must take {z} inputs (relative part {}, features {} each)", self.rel.width(), self.c_in));
            }
            if mlp.uses_rel && self.rel.width() == 0 {
                return Err(format!("{what}: reads the relative element, but none was given"));
            }
            for (i, l) in mlp.layers.iter().enumerate() {
                if l.groups == 0 || l.inp % l.groups != 0 || l.out % l.groups != 0 {
                    return Err(format!("{what}: layer {i} ({} -> {}) does not split into {} groups", l.inp, l.out, l.groups));
                }
                if i > 0 && mlp.layers[i - 1].out != l.inp {
                    return Err(format!("{what}: layer {i} takes {} inputs, the layer before gives {}", l.inp, mlp.layers[i - 1].out));
                }
                if l.w.len() < Dense::packed_len(l.inp, l.out, l.groups) {
                    return Err(format!("{what}: layer {i}'s weights are too short"));
                }
                if l.bias.is_some_and(|b| b.len() < l.out) {
                    return Err(format!("{what}: layer {i}'s bias is too short"));
                }
            }
            if mlp.out() != out {
                return Err(format!("{what}: gives {} values per pair, {out} are needed", mlp.out()));
            }
            Ok(())
        };
        match &self.mode {
            Mode::Basis { mlp, m, w, bias, norm, .. } => {
                match mlp {
                    None => match self.rel.index {
                        Some((_, size)) if size == *m => {}
                        _ => return Err(format!("basis: without an MLP, psi is the one-hot relative index, so m ({m}) must equal the table size")),
                    },
                    Some(mlp) => check_mlp(mlp, *m, "basis psi")?,
                }
                let k = m.checked_mul(self.c_in).ok_or("basis: size overflows")?;
                if w.len() < self.c_out.div_ceil(NR) * NR * k {
                    return Err("basis: W is too short".into());
                }
                if bias.is_some_and(|b| b.len() < self.c_out) {
                    return Err("basis: the bias is too short".into());
                }
                if !matches!(norm, Norm::None | Norm::Mean) {
                    return Err("basis: the normaliser must be none or mean".into());
                }
            }
            Mode::Matrix { mlp, bias, norm, .. } => {
                check_mlp(mlp, self.c_out * self.c_in, "matrix psi")?;
                if bias.is_some_and(|b| b.len() < self.c_out) {
                    return Err("matrix: the bias is too short".into());
                }
                if !matches!(norm, Norm::None | Norm::Mean) {
                    return Err("matrix: the normaliser must be none or mean".into());
                }
            }
            Mode::Heads { heads, dv, v, content, location, .. } => {
                if heads * dv != self.c_out || *heads == 0 {
                    return Err(format!("heads: {heads} heads of {dv} values do not make {} outputs", self.c_out));
                }
                if v.len() < self.batch * self.m_in * self.c_out {
                    return Err("heads: the values are too short".into());
                }
                if let Some(c) = content {
                    if c.q.len() < self.batch * self.m_out * heads * c.dk || c.k.len() < self.batch * self.m_in * heads * c.dk {
                        return Err("heads: queries or keys are too short".into());
                    }
                }
                match location {
                    Location::None => {}
                    Location::Table(b) => match self.rel.index {
                        Some((_, size)) if b.len() >= heads * size => {}
                        _ => return Err("heads: a location table needs relative indices and heads x size entries".into()),
                    },
                    Location::Mlp(mlp) => check_mlp(mlp, *heads, "location psi")?,
                }
            }
        }
        Ok(())
    }

    fn z_width(&self, mlp: &Mlp) -> usize {
        (if mlp.uses_rel { self.rel.width() } else { 0 }) + (if mlp.uses_fg { self.c_in } else { 0 }) + (if mlp.uses_fgp { self.c_in } else { 0 })
    }
}

/// Runs the plan into `out`. Call [`Plan::validate`] first (the binding does).
pub fn run(p: &Plan, out: &mut [f32]) {
    let mlp = match &p.mode {
        Mode::Basis { mlp, .. } => mlp.as_ref(),
        Mode::Matrix { mlp, .. } => Some(mlp),
        Mode::Heads { location: Location::Mlp(m), .. } => Some(m),
        Mode::Heads { .. } => None,
    };
    let (zw, hw) = mlp.map_or((0, 0), |m| (p.z_width(m), m.widest()));
    let basis_k = match &p.mode {
        Mode::Basis { m, .. } => m * p.c_in,
        _ => 0,
    };
    let heads = match &p.mode {
        Mode::Heads { heads, .. } => *heads,
        _ => 0,
    };
    // Rows per block: by pairs, and for the basis matrix by its size. Attention without an MLP
    // takes rows that share one neighbour list together (up to SHARED_ROWS: its scores are then
    // one product of queries and packed keys).
    let max_rows = if basis_k > 0 { (BASIS_BLOCK_FLOATS / basis_k).max(1) } else { usize::MAX };
    let shares = heads > 0 && mlp.is_none();
    let mut max_pairs = 0;
    let mut blocks = Vec::new();
    let mut g0 = 0;
    while g0 < p.m_out {
        let mut g1 = g0 + 1;
        // Whether every row of the block has g0's list: decided here, once, since a block of
        // rows with different lists may still begin and end with the same one.
        let shared = shares && same_list(p, g0, g0 + 1);
        if shared {
            while g1 < p.m_out && g1 - g0 < SHARED_ROWS && same_list(p, g0, g1) {
                g1 += 1;
            }
        } else {
            while g1 < p.m_out && g1 - g0 < max_rows && (p.offsets[g1 + 1] - p.offsets[g0]) as usize <= PAIR_BLOCK && !(shares && same_list(p, g1, g1 + 1)) {
                g1 += 1;
            }
        }
        max_pairs = max_pairs.max((p.offsets[g1] - p.offsets[g0]) as usize);
        blocks.push((g0, g1, shared));
        g0 = g1;
    }
    let max_rows_used = blocks.iter().map(|(a, b, _)| b - a).max().unwrap_or(0);
    let max_list = (0..p.m_out).map(|g| (p.offsets[g + 1] - p.offsets[g]) as usize).max().unwrap_or(0);
    let z_len = max_pairs * zw;
    let h_len = max_pairs * hw;
    let s_len = max_rows_used * basis_k;
    let y_len = max_rows_used * p.c_out;
    // Logits: a block of rows with their own lists holds its pairs' logits for every head; a
    // block sharing one list of n holds m x n scores (one head at a time), or only the fused
    // kernel's four rows. (Sizing every block by the first rule took 64 n heads floats for
    // global attention: 205 MB on a cloud of 100,000 elements with 8 heads.)
    let fused = fuses_shared(&p.mode);
    let l_len = blocks
        .iter()
        .map(|&(g0, g1, shared)| {
            let n = (p.offsets[g0 + 1] - p.offsets[g0]) as usize;
            match (shared, fused) {
                (true, true) => attend::scratch_len(n),
                (true, false) => (g1 - g0) * n,
                (false, _) => (p.offsets[g1] - p.offsets[g0]) as usize * heads,
            }
        })
        .max()
        .unwrap_or(0);
    let v_len = p.c_out + p.c_in;
    // Attention: keys and values of one list packed for the tile (per head), and its output rows.
    let (dk, dv) = match &p.mode {
        Mode::Heads { content, dv, .. } => (content.as_ref().map_or(0, |c| c.dk), *dv),
        _ => (0, 0),
    };
    let pack_len = if heads > 0 { heads * (max_list.div_ceil(NR) * NR * dk + max_list * dv.div_ceil(NR) * NR) + max_rows_used.max(1) * dv.max(1) } else { 0 };
    let kt_len = match &p.mode {
        Mode::Heads { heads, dv, content: Some(c), .. } if lanes_fit(*heads, *dv, c.dk) => p.m_in * heads * c.dk,
        _ => 0,
    };
    scratch::with(z_len + 2 * h_len + s_len + y_len + l_len + v_len + kt_len + pack_len, false, |buf| {
        let (z, rest) = buf.split_at_mut(z_len);
        let (h1, rest) = rest.split_at_mut(h_len);
        let (h2, rest) = rest.split_at_mut(h_len);
        let (s, rest) = rest.split_at_mut(s_len);
        let (y, rest) = rest.split_at_mut(y_len);
        let (logits, rest) = rest.split_at_mut(l_len);
        let (vecs, rest) = rest.split_at_mut(v_len);
        let (kt, packs) = rest.split_at_mut(kt_len);
        let mut packed = None;
        // The batch item whose keys `kt` holds interleaved by head.
        let mut kt_for = None;
        for b in 0..p.batch {
            for &(g0, g1, shared) in &blocks {
                let psi = mlp.map(|m| evaluate(p, m, b, g0, g1, z, h1, h2));
                match &p.mode {
                    Mode::Basis { m, w, bias, act, norm, .. } => basis(p, b, g0, g1, *m, w, *bias, *act, *norm, psi, s, y, out),
                    Mode::Matrix { bias, act, norm, .. } => matrix(p, b, g0, g1, *bias, *act, *norm, psi.unwrap(), vecs, out),
                    Mode::Heads { heads, dv, v, content, location, combine, norm } => {
                        let a = Attention { heads: *heads, dv: *dv, v, content: content.as_ref(), location, combine: *combine, norm: *norm, psi };
                        if shared {
                            attend_shared(p, b, g0, g1, &a, logits, packs, &mut packed, out);
                        } else {
                            attend_rows(p, b, g0, g1, &a, logits, kt, &mut kt_for, out);
                        }
                    }
                }
            }
        }
    });
}

/// Runs the MLP on the pairs of rows `g0..g1`; returns the output (`pairs x out`), which lives in
/// `h1` or `h2`.
#[allow(clippy::too_many_arguments)]
fn evaluate<'s>(p: &Plan, mlp: &Mlp, b: usize, g0: usize, g1: usize, z: &'s mut [f32], h1: &'s mut [f32], h2: &'s mut [f32]) -> &'s [f32] {
    let (p0, p1) = (p.offsets[g0] as usize, p.offsets[g1] as usize);
    let pairs = p1 - p0;
    if pairs == 0 {
        // Rows with empty lists (clouds that are all padding): nothing to evaluate, and the
        // grouped layers' column offsets below would point past empty inputs.
        return &h1[..0];
    }
    let zw = p.z_width(mlp);
    // When the input is the relative coordinates alone (LieConv's and LieTransformer's location
    // MLPs), the first layer reads them where they are: copying a few floats per pair had become
    // a `memory.copy` per pair, which V8 runs as a call.
    let in_place = match p.rel.coords {
        Some((x, width)) if mlp.uses_rel && !mlp.uses_fg && !mlp.uses_fgp => Some(&x[p0 * width..p1 * width]),
        _ => None,
    };
    // z = [rel, f(g), f(g')] per pair.
    if in_place.is_none() {
        for g in g0..g1 {
            for j in p.offsets[g] as usize..p.offsets[g + 1] as usize {
                let row = &mut z[(j - p0) * zw..(j - p0 + 1) * zw];
                let mut at = 0;
                if mlp.uses_rel {
                    match (p.rel.coords, p.rel.index) {
                        (Some((x, width)), _) => {
                            row[at..at + width].copy_from_slice(&x[j * width..(j + 1) * width]);
                            at += width;
                        }
                        (None, Some((idx, size))) => {
                            row[at..at + size].fill(0.0);
                            row[at + idx[j] as usize] = 1.0;
                            at += size;
                        }
                        (None, None) => {}
                    }
                }
                if mlp.uses_fg {
                    for c in 0..p.c_in {
                        row[at + c] = p.f[p.fs.at(b, g, c)];
                    }
                    at += p.c_in;
                }
                if mlp.uses_fgp {
                    let e = p.indices[j] as usize;
                    for c in 0..p.c_in {
                        row[at + c] = p.f[p.fs.at(b, e, c)];
                    }
                }
            }
        }
    }
    let n = mlp.layers.len();
    for (li, l) in mlp.layers.iter().enumerate() {
        let (input, output): (&[f32], &mut [f32]) = if li == 0 {
            (in_place.unwrap_or(&*z), &mut *h1)
        } else if li % 2 == 1 {
            (&*h1, &mut *h2)
        } else {
            (&*h2, &mut *h1)
        };
        let (ig, og) = (l.inp / l.groups, l.out / l.groups);
        let plen = og.div_ceil(NR) * NR * ig;
        for grp in 0..l.groups {
            let mut ep = Epilogue::none();
            if let Some(bias) = l.bias {
                ep = ep.then(Op::AddCols(&bias[grp * og..(grp + 1) * og]));
            }
            if let Some(op) = l.act.op() {
                ep = ep.then(op);
            }
            multiply(pairs, og, ig, &input[grp * ig..], l.inp, &l.w[grp * plen..(grp + 1) * plen], ep, &mut output[grp * og..], l.out);
        }
    }
    if n % 2 == 1 {
        let r: &'s [f32] = h1;
        r
    } else {
        let r: &'s [f32] = h2;
        r
    }
}

/// The basis contraction for rows `g0..g1` of batch item `b`.
#[allow(clippy::too_many_arguments)]
fn basis(p: &Plan, b: usize, g0: usize, g1: usize, m: usize, w: &[f32], bias: Option<&[f32]>, act: Act, norm: Norm, psi: Option<&[f32]>, s: &mut [f32], y: &mut [f32], out: &mut [f32]) {
    let k = m * p.c_in;
    let rows = g1 - g0;
    let p0 = p.offsets[g0] as usize;
    let s = &mut s[..rows * k];
    s.fill(0.0);
    for g in g0..g1 {
        let srow = &mut s[(g - g0) * k..(g - g0 + 1) * k];
        let (j0, j1) = (p.offsets[g] as usize, p.offsets[g + 1] as usize);
        for j in j0..j1 {
            let e = p.indices[j] as usize;
            match psi {
                None => {
                    let (idx, _) = p.rel.index.expect("validated: a table needs indices");
                    let slot = &mut srow[idx[j] as usize * p.c_in..(idx[j] as usize + 1) * p.c_in];
                    for (c, v) in slot.iter_mut().enumerate() {
                        *v += p.f[p.fs.at(b, e, c)];
                    }
                }
                Some(psi) => {
                    let pj = &psi[(j - p0) * m..(j - p0 + 1) * m];
                    for (kk, &pv) in pj.iter().enumerate() {
                        let slot = &mut srow[kk * p.c_in..(kk + 1) * p.c_in];
                        for (c, v) in slot.iter_mut().enumerate() {
                            *v += pv * p.f[p.fs.at(b, e, c)];
                        }
                    }
                }
            }
        }
        if norm == Norm::Mean && j1 > j0 {
            let inv = 1.0 / (j1 - j0) as f32;
            srow.iter_mut().for_each(|v| *v *= inv);
        }
    }
    let mut ep = Epilogue::none();
    if let Some(bias) = bias {
        ep = ep.then(Op::AddCols(bias));
    }
    if let Some(op) = act.op() {
        ep = ep.then(op);
    }
    let y = &mut y[..rows * p.c_out];
    multiply(rows, p.c_out, k, s, k, w, ep, y, p.c_out);
    scatter(p, b, g0, g1, y, out);
}

/// Rows `[rows, c_out]` into the strided output.
fn scatter(p: &Plan, b: usize, g0: usize, g1: usize, y: &[f32], out: &mut [f32]) {
    for g in g0..g1 {
        for c in 0..p.c_out {
            out[p.os.at(b, g, c)] = y[(g - g0) * p.c_out + c];
        }
    }
}

/// The matrix contraction for rows `g0..g1` of batch item `b`.
#[allow(clippy::too_many_arguments)]
fn matrix(p: &Plan, b: usize, g0: usize, g1: usize, bias: Option<&[f32]>, act: Act, norm: Norm, psi: &[f32], vecs: &mut [f32], out: &mut [f32]) {
    let (ci, co) = (p.c_in, p.c_out);
    let p0 = p.offsets[g0] as usize;
    let (acc, fj) = vecs.split_at_mut(co);
    for g in g0..g1 {
        acc.fill(0.0);
        let (j0, j1) = (p.offsets[g] as usize, p.offsets[g + 1] as usize);
        for j in j0..j1 {
            let e = p.indices[j] as usize;
            for (c, v) in fj.iter_mut().enumerate() {
                *v = p.f[p.fs.at(b, e, c)];
            }
            let m = &psi[(j - p0) * co * ci..(j - p0 + 1) * co * ci];
            for (o, a) in acc.iter_mut().enumerate() {
                let row = &m[o * ci..(o + 1) * ci];
                let mut t = 0.0f32;
                for c in 0..ci {
                    t += row[c] * fj[c];
                }
                *a += t;
            }
        }
        let inv = if norm == Norm::Mean && j1 > j0 { 1.0 / (j1 - j0) as f32 } else { 1.0 };
        for (o, &a) in acc.iter().enumerate() {
            let mut v = if norm == Norm::Mean { a * inv } else { a };
            if let Some(bias) = bias {
                v += bias[o];
            }
            out[p.os.at(b, g, o)] = act.scalar(v);
        }
    }
}

/// Whether rows `g` and `h` have the same neighbour list.
fn same_list(p: &Plan, g: usize, h: usize) -> bool {
    if h >= p.m_out {
        return false;
    }
    let (a0, a1, b0, b1) = (p.offsets[g] as usize, p.offsets[g + 1] as usize, p.offsets[h] as usize, p.offsets[h + 1] as usize);
    a1 - a0 == b1 - b0 && a1 > a0 && same_indices(&p.indices[a0..a1], &p.indices[b0..b1])
}

/// `a == b` for two lists of equal length. Slice equality lowers to a byte-wise `memcmp` in wasm,
/// which took 6% of global attention (every row's list of N is compared once per block); this
/// folds 64 indices at a time with xor and or, which the compiler turns into SIMD.
fn same_indices(a: &[u32], b: &[u32]) -> bool {
    a.chunks(64).zip(b.chunks(64)).all(|(x, y)| x.iter().zip(y).fold(0, |acc, (p, q)| acc | (p ^ q)) == 0)
}

/// What one attention call needs besides the plan.
struct Attention<'a, 'b> {
    heads: usize,
    dv: usize,
    v: &'a [f32],
    content: Option<&'a Content<'a>>,
    location: &'b Location<'a>,
    combine: Combine,
    norm: Norm,
    psi: Option<&'b [f32]>,
}

/// `sum_i a_i b_i` over SIMD lanes in a fixed order: four running sums, then `(l0 + l1) + (l2 + l3)`,
/// then the remainder in order.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = F4::zero();
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: i + 4 <= n for both slices.
        acc = acc.add(unsafe { F4::load(a.as_ptr().add(i)) }.mul(unsafe { F4::load(b.as_ptr().add(i)) }));
        i += 4;
    }
    let mut s = (acc.get(0) + acc.get(1)) + (acc.get(2) + acc.get(3));
    while i < n {
        s += a[i] * b[i];
        i += 1;
    }
    s
}

/// `acc += w x`, SIMD lanes then the remainder.
#[inline(always)]
fn axpy(acc: &mut [f32], w: f32, x: &[f32]) {
    let n = acc.len().min(x.len());
    let ws = F4::splat(w);
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: i + 4 <= n for both slices.
        unsafe { F4::load(acc.as_ptr().add(i)).add(ws.mul(F4::load(x.as_ptr().add(i)))).store(acc.as_mut_ptr().add(i)) };
        i += 4;
    }
    while i < n {
        acc[i] += w * x[i];
        i += 1;
    }
}

/// The location term of pair `j` (global index) for head `h`.
#[inline(always)]
fn location_term(p: &Plan, a: &Attention, p0: usize, j: usize, h: usize) -> f32 {
    match a.location {
        Location::None => 0.0,
        Location::Table(t) => {
            let (idx, size) = p.rel.index.expect("validated: a table needs indices");
            t[h * size + idx[j] as usize]
        }
        Location::Mlp(_) => a.psi.expect("an MLP location has psi")[(j - p0) * a.heads + h],
    }
}

/// Attention for rows with their own lists (local neighbourhoods): per row and head, the scores
/// are dot products of the query with each neighbour's key row (SIMD over the key's dimensions),
/// and the output accumulates the neighbours' value rows weighted (SIMD over the values'
/// dimensions). Memory: one row's logits, never an N x N matrix.
/// The widest rows [`attend_lanes`] keeps on the stack (queries `heads x dk`, outputs `heads x dv`).
const LANES_WIDTH: usize = 1024;

/// Attention for rows with their own lists when heads come in fours and the key and value
/// widths per head in fours (up to [`LANES_HEAD`]): SIMD lanes hold four heads. The keys arrive
/// interleaved by head (`kt`, `[element][channel][head]`, from [`interleave_heads`]), so a
/// vector product of a query channel with a key channel serves four heads, and four such partial
/// sums add to the four heads' scores with no horizontal sums (in the order a per-head SIMD dot
/// product would take: the same bits). Scores, then the softmax (four heads per vector, each
/// head's maximum taken as the scores are written), then the weighted sum of value rows, four
/// heads at a time with their outputs in registers. Per output value the sum runs over the list
/// in order.
#[allow(clippy::too_many_arguments)]
fn attend_lanes(p: &Plan, b: usize, g0: usize, g1: usize, a: &Attention, logits: &mut [f32], kt: &[f32], out: &mut [f32]) {
    // Common widths per head as constants, so the inner loops unroll.
    match (a.content.map_or(0, |c| c.dk) / 4, a.dv / 4) {
        (2, 2) => attend_lanes_with::<2, 2>(p, b, g0, g1, a, logits, kt, out),
        (4, 4) => attend_lanes_with::<4, 4>(p, b, g0, g1, a, logits, kt, out),
        (8, 8) => attend_lanes_with::<8, 8>(p, b, g0, g1, a, logits, kt, out),
        (1, 1) => attend_lanes_with::<1, 1>(p, b, g0, g1, a, logits, kt, out),
        (16, 16) => attend_lanes_with::<16, 16>(p, b, g0, g1, a, logits, kt, out),
        _ => attend_lanes_with::<0, 0>(p, b, g0, g1, a, logits, kt, out),
    }
}

/// [`attend_lanes`] with `QK = dk / 4` and `VK = dv / 4` fixed (0: read from the call).
#[allow(clippy::too_many_arguments)]
fn attend_lanes_with<const QK: usize, const VK: usize>(p: &Plan, b: usize, g0: usize, g1: usize, a: &Attention, logits: &mut [f32], kt: &[f32], out: &mut [f32]) {
    let (heads, dv) = (a.heads, a.dv);
    let width = heads * dv;
    let dk = a.content.map_or(0, |c| c.dk);
    let p0 = p.offsets[g0] as usize;
    let vb = &a.v[b * p.m_in * width..(b + 1) * p.m_in * width];
    let hq = heads / 4;
    let mut qv = [F4::zero(); LANES_WIDTH / 4];
    let mut acc = [F4::zero(); LANES_WIDTH / 4];
    let mut mx = [F4::zero(); LANES_WIDTH / 16];
    let qk = if QK > 0 { QK } else { dk / 4 };
    let vk = if VK > 0 { VK } else { dv / 4 };
    let contiguous = p.os.chan == 1;
    // With a softmax, the row's maxima per head are taken in the pass that writes the logits
    // last (in list order, as the softmax would): the scores' when there is no location term.
    let fused = a.norm == Norm::Softmax && !matches!(a.location, Location::Table(_));
    let with_max = fused && matches!(a.location, Location::None);
    for g in g0..g1 {
        let (j0, j1) = (p.offsets[g] as usize, p.offsets[g + 1] as usize);
        let n = j1 - j0;
        let l = &mut logits[(j0 - p0) * heads..(j1 - p0) * heads];
        let mx = &mut mx[..hq];
        mx.fill(F4::splat(f32::NEG_INFINITY));
        match a.content {
            Some(c) => {
                let qrow = &c.q[(b * p.m_out + g) * heads * dk..][..heads * dk];
                // The query interleaved like the keys: qv[i hq + hg] = q of channel i, heads 4hg..4hg+4.
                for hg in 0..hq {
                    for i4 in 0..qk {
                        // SAFETY: (4 hg + t) dk + 4 i4 + 4 <= heads dk = qrow.len().
                        let mut r: [F4; 4] = core::array::from_fn(|t| unsafe { F4::load(qrow.as_ptr().add((4 * hg + t) * dk + 4 * i4)) });
                        F4::transpose(&mut r);
                        for (u, v) in r.iter().enumerate() {
                            qv[(4 * i4 + u) * hq + hg] = *v;
                        }
                    }
                }
                let scale = F4::splat(c.scale);
                // Four heads at a time over the whole list, their query channels in registers.
                let list = &p.indices[j0..j1];
                for hg in 0..hq {
                    let qg: [F4; LANES_HEAD] = core::array::from_fn(|i| if i < 4 * qk { qv[i * hq + hg] } else { F4::zero() });
                    mx[hg] = scores4::<QK>(&qg, qk, kt, p.m_in, list, heads, hg, scale, with_max, l);
                }
            }
            None => l.fill(0.0),
        }
        match a.location {
            Location::None => {
                if fused && a.content.is_none() {
                    mx.fill(F4::zero());
                }
            }
            Location::Mlp(_) => {
                // psi holds the block's pairs as [pair][head]: the same layout as the logits.
                let t = &a.psi.expect("an MLP location has psi")[(j0 - p0) * heads..(j1 - p0) * heads];
                let product = a.combine == Combine::Product;
                for (ci, (lc, tc)) in l.chunks_exact_mut(4).zip(t.chunks_exact(4)).enumerate() {
                    // SAFETY: chunks of four.
                    let (x, y) = unsafe { (F4::load(lc.as_ptr()), F4::load(tc.as_ptr())) };
                    let v = if product { x.mul(y) } else { x.add(y) };
                    if fused {
                        mx[ci % hq] = mx[ci % hq].max_nan(v);
                    }
                    unsafe { v.store(lc.as_mut_ptr()) };
                }
            }
            Location::Table(_) => {
                for jj in 0..n {
                    for h in 0..heads {
                        let t = location_term(p, a, p0, j0 + jj, h);
                        let v = &mut l[jj * heads + h];
                        *v = if a.combine == Combine::Product { *v * t } else { *v + t };
                    }
                }
            }
        }
        if fused {
            if n > 0 {
                softmax_lanes(l, n, heads, mx);
            }
        } else {
            normalise(l, n, heads, a.norm);
        }
        // Four heads at a time over the whole list, their outputs in registers; per output
        // value the sum runs over the list in order.
        let acc = &mut acc[..width / 4];
        for hg in 0..hq {
            values4::<VK>(vk, vb, p.m_in, &p.indices[j0..j1], heads, dv, hg, l, &mut acc[hg * 4 * vk..(hg + 1) * 4 * vk]);
        }
        if contiguous {
            let base = p.os.at(b, g, 0);
            for (i, v) in acc.iter().enumerate() {
                // SAFETY: the plan validated that row g's width outputs are in bounds.
                unsafe { v.store(out.as_mut_ptr().add(base + 4 * i)) };
            }
        } else {
            for (i, v) in acc.iter().enumerate() {
                for t in 0..4 {
                    out[p.os.at(b, g, 4 * i + t)] = v.get(t);
                }
            }
        }
    }
}

/// The scores of heads `4hg..4hg+4` against every element of `list`, stored in `l`
/// (`[neighbour][head]`): `qg[i]` holds query channel `i` of the four heads, `kt` the keys
/// interleaved by head. Lane t of part[u] sums channels u, u + 4, u + 8, ... of head 4hg + t (the
/// SIMD lanes of a per-head dot product), then (l0 + l2) + (l1 + l3). Returns the four heads'
/// maxima over the list when `with_max` (else -inf). A function of its own, kept out of line, so
/// that the wasm engine gives its few values registers.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn scores4<const QK: usize>(qg: &[F4; LANES_HEAD], qk: usize, kt: &[f32], m_in: usize, list: &[u32], heads: usize, hg: usize, scale: F4, with_max: bool, l: &mut [f32]) -> F4 {
    let qk = if QK > 0 { QK } else { qk };
    let w = heads * 4 * qk;
    // Indices are below m_in: the plan checked every one (Plan::validate).
    assert!(4 * hg + 4 <= heads && 4 * qk <= LANES_HEAD && l.len() >= list.len() * heads && kt.len() >= m_in * w);
    debug_assert!(list.iter().all(|&e| (e as usize) < m_in));
    let mut m = F4::splat(f32::NEG_INFINITY);
    let mut part = [F4::zero(); 4];
    for (jj, &e) in list.iter().enumerate() {
        // SAFETY: e < m_in and m_in w <= kt.len(); every offset below is < w.
        let krow = unsafe { kt.as_ptr().add(e as usize * w + 4 * hg) };
        for (u, pt) in part.iter_mut().enumerate() {
            let mut s = qg[u].mul(unsafe { F4::load(krow.add(u * heads)) });
            for i in 1..qk {
                s = s.add(qg[4 * i + u].mul(unsafe { F4::load(krow.add((4 * i + u) * heads)) }));
            }
            *pt = s;
        }
        let v = part[0].add(part[2]).add(part[1].add(part[3])).mul(scale);
        if with_max {
            m = m.max_nan(v);
        }
        // SAFETY: jj heads + 4 hg + 4 <= list.len() heads <= l.len().
        unsafe { v.store(l.as_mut_ptr().add(jj * heads + 4 * hg)) };
    }
    m
}

/// `acc = sum over the list of w_jh v_h(g'_j)` for heads `4hg..4hg+4` (`acc`: their `4 dv`
/// outputs), the weights read from `l` (`[neighbour][head]`), the values `vb` (`[element][heads
/// dv]`); the sum over the list in order, the outputs in registers. Out of line, like [`scores4`].
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn values4<const VK: usize>(vk: usize, vb: &[f32], m_in: usize, list: &[u32], heads: usize, dv: usize, hg: usize, l: &[f32], acc: &mut [F4]) {
    let vk = if VK > 0 { VK } else { vk };
    let width = heads * dv;
    // Indices are below m_in: the plan checked every one (Plan::validate).
    assert!(4 * hg + 4 <= heads && 4 * vk == dv && 4 * vk <= LANES_HEAD && acc.len() == 4 * vk && l.len() >= list.len() * heads && vb.len() >= m_in * width);
    debug_assert!(list.iter().all(|&e| (e as usize) < m_in));
    let mut ag = [F4::zero(); LANES_HEAD];
    for (jj, &e) in list.iter().enumerate() {
        // SAFETY: e < m_in and m_in width <= vb.len(); offsets below are < 4 dv within the row
        // part of heads 4hg..4hg+4; jj heads + 4 hg + t < l.len().
        let vrow = unsafe { vb.as_ptr().add(e as usize * width + 4 * hg * dv) };
        let wrow = unsafe { l.as_ptr().add(jj * heads + 4 * hg) };
        for t in 0..4 {
            let w = F4::splat(unsafe { *wrow.add(t) });
            for i in 0..vk {
                ag[t * vk + i] = ag[t * vk + i].add(w.mul(unsafe { F4::load(vrow.add(4 * (t * vk + i))) }));
            }
        }
    }
    acc.copy_from_slice(&ag[..4 * vk]);
}

/// Keys `[element][head][channel]` (`dk` channels, in fours) rewritten as
/// `[element][channel][head]`, so that one vector holds a channel of four heads.
fn interleave_heads(k: &[f32], heads: usize, dk: usize, out: &mut [f32]) {
    let w = heads * dk;
    for (src, dst) in k.chunks_exact(w).zip(out.chunks_exact_mut(w)) {
        for hg in 0..heads / 4 {
            for i4 in 0..dk / 4 {
                // SAFETY: (4 hg + t) dk + 4 i4 + 4 <= w and (4 i4 + u) heads + 4 hg + 4 <= w.
                let mut r: [F4; 4] = core::array::from_fn(|t| unsafe { F4::load(src.as_ptr().add((4 * hg + t) * dk + 4 * i4)) });
                F4::transpose(&mut r);
                for (u, v) in r.iter().enumerate() {
                    unsafe { v.store(dst.as_mut_ptr().add((4 * i4 + u) * heads + 4 * hg)) };
                }
            }
        }
    }
}

/// Whether [`attend_lanes`] takes rows of `heads` heads with these widths (`dk` 0: no content):
/// heads in fours, widths per head in fours up to [`LANES_HEAD`] (four heads' worth in registers).
fn lanes_fit(heads: usize, dv: usize, dk: usize) -> bool {
    heads % 4 == 0 && dv % 4 == 0 && dk % 4 == 0 && dv <= LANES_HEAD && dk <= LANES_HEAD && heads * dv <= LANES_WIDTH && heads * dk <= LANES_WIDTH
}

/// The widest key or value per head [`attend_lanes`] takes.
const LANES_HEAD: usize = 64;

#[allow(clippy::too_many_arguments)]
fn attend_rows(p: &Plan, b: usize, g0: usize, g1: usize, a: &Attention, logits: &mut [f32], kt: &mut [f32], kt_for: &mut Option<usize>, out: &mut [f32]) {
    let (heads, dv) = (a.heads, a.dv);
    if lanes_fit(heads, dv, a.content.map_or(0, |c| c.dk)) {
        if let Some(c) = a.content {
            if *kt_for != Some(b) {
                interleave_heads(&c.k[b * p.m_in * heads * c.dk..(b + 1) * p.m_in * heads * c.dk], heads, c.dk, kt);
                *kt_for = Some(b);
            }
        }
        return attend_lanes(p, b, g0, g1, a, logits, kt, out);
    }
    let width = heads * dv;
    let p0 = p.offsets[g0] as usize;
    let vb = &a.v[b * p.m_in * width..(b + 1) * p.m_in * width];
    let mut acc = [0.0f32; 64];
    for g in g0..g1 {
        let (j0, j1) = (p.offsets[g] as usize, p.offsets[g + 1] as usize);
        let n = j1 - j0;
        let l = &mut logits[(j0 - p0) * heads..(j1 - p0) * heads];
        for h in 0..heads {
            let lh = &mut l[h * n..(h + 1) * n];
            match a.content {
                Some(c) => {
                    let dk = c.dk;
                    let qrow = &c.q[(b * p.m_out + g) * heads * dk + h * dk..][..dk];
                    for (jj, lv) in lh.iter_mut().enumerate() {
                        let e = p.indices[j0 + jj] as usize;
                        *lv = dot(qrow, &c.k[(b * p.m_in + e) * heads * dk + h * dk..][..dk]) * c.scale;
                    }
                }
                None => lh.fill(0.0),
            }
            if !matches!(a.location, Location::None) {
                for (jj, lv) in lh.iter_mut().enumerate() {
                    let t = location_term(p, a, p0, j0 + jj, h);
                    *lv = if a.combine == Combine::Product { *lv * t } else { *lv + t };
                }
            }
            normalise(lh, n, 1, a.norm);
            // out_h = sum_j w_j v_h(g'_j), in list order; dv <= 64 in a stack buffer, else in parts.
            let mut c0 = 0;
            while c0 < dv {
                let w = (dv - c0).min(acc.len());
                let part = &mut acc[..w];
                part.fill(0.0);
                for (jj, &wt) in lh.iter().enumerate() {
                    let e = p.indices[j0 + jj] as usize;
                    axpy(part, wt, &vb[e * width + h * dv + c0..][..w]);
                }
                for (c, &val) in part.iter().enumerate() {
                    out[p.os.at(b, g, h * dv + c0 + c)] = val;
                }
                c0 += w;
            }
        }
    }
}

/// Whether attention on shared lists runs fused ([`attend::shared_softmax`]): content only, a
/// softmax, head widths the kernel takes.
fn fuses(content: Option<&Content>, location: &Location, norm: Norm, dv: usize) -> bool {
    matches!((content, location, norm), (Some(c), Location::None, Norm::Softmax) if attend::fits(c.dk, dv))
}

/// [`fuses`] for a plan's mode.
fn fuses_shared(mode: &Mode) -> bool {
    match mode {
        Mode::Heads { content, location, norm, dv, .. } => fuses(content.as_ref(), location, *norm, *dv),
        _ => false,
    }
}

/// Attention for rows `g0..g1` that share one list (global neighbourhoods): the keys and values
/// of the list are packed for the register tile once for every head (and kept while the next
/// blocks share the list), the scores are one product of the block's queries with the packed
/// keys (scaled in the tile's epilogue), and the output one product of the normalised weights
/// with the packed values. Content-only softmax attention with heads of 4 to 16 runs fused
/// instead ([`attend::shared_softmax`]: the same bits, a third less time on A1-global). `packed`
/// names the batch and a row whose list the packs hold.
#[allow(clippy::too_many_arguments)]
fn attend_shared(p: &Plan, b: usize, g0: usize, g1: usize, a: &Attention, logits: &mut [f32], packs: &mut [f32], packed: &mut Option<(usize, usize)>, out: &mut [f32]) {
    let (heads, dv) = (a.heads, a.dv);
    let width = heads * dv;
    let (j0, j1) = (p.offsets[g0] as usize, p.offsets[g0 + 1] as usize);
    let p0 = j0;
    let (m, n) = (g1 - g0, j1 - j0);
    let list = &p.indices[j0..j1];
    let vb = &a.v[b * p.m_in * width..(b + 1) * p.m_in * width];
    let dk = a.content.map_or(0, |c| c.dk);
    let (klen, vlen) = (n.div_ceil(NR) * NR * dk, n * dv.div_ceil(NR) * NR);
    let (kp_all, rest) = packs.split_at_mut(heads * klen);
    let (vp_all, o) = rest.split_at_mut(heads * vlen);
    let fresh = !matches!(*packed, Some((pb, pg)) if pb == b && (pg == g0 || same_list(p, pg, g0)));
    if fresh {
        for h in 0..heads {
            if let Some(c) = a.content {
                // Keys of the list as panels [i][8 neighbours].
                for (pi, panel) in kp_all[h * klen..(h + 1) * klen].chunks_mut(NR * dk).enumerate() {
                    for i in 0..dk {
                        for t in 0..NR {
                            let jj = pi * NR + t;
                            panel[i * NR + t] = if jj < n { c.k[(b * p.m_in + list[jj] as usize) * heads * dk + h * dk + i] } else { 0.0 };
                        }
                    }
                }
            }
            // Values of the list as panels [neighbour][8 dims].
            let vp = &mut vp_all[h * vlen..(h + 1) * vlen];
            for pi in 0..dv.div_ceil(NR) {
                for jj in 0..n {
                    let row = &vb[list[jj] as usize * width + h * dv..][..dv];
                    for t in 0..NR {
                        let c = pi * NR + t;
                        vp[(pi * n + jj) * NR + t] = if c < dv { row[c] } else { 0.0 };
                    }
                }
            }
        }
        *packed = Some((b, g0));
    }
    // Its own branch, not a case inside the per-head loop below: written that way (one loop, one
    // scatter), the kernel ended up inside the engine's large function and A1-global took
    // 25.8 ms instead of 18.8.
    if fuses(a.content, a.location, a.norm, dv) {
        let c = a.content.expect("fused attention has content");
        let o = &mut o[..m * dv];
        for h in 0..heads {
            let qa = &c.q[((b * p.m_out + g0) * heads) * dk + h * dk..];
            attend::shared_softmax(m, n, dk, dv, qa, heads * dk, &kp_all[h * klen..(h + 1) * klen], &vp_all[h * vlen..(h + 1) * vlen], c.scale, logits, o, dv);
            for r in 0..m {
                for cc in 0..dv {
                    out[p.os.at(b, g0 + r, h * dv + cc)] = o[r * dv + cc];
                }
            }
        }
        return;
    }
    let s = &mut logits[..m * n];
    for h in 0..heads {
        match a.content {
            Some(c) => {
                let qa = &c.q[((b * p.m_out + g0) * heads) * dk + h * dk..];
                multiply(m, n, dk, qa, heads * dk, &kp_all[h * klen..(h + 1) * klen], Epilogue::new(&[Op::Scale(c.scale)]), s, n);
            }
            None => s.fill(0.0),
        }
        if !matches!(a.location, Location::None) {
            for r in 0..m {
                for jj in 0..n {
                    let t = location_term(p, a, p0, j0 + r * n + jj, h);
                    let v = &mut s[r * n + jj];
                    *v = if a.combine == Combine::Product { *v * t } else { *v + t };
                }
            }
        }
        // A softmax's division by the row sum runs in the product's epilogue (one pass less).
        let mut inv = [0.0f32; SHARED_ROWS];
        for r in 0..m {
            if a.norm == Norm::Softmax {
                inv[r] = softmax_row_unscaled(&mut s[r * n..(r + 1) * n]);
            } else {
                normalise(&mut s[r * n..(r + 1) * n], n, 1, a.norm);
            }
        }
        let o = &mut o[..m * dv];
        let ep = if a.norm == Norm::Softmax { Epilogue::new(&[Op::MulRows(&inv[..m])]) } else { Epilogue::none() };
        multiply(m, dv, n, s, n, &vp_all[h * vlen..(h + 1) * vlen], ep, o, dv);
        for r in 0..m {
            for c in 0..dv {
                out[p.os.at(b, g0 + r, h * dv + c)] = o[r * dv + c];
            }
        }
    }
}

/// Normalises `n` rows of `heads` logits over the rows, per head (layout `[row][head]`). With
/// four or more heads in groups of four, four heads run side by side in SIMD lanes, each lane
/// doing exactly what the scalar loop does (the same bits); one head runs along its row, SIMD
/// lanes holding four running sums combined as `(s0 + s1) + (s2 + s3)`, then the remainder.
fn normalise(l: &mut [f32], n: usize, heads: usize, norm: Norm) {
    if n == 0 || norm == Norm::None {
        return;
    }
    let l = &mut l[..n * heads];
    match norm {
        Norm::None => {}
        Norm::Mean => scale_all(l, 1.0 / n as f32),
        Norm::NormExp => {
            vmath::exp_slice(l);
            scale_all(l, 1.0 / n as f32);
        }
        Norm::Softmax if heads == 1 => softmax_row(l),
        Norm::Softmax if heads % 4 == 0 && heads <= LANES_WIDTH / 4 => {
            let mut mx = [F4::splat(f32::NEG_INFINITY); LANES_WIDTH / 16];
            let mx = &mut mx[..heads / 4];
            for j in 0..n {
                for (hg, m) in mx.iter_mut().enumerate() {
                    // SAFETY: j heads + 4 hg + 4 <= n heads.
                    *m = m.max_nan(unsafe { F4::load(l.as_ptr().add(j * heads + 4 * hg)) });
                }
            }
            softmax_lanes(l, n, heads, mx);
        }
        Norm::Softmax => {
            for h in 0..heads {
                let mut max = f32::NEG_INFINITY;
                for j in 0..n {
                    max = crate::simd::max_nan(max, l[j * heads + h]);
                }
                let mut sum = 0.0f32;
                for j in 0..n {
                    let e = vmath::exp_nonpos(l[j * heads + h] - max);
                    l[j * heads + h] = e;
                    sum += e;
                }
                let inv = 1.0 / sum;
                for j in 0..n {
                    l[j * heads + h] *= inv;
                }
            }
        }
    }
}

/// Softmax over `n` rows of `heads` logits (`[row][head]`, heads in fours) given each head's
/// maximum over the rows (`mx[hg]`: heads `4hg..4hg+4`): `exp(x - max)` with the sums in row
/// order, then `x * (1 / sum)`.
fn softmax_lanes(l: &mut [f32], n: usize, heads: usize, mx: &[F4]) {
    let l = &mut l[..n * heads];
    let mut sums = [F4::zero(); LANES_WIDTH / 16];
    let sums = &mut sums[..heads / 4];
    for row in l.chunks_exact_mut(heads) {
        for (hg, (sum, m)) in sums.iter_mut().zip(mx).enumerate() {
            // SAFETY: 4 hg + 4 <= heads = row.len().
            let at = unsafe { row.as_mut_ptr().add(4 * hg) };
            let e = vmath::exp_nonpos4(unsafe { F4::load(at) }.sub(*m));
            unsafe { e.store(at) };
            *sum = sum.add(e);
        }
    }
    for s in sums.iter_mut() {
        *s = F4::splat(1.0).div(*s);
    }
    for row in l.chunks_exact_mut(heads) {
        for (hg, inv) in sums.iter().enumerate() {
            // SAFETY: as above.
            let at = unsafe { row.as_mut_ptr().add(4 * hg) };
            unsafe { F4::load(at).mul(*inv).store(at) };
        }
    }
}

/// `v *= s` over a slice, SIMD then the remainder.
fn scale_all(l: &mut [f32], s: f32) {
    let sv = F4::splat(s);
    let mut chunks = l.chunks_exact_mut(4);
    for c in &mut chunks {
        // SAFETY: a chunk holds four values.
        unsafe { F4::load(c.as_ptr()).mul(sv).store(c.as_mut_ptr()) };
    }
    for v in chunks.into_remainder() {
        *v *= s;
    }
}

/// Softmax along one row: max, `exp(x - max)` with four running sums, then `x / sum` as `x * (1 / sum)`.
fn softmax_row(l: &mut [f32]) {
    let inv = softmax_row_unscaled(l);
    scale_all(l, inv);
}

/// The first two passes of [`softmax_row`]: leaves `exp(x - max)` in the row and returns `1 / sum`.
fn softmax_row_unscaled(l: &mut [f32]) -> f32 {
    let n = l.len();
    let body = n - n % 4;
    let mut mv = F4::splat(f32::NEG_INFINITY);
    let mut i = 0;
    while i < body {
        // SAFETY: i + 4 <= body <= n.
        mv = mv.max_nan(unsafe { F4::load(l.as_ptr().add(i)) });
        i += 4;
    }
    let mut max = crate::simd::max_nan(crate::simd::max_nan(mv.get(0), mv.get(1)), crate::simd::max_nan(mv.get(2), mv.get(3)));
    for &v in &l[body..] {
        max = crate::simd::max_nan(max, v);
    }
    let ms = F4::splat(max);
    let mut sv = F4::zero();
    i = 0;
    while i < body {
        // SAFETY: as above.
        let at = unsafe { l.as_mut_ptr().add(i) };
        let e = vmath::exp_nonpos4(unsafe { F4::load(at) }.sub(ms));
        unsafe { e.store(at) };
        sv = sv.add(e);
        i += 4;
    }
    let mut sum = (sv.get(0) + sv.get(1)) + (sv.get(2) + sv.get(3));
    for v in &mut l[body..] {
        *v = vmath::exp_nonpos(*v - max);
        sum += *v;
    }
    1.0 / sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::{pack_b, packed_len, tests::random};

    /// A random list: `m_out` rows of up to `max` neighbours among `m_in`.
    fn lists(m_out: usize, m_in: usize, max: usize, seed: u64) -> (Vec<u32>, Vec<u32>) {
        let r = random(m_out * (max + 1), seed);
        let mut off = vec![0u32];
        let mut idx = Vec::new();
        for g in 0..m_out {
            let n = ((r[g * (max + 1)] + 1.0) / 2.0 * (max + 1) as f32) as usize % (max + 1);
            for j in 0..n {
                idx.push((((r[g * (max + 1) + 1 + j % max] + 1.0) / 2.0) * m_in as f32) as u32 % m_in as u32);
            }
            off.push(idx.len() as u32);
        }
        (off, idx)
    }

    fn pack(w: &[f32], k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; packed_len(k, n)];
        pack_b(w, k, n, n, &mut out);
        out
    }

    /// Validates the plan and runs it into a fresh output of `len` values (NaN before the run).
    fn run_checked(plan: &Plan, len: usize) -> Vec<f32> {
        let mut out = vec![f32::NAN; len];
        plan.validate(out.len()).unwrap();
        run(plan, &mut out);
        out
    }

    fn close(a: &[f32], b: &[f64], what: &str) {
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(((*x as f64) - y).abs() <= 2e-6 * scale, "{what} at {i}: {x} vs {y}");
        }
    }

    #[test]
    fn basis_with_a_table_is_a_kernel_contraction_and_mean_divides() {
        let (b_n, m_in, m_out, ci, co, r) = (2, 7, 5, 3, 4, 6);
        let (off, idx) = lists(m_out, m_in, 9, 1);
        let rel: Vec<u32> = random(idx.len(), 2).iter().map(|v| (((v + 1.0) / 2.0 * r as f32) as u32).min(r as u32 - 1)).collect();
        let f = random(b_n * m_in * ci, 3);
        let kappa = random(r * ci * co, 4); // W[(r*ci + c), o]
        let bias = random(co, 5);
        let w = pack(&kappa, r * ci, co);
        for norm in [Norm::None, Norm::Mean] {
            // Channels-first input ([b, c, e]) and output, to exercise the strides.
            let fs = Strides { batch: ci * m_in, elem: 1, chan: m_in };
            let os = Strides { batch: co * m_out, elem: 1, chan: m_out };
            let fcf: Vec<f32> = (0..b_n * ci * m_in).map(|i| { let (b, rest) = (i / (ci * m_in), i % (ci * m_in)); f[(b * m_in + rest % m_in) * ci + rest / m_in] }).collect();
            let plan = Plan { batch: b_n, m_out, m_in, c_in: ci, c_out: co, f: &fcf, fs, os, offsets: &off, indices: &idx, rel: Rel { index: Some((&rel, r)), coords: None }, mode: Mode::Basis { mlp: None, m: r, w: &w, bias: Some(&bias), act: Act::Relu, norm } };
            let out = run_checked(&plan, b_n * m_out * co);
            let mut want = vec![0.0f64; out.len()];
            for b in 0..b_n {
                for g in 0..m_out {
                    let (j0, j1) = (off[g] as usize, off[g + 1] as usize);
                    for o in 0..co {
                        let mut acc = 0.0f64;
                        for j in j0..j1 {
                            for c in 0..ci {
                                acc += kappa[(rel[j] as usize * ci + c) * co + o] as f64 * f[(b * m_in + idx[j] as usize) * ci + c] as f64;
                            }
                        }
                        if norm == Norm::Mean && j1 > j0 {
                            acc /= (j1 - j0) as f64;
                        }
                        want[(b * co + o) * m_out + g] = (acc + bias[o] as f64).max(0.0);
                    }
                }
            }
            close(&out, &want, "basis");
        }
    }

    fn mlp_weights<'a>(dims: &[usize], groups: &[usize], acts: &[Act], store: &'a mut Vec<Vec<f32>>, seed: u64) -> Vec<(Vec<f32>, Vec<f32>)> {
        let _ = store;
        (0..dims.len() - 1)
            .map(|i| {
                let (inp, out, gr) = (dims[i], dims[i + 1], groups[i]);
                let _ = acts;
                (random(inp / gr * out / gr * gr, seed + i as u64 * 2), random(out, seed + i as u64 * 2 + 1))
            })
            .collect()
    }

    /// Plain f64 evaluation of a (grouped) MLP on one input row.
    fn mlp_ref(x: &[f64], dims: &[usize], groups: &[usize], acts: &[Act], w: &[(Vec<f32>, Vec<f32>)]) -> Vec<f64> {
        let mut h = x.to_vec();
        for i in 0..dims.len() - 1 {
            let (inp, out, gr) = (dims[i], dims[i + 1], groups[i]);
            let (ig, og) = (inp / gr, out / gr);
            let mut y = vec![0.0f64; out];
            for g in 0..gr {
                for o in 0..og {
                    let mut s = 0.0;
                    for k in 0..ig {
                        s += h[g * ig + k] * w[i].0[g * ig * og + k * og + o] as f64;
                    }
                    s += w[i].1[g * og + o] as f64;
                    y[g * og + o] = match acts[i] {
                        Act::None => s,
                        Act::Relu => s.max(0.0),
                        Act::Silu => s / (1.0 + (-s).exp()),
                    };
                }
            }
            h = y;
        }
        h
    }

    fn pack_layers(dims: &[usize], groups: &[usize], w: &[(Vec<f32>, Vec<f32>)]) -> Vec<Vec<f32>> {
        (0..dims.len() - 1)
            .map(|i| {
                let (ig, og, gr) = (dims[i] / groups[i], dims[i + 1] / groups[i], groups[i]);
                (0..gr).flat_map(|g| pack(&w[i].0[g * ig * og..(g + 1) * ig * og], ig, og)).collect()
            })
            .collect()
    }

    #[test]
    fn matrix_mode_runs_an_mlp_of_coords_and_features() {
        let (m_in, m_out, ci, co, a) = (9, 6, 2, 3, 4);
        let (off, idx) = lists(m_out, m_in, 7, 11);
        let coords = random(idx.len() * a, 12);
        let f = random(m_in * ci, 13);
        let z = a + 2 * ci;
        let dims = [z, 8, 5, co * ci];
        let groups = [1, 1, 1];
        let acts = [Act::Silu, Act::Relu, Act::None];
        let w = mlp_weights(&dims, &groups, &acts, &mut Vec::new(), 20);
        let packed = pack_layers(&dims, &groups, &w);
        let layers: Vec<Dense> = (0..3).map(|i| Dense { inp: dims[i], out: dims[i + 1], groups: 1, w: &packed[i], bias: Some(&w[i].1), act: acts[i] }).collect();
        let mlp = Mlp { layers, uses_rel: true, uses_fg: true, uses_fgp: true };
        let fs = Strides { batch: m_in * ci, elem: ci, chan: 1 };
        let os = Strides { batch: m_out * co, elem: co, chan: 1 };
        let plan = Plan { batch: 1, m_out, m_in, c_in: ci, c_out: co, f: &f, fs, os, offsets: &off, indices: &idx, rel: Rel { index: None, coords: Some((&coords, a)) }, mode: Mode::Matrix { mlp, bias: None, act: Act::None, norm: Norm::Mean } };
        let out = run_checked(&plan, m_out * co);
        let mut want = vec![0.0f64; out.len()];
        for g in 0..m_out {
            let (j0, j1) = (off[g] as usize, off[g + 1] as usize);
            for j in j0..j1 {
                let e = idx[j] as usize;
                let mut zin: Vec<f64> = coords[j * a..(j + 1) * a].iter().map(|&v| v as f64).collect();
                zin.extend(f[g * ci..(g + 1) * ci].iter().map(|&v| v as f64));
                zin.extend(f[e * ci..(e + 1) * ci].iter().map(|&v| v as f64));
                let m = mlp_ref(&zin, &dims, &groups, &acts, &w);
                for o in 0..co {
                    for c in 0..ci {
                        want[g * co + o] += m[o * ci + c] * f[e * ci + c] as f64 / (j1 - j0) as f64;
                    }
                }
            }
        }
        close(&out, &want, "matrix");
    }

    #[test]
    fn heads_mode_is_attention_with_content_and_grouped_location_mlp() {
        // Two heads (the general path), then heads in fours (all heads in SIMD lanes), sum and product.
        for (heads, dk, dv, combine) in [(2, 3, 2, Combine::Sum), (4, 8, 4, Combine::Sum), (8, 4, 8, Combine::Product)] {
            heads_case(heads, dk, dv, combine);
        }
    }

    /// Per-head location MLPs `a -> 4 -> 1` side by side: the first layer's input shared, `a -> heads * 4`.
    fn location_shape(a: usize, heads: usize) -> ([usize; 3], [usize; 2], [Act; 2]) {
        ([a, heads * 4, heads], [1, heads], [Act::Silu, Act::Silu])
    }

    /// [`location_shape`]'s weights (seeded) and their packed forms.
    fn location_weights(a: usize, heads: usize) -> (Vec<(Vec<f32>, Vec<f32>)>, Vec<Vec<f32>>) {
        let (dims, groups, acts) = location_shape(a, heads);
        let w = mlp_weights(&dims, &groups, &acts, &mut Vec::new(), 40);
        let packed = pack_layers(&dims, &groups, &w);
        (w, packed)
    }

    fn location_layers<'a>(a: usize, heads: usize, w: &'a [(Vec<f32>, Vec<f32>)], packed: &'a [Vec<f32>]) -> Vec<Dense<'a>> {
        let (dims, groups, acts) = location_shape(a, heads);
        (0..2).map(|i| Dense { inp: dims[i], out: dims[i + 1], groups: groups[i], w: &packed[i], bias: Some(&w[i].1), act: acts[i] }).collect()
    }

    /// Every list empty (a batch whose clouds are all padding): attention gives zeros, with or
    /// without a location MLP, on any path.
    #[test]
    fn empty_lists_give_zeros() {
        for (heads, dk, dv) in [(2, 3, 2), (4, 8, 4), (8, 8, 8)] {
            let (m_in, m_out, a) = (3, 3, 3);
            let (off, idx) = (vec![0u32; m_out + 1], Vec::<u32>::new());
            let coords: Vec<f32> = Vec::new();
            let (q, k, v) = (random(m_out * heads * dk, 33), random(m_in * heads * dk, 34), random(m_in * heads * dv, 35));
            let (w, packed) = location_weights(a, heads);
            let layers = location_layers(a, heads, &w, &packed);
            for with_mlp in [true, false] {
                for norm in [Norm::Softmax, Norm::Mean, Norm::NormExp, Norm::None] {
                    let location = if with_mlp { Location::Mlp(Mlp { layers: layers.clone(), uses_rel: true, uses_fg: false, uses_fgp: false }) } else { Location::None };
                    let f = vec![0.0f32; m_in];
                    let plan = Plan {
                        batch: 1, m_out, m_in, c_in: 1, c_out: heads * dv, f: &f,
                        fs: Strides { batch: m_in, elem: 1, chan: 1 }, os: Strides { batch: m_out * heads * dv, elem: heads * dv, chan: 1 },
                        offsets: &off, indices: &idx, rel: Rel { index: None, coords: Some((&coords, a)) },
                        mode: Mode::Heads { heads, dv, v: &v, content: Some(Content { dk, q: &q, k: &k, scale: 0.5 }), location, combine: Combine::Sum, norm },
                    };
                    let out = run_checked(&plan, m_out * heads * dv);
                    assert!(out.iter().all(|&x| x == 0.0), "heads {heads} mlp {with_mlp} {norm:?}: {out:?}");
                }
            }
        }
    }

    fn heads_case(heads: usize, dk: usize, dv: usize, combine: Combine) {
        let (m_in, m_out, a) = (8, 5, 3);
        let (off, idx) = lists(m_out, m_in, 8, 31);
        let coords = random(idx.len() * a, 32);
        let q = random(m_out * heads * dk, 33);
        let k = random(m_in * heads * dk, 34);
        let v = random(m_in * heads * dv, 35);
        let (dims, groups, acts) = location_shape(a, heads);
        let (w, packed) = location_weights(a, heads);
        let layers = location_layers(a, heads, &w, &packed);
        for norm in [Norm::Softmax, Norm::Mean, Norm::NormExp, Norm::None] {
            let mlp = Mlp { layers: layers.clone(), uses_rel: true, uses_fg: false, uses_fgp: false };
            let content = Content { dk, q: &q, k: &k, scale: 0.5 };
            let f = vec![0.0f32; m_in];
            let plan = Plan {
                batch: 1, m_out, m_in, c_in: 1, c_out: heads * dv, f: &f,
                fs: Strides { batch: m_in, elem: 1, chan: 1 }, os: Strides { batch: m_out * heads * dv, elem: heads * dv, chan: 1 },
                offsets: &off, indices: &idx, rel: Rel { index: None, coords: Some((&coords, a)) },
                mode: Mode::Heads { heads, dv, v: &v, content: Some(content), location: Location::Mlp(mlp), combine, norm },
            };
            let out = run_checked(&plan, m_out * heads * dv);
            let mut want = vec![0.0f64; out.len()];
            for g in 0..m_out {
                let (j0, j1) = (off[g] as usize, off[g + 1] as usize);
                for h in 0..heads {
                    let l: Vec<f64> = (j0..j1)
                        .map(|j| {
                            let e = idx[j] as usize;
                            let dot: f64 = (0..dk).map(|i| q[(g * heads + h) * dk + i] as f64 * k[(e * heads + h) * dk + i] as f64).sum::<f64>() * 0.5;
                            let loc = mlp_ref(&coords[j * a..(j + 1) * a].iter().map(|&x| x as f64).collect::<Vec<_>>(), &dims, &groups, &acts, &w)[h];
                            if combine == Combine::Product { dot * loc } else { dot + loc }
                        })
                        .collect();
                    let n = (j1 - j0) as f64;
                    let wts: Vec<f64> = match norm {
                        Norm::None => l.clone(),
                        Norm::Mean => l.iter().map(|x| x / n).collect(),
                        Norm::NormExp => l.iter().map(|x| x.exp() / n).collect(),
                        Norm::Softmax => {
                            let mx = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                            let z: f64 = l.iter().map(|x| (x - mx).exp()).sum();
                            l.iter().map(|x| (x - mx).exp() / z).collect()
                        }
                    };
                    for c in 0..dv {
                        want[g * heads * dv + h * dv + c] = (j0..j1).map(|j| wts[j - j0] * v[(idx[j] as usize * heads + h) * dv + c] as f64).sum();
                    }
                }
            }
            close(&out, &want, &format!("heads {heads} dk {dk} dv {dv} {combine:?} {norm:?}"));
        }
    }

    /// Content-only attention in four-head lanes (keys interleaved by head, softmax maxima taken
    /// with the scores), over a batch of two, for widths per head that unroll (8) and that do not
    /// (12, and 64 with 4 heads), against f64.
    #[test]
    fn lanes_without_a_location_term_agree_with_f64() {
        for (heads, dk, dv) in [(8, 8, 8), (4, 12, 12), (4, 64, 64), (8, 4, 16)] {
            let (batch, m_in) = (2, 9);
            let (off, idx) = lists(m_in, m_in, 11, 61 + dk as u64);
            let q = random(batch * m_in * heads * dk, 62);
            let k = random(batch * m_in * heads * dk, 63);
            let v = random(batch * m_in * heads * dv, 64);
            let f = vec![0.0f32; batch * m_in];
            for norm in [Norm::Softmax, Norm::Mean] {
                let plan = Plan {
                    batch, m_out: m_in, m_in, c_in: 1, c_out: heads * dv, f: &f,
                    fs: Strides { batch: m_in, elem: 1, chan: 1 }, os: Strides { batch: m_in * heads * dv, elem: heads * dv, chan: 1 },
                    offsets: &off, indices: &idx, rel: Rel { index: None, coords: None },
                    mode: Mode::Heads { heads, dv, v: &v, content: Some(Content { dk, q: &q, k: &k, scale: 0.35 }), location: Location::None, combine: Combine::Sum, norm },
                };
                let out = run_checked(&plan, batch * m_in * heads * dv);
                let mut want = vec![0.0f64; out.len()];
                for b in 0..batch {
                    for g in 0..m_in {
                        let (j0, j1) = (off[g] as usize, off[g + 1] as usize);
                        for h in 0..heads {
                            let l: Vec<f64> = (j0..j1)
                                .map(|j| (0..dk).map(|i| q[((b * m_in + g) * heads + h) * dk + i] as f64 * k[((b * m_in + idx[j] as usize) * heads + h) * dk + i] as f64).sum::<f64>() * 0.35)
                                .collect();
                            let w: Vec<f64> = if norm == Norm::Softmax {
                                let mx = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                                let z: f64 = l.iter().map(|x| (x - mx).exp()).sum();
                                l.iter().map(|x| (x - mx).exp() / z).collect()
                            } else {
                                l.iter().map(|x| x / l.len() as f64).collect()
                            };
                            for c in 0..dv {
                                want[((b * m_in + g) * heads + h) * dv + c] = (j0..j1).map(|j| w[j - j0] * v[((b * m_in + idx[j] as usize) * heads + h) * dv + c] as f64).sum();
                            }
                        }
                    }
                }
                close(&out, &want, &format!("lanes heads {heads} dk {dk} dv {dv} {norm:?}"));
            }
        }
    }

    /// Content-only softmax attention over the given lists (one batch item, no features).
    #[allow(clippy::too_many_arguments)]
    fn content_plan<'a>(m_out: usize, m_in: usize, heads: usize, dk: usize, dv: usize, off: &'a [u32], idx: &'a [u32], q: &'a [f32], k: &'a [f32], v: &'a [f32], f: &'a [f32], scale: f32) -> Plan<'a> {
        Plan {
            batch: 1, m_out, m_in, c_in: 1, c_out: heads * dv, f,
            fs: Strides { batch: m_in, elem: 1, chan: 1 }, os: Strides { batch: m_out * heads * dv, elem: heads * dv, chan: 1 },
            offsets: off, indices: idx, rel: Rel { index: None, coords: None },
            mode: Mode::Heads { heads, dv, v, content: Some(Content { dk, q, k, scale }), location: Location::None, combine: Combine::Sum, norm: Norm::Softmax },
        }
    }

    /// [`content_plan`]'s attention summed in f64, `[row][head][dv]`.
    #[allow(clippy::too_many_arguments)]
    fn content_reference(heads: usize, dk: usize, dv: usize, off: &[u32], idx: &[u32], q: &[f32], k: &[f32], v: &[f32], scale: f64) -> Vec<f64> {
        let m_out = off.len() - 1;
        let mut want = vec![0.0f64; m_out * heads * dv];
        for g in 0..m_out {
            let list = &idx[off[g] as usize..off[g + 1] as usize];
            for h in 0..heads {
                let l: Vec<f64> = list.iter().map(|&e| (0..dk).map(|i| q[(g * heads + h) * dk + i] as f64 * k[(e as usize * heads + h) * dk + i] as f64).sum::<f64>() * scale).collect();
                let mx = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = l.iter().map(|x| (x - mx).exp()).sum();
                for c in 0..dv {
                    want[(g * heads + h) * dv + c] = list.iter().zip(&l).map(|(&e, x)| (x - mx).exp() / z * v[(e as usize * heads + h) * dv + c] as f64).sum();
                }
            }
        }
        want
    }

    /// Rows whose lists alternate (A, B, A, ...: the first and last row of a block share a
    /// list, the rows between do not) each attend over their own list.
    #[test]
    fn alternating_lists_are_not_taken_as_shared() {
        let (m_in, m_out, heads, dk, dv) = (9, 5, 4, 4, 4);
        let a: Vec<u32> = (0..m_in as u32).rev().collect();
        let b: Vec<u32> = (0..m_in as u32 - 2).collect();
        let mut off = vec![0u32];
        let mut idx = Vec::new();
        for g in 0..m_out {
            idx.extend_from_slice(if g % 2 == 0 { &a } else { &b });
            off.push(idx.len() as u32);
        }
        let (q, k, v) = (random(m_out * heads * dk, 61), random(m_in * heads * dk, 62), random(m_in * heads * dv, 63));
        let f = vec![0.0f32; m_in];
        let plan = content_plan(m_out, m_in, heads, dk, dv, &off, &idx, &q, &k, &v, &f, 0.5);
        let out = run_checked(&plan, m_out * heads * dv);
        close(&out, &content_reference(heads, dk, dv, &off, &idx, &q, &k, &v, 0.5), "alternating lists");
    }

    /// Rows that share one list (global attention) run as products of packed keys and values,
    /// and agree with an f64 sum.
    #[test]
    fn shared_lists_run_as_products_and_agree_with_rows_and_f64() {
        let (m_in, m_out, heads, dk, dv, size) = (13, 70, 3, 5, 9, 4);
        let list: Vec<u32> = (0..m_in as u32).rev().collect();
        let mut off = vec![0u32];
        let mut idx = Vec::new();
        for _ in 0..m_out {
            idx.extend_from_slice(&list);
            off.push(idx.len() as u32);
        }
        let rel: Vec<u32> = (0..idx.len()).map(|j| (j % size) as u32).collect();
        let (q, k, v, t) = (random(m_out * heads * dk, 51), random(m_in * heads * dk, 52), random(m_in * heads * dv, 53), random(heads * size, 54));
        let f = vec![0.0f32; m_in];
        for norm in [Norm::Softmax, Norm::NormExp, Norm::Mean] {
            let run_with = |offsets: &[u32], indices: &[u32], rels: &[u32]| {
                let plan = Plan {
                    batch: 1, m_out: offsets.len() - 1, m_in, c_in: 1, c_out: heads * dv, f: &f,
                    fs: Strides { batch: m_in, elem: 1, chan: 1 }, os: Strides { batch: m_out * heads * dv, elem: heads * dv, chan: 1 },
                    offsets, indices, rel: Rel { index: Some((rels, size)), coords: None },
                    mode: Mode::Heads { heads, dv, v: &v, content: Some(Content { dk, q: &q, k: &k, scale: 0.7 }), location: Location::Table(&t), combine: Combine::Sum, norm },
                };
                let out = run_checked(&plan, (offsets.len() - 1) * heads * dv);
                out
            };
            let shared = run_with(&off, &idx, &rel);
            let rows: Vec<(usize, usize)> = (0..m_out).map(|g| (off[g] as usize, off[g + 1] as usize)).collect();
            let mut want = vec![0.0f64; m_out * heads * dv];
            for g in 0..m_out {
                for h in 0..heads {
                    let (a, b) = rows[g];
                    let l: Vec<f64> = (a..b).map(|j| {
                        let e = idx[j] as usize;
                        (0..dk).map(|i| q[(g * heads + h) * dk + i] as f64 * k[(e * heads + h) * dk + i] as f64).sum::<f64>() * 0.7 + t[h * size + rel[j] as usize] as f64
                    }).collect();
                    let n = l.len() as f64;
                    let w: Vec<f64> = match norm {
                        Norm::Softmax => { let mx = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max); let z: f64 = l.iter().map(|x| (x - mx).exp()).sum(); l.iter().map(|x| (x - mx).exp() / z).collect() }
                        Norm::NormExp => l.iter().map(|x| x.exp() / n).collect(),
                        _ => l.iter().map(|x| x / n).collect(),
                    };
                    for c in 0..dv {
                        want[g * heads * dv + h * dv + c] = (a..b).map(|j| w[j - a] * v[(idx[j] as usize * heads + h) * dv + c] as f64).sum();
                    }
                }
            }
            close(&shared, &want, &format!("shared {norm:?}"));
        }
    }

    /// Global content-only softmax attention with narrow heads runs on the fused kernel
    /// ([`crate::attend`]); with wider keys on the tile. Both against f64, with a list whose
    /// length is no multiple of 8 and a block of rows that is no multiple of 4.
    #[test]
    fn shared_lists_without_location_agree_with_f64_fused_or_not() {
        for (heads, dk, dv) in [(2, 8, 8), (3, 4, 4), (2, 16, 8), (2, 5, 8)] {
            let (m_in, m_out) = (37, 70);
            assert_eq!(crate::attend::fits(dk, dv), dk != 5);
            let list: Vec<u32> = (0..m_in as u32).map(|j| (j * 7) % m_in as u32).collect();
            let mut off = vec![0u32];
            let mut idx = Vec::new();
            for _ in 0..m_out {
                idx.extend_from_slice(&list);
                off.push(idx.len() as u32);
            }
            let (q, k, v) = (random(m_out * heads * dk, 61), random(m_in * heads * dk, 62), random(m_in * heads * dv, 63));
            let f = vec![0.0f32; m_in];
            let plan = content_plan(m_out, m_in, heads, dk, dv, &off, &idx, &q, &k, &v, &f, 0.9);
            let got = run_checked(&plan, m_out * heads * dv);
            close(&got, &content_reference(heads, dk, dv, &off, &idx, &q, &k, &v, 0.9), &format!("heads {heads} dk {dk} dv {dv}"));
        }
    }

    /// The fused kernel ([`crate::attend`]) against the path it replaces, from the same packs: the
    /// tile's scaled scores, this module's softmax, the tile's weighted sum with `1 / sum` in its
    /// epilogue. Bit for bit (NaN as NaN), over every width it takes, lists and blocks of every
    /// remainder, extreme scales, and queries holding infinity and NaN.
    #[test]
    fn fused_global_attention_has_the_bits_of_the_tile_path() {
        for (dk, dv) in [(4, 4), (4, 8), (8, 4), (8, 8), (16, 4), (16, 8)] {
            for n in [1, 3, 4, 7, 8, 9, 13, 41] {
                for m in [1, 4, 5, 17] {
                    for (si, scale) in [0.0f32, -0.0, 0.37, 60.0, 1e30].into_iter().enumerate() {
                        let seed = (dk * 1000 + dv * 100 + n * 7 + m) as u64 * 31 + si as u64;
                        let mut q = random(m * dk, seed);
                        let (k, v) = (random(n * dk, seed + 1), random(n * dv, seed + 2));
                        if m > 2 {
                            q[dk] = f32::INFINITY;
                            q[2 * dk + 1] = f32::NAN;
                        }
                        let (kp, vp) = attend::tests::pack(&k, &v, n, dk, dv);
                        let mut scratch = vec![f32::NAN; attend::scratch_len(n)];
                        let mut got = vec![f32::NAN; m * dv];
                        attend::shared_softmax(m, n, dk, dv, &q, dk, &kp, &vp, scale, &mut scratch, &mut got, dv);
                        let mut s = vec![0.0; m * n];
                        multiply(m, n, dk, &q, dk, &kp, Epilogue::new(&[Op::Scale(scale)]), &mut s, n);
                        let inv: Vec<f32> = (0..m).map(|r| softmax_row_unscaled(&mut s[r * n..(r + 1) * n])).collect();
                        let mut want = vec![0.0; m * dv];
                        multiply(m, dv, n, &s, n, &vp, Epilogue::new(&[Op::MulRows(&inv)]), &mut want, dv);
                        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                            assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "dk {dk} dv {dv} n {n} m {m} scale {scale} at {i}: {a:e} vs {b:e}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let off = [0u32, 2, 3];
        let idx = [0u32, 5, 1];
        let f = [0.0f32; 12];
        let w = vec![0.0f32; 64];
        let plan = Plan {
            batch: 1, m_out: 2, m_in: 4, c_in: 3, c_out: 2, f: &f,
            fs: Strides { batch: 12, elem: 3, chan: 1 }, os: Strides { batch: 4, elem: 2, chan: 1 },
            offsets: &off, indices: &idx, rel: Rel { index: Some((&[0, 1, 0], 2)), coords: None },
            mode: Mode::Basis { mlp: None, m: 2, w: &w, bias: None, act: Act::None, norm: Norm::None },
        };
        assert!(plan.validate(4).unwrap_err().contains("indices[1] = 5"));
        let idx = [0u32, 3, 1];
        let plan = Plan { indices: &idx, ..plan };
        plan.validate(4).unwrap();
        assert!(plan.validate(3).unwrap_err().contains("output holds 3"));
        let plan2 = Plan { rel: Rel { index: Some((&[0, 2, 0], 2)), coords: None }, ..plan.clone() };
        assert!(plan2.validate(4).unwrap_err().contains("relative index [1] = 2"));
        let plan3 = Plan { offsets: &[0, 3, 2], ..plan };
        assert!(plan3.validate(4).unwrap_err().contains("offsets"));
    }
}
