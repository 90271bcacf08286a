/**
 * Matrix Lie groups by sampling (LieConv, LieTransformer): the translations T(2), T(3), and
 * SO(2), SE(2), SO(3), SE(3).
 *
 * An element is a `Float64Array` holding an `n x n` matrix, row-major: the rotation `R` for
 * SO(d), `[[R, t], [0, 1]]` for SE(d), `[[I, t], [0, 1]]` for T(d). Lie-algebra vectors: T(d)
 * `t`; SO(2) `[theta]`; SE(2) `[theta, u1, u2]`; SO(3) `[w1, w2, w3]` (axis times angle); SE(3)
 * `[w1, w2, w3, u1, u2, u3]`. `exp`, `log`, lifting, moving lifted samples and relative logs run
 * in wasm, batched (crate/src/lie.rs); `log` returns angles in `(-pi, pi]` (SO(2), SE(2)) or
 * `[0, pi]` (SO(3), SE(3)) and stays accurate near 0 and near pi. `random` draws the rotation
 * from the Haar measure and, for SE(d) and T(d), the translation from a standard normal (there is
 * no Haar probability on R^d).
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { F64Buffer, withTemporaries } from '../core/buffers.js';
import { applyMatrix } from '../core/ops.js';
import { Tensor, expectTensor } from '../core/tensor.js';
import { call, kernels } from '../core/wasm.js';
import type { Group } from './finite.js';
import { checkLift } from './checks.js';
import { describe, limits } from '../core/limits.js';

export type LieElement = Float64Array;
/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

/** A seeded uniform generator (mulberry32), so sampled groups are reproducible. */
export function seededRng(seed = 1): Rng {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const gauss = (rng: Rng) => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());

function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) {
    const x = a[i * n + k];
    if (x !== 0) for (let j = 0; j < n; j++) c[i * n + j] += x * b[k * n + j];
  }
  return c;
}

/** The cloud id of a masked element: it has no neighbours and is nobody's neighbour. */
export const MASKED = 0xffffffff;

/** Whether point `p` of a flat list of `d`-vectors is at the origin, where SO(d) lifts are undefined. */
function atOrigin(flat: ArrayLike<number>, p: number, d: number): boolean {
  let r2 = 0;
  for (let j = 0; j < d; j++) r2 += flat[p * d + j] * flat[p * d + j];
  return !(Math.sqrt(r2) > 1e-12);
}

/**
 * A lifted point cloud: each input point became `samples` group elements (point-major: element
 * `p * samples + s`). `cloud[e]` says which cloud of a batch an element belongs to (`MASKED` for
 * the samples of a masked point); `orbit[e]` is `|x|` for SO(d), whose elements alone do not
 * say where the point was.
 */
export class Lifted {
  constructor(
    readonly group: LieGroup,
    /** `count x n x n`, the elements' matrices one after another. */
    readonly matrices: Float64Array,
    /** For each element, the index of the point it came from. */
    readonly point: Int32Array,
    /** For each element, `|x|` (SO(d)); empty for T(d) and SE(d). */
    readonly orbit: Float64Array,
    /** For each element, its cloud in a batch (0 for a single cloud; `MASKED` for padding). */
    readonly cloud: Uint32Array,
    readonly samples: number,
    /** Clouds in the batch (pooling gives one row each, empty ones included). */
    readonly batch = 1,
  ) {
    const nn = group.n * group.n;
    if (!Number.isInteger(batch) || batch < 1) throw new ArgumentError(`${group.name}: a lifted batch has at least one cloud, got ${batch}`);
    if (matrices.length % nn !== 0 || point.length * nn !== matrices.length || cloud.length !== point.length || (group.hasOrbit && orbit.length !== point.length)) {
      throw new ArgumentError(`${group.name}: a lifted cloud needs ${nn} values per element and one point, cloud (and orbit) entry each`);
    }
  }

  /** Number of elements. */
  get count(): number {
    return this.point.length;
  }

  /** Element `i` (a copy). */
  element(i: number): LieElement {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new ArgumentError(`lifted: element ${i} is not in 0..${this.count - 1}`);
    const nn = this.group.n * this.group.n;
    return this.matrices.slice(i * nn, (i + 1) * nn);
  }

  /** Every element (copies). */
  get elements(): LieElement[] {
    return Array.from({ length: this.count }, (_, i) => this.element(i));
  }

  /** Number of clouds (`batch`). */
  get clouds(): number {
    return this.batch;
  }
}

export interface LiftOptions {
  /** Elements per point (default 1; SE(2), SO(3): evenly spaced turns; SE(3): Haar-random rotations). */
  samples?: number;
  /** A uniform source; by default a seeded one (`seed`, default 1), drawn in wasm. */
  rng?: Rng;
  seed?: number;
}

export abstract class LieGroup implements Group<LieElement> {
  /** Side of the element matrices. */
  abstract readonly n: number;
  /** Dimension of the space the group acts on (2 or 3). */
  abstract readonly d: number;
  /** Dimension of the Lie algebra. */
  abstract readonly algebraDim: number;
  abstract readonly name: string;
  /** Whether the group includes translations (T, SE). */
  abstract readonly affine: boolean;
  /** Whether the group includes rotations (SO, SE). */
  abstract readonly rotates: boolean;
  /** The kernels' code for this group (crate/src/lie.rs `Kind`). */
  abstract readonly code: number;

  /** Whether lifted elements carry an orbit coordinate `|x|` (SO(d): the rotation alone does not locate the point). */
  get hasOrbit(): boolean {
    return !this.affine;
  }

  get identity(): LieElement {
    const e = new Float64Array(this.n * this.n);
    for (let i = 0; i < this.n; i++) e[i * this.n + i] = 1;
    return e;
  }

  /** Throws unless `g` is an element: right size, orthonormal rotation block with det +1. */
  check(g: unknown, what = 'element', tol = 1e-6): LieElement {
    const n = this.n, d = this.d;
    if (!(g instanceof Float64Array) || g.length !== n * n) {
      throw new ArgumentError(`${this.name}: ${what} must be a Float64Array of ${n * n} entries (an ${n}x${n} matrix), got ${g instanceof Float64Array ? `${g.length} entries` : typeof g}`);
    }
    if (!g.every(Number.isFinite)) throw new ArgumentError(`${this.name}: ${what} has non-finite entries`);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += g[k * n + i] * g[k * n + j];
      if (Math.abs(s - (i === j ? 1 : 0)) > tol) throw new ArgumentError(`${this.name}: ${what} is not an element: its rotation block is not orthonormal`);
      if (!this.rotates && Math.abs(g[i * n + j] - (i === j ? 1 : 0)) > tol) throw new ArgumentError(`${this.name}: ${what} is not an element: a translation has the identity as its linear part`);
    }
    if (this.det(g) < 0) throw new ArgumentError(`${this.name}: ${what} is not an element: its rotation block has determinant -1 (a reflection)`);
    if (this.affine) {
      for (let j = 0; j < d; j++) if (g[d * n + j] !== 0) throw new ArgumentError(`${this.name}: ${what} is not an element: the last row must be [0, ..., 0, 1]`);
      if (g[d * n + d] !== 1) throw new ArgumentError(`${this.name}: ${what} is not an element: the last row must be [0, ..., 0, 1]`);
    }
    return g;
  }

  private det(g: Float64Array): number {
    const n = this.n;
    if (this.d === 2) return g[0] * g[n + 1] - g[1] * g[n];
    const m = (i: number, j: number) => g[i * n + j];
    return m(0, 0) * (m(1, 1) * m(2, 2) - m(1, 2) * m(2, 1)) - m(0, 1) * (m(1, 0) * m(2, 2) - m(1, 2) * m(2, 0)) + m(0, 2) * (m(1, 0) * m(2, 1) - m(1, 1) * m(2, 0));
  }

  compose(a: LieElement, b: LieElement): LieElement {
    return matmul(this.check(a, 'a'), this.check(b, 'b'), this.n);
  }

  inverse(a: LieElement): LieElement {
    this.check(a);
    const n = this.n, d = this.d;
    const out = new Float64Array(n * n);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) out[i * n + j] = a[j * n + i];
    if (this.affine) {
      for (let i = 0; i < d; i++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += out[i * n + k] * a[k * n + d];
        out[i * n + d] = -s;
      }
      out[d * n + d] = 1;
    }
    return out;
  }

  /** The rotation block of `g` (d x d; the identity for T(d)). */
  rotation(g: LieElement): Float64Array {
    const n = this.n, d = this.d;
    const r = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) r[i * d + j] = g[i * n + j];
    return r;
  }

  /** The translation of `g` (zeros for SO(d)). */
  translation(g: LieElement): Float64Array {
    const t = new Float64Array(this.d);
    if (this.affine) for (let i = 0; i < this.d; i++) t[i] = g[i * this.n + this.d];
    return t;
  }

  /** `u . x` for point coordinates `[P, d]` or `[N, P, d]`: every point `x -> R x + t`. */
  act(u: LieElement, x: Tensor): Tensor {
    expectTensor(x, `${this.name}.act`);
    const d = this.d;
    if ((x.rank !== 2 && x.rank !== 3) || x.shape[x.rank - 1] !== d) throw new ShapeError(`${this.name}.act: expected points [N, P, ${d}] or [P, ${d}], got [${x.shape.join(', ')}]`);
    this.check(u, 'u');
    const R = this.rotation(u);
    const rt = new Float32Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) rt[j * d + i] = R[i * d + j];
    return applyMatrix(x, rt, d, Float32Array.from(this.translation(u)));
  }

  /** Where `g` sends the point `x` (length d). */
  apply(g: LieElement, x: ArrayLike<number>): Float64Array {
    this.check(g);
    if (x.length !== this.d) throw new ArgumentError(`${this.name}: a point has ${this.d} coordinates, got ${x.length}`);
    const n = this.n, d = this.d;
    const y = this.translation(g);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) y[i] += g[i * n + j] * x[j];
    return y;
  }

  protected checkAlgebra(v: ArrayLike<number>, count = 1): void {
    if (v === null || typeof v !== 'object' || typeof v.length !== 'number' || v.length !== this.algebraDim * count) {
      throw new ArgumentError(`${this.name}: ${count === 1 ? 'a Lie-algebra vector has' : `${count} Lie-algebra vectors have`} ${this.algebraDim * count} entries, got ${v && typeof v === 'object' ? `${v.length} entries` : typeof v}`);
    }
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) throw new ArgumentError(`${this.name}: Lie-algebra vector entry ${i} is not finite (${v[i]})`);
  }

  /** `exp(v)`, the element of a Lie-algebra vector. */
  exp(v: ArrayLike<number>): LieElement {
    return this.expMany(v, 1);
  }

  /** `exp` of `count` vectors (`count * algebraDim` numbers): `count` matrices back to back. */
  expMany(v: ArrayLike<number>, count: number): Float64Array {
    if (!Number.isSafeInteger(count) || count < 0) throw new ArgumentError(`${this.name}.expMany: count must be a non-negative integer, got ${count}`);
    this.checkAlgebra(v, count);
    return withTemporaries((t) => {
      const vin = t.add(new F64Buffer(v));
      const out = t.add(new F64Buffer(count * this.n * this.n));
      call(`${this.name}.exp`, (k) => k.lie_exp(this.code, vin.ptr, count, out.ptr));
      return out.toArray();
    });
  }

  /** `log(g)`, the Lie-algebra vector of an element. */
  log(g: LieElement): Float64Array {
    return this.logMany(this.check(g));
  }

  /** `log` of elements back to back (`count * n * n` numbers). */
  logMany(g: Float64Array): Float64Array {
    const nn = this.n * this.n;
    if (!(g instanceof Float64Array) || g.length % nn !== 0) throw new ArgumentError(`${this.name}.logMany: expected a Float64Array of ${nn} values per element`);
    const count = g.length / nn;
    return withTemporaries((t) => {
      const gin = t.add(new F64Buffer(g));
      const out = t.add(new F64Buffer(count * this.algebraDim));
      call(`${this.name}.log`, (k) => k.lie_log(this.code, gin.ptr, count, out.ptr));
      return out.toArray();
    });
  }

  /** A random rotation from the Haar measure, `d x d`. */
  protected abstract randomRotation(rng: Rng): Float64Array;

  /** A random element: Haar rotation, standard normal translation. */
  random(rng: Rng = Math.random): LieElement {
    const n = this.n, d = this.d;
    const g = this.identity;
    if (this.rotates) {
      const r = this.randomRotation(rng);
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) g[i * n + j] = r[i * d + j];
    }
    if (this.affine) for (let i = 0; i < d; i++) g[i * n + d] = gauss(rng);
    return g;
  }

  /**
   * Lifts a point cloud (`points`: `count x d` numbers, row-major, or a Tensor `[P, d]`) to
   * group elements, in wasm, as LieConv and LieTransformer do: T(d) and SO(2) one element per
   * point (the translation to it; the rotation taking `(|x|, 0)` to it); SE(2) `samples`
   * rotations evenly spaced from a random offset per point; SE(3) `samples` Haar-random
   * rotations per point; SO(3) the rotation taking `|x| e3` to the point after evenly spaced
   * turns about e3 (from a random offset per point). Points at the origin are refused for SO(d),
   * non-finite coordinates everywhere.
   */
  lift(points: ArrayLike<number> | Tensor, options: LiftOptions = {}): Lifted {
    if (points instanceof Tensor) {
      expectTensor(points, `${this.name}.lift`);
      if (points.rank !== 2 || points.shape[1] !== this.d) throw new ShapeError(`${this.name}.lift: points must be [P, ${this.d}], got [${points.shape.join(', ')}]`);
    }
    const flat: ArrayLike<number> = points instanceof Tensor ? points.toArray() : points;
    checkLift(this.name, this.d, flat, options);
    const { samples = 1, rng, seed = 1 } = options;
    const d = this.d;
    if (flat.length % d !== 0) throw new ArgumentError(`${this.name}.lift: points must be a flat list of ${d}-vectors, got ${flat.length} numbers`);
    if (!Number.isInteger(samples) || samples < 1 || samples > 4096) throw new ArgumentError(`${this.name}.lift: samples must be an integer in 1..4096, got ${String(samples)}`);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new ArgumentError(`${this.name}.lift: seed must be an integer in 0..2^32-1, got ${String(seed)}`);
    if (rng !== undefined && typeof rng !== 'function') throw new ArgumentError(`${this.name}.lift: rng must be a function returning numbers in [0, 1)`);
    const count = flat.length / d;
    // The kernel refuses these too, but as a fault of its caller; this is the user's input.
    for (let p = 0; p < count && this.hasOrbit; p++) {
      if (atOrigin(flat, p, d)) throw new ArgumentError(`${this.name}.lift: point ${p} is at the origin, where its orbit under ${this.name} (and so its lift) is not defined; move the cloud off the origin`);
    }
    const m = count * samples;
    const nn = this.n * this.n;
    if (m * nn > 2 ** 28) throw new ArgumentError(`${this.name}.lift: ${count} points x ${samples} samples = ${m} elements is more than this library lifts at once (${Math.floor(2 ** 28 / nn)})`);
    const needed = kernels().lie_uniforms_needed(this.code, count, samples);
    const uniforms = rng
      ? Float64Array.from({ length: needed }, (_, i) => {
          const u = rng();
          if (typeof u !== 'number' || !(u >= 0 && u < 1)) throw new ArgumentError(`${this.name}.lift: rng must return numbers in [0, 1); its call ${i} returned ${describe(u)}`);
          return u;
        })
      : undefined;
    return withTemporaries((t) => {
      const pin = t.add(new F64Buffer(flat));
      const out = t.add(new F64Buffer(m * nn));
      const orbit = this.hasOrbit ? t.add(new F64Buffer(m)) : undefined;
      const uin = uniforms ? t.add(new F64Buffer(uniforms)) : undefined;
      call(`${this.name}.lift`, (k) => k.lie_lift(this.code, pin.ptr, count, samples, seed, uin?.ptr ?? 0, uniforms?.length ?? 0, out.ptr, orbit?.ptr ?? 0));
      const point = Int32Array.from({ length: m }, (_, e) => Math.floor(e / samples));
      return new Lifted(this, out.toArray(), point, orbit?.toArray() ?? new Float64Array(0), new Uint32Array(m), samples);
    });
  }

  /**
   * Lifts a batch of clouds, `points` `[B, P, d]` with an optional `mask` `[B, P]` (1 present,
   * 0 padding), `samples` elements per point: as `lift`, with the seeded stream restarted for
   * each cloud and drawn from by its present points only, so a cloud lifts the same alone or in
   * any batch. Element `(b P + p) samples + s`; `cloud` is `b`, or `MASKED` for absent points.
   */
  liftClouds(points: Tensor, options: { samples?: number; seed?: number; mask?: Tensor } = {}): Lifted {
    expectTensor(points, `${this.name}.liftClouds: points`, 3);
    const [B, P, d] = points.shape;
    if (d !== this.d) throw new ShapeError(`${this.name}.liftClouds: points must be [B, P, ${this.d}], got [${points.shape.join(', ')}]`);
    if (options === null || typeof options !== 'object') throw new ArgumentError(`${this.name}.liftClouds: options must be an object`);
    const { samples = 1, seed = 1, mask } = options;
    if (!Number.isInteger(samples) || samples < 1 || samples > 4096) throw new ArgumentError(`${this.name}.liftClouds: samples must be an integer in 1..4096, got ${String(samples)}`);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new ArgumentError(`${this.name}.liftClouds: seed must be an integer in 0..2^32-1, got ${String(seed)}`);
    if (mask !== undefined) {
      expectTensor(mask, `${this.name}.liftClouds: mask`);
      if (mask.rank !== 2 || mask.shape[0] !== B || mask.shape[1] !== P) throw new ShapeError(`${this.name}.liftClouds: mask must be [${B}, ${P}] (one entry per point), got [${mask.shape.join(', ')}]`);
    }
    const m = B * P * samples, nn = this.n * this.n;
    const max = limits().maxLiftedElements;
    if (m > max) throw new ArgumentError(`${this.name}.liftClouds: ${B} clouds x ${P} points x ${samples} samples = ${m} elements, over the limit of ${max} (limits.maxLiftedElements; raise it with eq.setLimits if this is intended)`);
    if (m * nn > 2 ** 28) throw new ArgumentError(`${this.name}.liftClouds: ${B * P} points x ${samples} samples is more than this library lifts at once`);
    const flat = Float64Array.from(points.toArray());
    const present = mask?.toArray();
    // The kernel refuses these too; said here in the caller's terms (cloud, point) as an ArgumentError.
    const occupied = new Uint8Array(B);
    for (let i = 0; i < B * P; i++) {
      if (present && present[i] !== 0 && present[i] !== 1) throw new ArgumentError(`${this.name}.liftClouds: mask[${Math.floor(i / P)}, ${i % P}] is ${present[i]}; a mask holds 1 (present) or 0 (padding)`);
      if (present && present[i] === 0) continue;
      occupied[Math.floor(i / P)] = 1;
      for (let j = 0; j < d; j++) {
        const v = flat[i * d + j];
        if (!Number.isFinite(v)) throw new ArgumentError(`${this.name}.liftClouds: cloud ${Math.floor(i / P)}, point ${i % P} has a non-finite coordinate (${v})`);
      }
      if (this.hasOrbit && atOrigin(flat, i, d)) throw new ArgumentError(`${this.name}.liftClouds: cloud ${Math.floor(i / P)}, point ${i % P} is at the origin, where its orbit under ${this.name} (and so its lift) is not defined; move the cloud off the origin or mask the point`);
    }
    // A cloud with no present point has no elements: its pooled features (a mean over nothing)
    // and so its outputs would mean nothing.
    const empty = occupied.indexOf(0);
    if (empty >= 0) throw new ArgumentError(`${this.name}.liftClouds: cloud ${empty} has no present points (mask[${empty}, :] is all 0); every cloud needs at least one`);
    const lifted = withTemporaries((t) => {
      const pin = t.add(new F64Buffer(flat));
      const out = t.add(new F64Buffer(m * nn));
      const orbit = this.hasOrbit ? t.add(new F64Buffer(m)) : undefined;
      call(`${this.name}.liftClouds`, (k) => k.lie_lift_clouds(this.code, pin.ptr, B, P, mask?.ptr ?? 0, samples, seed, out.ptr, orbit?.ptr ?? 0));
      return { matrices: out.toArray(), orbit: orbit?.toArray() ?? new Float64Array(0) };
    });
    const cloud = new Uint32Array(m), point = new Int32Array(m);
    for (let b = 0; b < B; b++) for (let p = 0; p < P; p++) for (let s = 0; s < samples; s++) {
      const e = (b * P + p) * samples + s;
      point[e] = b * P + p;
      cloud[e] = present && present[b * P + p] === 0 ? MASKED : b;
    }
    return new Lifted(this, lifted.matrices, point, lifted.orbit, cloud, samples, B);
  }

  /**
   * `u` acting on lifted samples: every element `g` becomes `u g` (the point it stands for moves
   * by `u`; the stabiliser sample is carried along), so relative logs are unchanged.
   */
  actLifted(u: LieElement, lifted: Lifted): Lifted {
    this.check(u, 'u');
    if (!(lifted instanceof Lifted)) throw new ArgumentError(`${this.name}.actLifted: expected the result of lift() (a Lifted cloud)`);
    if (lifted.group !== this) throw new ArgumentError(`${this.name}.actLifted: the cloud was lifted to ${lifted.group.name}`);
    const moved = withTemporaries((t) => {
      const uin = t.add(new F64Buffer(u));
      const gin = t.add(new F64Buffer(lifted.matrices));
      const out = t.add(new F64Buffer(lifted.matrices.length));
      call(`${this.name}.actLifted`, (k) => k.lie_compose_left(this.code, uin.ptr, gin.ptr, lifted.count, out.ptr));
      return out.toArray();
    });
    return new Lifted(this, moved, lifted.point.slice(), lifted.orbit.slice(), lifted.cloud.slice(), lifted.samples, lifted.batch);
  }

  /** `log(g_i^-1 g_j)` for every pair: `M x M x algebraDim`, row-major. */
  pairwiseLog(elements: readonly LieElement[] | Lifted): Float64Array {
    const nn = this.n * this.n;
    let flat: Float64Array;
    if (elements instanceof Lifted) flat = elements.matrices;
    else {
      if (!Array.isArray(elements)) throw new ArgumentError(`${this.name}.pairwiseLog: expected elements or a lifted cloud`);
      flat = new Float64Array(elements.length * nn);
      elements.forEach((g, i) => flat.set(this.check(g, `elements[${i}]`), i * nn));
    }
    const m = flat.length / nn;
    if (m * m * this.algebraDim > 2 ** 27) throw new ArgumentError(`${this.name}.pairwiseLog: ${m} elements give ${m * m} pairs, more than this library materialises at once; use neighbourhoods (nn.phi's neighbours) instead`);
    return withTemporaries((t) => {
      const gin = t.add(new F64Buffer(flat));
      const out = t.add(new F64Buffer(m * m * this.algebraDim));
      call(`${this.name}.pairwiseLog`, (k) => k.lie_pairwise_log(this.code, gin.ptr, m, out.ptr));
      return out.toArray();
    });
  }

  label(g: LieElement): string {
    return `${this.name}[${Array.from(this.log(g), (v) => v.toFixed(3)).join(', ')}]`;
  }

  toString(): string {
    return this.name;
  }
}

const rot2 = (t: number) => new Float64Array([Math.cos(t), -Math.sin(t), Math.sin(t), Math.cos(t)]);

function randomSO3(rng: Rng): Float64Array {
  let q = [gauss(rng), gauss(rng), gauss(rng), gauss(rng)];
  const n = Math.hypot(...q);
  q = q.map((x) => x / n);
  const [w, x, y, z] = q;
  return new Float64Array([
    1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
    2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
    2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
  ]);
}

class Translations extends LieGroup {
  readonly rotates = false;
  readonly affine = true;
  readonly n: number;
  readonly algebraDim: number;
  readonly name: string;
  readonly code: number;
  constructor(readonly d: 2 | 3) {
    super();
    this.n = d + 1;
    this.algebraDim = d;
    this.name = `T(${d})`;
    this.code = d === 2 ? 0 : 1;
  }
  protected randomRotation(): Float64Array {
    return new Float64Array(0);
  }
}

class SO2 extends LieGroup {
  readonly n = 2; readonly d = 2; readonly algebraDim = 1; readonly name = 'SO(2)'; readonly affine = false; readonly rotates = true; readonly code = 2;
  protected randomRotation(rng: Rng): Float64Array {
    return rot2(2 * Math.PI * rng() - Math.PI);
  }
}

class SE2 extends LieGroup {
  readonly n = 3; readonly d = 2; readonly algebraDim = 3; readonly name = 'SE(2)'; readonly affine = true; readonly rotates = true; readonly code = 3;
  protected randomRotation(rng: Rng): Float64Array {
    return rot2(2 * Math.PI * rng() - Math.PI);
  }
}

class SO3 extends LieGroup {
  readonly n = 3; readonly d = 3; readonly algebraDim = 3; readonly name = 'SO(3)'; readonly affine = false; readonly rotates = true; readonly code = 4;
  protected randomRotation(rng: Rng): Float64Array {
    return randomSO3(rng);
  }
}

class SE3 extends LieGroup {
  readonly n = 4; readonly d = 3; readonly algebraDim = 6; readonly name = 'SE(3)'; readonly affine = true; readonly rotates = true; readonly code = 5;
  protected randomRotation(rng: Rng): Float64Array {
    return randomSO3(rng);
  }
}

const t2Group = new Translations(2), t3Group = new Translations(3);
const so2Group = new SO2(), se2Group = new SE2(), so3Group = new SO3(), se3Group = new SE3();
/** The translations of the plane, T(2) = R^2. */
export const t2 = (): LieGroup => t2Group;
/** The translations of space, T(3) = R^3. */
export const t3 = (): LieGroup => t3Group;
export const so2 = (): LieGroup => so2Group;
export const se2 = (): LieGroup => se2Group;
export const so3 = (): LieGroup => so3Group;
export const se3 = (): LieGroup => se3Group;

// A Map, not an object literal: 'constructor' or '__proto__' must not find Object's own.
const LIE_BY_KEY = new Map<string, LieGroup>([['t2', t2Group], ['t3', t3Group], ['so2', so2Group], ['se2', se2Group], ['so3', so3Group], ['se3', se3Group]]);

/** A Lie group from its name: `T(2)`, `T(3)`, `SO(2)`, `SE(2)`, `SO(3)`, `SE(3)` (also `t2`, `se3`, ...). */
export function lieByName(name: string): LieGroup | undefined {
  return LIE_BY_KEY.get(String(name).toLowerCase().replace(/[()]/g, ''));
}

