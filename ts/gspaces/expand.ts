/**
 * Expanding basis coefficients into a filter bank, fast: for each block of the layout, the sums
 * `sum over d of w[a, b, d] B_d` for every pair of fields are one GEMM (`[pairs, D] x [D, n]`),
 * computed only at one pixel of each orbit of the symmetries that map the pixel grid onto itself
 * (rotations by multiples of 90 degrees in the group, and the reflection) when both
 * representations are signed permutations under them; the kernel `steer_scatter` then writes
 * every block in place, each entry a copy or negated copy of a computed value, by the constraint
 * `kappa(h x) = rho_out(h) kappa(x) rho_in(h)^T`. Equal to `expandReference` to float rounding.
 */
import { U32Buffer, withTemporaries } from '../core/buffers.js';
import { matmul } from '../core/gemm.js';
import { Tensor, tensor, tidy, zeros } from '../core/tensor.js';
import { call } from '../core/wasm.js';
import type { PlaneElement } from './group.js';
import type { Block, Layout } from './layout.js';
import type { R2Rep } from './repr.js';
import type { BlockBasis } from './kernels.js';

const NEGATE = 0x80000000;

interface Compact {
  /** `[D, n]`: the basis at the orbit representatives (or everywhere). */
  values: Float32Array;
  n: number;
  /** Per block entry `(o, i, q)`: the compact column, with NEGATE for a sign. */
  table: Uint32Array;
}

/** A signed permutation `rho(h)` as `[perm, sign]` with `rho e_j = sign_j e_{perm_j}`, or undefined. */
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
    if (G.finite && Math.abs(((angle * G.N) / (2 * Math.PI)) - Math.round((angle * G.N) / (2 * Math.PI))) > 1e-9) continue;
    out.push({ flip: f as 0 | 1, angle });
  }
  return out;
}

const compactCache = new WeakMap<BlockBasis, Compact>();

function compact(blk: Block, rin: R2Rep, rout: R2Rep, k: number): Compact {
  const B = blk.basis;
  const have = compactCache.get(B);
  if (have) return have;
  const o = B.out, i = B.in, kk = k * k, D = B.dim;
  // Elements under which both representations are signed permutations.
  const G = rin.group;
  const syms: { pix: Int32Array; po: ReturnType<typeof signedPermutation>; pi: ReturnType<typeof signedPermutation> }[] = [];
  for (const h of gridSymmetries(rin)) {
    const po = signedPermutation(rout.matrix(h), o), pi = signedPermutation(rin.matrix(h), i);
    if (!po || !pi) continue;
    // Pixel q -> h q on the grid (row-major, y up).
    const M = G.planeMatrix(h), c = (k - 1) / 2;
    const pix = new Int32Array(kk);
    for (let row = 0; row < k; row++) for (let col = 0; col < k; col++) {
      const x = col - c, y = c - row;
      const x2 = Math.round(M[0] * x + M[1] * y + c), y2 = Math.round(c - (M[2] * x + M[3] * y));
      pix[row * k + col] = y2 * k + x2;
    }
    syms.push({ pix, po, pi });
  }
  // Orbit representatives and, for every pixel, (symmetry, representative) reaching it.
  const via = new Int32Array(kk).fill(-1), from = new Int32Array(kk), reps: number[] = [];
  for (let q = 0; q < kk; q++) {
    if (via[q] >= 0) continue;
    const r = reps.length;
    reps.push(q);
    syms.forEach((s, si) => {
      const t = s.pix[q];
      if (via[t] < 0) {
        via[t] = si;
        from[t] = r;
      }
    });
  }
  const R = reps.length, n = o * i * R;
  const values = new Float32Array(D * n);
  const size = o * i * kk;
  for (let d = 0; d < D; d++) for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let r = 0; r < R; r++) {
    values[d * n + (a * i + b) * R + r] = B.data[d * size + (a * i + b) * kk + reps[r]];
  }
  // kappa[a', b'](h p) = sign . kappa[pi_out^-1 a', pi_in^-1 b'](p).
  const table = new Uint32Array(size);
  const inv = (p: { to: Int32Array; sign: Int8Array }) => {
    const back = new Int32Array(p.to.length);
    p.to.forEach((t, j) => (back[t] = j));
    return back;
  };
  const invs = syms.map((s) => ({ o: inv(s.po!), i: inv(s.pi!) }));
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let q = 0; q < kk; q++) {
    const s = syms[via[q]], iv = invs[via[q]];
    const a0 = iv.o[a], b0 = iv.i[b];
    const sign = s.po!.sign[a0] * s.pi!.sign[b0];
    table[(a * i + b) * kk + q] = ((a0 * i + b0) * R + from[q]) | (sign < 0 ? NEGATE : 0);
  }
  const c: Compact = { values, n, table };
  compactCache.set(B, c);
  return c;
}

/**
 * The filter `[C_out, C_in * k * k]` (a new tensor) for coefficients `w`, each out field's
 * coefficients scaled by `fieldScale(outOffset)` when given (a folded batch norm).
 */
export function expandFilter(l: Layout, reps: { in: (name: string) => R2Rep; out: (name: string) => R2Rep }, cin: number, cout: number, k: number, w: Float32Array, fieldScale?: (outOffset: number) => number): Tensor {
  const kk = k * k;
  const filter = zeros([cout, cin * kk]);
  try {
    for (const blk of l.blocks) {
      const B = blk.basis, D = B.dim, nIn = blk.inFields.length, rows = blk.outFields.length * nIn;
      const c = compact(blk, reps.in(blk.inName), reps.out(blk.outName), k);
      const W = new Float32Array(rows * D);
      blk.outFields.forEach((oOff, a) => {
        const s = fieldScale ? fieldScale(oOff) : 1;
        for (let b = 0; b < nIn; b++) {
          const src = blk.offset + (a * nIn + b) * D, dst = (a * nIn + b) * D;
          for (let d = 0; d < D; d++) W[dst + d] = s * w[src + d];
        }
      });
      tidy(() => withTemporaries((t) => {
        const prod = matmul(tensor(W, [rows, D]), tensor(c.values, [D, c.n]));
        const table = t.add(new U32Buffer(c.table));
        const oo = t.add(new U32Buffer(Uint32Array.from({ length: rows }, (_, r) => blk.outFields[Math.floor(r / nIn)])));
        const io = t.add(new U32Buffer(Uint32Array.from({ length: rows }, (_, r) => blk.inFields[r % nIn])));
        call('steer_scatter', (kn) => kn.steer_scatter(prod.ptr, rows, c.n, table.ptr, B.out, B.in, kk, oo.ptr, io.ptr, filter.ptr, cout, cin));
      }));
    }
  } catch (e) {
    filter.dispose();
    throw e;
  }
  return filter;
}
