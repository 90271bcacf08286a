/**
 * Finite groups, exactly: elements are the integers `0 .. order-1`, the product is a Cayley
 * table, and element 0 is always the identity.
 *
 * Conventions (docs/groups.md): `compose(a, b)` is "a after b" (apply b, then a). In
 * `dihedral(n)` element `m*n + r` is the rotation by `r * 360/n` degrees after `m` mirrors
 * (`m` in {0, 1}), so `(m1, r1)(m2, r2) = (m1 xor m2, r1 + (-1)^m1 r2 mod n)`. In
 * `symmetric(n)` elements are the permutations of `0..n-1` in lexicographic order, a permutation
 * `p` sends `i` to `p[i]`, and `(a b)[i] = a[b[i]]`.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { describe } from '../core/limits.js';
import { gather } from '../core/ops.js';
import { expectTensor, type Tensor } from '../core/tensor.js';
import { withTable } from '../core/cache.js';
import { checkGroupOrder } from './checks.js';

/** What every group offers: the identity, products, inverses. Elements' type depends on the group. */
export interface Group<E> {
  readonly name: string;
  readonly identity: E;
  compose(a: E, b: E): E;
  inverse(a: E): E;
  /** A readable name of an element. */
  label(a: E): string;
}

const TRUSTED = Symbol('trusted');

/** A finite group given by its Cayley table. */
export class FiniteGroup implements Group<number> {
  readonly identity = 0;
  readonly #table: Int32Array;
  readonly #inverse: Int32Array;
  readonly #labels: readonly string[];

  /**
   * @param table `order x order`, row-major: `table[a * order + b] = compose(a, b)`.
   * Checked: a Latin square with element 0 as the identity, associative.
   */
  constructor(
    readonly name: string,
    readonly order: number,
    table: Int32Array,
    labels?: readonly string[],
    /** A generating set (used by basis solvers: constraints on generators suffice). */
    readonly generators: readonly number[] = [],
    /** Which family the group belongs to, when it was built by one of the constructors. */
    readonly family?: { kind: 'cyclic' | 'dihedral' | 'symmetric'; n: number },
    /** Internal: the constructors below build associative tables by construction. */
    trusted?: typeof TRUSTED,
  ) {
    if (typeof name !== 'string') throw new ArgumentError(`FiniteGroup: name must be a string, got ${typeof name}`);
    if (!Number.isSafeInteger(order) || order < 1) throw new ArgumentError(`${name}: order must be a positive integer, got ${order}`);
    checkGroupOrder(name, order);
    if (!(table instanceof Int32Array)) throw new ArgumentError(`${name}: the Cayley table must be an Int32Array, got ${table === null ? 'null' : typeof table}`);
    if (table.length !== order * order) throw new ArgumentError(`${name}: the Cayley table must have ${order * order} entries, got ${table.length}`);
    this.#table = table;
    this.#inverse = new Int32Array(order).fill(-1);
    for (let a = 0; a < order; a++) {
      if (table[a] !== a || table[a * order] !== a) throw new ArgumentError(`${name}: element 0 must be the identity (row and column 0 of the table)`);
      const seen = new Uint8Array(order);
      for (let b = 0; b < order; b++) {
        const c = table[a * order + b];
        if (!(c >= 0 && c < order) || seen[c]) throw new ArgumentError(`${name}: row ${a} of the Cayley table is not a permutation of 0..${order - 1}`);
        seen[c] = 1;
        if (c === 0) this.#inverse[a] = b;
      }
    }
    for (let a = 0; a < order && trusted !== TRUSTED; a++) {
      for (let b = 0; b < order; b++) {
        const ab = table[a * order + b];
        for (let c = 0; c < order; c++) {
          if (table[ab * order + c] !== table[a * order + table[b * order + c]]) {
            throw new ArgumentError(`${name}: the Cayley table is not associative at (${a}, ${b}, ${c})`);
          }
        }
      }
    }
    if (labels !== undefined && (!Array.isArray(labels) || labels.length !== order || !labels.every((l) => typeof l === 'string'))) throw new ArgumentError(`${name}: labels must be ${order} strings, got ${describe(labels)}`);
    if (generators === null || !Array.isArray(generators) || !generators.every((g) => Number.isSafeInteger(g) && g >= 0 && g < order)) throw new ArgumentError(`${name}: generators must be a list of elements in 0..${order - 1}, got ${describe(generators)}`);
    this.#labels = labels ?? Array.from({ length: order }, (_, i) => `g${i}`);
    if (this.generators.length === 0) this.generators = minimalGenerators(this);
    else if (trusted !== TRUSTED) {
      // Given ones must generate: checks on generators stand for checks on every element.
      const reached = closure(this, [...this.generators]).size;
      if (reached !== order) throw new ArgumentError(`${name}: the generators given reach ${reached} of the ${order} elements; give a generating set (or none, to have one computed)`);
    }
  }

  /** All elements, `0 .. order-1`. */
  elements(): number[] {
    return Array.from({ length: this.order }, (_, i) => i);
  }

  /** Throws unless `a` is an element of this group. */
  check(a: unknown, what = 'element'): number {
    if (!Number.isInteger(a) || (a as number) < 0 || (a as number) >= this.order) {
      throw new ArgumentError(`${this.name}: ${what} must be an integer in 0..${this.order - 1}, got ${describe(a)}`);
    }
    return a as number;
  }

  compose(a: number, b: number): number {
    return this.#table[this.check(a) * this.order + this.check(b)];
  }

  inverse(a: number): number {
    return this.#inverse[this.check(a)];
  }

  label(a: number): string {
    return this.#labels[this.check(a)];
  }

  /** `u . x` for a regular field `[N, C, |G|]`: `(u . f)(g) = f(u^-1 g)`, by the gather kernel. */
  act(u: number, x: Tensor): Tensor {
    expectTensor(x, `${this.name}.act`);
    if (x.rank !== 3 || x.shape[2] !== this.order) throw new ShapeError(`${this.name}.act: expected a regular field [N, C, ${this.order}], got [${x.shape.join(', ')}]`);
    const inv = this.inverse(u);
    return withTable(this, `reg/${u}`, () => Int32Array.from(this.elements(), (g) => this.compose(inv, g)), (t) => gather(x, t, x.shape[0] * x.shape[1]));
  }

  /** A copy of the Cayley table. */
  table(): Int32Array {
    return this.#table.slice();
  }

  toString(): string {
    return `${this.name} (order ${this.order})`;
  }
}

/** A small generating set, greedily: add an element until the generated subgroup is everything. */
function minimalGenerators(g: FiniteGroup): number[] {
  const gens: number[] = [];
  let span = new Set([0]);
  for (let a = 1; a < g.order && span.size < g.order; a++) {
    if (span.has(a)) continue;
    gens.push(a);
    span = closure(g, gens);
  }
  return gens;
}

function closure(g: FiniteGroup, gens: number[]): Set<number> {
  const seen = new Set([0]);
  const queue = [0];
  while (queue.length) {
    const x = queue.pop()!;
    for (const s of gens) {
      const y = g.compose(s, x);
      if (!seen.has(y)) {
        seen.add(y);
        queue.push(y);
      }
    }
  }
  return seen;
}

const MAX_ORDER = 5040;

function checkN(what: string, n: unknown, lo: number, hi: number): number {
  if (!Number.isInteger(n) || (n as number) < lo || (n as number) > hi) {
    throw new ArgumentError(`${what}: n must be an integer in ${lo}..${hi}, got ${describe(n)}`);
  }
  return n as number;
}

function fromProduct(name: string, order: number, mul: (a: number, b: number) => number, labels: string[], generators: number[], family?: FiniteGroup['family']): FiniteGroup {
  checkGroupOrder(name, order);
  const t = new Int32Array(order * order);
  for (let a = 0; a < order; a++) for (let b = 0; b < order; b++) t[a * order + b] = mul(a, b);
  return new FiniteGroup(name, order, t, labels, generators, family, TRUSTED);
}

const mod = (a: number, n: number) => ((a % n) + n) % n;

/** One instance per family and `n`, so groups compare by identity (`cyclic(4) === cyclic(4)`). */
const instances = new Map<string, FiniteGroup>();
function once<T extends FiniteGroup>(key: string, make: () => T): T {
  let g = instances.get(key);
  if (!g) instances.set(key, (g = make()));
  return g as T;
}

/** The cyclic group `C_n` of rotations by multiples of `360/n` degrees; element `r`. */
export function cyclic(n: number): FiniteGroup {
  checkN('cyclic', n, 1, MAX_ORDER);
  checkGroupOrder(`cyclic(${n})`, n);
  return once(`C${n}`, () => fromProduct(`C${n}`, n, (a, b) => (a + b) % n, Array.from({ length: n }, (_, r) => (r === 0 ? 'e' : `r${r}`)), n > 1 ? [1] : [], { kind: 'cyclic', n }));
}

/** The dihedral group `D_n` (order 2n): element `m*n + r` = rotation `r` after `m` mirrors. */
export function dihedral(n: number): FiniteGroup {
  checkN('dihedral', n, 1, MAX_ORDER / 2);
  checkGroupOrder(`dihedral(${n})`, 2 * n);
  return once(`D${n}`, () => makeDihedral(n));
}

function makeDihedral(n: number): FiniteGroup {
  const labels = Array.from({ length: 2 * n }, (_, i) => {
    const m = Math.floor(i / n), r = i % n;
    return i === 0 ? 'e' : [r ? `r${r}` : '', m ? 'm' : ''].filter(Boolean).join(' ');
  });
  return fromProduct(`D${n}`, 2 * n, (a, b) => {
    const m1 = Math.floor(a / n), r1 = a % n, m2 = Math.floor(b / n), r2 = b % n;
    return (m1 ^ m2) * n + mod(r1 + (m1 ? -r2 : r2), n);
  }, labels, n > 1 ? [1, n] : [n], { kind: 'dihedral', n });
}

/** All permutations of `0..n-1` in lexicographic order (the identity first). */
export function permutations(n: number): number[][] {
  const out: number[][] = [];
  const rec = (prefix: number[], rest: number[]) => {
    if (!rest.length) out.push(prefix);
    rest.forEach((x, i) => rec([...prefix, x], [...rest.slice(0, i), ...rest.slice(i + 1)]));
  };
  rec([], Array.from({ length: n }, (_, i) => i));
  return out;
}

/** Symmetric groups keep the permutation each element stands for. */
export class SymmetricGroup extends FiniteGroup {
  readonly degree: number;
  readonly #perms: number[][];
  constructor(n: number) {
    const perms = permutations(n);
    const index = new Map(perms.map((p, i) => [p.join(','), i]));
    const t = new Int32Array(perms.length ** 2);
    perms.forEach((a, i) => perms.forEach((b, j) => (t[i * perms.length + j] = index.get(b.map((x) => a[x]).join(','))!)));
    const cycle = perms.findIndex((p) => p.every((x, i) => x === (i + 1) % n));
    const swap = perms.findIndex((p) => p[0] === 1 && p[1] === 0 && p.slice(2).every((x, i) => x === i + 2));
    super(`S${n}`, perms.length, t, perms.map((p) => `[${p.join(' ')}]`), n > 1 ? [...new Set([swap, cycle])].filter((g) => g > 0) : [], { kind: 'symmetric', n }, TRUSTED);
    this.degree = n;
    this.#perms = perms;
  }

  /** The permutation element `a` stands for (`i -> p[i]`). */
  permutation(a: number): number[] {
    return [...this.#perms[this.check(a)]];
  }

  /** `+1` for even permutations, `-1` for odd. */
  parity(a: number): 1 | -1 {
    const p = this.permutation(a);
    let s = 1;
    for (let i = 0; i < p.length; i++) for (let j = i + 1; j < p.length; j++) if (p[i] > p[j]) s = -s;
    return s as 1 | -1;
  }
}

/** The symmetric group `S_n` (n <= 6). */
export function symmetric(n: number): SymmetricGroup {
  checkN('symmetric', n, 1, 6);
  return once(`S${n}`, () => new SymmetricGroup(n));
}

/** The direct product `G x H`: element `g * |H| + h`. */
export function product(g: FiniteGroup, h: FiniteGroup): FiniteGroup {
  if (!(g instanceof FiniteGroup) || !(h instanceof FiniteGroup)) throw new ArgumentError('product: both factors must be finite groups');
  if (g.order * h.order > MAX_ORDER) throw new ArgumentError(`product: |G||H| = ${g.order * h.order} exceeds ${MAX_ORDER}`);
  checkGroupOrder(`product(${g.name}, ${h.name})`, g.order * h.order);
  const n = h.order;
  const gens = [...g.generators.map((a) => a * n), ...h.generators];
  return fromProduct(`${g.name}x${h.name}`, g.order * n,
    (a, b) => g.compose(Math.floor(a / n), Math.floor(b / n)) * n + h.compose(a % n, b % n),
    Array.from({ length: g.order * n }, (_, i) => `(${g.label(Math.floor(i / n))}, ${h.label(i % n)})`), gens);
}
