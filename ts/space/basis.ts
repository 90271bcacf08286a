/**
 * The space of equivariant linear operators `Hom_G(rho_in, rho_out)` (Conclusion 3 of the
 * framework): its dimension, exactly from characters for finite groups,
 * `(1/|G|) sum over g of chi_out(g) chi_in(g)`, and an orthonormal basis as the null space of the
 * stacked constraints `rho_out(g) W - W rho_in(g) = 0` over the group's generators (EMLP's
 * method; random elements for a Lie group). Each basis element is a `d_out x d_in` matrix,
 * row-major; an equivariant linear layer is exactly a linear combination of them.
 */
import { ArgumentError } from '../core/errors.js';
import { FiniteGroup } from '../groups/finite.js';
import { GridGroup } from '../groups/grid.js';
import { LieGroup, seededRng } from '../groups/lie.js';
import type { Representation } from '../reps/index.js';

function sameGroup(G: unknown, a: Representation<unknown>, b: Representation<unknown>, what: string) {
  if (!a || !b || typeof a.matrix !== 'function' || typeof b.matrix !== 'function') throw new ArgumentError(`${what}: expected (G, repIn, repOut) with two representations`);
  const of = (r: Representation<unknown>) => (r.group === G || (G instanceof GridGroup && r.group === G.pointGroup));
  if (!of(a) || !of(b)) throw new ArgumentError(`${what}: the representations must be of ${String(G)} (got ${String(a.group)} and ${String(b.group)})`);
  return G;
}

const finiteOf = (G: unknown) => (G instanceof GridGroup ? G.pointGroup : G instanceof FiniteGroup ? G : undefined);

/** `dim Hom_G(rho_in, rho_out)`, exactly (finite groups): the character inner product. */
export function dimension(G: unknown, repIn: Representation<unknown>, repOut: Representation<unknown>): number {
  const F = finiteOf(sameGroup(G, repIn, repOut, 'basis.dimension'));
  if (!F) throw new ArgumentError('basis.dimension: exact dimensions are for finite groups; for a Lie group use basis.solve');
  let s = 0;
  for (const g of F.elements()) s += repIn.character(g as never) * repOut.character(g as never);
  const d = s / F.order;
  const r = Math.round(d);
  if (Math.abs(d - r) > 1e-6) throw new ArgumentError(`basis.dimension: the character inner product is ${d}, not an integer: are these representations of ${F.name}?`);
  return r === 0 ? 0 : r; // never -0
}

/** Eigen-decomposition of a symmetric `n x n` matrix by cyclic Jacobi rotations (in place). */
function jacobi(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) {
      const apq = a[p * n + q];
      if (Math.abs(apq) < 1e-300) continue;
      const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1), s = t * c;
      for (let k = 0; k < n; k++) {
        const akp = a[k * n + p], akq = a[k * n + q];
        a[k * n + p] = c * akp - s * akq;
        a[k * n + q] = s * akp + c * akq;
      }
      for (let k = 0; k < n; k++) {
        const apk = a[p * n + k], aqk = a[q * n + k];
        a[p * n + k] = c * apk - s * aqk;
        a[q * n + k] = s * apk + c * aqk;
      }
      for (let k = 0; k < n; k++) {
        const vkp = v[k * n + p], vkq = v[k * n + q];
        v[k * n + p] = c * vkp - s * vkq;
        v[k * n + q] = s * vkp + c * vkq;
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => a[i * n + i]), vectors: v };
}

export interface BasisResult {
  /** Dimension of the space (the number of basis elements). */
  dimension: number;
  /** Orthonormal (Frobenius inner product) `d_out x d_in` matrices, row-major. */
  basis: Float64Array[];
  /** The exact dimension from characters (finite groups), which `dimension` must equal. */
  characterDimension?: number;
  /** The group elements whose constraints were stacked. */
  constraints: number;
}

const MAX_UNKNOWNS = 400;

/**
 * An orthonormal basis of `Hom_G(rho_in, rho_out)`: the null space of
 * `sum over g in S of |rho_out(g) W - W rho_in(g)|^2` for `S` the generators (finite groups) or
 * `samples` random elements (Lie groups), found as the eigenvectors of that quadratic form with
 * eigenvalue ~0.
 */
export function solve(group: unknown, repIn: Representation<unknown>, repOut: Representation<unknown>, options: { samples?: number; seed?: number; tolerance?: number } = {}): BasisResult {
  const G = sameGroup(group, repIn, repOut, 'basis.solve');
  const di = repIn.dim, dout = repOut.dim, n = di * dout;
  if (n > MAX_UNKNOWNS) throw new ArgumentError(`basis.solve: ${dout} x ${di} = ${n} unknowns is more than ${MAX_UNKNOWNS}`);
  const F = finiteOf(G);
  let elements: unknown[];
  if (F) elements = F.generators.length ? [...F.generators] : [F.identity];
  else if (G instanceof LieGroup) {
    const rng = seededRng(options.seed ?? 1);
    elements = Array.from({ length: options.samples ?? 8 }, () => G.random(rng));
  } else throw new ArgumentError(`basis.solve: unsupported group ${String(G)}`);
  // Q = sum over g of C_g^T C_g, where C_g vec(W) = vec(rho_out(g) W - W rho_in(g)) (row-major vec).
  const Q = new Float64Array(n * n);
  const row = new Float64Array(n);
  for (const g of elements) {
    const A = repOut.matrix(g as never), B = repIn.matrix(g as never);
    for (let i = 0; i < dout; i++) for (let j = 0; j < di; j++) {
      // Row (i, j) of C_g: coefficient of W[k][l] is A[i][k] d(l, j) - d(k, i) B[l][j].
      row.fill(0);
      for (let k = 0; k < dout; k++) row[k * di + j] += A[i * dout + k];
      for (let l = 0; l < di; l++) row[i * di + l] -= B[l * di + j];
      const nz: number[] = [];
      for (let p = 0; p < n; p++) if (row[p] !== 0) nz.push(p);
      for (const p of nz) for (const q of nz) Q[p * n + q] += row[p] * row[q];
    }
  }
  const scale = Math.max(1, ...Q.map(Math.abs));
  const { values, vectors } = jacobi(Q, n);
  const tol = (options.tolerance ?? 1e-9) * scale;
  const basis: Float64Array[] = [];
  for (let c = 0; c < n; c++) {
    if (Math.abs(values[c]) > tol) continue;
    const w = Float64Array.from({ length: n }, (_, p) => vectors[p * n + c]);
    // Small entries are rounding: clean them so bases of permutation problems read clearly.
    for (let p = 0; p < n; p++) if (Math.abs(w[p]) < 1e-12) w[p] = 0;
    basis.push(w);
  }
  const result: BasisResult = { dimension: basis.length, basis, constraints: elements.length };
  if (F) result.characterDimension = dimension(G, repIn, repOut);
  return result;
}
