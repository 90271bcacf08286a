/**
 * What the operator-space solver needs of a group: the factor matrices of its elements on each
 * atom, generators, the exact dimension of the fixed space, and the exact projector onto it as a
 * product of weighted sums of elements.
 *
 * The problem for a block is the fixed vectors of `H(g) = rho_1(g) (x) ... (x) rho_k(g)` where
 * the factors are the output's atoms and the **duals** `rho(g^-1)^T` of the input's atoms
 * (`W -> rho_out(g) W rho_in(g)^-1` on row-major `vec(W)`).
 *
 * - **Finite groups** (and p4/p4m through their point group): the dimension is the character
 *   formula `(1/|G|) sum over g of prod_i chi_i(g)`; the projector `(1/|G|) sum over g of H(g)` is
 *   factored along a subgroup chain `1 = K_0 < K_1 < ... < K_m = G` (each step adds a power of a
 *   generator of prime index): with `T_j` the left coset representatives of `K_(j-1)` in `K_j`,
 *   `P_G = A_m ... A_1`, `A_j = (1/|T_j|) sum over t in T_j of H(t)`, which costs the sum of the
 *   indices instead of `|G|` elements (9 instead of 24 for S4).
 * - **SO(2)**: with `K` the largest weight (frequency) of `H`, the average over `K + 1` equally
 *   spaced rotations is the exact Haar projector (every weight `0 < |w| <= K` averages to zero).
 * - **SO(3)** (Euler angles `z y z`): `P = P_z M P_z`, `P_z` the average over `K + 1` turns about
 *   `z` and `M = sum_j w_j/2 H(R_y(acos x_j))` over `ceil((K + 1) / 2)` Gauss-Legendre nodes: between
 *   the weight-0 vectors of a spin-`l` component the entry of `H(R_y(b))` is the Legendre
 *   polynomial `P_l(cos b)`, `l <= K`, integrated exactly. The dimension is Weyl's integral over
 *   the rotation angle, `(1/2pi) int chi(t) (1 - cos t) dt`, exact on `K + 2` equally spaced angles.
 * - **O(3)** = SO(3) x {I, -I}: one more stage, `(H(I) + H(-I)) / 2`; the dimension averages the
 *   SO(3) integrals of `chi(g)` and `chi(-g)`.
 * - **SE(d)** and **T(d)**: representations that ignore translations (checked) are those of the
 *   rotation part; T(d) then acts trivially.
 *
 * The largest weight of an atom is found from the derivative of `rho` along the rotation about
 * `z` (central differences with Richardson extrapolation): its largest singular value, rounded
 * up, bounds every weight. Each atom is checked to be a homomorphism before it is used.
 */
import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/limits.js';
import { FiniteGroup } from '../groups/finite.js';
import { GridGroup } from '../groups/grid.js';
import { LieGroup, seededRng } from '../groups/lie.js';
import { O3Group } from '../groups/orthogonal.js';
import type { AnyRep } from './structure.js';
import { symmetricEigen } from './kernels.js';

export type Elem = unknown;

/** One factor of a block's problem: an atom, as itself or as its dual. */
export interface Side {
  atom: AnyRep;
  dual: boolean;
}

export interface Stage {
  elements: Elem[];
  weights: number[];
}

export abstract class SolverGroup {
  abstract readonly name: string;
  abstract readonly kind: 'finite' | 'lie';
  /** The object representations must belong to. */
  abstract readonly repGroup: unknown;
  /** Elements whose invariance implies invariance under the whole group (finite groups). */
  abstract readonly generators: Elem[];
  /** Elements the residual of a solved basis is measured on. */
  abstract readonly checks: Elem[];
  /** Discrete generators besides the Lie algebra (O(3): `-I`). */
  readonly discrete: Elem[] = [];
  /** Number of Lie-algebra generators (0 for finite groups). */
  readonly algebraCount: number = 0;
  /** Whether the group acts trivially on every representation it takes (T(d)). */
  get trivialAction(): boolean {
    return false;
  }
  abstract label(g: Elem): string;
  abstract inverse(g: Elem): Elem;
  abstract stages(sides: Side[]): Stage[];
  abstract dimension(sides: Side[]): number;
  /** Checks an atom is a representation of this group (once per atom). */
  abstract checkAtom(atom: AnyRep, where: string): void;

  readonly #memo = new WeakMap<object, Map<unknown, Float64Array>>();

  /** `rho(g)`, or `rho(g^-1)^T` for the dual; checked for size and finiteness. */
  matrix(side: Side, g: Elem): Float64Array {
    let m = this.#memo.get(side.atom);
    if (!m) this.#memo.set(side.atom, (m = new Map()));
    const key = side.dual ? `d:${String(this.key(g))}` : this.key(g);
    let v = m.get(key);
    if (!v) {
      const d = side.atom.dim;
      const raw = rawMatrix(side.atom, side.dual ? this.inverse(g) : g, this.label(g));
      v = side.dual ? transpose(raw, d) : raw;
      // Kept for small atoms only (a large regular representation has megabytes per element).
      if (m.size < 4096 && d * d <= 4096) m.set(key, v);
    }
    return v;
  }

  /** A key for an element in the memo of matrices. */
  protected key(g: Elem): unknown {
    return g;
  }

  readonly #chars = new WeakMap<object, Map<unknown, number>>();

  /** `trace rho(g)` (the dual's is `trace rho(g^-1)`), remembered per atom and element. */
  character(side: Side, g: Elem): number {
    const at = side.dual ? this.inverse(g) : g;
    let m = this.#chars.get(side.atom);
    if (!m) this.#chars.set(side.atom, (m = new Map()));
    const key = this.key(at);
    let t = m.get(key);
    if (t === undefined) {
      const d = side.atom.dim, r = this.matrix({ atom: side.atom, dual: false }, at);
      t = 0;
      for (let i = 0; i < d; i++) t += r[i * d + i];
      if (typeof key === 'number' && m.size < 65536) m.set(key, t); // finite groups' elements
    }
    return t;
  }

  /** `d rho(X_i)` along the `i`-th Lie-algebra generator (dual: `-d rho(X_i)^T`). */
  algebra(side: Side, i: number): Float64Array {
    void side;
    void i;
    throw new ArgumentError(`${this.name} has no Lie algebra`);
  }
}

/** `rho(g)` as a Float64Array of `dim^2` finite numbers, or an ArgumentError naming the representation. */
export function rawMatrix(rep: AnyRep, g: unknown, label: string): Float64Array {
  let m: unknown;
  try {
    m = rep.matrix(g as never);
  } catch (e) {
    if (e instanceof ArgumentError) throw new ArgumentError(`representation ${rep.name}: rho(${label}) failed: ${e.message}`);
    throw e;
  }
  const d = rep.dim;
  if (m === null || typeof m !== 'object' || typeof (m as ArrayLike<number>).length !== 'number' || (m as ArrayLike<number>).length !== d * d) {
    throw new ArgumentError(`representation ${rep.name}: rho(${label}) must be a ${d} x ${d} matrix (${d * d} numbers, row-major), got ${describe(m)}${m && typeof (m as ArrayLike<number>).length === 'number' ? ` of ${(m as ArrayLike<number>).length}` : ''}`);
  }
  const out = m instanceof Float64Array ? m : Float64Array.from(m as ArrayLike<number>);
  for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i])) throw new ArgumentError(`representation ${rep.name}: rho(${label}) has a non-finite entry (${out[i]}) at ${i}`);
  return out;
}

function transpose(m: Float64Array, d: number): Float64Array {
  const t = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) t[j * d + i] = m[i * d + j];
  return t;
}

function mul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const c = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) {
    const x = a[i * d + k];
    if (x !== 0) for (let j = 0; j < d; j++) c[i * d + j] += x * b[k * d + j];
  }
  return c;
}

function maxDiff(a: Float64Array, b: Float64Array): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
  return e;
}

function maxAbs(a: Float64Array): number {
  let e = 0;
  for (const v of a) e = Math.max(e, Math.abs(v));
  return e;
}

function checkIdentity(rep: AnyRep, e: Float64Array, group: string): void {
  const d = rep.dim;
  let err = 0;
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) err = Math.max(err, Math.abs(e[i * d + j] - (i === j ? 1 : 0)));
  if (err > 1e-9) throw new ArgumentError(`${rep.name} is not a representation of ${group}: rho(identity) differs from the identity matrix by ${err.toExponential(2)}`);
}

// ---------------------------------------------------------------------------------------------
// Finite groups

const chains = new WeakMap<FiniteGroup, number[][]>();

function elementOrder(F: FiniteGroup, s: number): number {
  let o = 1;
  for (let x = s; x !== 0; x = F.compose(s, x)) o++;
  return o;
}

function primeFactors(n: number): number[] {
  const out: number[] = [];
  for (let p = 2; p * p <= n; p++) while (n % p === 0) {
    out.push(p);
    n /= p;
  }
  if (n > 1) out.push(n);
  return out;
}

/** The coset representatives of a subgroup chain (see the module comment). */
export function cosetChain(F: FiniteGroup): number[][] {
  let c = chains.get(F);
  if (c) return c;
  const seq: number[] = [];
  for (const s of F.generators) {
    const o = elementOrder(F, s);
    let e = o;
    for (const p of primeFactors(o)) {
      e /= p;
      let x = 0;
      for (let i = 0; i < e; i++) x = F.compose(s, x);
      seq.push(x);
    }
  }
  const order = F.order;
  let K = [0];
  let inK = new Uint8Array(order);
  inK[0] = 1;
  const gens: number[] = [];
  c = [];
  for (const t of seq) {
    if (inK[t]) continue;
    gens.push(t);
    const inK2 = new Uint8Array(order);
    inK2[0] = 1;
    const queue = [0];
    while (queue.length) {
      const x = queue.pop()!;
      for (const s of gens) {
        const y = F.compose(s, x);
        if (!inK2[y]) {
          inK2[y] = 1;
          queue.push(y);
        }
      }
    }
    const covered = new Uint8Array(order);
    const reps: number[] = [];
    for (let x = 0; x < order; x++) {
      if (!inK2[x] || covered[x]) continue;
      reps.push(x);
      for (const k of K) covered[F.compose(x, k)] = 1;
    }
    c.push(reps);
    K = [];
    for (let x = 0; x < order; x++) if (inK2[x]) K.push(x);
    inK = inK2;
  }
  if (K.length !== order) throw new ArgumentError(`${F.name}: its generators generate a subgroup of order ${K.length}, not ${order}`);
  chains.set(F, c);
  return c;
}

class FiniteSolverGroup extends SolverGroup {
  readonly kind = 'finite';
  readonly name: string;
  readonly generators: number[];
  readonly checks: number[];
  readonly #checked = new WeakSet<object>();
  constructor(readonly repGroup: FiniteGroup) {
    super();
    this.name = repGroup.name;
    this.generators = [...repGroup.generators];
    this.checks = this.generators;
  }
  label(g: Elem): string {
    return this.repGroup.label(g as number);
  }
  inverse(g: Elem): Elem {
    return this.repGroup.inverse(g as number);
  }
  stages(): Stage[] {
    return cosetChain(this.repGroup).map((reps) => ({ elements: reps, weights: reps.map(() => 1 / reps.length) }));
  }
  dimension(sides: Side[]): number {
    const F = this.repGroup;
    let s = 0;
    for (let g = 0; g < F.order; g++) {
      let p = 1;
      for (const side of sides) p *= this.character(side, g);
      s += p;
    }
    const d = s / F.order;
    const r = Math.round(d);
    if (Math.abs(d - r) > 1e-6) throw new ArgumentError(`the character inner product is ${d}, not an integer: are these representations of ${F.name}?`);
    return r === 0 ? 0 : r;
  }
  checkAtom(atom: AnyRep, where: string): void {
    if (this.#checked.has(atom)) return;
    const F = this.repGroup, d = atom.dim;
    const side = { atom, dual: false };
    checkIdentity(atom, this.matrix(side, 0), F.name);
    // Every generator against every element; for a large atom (more than 2e8 multiply-adds), 16
    // seeded random elements per generator.
    const all = F.generators.length * F.order * d * d * d <= 2e8;
    const rng = seededRng(31);
    const elements = all ? F.elements() : Array.from({ length: 16 }, () => Math.floor(rng() * F.order));
    for (const s of F.generators) {
      const rs = this.matrix(side, s);
      for (const g of elements) {
        const err = maxDiff(this.matrix(side, F.compose(s, g)), mul(rs, this.matrix(side, g), d));
        if (err > 1e-9 * Math.max(1, maxAbs(rs))) {
          throw new ArgumentError(`${where}: ${atom.name} is not a representation of ${F.name}: rho(${F.label(s)}) rho(${F.label(g)}) differs from rho(${F.label(F.compose(s, g))}) by ${err.toExponential(2)} (a representation must be a homomorphism)`);
        }
      }
    }
    this.#checked.add(atom);
  }
}

// ---------------------------------------------------------------------------------------------
// Lie groups

/** The rotation about `y` whose cosine is `c` (sine `sqrt(1 - c^2)`): basic operations only. */
const rotYcos = (c: number) => {
  const s = Math.sqrt(Math.max(0, 1 - c * c));
  return new Float64Array([c, 0, s, 0, 1, 0, -s, 0, c]);
};

/**
 * Gauss-Legendre nodes and weights on [-1, 1] (Newton's method on P_q from `cos` guesses given
 * by `cosines`, which the solver computes in wasm so that every engine starts, and ends, alike).
 */
export function gaussLegendre(q: number, cosines: (t: number[]) => number[] = (t) => t.map(Math.cos)): { x: number[]; w: number[] } {
  const x: number[] = [], w: number[] = [];
  const guesses = cosines(Array.from({ length: q }, (_, i) => (Math.PI * (i + 0.75)) / (q + 0.5)));
  for (let i = 1; i <= q; i++) {
    let z = guesses[i - 1];
    let dp = 1;
    for (let it = 0; it < 100; it++) {
      let p0 = 1, p1 = z;
      for (let k = 2; k <= q; k++) {
        const p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = (q * (z * p1 - p0)) / (z * z - 1);
      const dz = p1 / dp;
      z -= dz;
      if (Math.abs(dz) < 1e-15) break;
    }
    x.push(z);
    w.push(2 / ((1 - z * z) * dp * dp));
  }
  return { x, w };
}

class LieSolverGroup extends SolverGroup {
  readonly kind = 'lie';
  readonly name: string;
  readonly generators: Elem[] = [];
  readonly checks: Elem[];
  readonly discrete: Elem[];
  readonly algebraCount: number;
  /** 2 (planar rotations), 3 (spatial), 0 (translations only). */
  readonly rd: 0 | 2 | 3;
  readonly o3: boolean;
  readonly #weights = new WeakMap<object, number>();
  readonly #checked = new WeakSet<object>();
  readonly #stages = new Map<number, Stage[]>();

  constructor(readonly repGroup: LieGroup) {
    super();
    this.name = repGroup.name;
    this.rd = repGroup.rotates ? (repGroup.d as 2 | 3) : 0;
    this.o3 = repGroup instanceof O3Group;
    this.algebraCount = this.rd === 3 ? 3 : this.rd === 2 ? 1 : 0;
    this.discrete = this.o3 ? [this.embed(new Float64Array([-1, 0, 0, 0, -1, 0, 0, 0, -1]))] : [];
    const rng = seededRng(97);
    const R = this.repGroup;
    this.checks = [...Array.from({ length: 3 }, () => this.rotationPart(R.random(rng))), ...this.discrete];
  }

  get trivialAction(): boolean {
    return this.rd === 0;
  }

  /** The element with rotation block `r` and no translation. */
  embed(r: Float64Array): Float64Array {
    const G = this.repGroup, n = G.n, d = G.d;
    const g = new Float64Array(n * n);
    for (let i = 0; i < n; i++) g[i * n + i] = 1;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) g[i * n + j] = r[i * d + j];
    return g;
  }

  private rotationPart(g: Float64Array): Float64Array {
    return this.embed(this.repGroup.rotation(g));
  }

  label(g: Elem): string {
    return this.repGroup.label(g as Float64Array);
  }
  inverse(g: Elem): Elem {
    return this.repGroup.inverse(g as Float64Array);
  }

  /**
   * Rotations by the angles `t` about the `axis`-th coordinate axis (planar: rotations by `t`),
   * as elements of the group: `exp` in wasm (crate/src/lie.rs, its own sine and cosine), so they
   * are the same bits in every JavaScript engine.
   */
  private turns(axis: number, t: number[]): Float64Array[] {
    const G = this.repGroup, a = G.algebraDim, nn = G.n * G.n;
    const v = new Float64Array(a * t.length);
    t.forEach((x, i) => (v[i * a + (this.rd === 2 ? 0 : axis)] = x));
    const m = G.expMany(v, t.length);
    return t.map((_, i) => m.slice(i * nn, (i + 1) * nn));
  }

  private turn(axis: number, t: number): Float64Array {
    return this.turns(axis, [t])[0];
  }

  /** `cos t` for each `t`, in wasm (the `[0]` entry of a planar or z rotation). */
  private cosines(t: number[]): number[] {
    const n = this.repGroup.n;
    return this.turns(2, t).map((g) => g[0 * n + 0]);
  }

  /** `d rho / dt` at the identity along the rotation about `axis` (Richardson-extrapolated central differences). */
  private derivative(atom: AnyRep, axis: number): Float64Array {
    const D = (h: number) => {
      const a = rawMatrix(atom, this.turn(axis, h), 'exp(h X)'), b = rawMatrix(atom, this.turn(axis, -h), 'exp(-h X)');
      return Float64Array.from(a, (v, i) => (v - b[i]) / (2 * h));
    };
    const h = 1e-3;
    const d1 = D(h), d2 = D(h / 2);
    return Float64Array.from(d1, (v, i) => (4 * d2[i] - v) / 3);
  }

  algebra(side: Side, i: number): Float64Array {
    const a = this.derivative(side.atom, this.rd === 2 ? 2 : i);
    if (!side.dual) return a;
    const d = side.atom.dim;
    const t = transpose(a, d);
    for (let k = 0; k < t.length; k++) t[k] = -t[k];
    return t;
  }

  /** An upper bound of the atom's weights (frequencies about z), an integer. */
  maxWeight(atom: AnyRep): number {
    let k = this.#weights.get(atom);
    if (k !== undefined) return k;
    if (this.rd === 0) k = 0;
    else {
      const a = this.derivative(atom, 2), d = atom.dim;
      // Largest singular value: sqrt of the largest eigenvalue of A^T A.
      const ata = new Float64Array(d * d);
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
        let s = 0;
        for (let r = 0; r < d; r++) s += a[r * d + i] * a[r * d + j];
        ata[i * d + j] = s;
      }
      const { values } = symmetricEigen(ata, d);
      const sigma = Math.sqrt(Math.max(0, values[d - 1]));
      k = Math.max(0, Math.ceil(sigma - 1e-6));
    }
    this.#weights.set(atom, k);
    return k;
  }

  private total(sides: Side[]): number {
    return sides.reduce((s, x) => s + this.maxWeight(x.atom), 0);
  }

  stages(sides: Side[]): Stage[] {
    if (this.rd === 0) return [];
    const K = this.total(sides);
    const key = K;
    let st = this.#stages.get(key);
    if (st) return st;
    const N = K + 1;
    const pz: Stage = { elements: this.turns(2, Array.from({ length: N }, (_, j) => (2 * Math.PI * j) / N)), weights: Array.from({ length: N }, () => 1 / N) };
    st = [];
    if (this.o3) st.push({ elements: [this.embed(new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1])), this.discrete[0]], weights: [0.5, 0.5] });
    if (this.rd === 2) st.push(pz);
    else {
      const q = Math.max(1, Math.ceil((K + 1) / 2));
      const { x, w } = gaussLegendre(q, (t) => this.cosines(t));
      st.push(pz, { elements: x.map((v) => this.embed(rotYcos(v))), weights: w.map((v) => v / 2) }, pz);
    }
    this.#stages.set(key, st);
    return st;
  }

  dimension(sides: Side[]): number {
    if (this.rd === 0) return sides.reduce((p, s) => p * s.atom.dim, 1);
    const K = this.total(sides);
    const chi = (g: Float64Array) => sides.reduce((p, s) => p * this.character(s, g), 1);
    let value: number;
    // The sum of |terms| over the quadrature bounds its rounding: with large powers the
    // characters reach 3^K, and an absolute tolerance would call the exact integral non-integral.
    let mass = 0;
    if (this.rd === 2) {
      const N = K + 1;
      let s = 0;
      for (const g of this.turns(2, Array.from({ length: N }, (_, j) => (2 * Math.PI * j) / N))) {
        const c = chi(g);
        s += c;
        mass += Math.abs(c) / N;
      }
      value = s / N;
    } else {
      const N = K + 2;
      const rs = this.turns(2, Array.from({ length: N }, (_, j) => (2 * Math.PI * j) / N));
      let s = 0, t = 0;
      rs.forEach((g) => {
        const weight = 1 - g[0]; // 1 - cos(theta_j)
        const c = chi(g) * weight;
        s += c;
        mass += Math.abs(c) / N;
        if (this.o3) {
          const c2 = chi(Float64Array.from(g, (v) => -v)) * weight;
          t += c2;
          mass += Math.abs(c2) / N;
        }
      });
      value = this.o3 ? (s / N + t / N) / 2 : s / N;
    }
    // Each term carries the relative error of a product of K characters, and the sum adds N of them.
    const rounding = 4 * (K + 2) * Number.EPSILON * mass;
    if (rounding > 0.25) throw new ArgumentError(`the Haar integral of the character sums terms of up to ${mass.toExponential(2)}: too large to give an exact integer in f64 (the dimension is about ${value.toExponential(3)}); use smaller tensor powers`);
    const r = Math.round(value);
    if (Math.abs(value - r) > 1e-6 + rounding) throw new ArgumentError(`the Haar integral of the character is ${value}, not an integer: are these representations of ${this.name}?`);
    return r === 0 ? 0 : r;
  }

  checkAtom(atom: AnyRep, where: string): void {
    if (this.#checked.has(atom)) return;
    const G = this.repGroup, d = atom.dim;
    checkIdentity(atom, rawMatrix(atom, G.identity, 'identity'), G.name);
    const rng = seededRng(12345);
    for (let t = 0; t < 4; t++) {
      const g = G.random(rng), h = G.random(rng);
      const a = rawMatrix(atom, g, G.label(g)), b = rawMatrix(atom, h, G.label(h));
      const gh = G.compose(g, h);
      const err = maxDiff(rawMatrix(atom, gh, G.label(gh)), mul(a, b, d));
      if (err > 1e-8 * Math.max(1, maxAbs(a) * maxAbs(b))) {
        throw new ArgumentError(`${where}: ${atom.name} is not a representation of ${G.name}: rho(g) rho(h) differs from rho(gh) by ${err.toExponential(2)} for random g, h (a representation must be a homomorphism)`);
      }
    }
    if (G.affine) {
      // Pure translations (the identity rotation and a random shift) must act as the identity.
      for (let t = 0; t < 3; t++) {
        const g = G.random(rng), tr = G.identity;
        for (let i = 0; i < G.d; i++) tr[i * G.n + G.d] = g[i * G.n + G.d];
        const m = rawMatrix(atom, tr, G.label(tr));
        let err = 0;
        for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) err = Math.max(err, Math.abs(m[i * d + j] - (i === j ? 1 : 0)));
        if (err > 1e-9) throw new ArgumentError(`${where}: ${atom.name} depends on translations; the solver takes representations of ${G.name} that see only the rotation part`);
      }
    }
    this.#checked.add(atom);
  }
}

const solverGroups = new WeakMap<object, SolverGroup>();

/** The solver's view of a group: finite groups (p4/p4m: their point group) and the Lie groups. */
export function solverGroup(G: unknown, what: string): SolverGroup {
  const key = G instanceof GridGroup ? G.pointGroup : G;
  if (key === null || typeof key !== 'object') throw new ArgumentError(`${what}: expected a group, got ${describe(G)}`);
  let s = solverGroups.get(key);
  if (s) return s;
  if (key instanceof FiniteGroup) s = new FiniteSolverGroup(key);
  else if (key instanceof LieGroup) s = new LieSolverGroup(key);
  else throw new ArgumentError(`${what}: expected a finite group, p4/p4m, or one of SO(2), SO(3), O(3), SE(2), SE(3), T(2), T(3); got ${describe(G)}`);
  solverGroups.set(key, s);
  return s;
}
