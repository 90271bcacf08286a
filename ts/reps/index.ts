/**
 * Real representations `rho : G -> GL(dim, R)`: `matrix(g)` is a `dim x dim` Float64Array,
 * row-major, and `character(g)` its trace. For finite groups every representation here is
 * orthogonal; for the Lie groups they are the defining rotation representations and the
 * frequency-`k` irreps of SO(2).
 */
import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/limits.js';
import { FiniteGroup, SymmetricGroup, type Group } from '../groups/finite.js';
import { GridGroup } from '../groups/grid.js';
import { LieGroup, type LieElement } from '../groups/lie.js';
import { recordStructure } from './structure.js';

/** The largest dimension of a representation (as `eq.space.rep` allows): its matrices are dim^2. */
const MAX_REP_DIM = 2 ** 24;

export class Representation<E = number> {
  constructor(
    readonly group: Group<E>,
    readonly dim: number,
    readonly name: string,
    private readonly fn: (g: E) => Float64Array,
  ) {
    if (group === null || typeof group !== 'object') throw new ArgumentError(`Representation: expected a group, got ${describe(group)}`);
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 1 || dim > MAX_REP_DIM) throw new ArgumentError(`Representation '${String(name)}': dim must be an integer in 1..${MAX_REP_DIM}, got ${describe(dim)}`);
    if (typeof name !== 'string') throw new ArgumentError(`Representation: name must be a string, got ${describe(name)}`);
    if (typeof fn !== 'function') throw new ArgumentError(`Representation '${name}': give its matrices as a function (g) => Float64Array of dim x dim, got ${describe(fn)}`);
  }

  /** `rho(g)`, `dim x dim`, row-major. */
  matrix(g: E): Float64Array {
    return this.fn(g);
  }

  /** `trace rho(g)`. */
  character(g: E): number {
    const m = this.fn(g);
    let t = 0;
    for (let i = 0; i < this.dim; i++) t += m[i * this.dim + i];
    return t;
  }

  toString(): string {
    return `${this.name} (dim ${this.dim})`;
  }
}

function finite(G: unknown, what: string): FiniteGroup {
  if (G instanceof GridGroup) return G.pointGroup;
  if (!(G instanceof FiniteGroup)) throw new ArgumentError(`${what}: needs a finite group (or p4/p4m, whose point group is used), got ${String(G)}`);
  return G;
}

const eye = (n: number) => {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
};

/** The trivial representation: every element acts as 1. */
export function trivial<E>(G: Group<E>): Representation<E> {
  return new Representation(G, 1, 'trivial', () => new Float64Array([1]));
}

/**
 * The permutation representation of an action of `G` on `{0..size-1}`: `rho(g) e_i = e_{g.i}`.
 * The action (a function or a `|G| x size` table) is checked to be a group action.
 */
export function permutation(G: FiniteGroup, action: ((g: number, i: number) => number) | Int32Array | number[][], size?: number): Representation<number> {
  const F = finite(G, 'permutation');
  let table: Int32Array;
  if (typeof action === 'function') {
    if (!Number.isSafeInteger(size) || (size as number) < 1 || (size as number) > MAX_REP_DIM) throw new ArgumentError(`permutation: with an action function, give the size of the set, an integer in 1..${MAX_REP_DIM}; got ${describe(size)}`);
    if (F.order * size! > 2 ** 28) throw new ArgumentError(`permutation: ${F.order} elements x ${size} points is ${F.order * size!} table entries, more than 2^28`);
    table = new Int32Array(F.order * size!);
    for (let g = 0; g < F.order; g++) for (let i = 0; i < size!; i++) table[g * size! + i] = action(g, i);
  } else if (Array.isArray(action)) {
    size = action[0]?.length ?? 0;
    if (action.length !== F.order || action.some((row) => row.length !== size)) throw new ArgumentError(`permutation: the action table must have ${F.order} rows of equal length`);
    table = Int32Array.from(action.flat());
  } else {
    size ??= action.length / F.order;
    table = action;
  }
  const n = size!;
  if (!Number.isInteger(n) || n < 1 || table.length !== F.order * n) throw new ArgumentError(`permutation: the action table must have ${F.order} x size entries, got ${table.length}`);
  for (let g = 0; g < F.order; g++) {
    const seen = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const j = table[g * n + i];
      if (!(j >= 0 && j < n) || seen[j]) throw new ArgumentError(`permutation: element ${F.label(g)} does not permute 0..${n - 1}`);
      seen[j] = 1;
    }
  }
  for (let i = 0; i < n; i++) if (table[i] !== i) throw new ArgumentError('permutation: the identity must fix every point');
  // rho(s h) = rho(s) rho(h) for the generators s and every h is enough: every g is a product of
  // generators, and then rho(s1 ... sk h) = rho(s1) ... rho(sk) rho(h) by induction. That is
  // |generators| |G| n checks where all pairs took |G|^2 n (10^9 for the regular rep of C1024).
  for (const g of F.generators) for (let h = 0; h < F.order; h++) for (let i = 0; i < n; i++) {
    if (table[F.compose(g, h) * n + i] !== table[g * n + table[h * n + i]]) {
      throw new ArgumentError(`permutation: not an action: (${F.label(g)} ${F.label(h)}).${i} differs from ${F.label(g)}.(${F.label(h)}.${i})`);
    }
  }
  return new Representation(F, n, `permutation(${n})`, (g) => {
    const m = new Float64Array(n * n);
    const row = F.check(g) * n;
    for (let i = 0; i < n; i++) m[table[row + i] * n + i] = 1;
    return m;
  });
}

/** The regular representation: `G` permuting itself by left multiplication. */
export function regular(G: FiniteGroup | GridGroup): Representation<number> {
  const F = finite(G, 'regular');
  const rep = permutation(F, (g, h) => F.compose(g, h), F.order);
  return new Representation(F, F.order, `regular(${F.name})`, (g) => rep.matrix(g));
}

/** The sign representation of `S_n`. */
export function sign(G: SymmetricGroup): Representation<number> {
  if (!(G instanceof SymmetricGroup)) throw new ArgumentError(`sign: needs a symmetric group, got ${String(G)}`);
  return new Representation(G, 1, 'sign', (g) => new Float64Array([G.parity(g)]));
}

/** An orthonormal basis of the sum-zero subspace of R^n (Helmert), as the columns of `n x (n-1)`. */
function helmert(n: number): Float64Array {
  const b = new Float64Array(n * (n - 1));
  for (let k = 1; k < n; k++) {
    const s = 1 / Math.sqrt(k * (k + 1));
    for (let i = 0; i < k; i++) b[i * (n - 1) + (k - 1)] = s;
    b[k * (n - 1) + (k - 1)] = -k * s;
  }
  return b;
}

/** The standard representation of `S_n` (dim n-1): the permutation action on sum-zero vectors. */
export function standard(G: SymmetricGroup): Representation<number> {
  if (!(G instanceof SymmetricGroup)) throw new ArgumentError(`standard: needs a symmetric group, got ${String(G)}`);
  const n = G.degree;
  if (n < 2) throw new ArgumentError('standard: S_n needs n >= 2');
  const B = helmert(n);
  const d = n - 1;
  return new Representation(G, d, 'standard', (g) => {
    const p = G.permutation(g);
    // rho = B^T P B with P e_i = e_{p[i]}: rho[a][b] = sum_i B[p[i]][a] B[i][b].
    const m = new Float64Array(d * d);
    for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) m[a * d + b] += B[p[i] * d + a] * B[i * d + b];
    return m;
  });
}

const rot = (t: number) => new Float64Array([Math.cos(t), -Math.sin(t), Math.sin(t), Math.cos(t)]);

/**
 * The real irreducible representations of `C_n` or `D_n` (also of p4/p4m's point groups), in a
 * fixed order. `C_n`: `k = 0` trivial; for even n the sign `r -> (-1)^r`; then the rotations by
 * `2 pi k r / n`, `0 < k < n/2` (2-dim, of complex type). `D_n`: trivial, `m -> -1`; for even n
 * `r -> -1` and `r -> -1, m -> -1`; then the 2-dim `rho(m, r) = R(2 pi k r/n) diag(1, -1)^m`.
 */
export function irreps(G: FiniteGroup | GridGroup): Representation<number>[] {
  const F = finite(G, 'irreps');
  const fam = F.family;
  if (!fam || fam.kind === 'symmetric') {
    throw new ArgumentError(`irreps: known for cyclic and dihedral groups; for ${F.name} use trivial, sign and standard (S_n) or reps.regular`);
  }
  const n = fam.n;
  const out: Representation<number>[] = [];
  const one = (name: string, f: (m: number, r: number) => number) =>
    out.push(new Representation(F, 1, name, (g) => new Float64Array([f(Math.floor(F.check(g) / n), g % n)])));
  if (fam.kind === 'cyclic') {
    one('trivial', () => 1);
    if (n % 2 === 0) one(`sign (k=${n / 2})`, (_, r) => (r % 2 ? -1 : 1));
    for (let k = 1; 2 * k < n; k++) out.push(new Representation(F, 2, `rotation k=${k}`, (g) => rot((2 * Math.PI * k * F.check(g)) / n)));
    return out;
  }
  one('trivial', () => 1);
  one('mirror sign', (m) => (m ? -1 : 1));
  if (n % 2 === 0) {
    one('rotation sign', (_, r) => (r % 2 ? -1 : 1));
    one('rotation and mirror sign', (m, r) => (r % 2 ? -1 : 1) * (m ? -1 : 1));
  }
  for (let k = 1; 2 * k < n; k++) {
    out.push(new Representation(F, 2, `2-dim k=${k}`, (g) => {
      const m = Math.floor(F.check(g) / n), r = g % n;
      const R = rot((2 * Math.PI * k * r) / n);
      return m ? new Float64Array([R[0], -R[1], R[2], -R[3]]) : R;
    }));
  }
  return out;
}

/** The `k`-th irrep: `irreps(G)[k]` for finite groups; frequency `k` for SO(2) (and SE(2)). */
export function irrep(G: FiniteGroup | GridGroup | LieGroup, k: number): Representation<number> | Representation<LieElement> {
  if (G instanceof LieGroup) {
    if (G.d !== 2) throw new ArgumentError(`irrep: irreps are offered for SO(2) and SE(2) (frequency k); for ${G.name} use reps.defining`);
    if (!Number.isInteger(k) || k < 0) throw new ArgumentError(`irrep: the frequency k must be a non-negative integer, got ${k}`);
    if (k === 0) return trivial(G);
    return new Representation<LieElement>(G, 2, `frequency ${k}`, (g) => rot(k * G.log(G.check(g))[0]));
  }
  const all = irreps(G);
  if (!Number.isInteger(k) || k < 0 || k >= all.length) throw new ArgumentError(`irrep: ${finite(G, 'irrep').name} has ${all.length} real irreps, numbered 0..${all.length - 1}; got ${k}`);
  return all[k];
}

/** The defining representation of a rotation group (the rotation part, for SE(d); the matrix itself for O(3)). */
export function defining(G: LieGroup): Representation<LieElement> {
  if (!(G instanceof LieGroup)) throw new ArgumentError(`defining: needs SO(2), SO(3), O(3), SE(2) or SE(3), got ${String(G)}`);
  return new Representation<LieElement>(G, G.d, `defining(${G.name})`, (g) => G.rotation(G.check(g)));
}

function sameGroup<E>(reps: Representation<E>[], what: string): Group<E> {
  if (reps.length === 0) throw new ArgumentError(`${what}: needs at least one representation`);
  for (const r of reps) {
    if (!(r instanceof Representation)) throw new ArgumentError(`${what}: expected representations, got ${String(r)}`);
    if (r.group !== reps[0].group) throw new ArgumentError(`${what}: representations of different groups (${String(reps[0].group)} and ${String(r.group)})`);
  }
  return reps[0].group;
}

/** Block-diagonal `rho_1 + rho_2 + ...`. */
export function directSum<E>(...reps: Representation<E>[]): Representation<E> {
  const G = sameGroup(reps, 'directSum');
  const dim = reps.reduce((s, r) => s + r.dim, 0);
  const sum = new Representation(G, dim, reps.map((r) => r.name).join(' + '), (g) => {
    const m = new Float64Array(dim * dim);
    let o = 0;
    for (const r of reps) {
      const b = r.matrix(g);
      for (let i = 0; i < r.dim; i++) for (let j = 0; j < r.dim; j++) m[(o + i) * dim + o + j] = b[i * r.dim + j];
      o += r.dim;
    }
    return m;
  });
  recordStructure(sum, 'sum', reps);
  return sum;
}

/** `rho_a (x) rho_b` (Kronecker product; index `i * dim_b + j`). */
export function tensorProduct<E>(a: Representation<E>, b: Representation<E>): Representation<E> {
  const G = sameGroup([a, b], 'tensorProduct');
  const dim = a.dim * b.dim;
  const product = new Representation(G, dim, `(${a.name}) x (${b.name})`, (g) => {
    const A = a.matrix(g), B = b.matrix(g);
    const m = new Float64Array(dim * dim);
    for (let i = 0; i < a.dim; i++) for (let j = 0; j < a.dim; j++) for (let k = 0; k < b.dim; k++) for (let l = 0; l < b.dim; l++) {
      m[(i * b.dim + k) * dim + j * b.dim + l] = A[i * a.dim + j] * B[k * b.dim + l];
    }
    return m;
  });
  recordStructure(product, 'product', [a, b]);
  return product;
}

/** `rho(g) = det g` (the rotation block's determinant): pseudoscalars of O(3); trivial on SO(d). */
export function det(G: LieGroup): Representation<LieElement> {
  if (!(G instanceof LieGroup)) throw new ArgumentError(`det: needs a matrix group (O(3), SO(d), SE(d)), got ${String(G)}`);
  return new Representation<LieElement>(G, 1, 'det', (g) => {
    const r = G.rotation(G.check(g)), d = G.d;
    const v = d === 2 ? r[0] * r[3] - r[1] * r[2]
      : r[0] * (r[4] * r[8] - r[5] * r[7]) - r[1] * (r[3] * r[8] - r[5] * r[6]) + r[2] * (r[3] * r[7] - r[4] * r[6]);
    return new Float64Array([Math.sign(v) || 1]);
  });
}

export { eye as identityMatrix };
