/**
 * Expanding basis coefficients into a filter bank, fast. For each block of the layout, the sums
 * `sum over d of w[a, b, d] B_d` for every pair of fields are one GEMM (`[pairs, D] x [D, n]`),
 * computed only at one coordinate of each orbit of the symmetries that map the pixel grid onto
 * itself (rotations by multiples of 90 degrees in the group, and the reflection) when both
 * representations are signed permutations under them; the kernel `steer_scatter` then writes
 * every block in place, each entry a computed value times a fixed scale, by the constraint
 * `kappa(h x) = rho_out(h) kappa(x) rho_in(h)^T`.
 *
 * The coordinates are the kernel's pixels (a filter bank `[C_out, C_in, k, k]`), or for 5x5
 * kernels the 6x6 coordinates of Winograd F(2x2, 5x5), `G kappa G^T` (the weights
 * `[36, C_out, C_in]` that crate/src/winograd5.rs runs): the grid's symmetries act on those as
 * scaled permutations too, so the transformed bank is written directly, never the filter first.
 * When a block's basis splits into two factors (`rowFactor`), the Winograd weights are written
 * by `steer_scatter_factored` straight from the first product, each field pair's small second
 * products computed in cache. All equal `expandReference` (and its Winograd transform) to float
 * rounding. The once-per-basis numerics (the factors' fit and check) run in wasm: as JavaScript
 * they ran once per process, unoptimised, and were a tenth of a model's build.
 */
import { F64Buffer, U32Buffer, withTemporaries } from '../core/buffers.js';
import { matmul, matmulRows, packMatrix } from '../core/gemm.js';
import { Tensor, empty, tensor, tidy, zeros } from '../core/tensor.js';
import { channelAffine } from '../core/ops.js';
import { call } from '../core/wasm.js';
import type { PlaneElement } from './group.js';
import type { Block, Layout } from './layout.js';
import type { R2Rep } from './repr.js';
import { gridPoints, type BlockBasis } from './kernels.js';

export type Coordinates = 'pixels' | 'winograd5';

/** Winograd F(2x2, 5x5)'s G (crate/src/winograd5.rs: the points 0, 3/2, -3/2, 2/3, -2/3, infinity). */
const G5 = [
  [1, 0, 0, 0, 0],
  [8 / 65, 12 / 65, 18 / 65, 27 / 65, 81 / 130],
  [8 / 65, -12 / 65, 18 / 65, -27 / 65, 81 / 130],
  [-81 / 130, -27 / 65, -18 / 65, -12 / 65, -8 / 65],
  [-81 / 130, 27 / 65, -18 / 65, 12 / 65, -8 / 65],
  [0, 0, 0, 0, 1],
];

/** `T[p][xi]`: coordinate `xi` of the kernel with a 1 at pixel `p` (`P x Q`, row-major). */
function coordinateMap(coords: Coordinates, k: number): { T: Float64Array; Q: number } {
  const P = k * k;
  if (coords === 'pixels') {
    const T = new Float64Array(P * P);
    for (let p = 0; p < P; p++) T[p * P + p] = 1;
    return { T, Q: P };
  }
  const T = new Float64Array(25 * 36);
  for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) for (let a = 0; a < 6; a++) for (let b = 0; b < 6; b++) T[(y * 5 + x) * 36 + a * 6 + b] = G5[a][y] * G5[b][x];
  return { T, Q: 36 };
}

const permCache = new WeakMap<R2Rep, Map<string, { to: Int32Array; sign: Int8Array } | undefined>>();

/** `rho(h)` as a signed permutation (cached per representation and element), or undefined. */
function repPermutation(r: R2Rep, h: PlaneElement): { to: Int32Array; sign: Int8Array } | undefined {
  let m = permCache.get(r);
  if (!m) permCache.set(r, (m = new Map()));
  const key = `${h.flip}/${h.angle}`;
  if (!m.has(key)) m.set(key, signedPermutation(r.matrix(h), r.size));
  return m.get(key);
}

/** A signed permutation `rho(h)`: `rho e_j = sign_j e_{to_j}`, or undefined. */
function signedPermutation(M: Float64Array, n: number): { to: Int32Array; sign: Int8Array } | undefined {
  const to = new Int32Array(n).fill(-1), sign = new Int8Array(n);
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
    const v = M[i * n + j];
    if (Math.abs(v) < 1e-9) continue;
    if (Math.abs(Math.abs(v) - 1) > 1e-9 || to[j] >= 0) return undefined;
    to[j] = i;
    sign[j] = v > 0 ? 1 : -1;
  }
  return to.every((v) => v >= 0) ? { to, sign } : undefined;
}

/** The group elements that map the `k x k` grid onto itself. */
function gridSymmetries(rep: R2Rep): PlaneElement[] {
  const G = rep.group;
  const out: PlaneElement[] = [];
  for (let f = 0; f < (G.hasFlip ? 2 : 1); f++) for (let q = 0; q < 4; q++) {
    const angle = (q * Math.PI) / 2;
    const steps = (angle * G.N) / (2 * Math.PI);
    if (G.finite && Math.abs(steps - Math.round(steps)) > 1e-9) continue;
    out.push({ flip: f as 0 | 1, angle });
  }
  return out;
}

/**
 * How `h` moves the coordinates: `T[h^-1 q][xi] = c(xi) T[q][tau(xi)]` for every pixel `q`, or
 * undefined when it is not a scaled permutation of them.
 */
function coordinateAction(G: R2Rep['group'], h: PlaneElement, k: number, T: Float64Array, Q: number): { tau: Int32Array; c: Float64Array } | undefined {
  const P = k * k;
  // Pixel q -> h^-1 q on the grid (row-major, y up).
  const M = G.planeMatrix(G.inverse(h)), c0 = (k - 1) / 2;
  const back = new Int32Array(P);
  for (let row = 0; row < k; row++) for (let col = 0; col < k; col++) {
    const x = col - c0, y = c0 - row;
    const x2 = Math.round(M[0] * x + M[1] * y + c0), y2 = Math.round(c0 - (M[2] * x + M[3] * y));
    back[row * k + col] = y2 * k + x2;
  }
  const tau = new Int32Array(Q).fill(-1), c = new Float64Array(Q);
  if (isIdentity(T, P, Q)) {
    // Pixel coordinates: xi moves to the pixel that h^-1 sends onto it, unscaled.
    back.forEach((b, q) => {
      tau[b] = q;
      c[b] = 1;
    });
    return tau.some((t) => t < 0) ? undefined : { tau, c };
  }
  for (let xi = 0; xi < Q; xi++) {
    for (let t = 0; t < Q && tau[xi] < 0; t++) {
      let ratio = NaN, ok = true;
      for (let q = 0; q < P && ok; q++) {
        const lhs = T[back[q] * Q + xi], rhs = T[q * Q + t];
        if (Math.abs(rhs) < 1e-12) ok = Math.abs(lhs) < 1e-12;
        else if (Number.isNaN(ratio)) ratio = lhs / rhs;
        else ok = Math.abs(lhs - ratio * rhs) < 1e-9 * Math.max(1, Math.abs(lhs));
      }
      if (ok && !Number.isNaN(ratio) && ratio !== 0) {
        tau[xi] = t;
        c[xi] = ratio;
      }
    }
  }
  return tau.some((t) => t < 0) ? undefined : { tau, c };
}

/** Whether `T` (`P x Q`) is the identity (pixel coordinates). */
function isIdentity(T: Float64Array, P: number, Q: number): boolean {
  if (P !== Q) return false;
  for (let p = 0; p < P; p++) for (let q = 0; q < Q; q++) if (T[p * Q + q] !== (p === q ? 1 : 0)) return false;
  return true;
}

interface Compact {
  /** `[D, n]`: the basis at the orbit representatives (or everywhere); empty when factored. */
  values: Float32Array;
  /** The same product in two small factors (see `rowFactor`), when they exist. */
  factor?: Factor;
  n: number;
  /** Per computed entry `(o, i, r)`: its column of a product row, and its sign. */
  column: Uint32Array;
  columnSign: Int8Array;
  /** Per block entry `(o, i, xi)`: the compact column and the scale. */
  table: Uint32Array;
  scales: Float32Array;
  /** Coordinates per (o, i). */
  Q: number;
  /** The orbit structure: R representatives, and per coordinate the symmetry and representative reaching it. */
  R: number;
  reps: number[];
  via: Int32Array;
  from: Int32Array;
  syms: { tau: Int32Array; c: Float64Array }[];
}


/**
 * Two small factors of a block's basis. When the out representation permutes its axes
 * transitively (regular, quotient) and the in representation is a signed permutation under the
 * elements `g_a` taking axis 0 to axis `a`, every row of the kernel follows from row 0:
 * `kappa(y)[a, :] = kappa(g_a^-1 y)[0, :] rho_in(g_a)^-1`; and row 0 is, per input component, a
 * combination of the rings' scalar functions `exp(-(|y| - r)^2 / 2 sigma^2) {1, cos m theta,
 * sin m theta}` (m up to the ring's band limit), sampled at the rotated points `g_a^-1 y`. So the
 * block sums are two GEMMs: coefficients to combinations, `[pairs, D] x M [D, in * nphi]`, then
 * combinations to values, `[pairs * in, nphi] x Phi [nphi, out * R]`: `2 in nphi (D + out R)`
 * FLOPs per field pair instead of `2 D out in R` (a quarter for C8 regular fields, 5x5).
 * Fitted on the grid and accepted only when it reproduces the whole basis to 1e-6.
 */
interface Factor {
  /** `[D, in * nphi]`, column `c * nphi + j`. */
  M: Float32Array;
  /** `[nphi, out * R]`, column `a * R + r`. */
  Phi: Float32Array;
  nphi: number;
  /** Per entry `(a, b)`: the input component `c` it reads (value `sign X[(c * out + a) * R + r]`). */
  comp: Int32Array;
  sign: Int8Array;
}

interface RowFit {
  M: Float32Array;
  nphi: number;
  /** `[out][P][nphi]`: the functions at the rotated grid points. */
  F: Float64Array;
  comp: Int32Array;
  sign: Int8Array;
}

const fitCache = new WeakMap<BlockBasis, RowFit | null>();

function rowFactor(B: BlockBasis, rin: R2Rep, rout: R2Rep, k: number, T: Float64Array, Q: number, reps: number[]): Factor | undefined {
  if (!fitCache.has(B)) fitCache.set(B, fitRows(B, rin, rout, k) ?? null);
  const fit = fitCache.get(B);
  if (!fit) return undefined;
  const { nphi, F } = fit, o = B.out, P = B.points, R = reps.length;
  const Phi = new Float32Array(nphi * o * R);
  // Each representative's coordinate reads few pixels (one for pixel coordinates).
  const support = reps.map((xi) => Array.from({ length: P }, (_, q) => q).filter((q) => T[q * Q + xi] !== 0));
  for (let j = 0; j < nphi; j++) for (let a = 0; a < o; a++) for (let r = 0; r < R; r++) {
    let v = 0;
    for (const q of support[r]) v += F[(a * P + q) * nphi + j] * T[q * Q + reps[r]];
    Phi[j * o * R + a * R + r] = v;
  }
  return { M: fit.M, Phi, nphi, comp: fit.comp, sign: fit.sign };
}

function fitRows(B: BlockBasis, rin: R2Rep, rout: R2Rep, k: number): RowFit | undefined {
  const p = B.params, G = rout.group;
  const o = B.out, i = B.in, P = B.points, D = B.dim;
  if (!p || !G.finite || p.kernel !== k || P !== k * k || D === 0) return undefined;
  const ga: (PlaneElement | undefined)[] = Array.from({ length: o }, () => undefined);
  for (const g of G.elements()) {
    const po = repPermutation(rout, g);
    if (!po) return undefined;
    if (po.sign[0] === 1 && !ga[po.to[0]]) ga[po.to[0]] = g;
  }
  if (ga.some((g) => !g)) return undefined;
  const pin = ga.map((g) => repPermutation(rin, g!));
  if (pin.some((x) => !x)) return undefined;
  const fns: { ring: number; m: number; sin: boolean }[] = [];
  p.rings.forEach((_, r) => {
    fns.push({ ring: r, m: 0, sin: false });
    for (let m = 1; m <= Math.floor(p.frequencies[r] + 1e-9); m++) fns.push({ ring: r, m, sin: false }, { ring: r, m, sin: true });
  });
  const nphi = fns.length;
  if (nphi > P) return undefined;
  const pts = gridPoints(k, p.dilation);
  // F[a][q][j] = phi_j(g_a^-1 x_q); F0 at the grid itself.
  const at = (x: number, y: number, out: Float64Array, off: number) => {
    const rad = Math.hypot(x, y), th = Math.atan2(y, x);
    fns.forEach((f, j) => {
      const g = Math.exp((-0.5 * (rad - p.rings[f.ring]) ** 2) / p.sigma[f.ring] ** 2);
      out[off + j] = f.m === 0 ? g : rad < 1e-9 ? 0 : g * (f.sin ? Math.sin(f.m * th) : Math.cos(f.m * th));
    });
  };
  const F0 = new Float64Array(P * nphi);
  for (let q = 0; q < P; q++) at(pts[2 * q], pts[2 * q + 1], F0, q * nphi);
  const F = new Float64Array(o * P * nphi);
  ga.forEach((g, a) => {
    const A = G.planeMatrix(G.inverse(g!));
    for (let q = 0; q < P; q++) {
      const x = pts[2 * q], y = pts[2 * q + 1];
      at(A[0] * x + A[1] * y, A[2] * x + A[3] * y, F, (a * P + q) * nphi);
    }
  });
  // Every entry: (a, b) reads component c = rho_in(g_a)^-1's source of b, with its sign.
  const comp = new Int32Array(o * i), sign = new Int8Array(o * i);
  pin.forEach((pi, a) => pi!.to.forEach((b, c) => {
    comp[a * i + b] = c;
    sign[a * i + b] = pi!.sign[c];
  }));
  // Least squares on the grid and the check of every entry, in wasm (crate/src/steer.rs fit_rows).
  const M = withTemporaries((t) => {
    const bufs = [F0, F, B.data].map((a) => t.add(new F64Buffer(a)));
    const cb = t.add(new U32Buffer(Uint32Array.from(comp))), sb = t.add(new F64Buffer(Float64Array.from(sign)));
    const mb = t.add(new F64Buffer(D * i * nphi)), ok = t.add(new U32Buffer(1));
    call('steer_fit_rows', (kn) => kn.steer_fit_rows(bufs[0].ptr, bufs[1].ptr, bufs[2].ptr, cb.ptr, sb.ptr, D, o, i, P, nphi, 1e-6, mb.ptr, ok.ptr));
    return ok.toArray()[0] === 1 ? mb.toArray() : undefined;
  });
  if (!M) return undefined;
  return { M: Float32Array.from(M), nphi, F, comp, sign };
}

/** Whether a block's expansion runs on the two factors of `rowFactor` (what the tests check). */
export function expandsFactored(B: BlockBasis, rin: R2Rep, rout: R2Rep): boolean {
  const k = B.params?.kernel ?? 0;
  const { T, Q } = coordinateMap('pixels', k);
  return rowFactor(B, rin, rout, k, T, Q, [0]) !== undefined;
}

/** The computed values `[rows, n]` for coefficients `W` `[rows, D]` (one GEMM, or the two factors). */
function products(c: Compact, W: Tensor, rows: number, D: number, nIn: number): Tensor {
  const f = c.factor;
  if (!f) return matmul(W, tensor(c.values, [D, c.n]));
  const V = matmul(W, tensor(f.M, [D, nIn * f.nphi]));
  const packed = packMatrix(tensor(f.Phi, [f.nphi, f.Phi.length / f.nphi]));
  try {
    return matmulRows(V, rows * nIn, f.nphi, packed, {}, [rows, c.n]);
  } finally {
    packed.dispose();
  }
}

const compactCache = new WeakMap<BlockBasis, Map<string, Compact>>();

function compact(blk: Block, rin: R2Rep, rout: R2Rep, k: number, coords: Coordinates, fixed?: PlaneElement[]): Compact {
  const B = blk.basis;
  let byCoords = compactCache.get(B);
  if (!byCoords) compactCache.set(B, (byCoords = new Map()));
  const key = fixed ? `${coords}/fixed` : coords;
  const have = byCoords.get(key);
  if (have) return have;
  const o = B.out, i = B.in, P = k * k, D = B.dim;
  const { T, Q } = coordinateMap(coords, k);
  const G = rin.group;
  // Symmetries under which both representations are signed permutations, with their action on
  // the coordinates: T[h^-1 q][xi] = c(xi) T[q][tau(xi)] for every pixel q.
  const syms: { tau: Int32Array; c: Float64Array; po: { to: Int32Array; sign: Int8Array }; pi: { to: Int32Array; sign: Int8Array } }[] = [];
  for (const h of fixed ?? gridSymmetries(rin)) {
    const po = repPermutation(rout, h), pi = repPermutation(rin, h);
    if (!po || !pi) {
      if (fixed) throw new Error(`expandFilter: ${rin.name} or ${rout.name} is not a signed permutation under a grid symmetry`);
      continue;
    }
    const act = coordinateAction(G, h, k, T, Q);
    if (!act) continue; // not a scaled permutation of these coordinates
    syms.push({ ...act, po, pi });
  }
  // Orbit representatives; for every coordinate, the symmetry and representative reaching it.
  const via = new Int32Array(Q).fill(-1), from = new Int32Array(Q), reps: number[] = [];
  for (let xi = 0; xi < Q; xi++) {
    if (via[xi] >= 0) continue;
    const r = reps.length;
    reps.push(xi);
    syms.forEach((s, si) => {
      const t = s.tau[xi];
      if (via[t] < 0) {
        via[t] = si;
        from[t] = r;
      }
    });
  }
  const R = reps.length, n = o * i * R;
  const factor = rowFactor(B, rin, rout, k, T, Q, reps);
  const column = new Uint32Array(o * i * R), columnSign = new Int8Array(o * i * R).fill(1);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let r = 0; r < R; r++) {
    const e = (a * i + b) * R + r;
    if (!factor) column[e] = e;
    else {
      column[e] = (factor.comp[a * i + b] * o + a) * R + r;
      columnSign[e] = factor.sign[a * i + b];
    }
  }
  const values = new Float32Array(factor ? 0 : D * n);
  if (!factor) for (let d = 0; d < D; d++) for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) {
    const src = d * o * i * P + (a * i + b) * P;
    for (let r = 0; r < R; r++) {
      let v = 0;
      if (coords === 'pixels') v = B.data[src + reps[r]];
      else for (let q = 0; q < P; q++) v += B.data[src + q] * T[q * Q + reps[r]];
      values[d * n + (a * i + b) * R + r] = v;
    }
  }
  // W[o'][i'][tau(xi)] = sign / c(xi) . W[back_o(o')][back_i(i')][xi].
  const inv = (p: { to: Int32Array }) => {
    const back = new Int32Array(p.to.length);
    p.to.forEach((t, j) => (back[t] = j));
    return back;
  };
  const invs = syms.map((s) => ({ o: inv(s.po), i: inv(s.pi) }));
  const table = new Uint32Array(o * i * Q), scales = new Float32Array(o * i * Q);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let xi = 0; xi < Q; xi++) {
    const si = via[xi], s = syms[si], iv = invs[si];
    const rep = reps[from[xi]];
    const a0 = iv.o[a], b0 = iv.i[b], e = (a0 * i + b0) * R + from[xi];
    table[(a * i + b) * Q + xi] = column[e];
    scales[(a * i + b) * Q + xi] = (columnSign[e] * s.po.sign[a0] * s.pi.sign[b0]) / s.c[rep];
  }
  const c: Compact = { values, factor, n, column, columnSign, table, scales, Q, R, reps, via, from, syms: syms.map((s) => ({ tau: s.tau, c: s.c })) };
  byCoords.set(key, c);
  return c;
}

/** Out fields `first .. first + count` of a block: their coefficients `[count * nIn, D]` in wasm, scaled per out field there when `fieldScale` is given. */
function blockWeights(blk: Block, w: Float32Array, D: number, nIn: number, first: number, count: number, fieldScale?: (outOffset: number) => number): Tensor {
  const start = blk.offset + first * nIn * D;
  const W = tensor(w.subarray(start, start + count * nIn * D), [count * nIn, D]);
  if (!fieldScale) return W;
  const s = Float32Array.from({ length: count }, (_, a) => fieldScale(blk.outFields[first + a]));
  return channelAffine(W, tensor(s, [count]), zeros([count]), 1, count, nIn * D, false);
}

/** Products are computed and scattered this many floats at a time (in cache, little fresh memory). */
const CHUNK = 1 << 18;

/**
 * For one block: the coefficients of a few out fields at a time (`[count * nIn, D]` in wasm),
 * each chunk handed to `body` with the channel offsets of its out fields.
 */
function forChunks(blk: Block, c: Compact, w: Float32Array, fieldScale: ((outOffset: number) => number) | undefined, body: (W: Tensor, outOffsets: U32Buffer, count: number) => void): void {
  const D = blk.basis.dim, nIn = blk.inFields.length;
  const per = Math.max(1, Math.floor(CHUNK / Math.max(1, nIn * c.n)));
  withTemporaries((t) => {
    for (let first = 0; first < blk.outFields.length; first += per) {
      const count = Math.min(per, blk.outFields.length - first);
      const oo = t.add(new U32Buffer(Uint32Array.from(blk.outFields.slice(first, first + count))));
      tidy(() => body(blockWeights(blk, w, D, nIn, first, count, fieldScale), oo, count));
    }
  });
}

/**
 * The filter bank for coefficients `w` (a new tensor): `[C_out, C_in * k * k]` for pixels,
 * `[36, C_out, C_in]` for Winograd F(2x2, 5x5) coordinates; each out field's coefficients
 * scaled by `fieldScale(outOffset)` when given (a folded batch norm).
 */
export function expandFilter(l: Layout, reps: { in: (name: string) => R2Rep; out: (name: string) => R2Rep }, cin: number, cout: number, k: number, w: Float32Array, fieldScale?: (outOffset: number) => number, coords: Coordinates = 'pixels'): Tensor {
  const Q = coords === 'pixels' ? k * k : 36;
  // Every entry is written when every (out field, in field) pair has a block; else zeros first.
  const pairs = l.blocks.reduce((s, b) => s + b.outFields.length * b.inFields.length, 0);
  const make = pairs === l.outFields * l.inFields ? empty : zeros;
  const bank = coords === 'pixels' ? make([cout, cin * Q]) : make([36, cout, cin]);
  try {
    for (const blk of l.blocks) {
      const B = blk.basis, nIn = blk.inFields.length;
      const c = compact(blk, reps.in(blk.inName), reps.out(blk.outName), k, coords);
      withTemporaries((t) => {
        const table = t.add(new U32Buffer(c.table));
        const io = t.add(new U32Buffer(Uint32Array.from(blk.inFields)));
        tidy(() => {
          const scales = tensor(c.scales, [c.scales.length]);
          forChunks(blk, c, w, fieldScale, (W, oo, count) => {
            const prod = products(c, W, count * nIn, B.dim, B.in);
            call('steer_scatter', (kn) => kn.steer_scatter(prod.ptr, c.n, table.ptr, scales.ptr, B.out, B.in, Q, oo.ptr, count, io.ptr, nIn, bank.ptr, cout, cin, coords !== 'pixels'));
          });
        });
      });
    }
  } catch (e) {
    bank.dispose();
    throw e;
  }
  return bank;
}

/** Winograd F(2x2, 5x5) weights stored at the orbit representatives only (crate/src/winograd5.rs `Sym`). */
export interface SymmetricWeights {
  /** `[R, C_out, C_in]`. */
  u: Tensor;
  reps: number;
  /** `[36]`: the stored matrix of each coordinate. */
  repOf: Uint32Array;
  /** `[36, C_in]`, `[36, C_out]`. */
  inPerm: Uint32Array;
  inScale: Float32Array;
  outPerm: Uint32Array;
  outScale: Float32Array;
}

/**
 * The F(2x2, 5x5) weights of a layer whose representations are all signed permutations under
 * the grid's symmetries: only the orbit representatives' matrices are stored, the other
 * coordinates' follow by permuting and scaling channels. Undefined when the layer has no such
 * symmetry beyond the identity.
 */
export function expandWinogradSymmetric(l: Layout, inType: { representations: readonly R2Rep[]; offsets: readonly number[] }, outType: { representations: readonly R2Rep[]; offsets: readonly number[] }, cin: number, cout: number, w: Float32Array, fieldScale?: (outOffset: number) => number): SymmetricWeights | undefined {
  const all = [...new Set([...inType.representations, ...outType.representations])];
  const G = all[0].group;
  const { T, Q } = coordinateMap('winograd5', 5);
  const syms = gridSymmetries(all[0]).filter((h) => all.every((r) => repPermutation(r, h)) && coordinateAction(G, h, 5, T, Q));
  if (syms.length < 2 || l.blocks.length === 0) return undefined;
  const byName = (t: typeof inType) => (n: string) => t.representations[t.representations.findIndex((r) => r.name === n)];
  const structure = compact(l.blocks[0], byName(inType)(l.blocks[0].inName), byName(outType)(l.blocks[0].outName), 5, 'winograd5', syms);
  const R = structure.R;
  const pairs = l.blocks.reduce((s, b) => s + b.outFields.length * b.inFields.length, 0);
  const u = pairs === l.outFields * l.inFields ? empty([R, cout, cin]) : zeros([R, cout, cin]);
  try {
    for (const blk of l.blocks) {
      const B = blk.basis, nIn = blk.inFields.length;
      const c = compact(blk, byName(inType)(blk.inName), byName(outType)(blk.outName), 5, 'winograd5', syms);
      withTemporaries((t) => {
        const io = t.add(new U32Buffer(Uint32Array.from(blk.inFields)));
        const f = c.factor;
        if (f) {
          // Two factors: the coefficient product per chunk, then the small products with Phi
          // written straight into place (crate/src/steer.rs scatter_factored).
          const comp = t.add(new U32Buffer(Uint32Array.from(f.comp)));
          tidy(() => {
            const M = tensor(f.M, [B.dim, B.in * f.nphi]), phi = tensor(f.Phi, [f.nphi, f.Phi.length / f.nphi]);
            const sign = tensor(Float32Array.from(f.sign), [f.sign.length]);
            forChunks(blk, c, w, fieldScale, (W, oo, count) => {
              const V = matmul(W, M);
              call('steer_scatter_factored', (kn) => kn.steer_scatter_factored(V.ptr, f.nphi, phi.ptr, comp.ptr, sign.ptr, B.out, B.in, R, oo.ptr, count, io.ptr, nIn, u.ptr, cout, cin));
            });
          });
          return;
        }
        // Each stored entry (o, i, r) is one computed column, with its sign.
        const table = t.add(new U32Buffer(c.column));
        tidy(() => {
          const scales = tensor(Float32Array.from(c.columnSign), [c.column.length]);
          forChunks(blk, c, w, fieldScale, (W, oo, count) => {
            const prod = products(c, W, count * nIn, B.dim, B.in);
            call('steer_scatter', (kn) => kn.steer_scatter(prod.ptr, c.n, table.ptr, scales.ptr, B.out, B.in, R, oo.ptr, count, io.ptr, nIn, u.ptr, cout, cin, true));
          });
        });
      });
    }
  } catch (e) {
    u.dispose();
    throw e;
  }
  // Channel permutations and scales per coordinate: each field's pattern depends only on its
  // representation, so it is worked out once per (coordinate, representation) and stamped at
  // every field's offset.
  const channelMaps = (t: typeof inType, n: number, out: boolean) => {
    const perm = new Uint32Array(36 * n), scale = new Float32Array(36 * n);
    const distinct = [...new Set(t.representations)];
    for (let xi = 0; xi < 36; xi++) {
      const si = structure.via[xi], h = syms[si], cRep = structure.syms[si].c[structure.reps[structure.from[xi]]];
      const patterns = new Map(distinct.map((r) => {
        const p = repPermutation(r, h)!;
        const back = new Int32Array(r.size), s = new Float32Array(r.size);
        for (let j = 0; j < r.size; j++) back[p.to[j]] = j;
        for (let a = 0; a < r.size; a++) s[a] = out ? p.sign[back[a]] / cRep : p.sign[back[a]];
        return [r, { back, s }];
      }));
      const row = xi * n;
      t.representations.forEach((r, f) => {
        const { back, s } = patterns.get(r)!, off = t.offsets[f];
        for (let a = 0; a < back.length; a++) perm[row + off + a] = off + back[a];
        scale.set(s, row + off);
      });
    }
    return { perm, scale };
  };
  const ins = channelMaps(inType, cin, false), outs = channelMaps(outType, cout, true);
  const repOf = Uint32Array.from({ length: 36 }, (_, xi) => structure.from[xi]);
  return { u, reps: R, repOf, inPerm: ins.perm, inScale: ins.scale, outPerm: outs.perm, outScale: outs.scale };
}
