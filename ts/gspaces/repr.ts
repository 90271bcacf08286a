/**
 * Representations of a fibre group as escnn builds them: a list of irreps and an orthogonal
 * change of basis `Q`, `rho(g) = Q (psi_1(g) + psi_2(g) + ...) Q^T`. The names are escnn's
 * (`irrep_1`, `regular`, `quotient[2]`, ...), because a layer's weights are laid out by them.
 *
 * - `regular` (finite groups): `rho(g) e_h = e_{gh}`, axes indexed by the group's elements; its
 *   `Q` has row `g` equal to `(psi(g) v)/sqrt(|G|)` for `v` the stacked `sqrt(d) eye(m, d)` of the
 *   irreps in order (multiplicity 1 for C_N, 2 for the 2-dim irreps of D_N).
 * - `quotient[H]`: `G` permuting the cosets `G/H` (representatives: the first element of each coset
 *   in `elements()` order); column block of irrep `psi` is `sqrt(d/|G/H|) psi(rep_i) b` for the
 *   `H`-invariant vectors `b` of `psi`.
 * - `trivial`, `irrep(...)`, and direct sums (block-diagonal, irreps concatenated).
 */
import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/limits.js';
import { FibreGroup, type IrrepId, type PlaneElement } from './group.js';

export class R2Rep {
  readonly size: number;
  /** Offsets of the irreps in the irrep basis. */
  readonly offsets: number[];
  constructor(
    readonly group: FibreGroup,
    readonly name: string,
    readonly irreps: readonly IrrepId[],
    /** `size x size`, row-major, orthogonal. */
    readonly changeOfBasis: Float64Array,
    /** Whether pointwise nonlinearities commute with it (a permutation representation). */
    readonly pointwise: boolean,
    /** For permutation representations: `rho(g) e_j = e_{perm(g)[j]}` (so `matrix` needs no products). */
    readonly permutation?: (g: PlaneElement) => Int32Array,
  ) {
    this.offsets = [];
    let at = 0;
    for (const id of irreps) {
      this.offsets.push(at);
      at += group.irrepSize(id);
    }
    this.size = at;
    if (changeOfBasis.length !== at * at) throw new ArgumentError(`representation ${name}: the change of basis must be ${at} x ${at}`);
  }

  /** `rho(g)`, `size x size`, row-major. */
  matrix(g: PlaneElement): Float64Array {
    const n = this.size, Q = this.changeOfBasis;
    if (this.permutation) {
      const to = this.permutation(g), M = new Float64Array(n * n);
      for (let j = 0; j < n; j++) M[to[j] * n + j] = 1;
      return M;
    }
    const D = new Float64Array(n * n);
    this.irreps.forEach((id, b) => {
      const m = this.group.irrepMatrix(id, g), d = this.group.irrepSize(id), o = this.offsets[b];
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) D[(o + i) * n + o + j] = m[i * d + j];
    });
    return mulQT(Q, D, n);
  }

  /** Positions of the trivial irreps in `irreps` (what a bias can add to). */
  trivialPositions(): number[] {
    const out: number[] = [];
    this.irreps.forEach((id, i) => {
      if (id.every((v) => v === 0)) out.push(this.offsets[i]);
    });
    return out;
  }

  /** Whether every irrep is trivial. */
  get isTrivial(): boolean {
    return this.irreps.every((id) => id.every((v) => v === 0));
  }

  toString(): string {
    return `${this.name} of ${this.group.name} (size ${this.size})`;
  }
}

/** `Q D Q^T` for `n x n` row-major matrices. */
function mulQT(Q: Float64Array, D: Float64Array, n: number): Float64Array {
  const T = new Float64Array(n * n), out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) {
    const q = Q[i * n + k];
    if (q === 0) continue;
    for (let j = 0; j < n; j++) T[i * n + j] += q * D[k * n + j];
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += T[i * n + k] * Q[j * n + k];
    out[i * n + j] = s;
  }
  return out;
}

const eye = (n: number) => {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
};

export function irrepRep(G: FibreGroup, id: IrrepId): R2Rep {
  const d = G.irrepSize(id);
  return new R2Rep(G, G.irrepName(id), [id], eye(d), id.every((v) => v === 0));
}

/** The regular representation of a finite fibre group. */
export function regularRep(G: FibreGroup): R2Rep {
  if (!G.finite) throw new ArgumentError(`${G.name} has no regular representation (it is infinite); use irreps up to a maximum frequency`);
  const els = G.elements(), n = els.length;
  const irreps: IrrepId[] = [];
  const v: number[] = [];
  for (const id of G.irreps()) {
    const s = G.irrepSize(id);
    const m = G.hasFlip && s === 2 ? 2 : 1;
    for (let c = 0; c < m; c++) irreps.push(id);
    // sqrt(s) eye(m, s), row-major.
    for (let a = 0; a < m; a++) for (let b = 0; b < s; b++) v.push(a === b ? Math.sqrt(s) : 0);
  }
  const Q = new Float64Array(n * n);
  els.forEach((g, r) => {
    let at = 0;
    for (const id of irreps) {
      const s = G.irrepSize(id), M = G.irrepMatrix(id, g);
      for (let i = 0; i < s; i++) {
        let acc = 0;
        for (let j = 0; j < s; j++) acc += M[i * s + j] * v[at + j];
        Q[r * n + at + i] = acc / Math.sqrt(n);
      }
      at += s;
    }
  });
  return new R2Rep(G, 'regular', irreps, Q, true, (g) => Int32Array.from(els, (h) => G.index(G.compose(g, h))));
}

/**
 * The subgroup `H` of a quotient, from escnn's id: `C_N`: `M` (the rotations by multiples of
 * `360/M` degrees; M divides N); `D_N`: `[null, M]` (those rotations) or `[k, M]` (also the
 * reflections `r^(k + i N/M) f`).
 */
function subgroup(G: FibreGroup, id: unknown): { name: string; contains: (g: PlaneElement) => boolean } {
  const N = G.N;
  const bad = (why: string) => new ArgumentError(`${G.name}.quotientRepr: ${why}, got ${describe(id)}`);
  const rotIn = (M: number) => (g: PlaneElement) => {
    const i = Math.round((g.angle * N) / (2 * Math.PI)) % N;
    return i % (N / M) === 0;
  };
  if (!G.hasFlip) {
    if (!Number.isSafeInteger(id) || (id as number) < 1 || N % (id as number) !== 0) throw bad(`the subgroup is given by its order M, a divisor of ${N}`);
    const M = id as number;
    return { name: `quotient[${M}]`, contains: (g) => g.flip === 0 && rotIn(M)(g) };
  }
  if (!Array.isArray(id) || id.length !== 2) throw bad('the subgroup is [null, M] (rotations) or [k, M] (with reflections)');
  const [k, M] = id as [number | null, number];
  if (!Number.isSafeInteger(M) || M < 1 || N % M !== 0) throw bad(`M must divide ${N}`);
  if (k === null) return { name: `quotient[(None, ${M})]`, contains: (g) => g.flip === 0 && rotIn(M)(g) };
  if (!Number.isSafeInteger(k) || k < 0 || k >= N / M) throw bad(`k must be an integer in 0..${N / M - 1}`);
  return {
    name: `quotient[(${k}, ${M})]`,
    contains: (g) => {
      if (g.flip === 0) return rotIn(M)(g);
      const i = Math.round((g.angle * N) / (2 * Math.PI)) % N;
      return (((i - k) % (N / M)) + N / M) % (N / M) === 0;
    },
  };
}

/** The quotient representation `G/H` (escnn's construction and names). */
export function quotientRep(G: FibreGroup, id: unknown): R2Rep {
  if (!G.finite) throw new ArgumentError(`${G.name}: quotient representations are offered for finite groups`);
  const H = subgroup(G, id);
  const els = G.elements();
  const Hs = els.filter(H.contains);
  // Coset representatives: the first element of each coset in elements() order.
  const covered = new Set<number>();
  const reps: PlaneElement[] = [];
  for (const g of els) {
    if (covered.has(G.index(g))) continue;
    reps.push(g);
    for (const h of Hs) covered.add(G.index(G.compose(g, h)));
  }
  const n = reps.length;
  const irreps: IrrepId[] = [];
  const columns: Float64Array[] = [];
  for (const psi of G.irreps()) {
    const d = G.irrepSize(psi);
    // The H-invariant vectors of psi: the null space of (psi(h) - I) over H.
    const inv = invariantVectors(G, psi, Hs);
    // Complex-type irreps appear once (their invariant plane is one copy).
    const take = G.irrepComplex(psi) && inv.length === 2 ? [inv[0]] : inv;
    for (const b of take) {
      irreps.push(psi);
      for (let c = 0; c < d; c++) {
        const col = new Float64Array(n);
        reps.forEach((g, i) => {
          const M = G.irrepMatrix(psi, g);
          let acc = 0;
          for (let j = 0; j < d; j++) acc += M[c * d + j] * b[j];
          col[i] = Math.sqrt(d / n) * acc;
        });
        columns.push(col);
      }
    }
  }
  if (columns.length !== n) throw new ArgumentError(`${G.name}.quotientRepr: internal error (${columns.length} columns for ${n} cosets)`);
  const Q = new Float64Array(n * n);
  columns.forEach((col, c) => col.forEach((v, r) => (Q[r * n + c] = v)));
  // g moves coset rep_i H to the coset of g rep_i.
  const cosetOf = new Map<number, number>();
  reps.forEach((g, i) => {
    for (const h of Hs) cosetOf.set(G.index(G.compose(g, h)), i);
  });
  return new R2Rep(G, H.name, irreps, Q, true, (g) => Int32Array.from(reps, (r) => cosetOf.get(G.index(G.compose(g, r)))!));
}

/** Invariant vectors of `psi` under the elements `Hs`, as escnn picks them. */
function invariantVectors(G: FibreGroup, psi: IrrepId, Hs: PlaneElement[]): Float64Array[] {
  const d = G.irrepSize(psi);
  const fixes = (v: number[]) => Hs.every((h) => {
    const M = G.irrepMatrix(psi, h);
    for (let i = 0; i < d; i++) {
      let acc = 0;
      for (let j = 0; j < d; j++) acc += M[i * d + j] * v[j];
      if (Math.abs(acc - v[i]) > 1e-9) return false;
    }
    return true;
  });
  if (d === 1) return fixes([1]) ? [new Float64Array([1])] : [];
  if (fixes([1, 0]) && fixes([0, 1])) return [new Float64Array([1, 0]), new Float64Array([0, 1])];
  // A reflection in H fixes one axis of the plane.
  const flip = Hs.find((h) => h.flip === 1);
  if (!flip) return [];
  const M = G.irrepMatrix(psi, flip);
  // M is a reflection: its +1 eigenvector is (cos a, sin a) with 2a the angle of the matrix.
  const a = Math.atan2(M[2], M[0]) / 2;
  const v = [Math.cos(a), Math.sin(a)];
  return fixes(v) ? [new Float64Array(v)] : [];
}

/** A direct sum of representations of one group (block-diagonal; irreps concatenated). */
export function directSumRep(reps: readonly R2Rep[], name?: string): R2Rep {
  if (!Array.isArray(reps) || reps.length === 0) throw new ArgumentError(`directSum: expected a non-empty list of representations, got ${describe(reps)}`);
  const G = reps[0]?.group;
  for (const r of reps) {
    if (!(r instanceof R2Rep)) throw new ArgumentError(`directSum: expected representations made by a gspace, got ${describe(r)}`);
    if (r.group !== G) throw new ArgumentError(`directSum: representations of different groups (${G.name} and ${r.group.name})`);
  }
  const n = reps.reduce((s, r) => s + r.size, 0);
  // Its change of basis is n x n: a field type of thousands of fields is a list of them, not one sum.
  if (n > 4096) throw new ArgumentError(`directSum: ${reps.length} representations of total size ${n}; a direct sum holds at most 4,096 (its change of basis is n x n); list them in a field type instead`);
  const Q = new Float64Array(n * n);
  let at = 0;
  for (const r of reps) {
    for (let i = 0; i < r.size; i++) for (let j = 0; j < r.size; j++) Q[(at + i) * n + at + j] = r.changeOfBasis[i * r.size + j];
    at += r.size;
  }
  if (name !== undefined && typeof name !== 'string') throw new ArgumentError(`directSum: name must be a string, got ${describe(name)}`);
  return new R2Rep(G, name ?? `directsum(${reps.map((r) => r.name).join(',')})`, reps.flatMap((r) => r.irreps), Q, reps.every((r) => r.pointwise));
}
