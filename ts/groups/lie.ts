/**
 * Matrix Lie groups SO(2), SE(2), SO(3), SE(3), by sampling (LieConv, LieTransformer).
 *
 * An element is a `Float64Array` holding an `n x n` matrix, row-major: the rotation `R` for
 * SO(d), the homogeneous `[[R, t], [0, 1]]` for SE(d). Lie-algebra vectors: SO(2) `[theta]`;
 * SE(2) `[theta, u1, u2]`; SO(3) `[w1, w2, w3]` (axis times angle); SE(3) `[w1, w2, w3, u1, u2,
 * u3]`; `exp` and `log` are the closed forms, `log` returning angles in `(-pi, pi]`. `random`
 * draws the rotation from the Haar measure (uniform angle; uniform unit quaternion) and, for
 * SE(d), the translation from a standard normal (there is no Haar probability on R^d).
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { applyMatrix } from '../core/ops.js';
import { expectTensor, type Tensor } from '../core/tensor.js';
import type { Group } from './finite.js';
import { checkLift } from './checks.js';

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

/** Lifted point cloud: each input point becomes `samples` group elements. */
export interface Lifted {
  /** The group elements, `points x samples` of them, point-major. */
  elements: LieElement[];
  /** For each element, the index of the point it came from. */
  point: Int32Array;
  /** Invariant coordinates of each element's orbit (`|x|` for SO(d); empty for SE(d)). */
  orbit: Float64Array;
}

export abstract class LieGroup implements Group<LieElement> {
  /** Side of the element matrices. */
  abstract readonly n: number;
  /** Dimension of the space the group acts on (2 or 3). */
  abstract readonly d: number;
  /** Dimension of the Lie algebra. */
  abstract readonly algebraDim: number;
  abstract readonly name: string;
  /** Whether the group includes translations (SE) or not (SO). */
  abstract readonly affine: boolean;

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
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += g[k * n + i] * g[k * n + j];
      if (Math.abs(s - (i === j ? 1 : 0)) > tol || !Number.isFinite(s)) throw new ArgumentError(`${this.name}: ${what} is not an element: its rotation block is not orthonormal`);
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

  /** The rotation block of `g` (d x d). */
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

  abstract exp(v: ArrayLike<number>): LieElement;
  abstract log(g: LieElement): Float64Array;
  /** A random rotation from the Haar measure. */
  protected abstract randomRotation(rng: Rng): Float64Array;

  protected checkAlgebra(v: ArrayLike<number>): void {
    if (v === null || typeof v !== 'object' || v.length !== this.algebraDim || !Array.from(v).every(Number.isFinite)) {
      throw new ArgumentError(`${this.name}: a Lie-algebra vector has ${this.algebraDim} finite entries, got ${v && typeof v === 'object' ? `${v.length} entries` : typeof v}`);
    }
  }

  protected compose2(r: Float64Array, t: ArrayLike<number>): LieElement {
    const n = this.n, d = this.d;
    const g = this.identity;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) g[i * n + j] = r[i * d + j];
    if (this.affine) for (let i = 0; i < d; i++) g[i * n + d] = t[i];
    return g;
  }

  /** A random element: Haar rotation, standard normal translation (SE). */
  random(rng: Rng = Math.random): LieElement {
    const t = Array.from({ length: this.d }, () => gauss(rng));
    return this.compose2(this.randomRotation(rng), t);
  }

  /**
   * Lifts a point cloud (`points`, `count x d`, row-major) to group elements, as LieConv does:
   * each point `x` becomes the elements that carry the reference point to `x`. For SE(d) that is
   * `(R, x)` with `samples` Haar-random rotations `R` (the stabiliser of the origin); for SO(2)
   * the single rotation taking `(|x|, 0)` to `x`; for SO(3) the rotations taking `|x| e3` to `x`,
   * `samples` of them around the axis. Points at the origin are refused for SO(d).
   */
  lift(points: ArrayLike<number>, options: { samples?: number; rng?: Rng } = {}): Lifted {
    checkLift(this.name, this.d, points, options);
    const { samples = 1, rng = Math.random } = options;
    if (!Number.isInteger(samples) || samples < 1) throw new ArgumentError(`${this.name}.lift: samples must be a positive integer, got ${samples}`);
    if (this.name === 'SO(2)' && samples !== 1) throw new ArgumentError('SO(2).lift: the stabiliser of a point is trivial, so samples must be 1');
    const d = this.d;
    if (points.length % d !== 0) throw new ArgumentError(`${this.name}.lift: points must be a flat list of ${d}-vectors, got ${points.length} numbers`);
    const count = points.length / d;
    const elements: LieElement[] = [];
    const point = new Int32Array(count * samples);
    const orbit = new Float64Array(this.affine ? 0 : count * samples);
    for (let p = 0; p < count; p++) {
      const x = Array.from({ length: d }, (_, i) => points[p * d + i]);
      for (let s = 0; s < samples; s++) {
        const idx = p * samples + s;
        point[idx] = p;
        if (this.affine) {
          elements.push(this.compose2(this.randomRotation(rng), x));
          continue;
        }
        const norm = Math.hypot(...x);
        if (!(norm > 1e-12)) throw new ArgumentError(`${this.name}.lift: point ${p} is at the origin, where the orbit is not defined`);
        orbit[idx] = norm;
        elements.push(this.compose2(this.orbitRotation(x.map((v) => v / norm), rng), []));
      }
    }
    return { elements, point, orbit };
  }

  /** A rotation taking the reference direction to the unit vector `u` (SO(d) lifting). */
  protected orbitRotation(u: number[], rng: Rng): Float64Array {
    void u;
    void rng;
    throw new ArgumentError(`${this.name}: no orbit lifting`);
  }

  /**
   * `u` acting on lifted samples: every element `g` becomes `u g` (the point it stands for moves
   * by `u`; the stabiliser sample is carried along), so `pairwiseLog` is unchanged.
   */
  actLifted(u: LieElement, lifted: Lifted): Lifted {
    this.check(u, 'u');
    if (!lifted || !Array.isArray(lifted.elements) || lifted.point?.length !== lifted.elements.length) {
      throw new ArgumentError(`${this.name}.actLifted: expected the result of lift() ({ elements, point, orbit })`);
    }
    return { elements: lifted.elements.map((g) => this.compose(u, g)), point: lifted.point.slice(), orbit: lifted.orbit.slice() };
  }

  /** `log(g_i^-1 g_j)` for every pair: `M x M x algebraDim`, row-major. */
  pairwiseLog(elements: readonly LieElement[]): Float64Array {
    const m = elements.length, k = this.algebraDim;
    const out = new Float64Array(m * m * k);
    const inv = elements.map((g) => this.inverse(g));
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) out.set(this.log(matmul(inv[i], elements[j], this.n)), (i * m + j) * k);
    return out;
  }

  label(g: LieElement): string {
    return `${this.name}[${Array.from(this.log(g), (v) => v.toFixed(3)).join(', ')}]`;
  }

  toString(): string {
    return this.name;
  }
}

const rot2 = (t: number) => new Float64Array([Math.cos(t), -Math.sin(t), Math.sin(t), Math.cos(t)]);

class SO2 extends LieGroup {
  readonly n = 2; readonly d = 2; readonly algebraDim = 1; readonly name = 'SO(2)'; readonly affine = false;
  exp(v: ArrayLike<number>): LieElement {
    this.checkAlgebra(v);
    return rot2(v[0]);
  }
  log(g: LieElement): Float64Array {
    this.check(g);
    return new Float64Array([Math.atan2(g[2], g[0])]);
  }
  protected randomRotation(rng: Rng): Float64Array {
    return rot2(2 * Math.PI * rng() - Math.PI);
  }
  protected orbitRotation(u: number[]): Float64Array {
    return rot2(Math.atan2(u[1], u[0]));
  }
}

class SE2 extends LieGroup {
  readonly n = 3; readonly d = 2; readonly algebraDim = 3; readonly name = 'SE(2)'; readonly affine = true;
  /** V(theta) = [[a, -b], [b, a]], a = sin(t)/t, b = (1 - cos t)/t. */
  private static v(t: number): [number, number] {
    if (Math.abs(t) < 1e-4) return [1 - (t * t) / 6, t / 2 - (t * t * t) / 24];
    return [Math.sin(t) / t, (1 - Math.cos(t)) / t];
  }
  exp(v: ArrayLike<number>): LieElement {
    this.checkAlgebra(v);
    const [a, b] = SE2.v(v[0]);
    return this.compose2(rot2(v[0]), [a * v[1] - b * v[2], b * v[1] + a * v[2]]);
  }
  log(g: LieElement): Float64Array {
    this.check(g);
    const t = Math.atan2(g[3], g[0]);
    const [a, b] = SE2.v(t);
    const s = a * a + b * b;
    const x = g[2], y = g[5];
    return new Float64Array([t, (a * x + b * y) / s, (-b * x + a * y) / s]);
  }
  protected randomRotation(rng: Rng): Float64Array {
    return rot2(2 * Math.PI * rng() - Math.PI);
  }
}

function hat(w: ArrayLike<number>): Float64Array {
  return new Float64Array([0, -w[2], w[1], w[2], 0, -w[0], -w[1], w[0], 0]);
}

/** I + a W + b W^2 for W = hat(w). */
function poly3(w: ArrayLike<number>, a: number, b: number): Float64Array {
  const W = hat(w);
  const W2 = matmul(W, W, 3);
  const out = new Float64Array(9);
  for (let i = 0; i < 9; i++) out[i] = (i % 4 === 0 ? 1 : 0) + a * W[i] + b * W2[i];
  return out;
}

/** Rodrigues: exp(hat(w)). */
function so3exp(w: ArrayLike<number>): Float64Array {
  const t = Math.hypot(w[0], w[1], w[2]);
  const t2 = t * t;
  const a = t < 1e-4 ? 1 - t2 / 6 : Math.sin(t) / t;
  const b = t < 1e-4 ? 0.5 - t2 / 24 : (1 - Math.cos(t)) / t2;
  return poly3(w, a, b);
}

/** The axis-angle vector of a rotation, angle in [0, pi]. */
function so3log(r: Float64Array): Float64Array {
  const vee = [r[7] - r[5], r[2] - r[6], r[3] - r[1]]; // 2 sin(t) a
  const c = (r[0] + r[4] + r[8] - 1) / 2;
  const t = Math.atan2(Math.hypot(...vee) / 2, c); // accurate near 0 and near pi
  if (t < 1e-4) return new Float64Array(vee.map((x) => (x / 2) * (1 + (t * t) / 6)));
  if (Math.PI - t > 0.1) return new Float64Array(vee.map((x) => (x * t) / (2 * Math.sin(t))));
  // Near pi sin(t) is small, so take the axis from the symmetric part, exactly:
  // (R + R^T)/2 = cos(t) I + (1 - cos t) a a^T.
  const aa = (i: number, j: number) => ((r[i * 3 + j] + r[j * 3 + i]) / 2 - (i === j ? c : 0)) / (1 - c);
  const diag = [aa(0, 0), aa(1, 1), aa(2, 2)];
  const i = diag.indexOf(Math.max(...diag));
  const col = [aa(0, i), aa(1, i), aa(2, i)];
  const norm = Math.hypot(...col);
  let axis = col.map((x) => x / norm);
  if (axis[0] * vee[0] + axis[1] * vee[1] + axis[2] * vee[2] < 0) axis = axis.map((x) => -x);
  return new Float64Array(axis.map((x) => x * t));
}

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

class SO3 extends LieGroup {
  readonly n = 3; readonly d = 3; readonly algebraDim = 3; readonly name = 'SO(3)'; readonly affine = false;
  exp(v: ArrayLike<number>): LieElement {
    this.checkAlgebra(v);
    return so3exp(v);
  }
  log(g: LieElement): Float64Array {
    return so3log(this.check(g));
  }
  protected randomRotation(rng: Rng): Float64Array {
    return randomSO3(rng);
  }
  /** A rotation taking e3 to u, then a random turn about e3 first (the stabiliser). */
  protected orbitRotation(u: number[], rng: Rng): Float64Array {
    const e3 = [0, 0, 1];
    const axis = [e3[1] * u[2] - e3[2] * u[1], e3[2] * u[0] - e3[0] * u[2], e3[0] * u[1] - e3[1] * u[0]];
    const s = Math.hypot(...axis), c = u[2];
    const angle = Math.atan2(s, c);
    const w = s > 1e-12 ? axis.map((x) => (x / s) * angle) : c > 0 ? [0, 0, 0] : [Math.PI, 0, 0];
    return matmul(so3exp(w), so3exp([0, 0, 2 * Math.PI * rng() - Math.PI]), 3);
  }
}

class SE3 extends LieGroup {
  readonly n = 4; readonly d = 3; readonly algebraDim = 6; readonly name = 'SE(3)'; readonly affine = true;
  private static coeffs(t: number): [number, number] {
    const t2 = t * t;
    if (t < 1e-4) return [0.5 - t2 / 24, 1 / 6 - t2 / 120];
    return [(1 - Math.cos(t)) / t2, (t - Math.sin(t)) / (t2 * t)];
  }
  exp(v: ArrayLike<number>): LieElement {
    this.checkAlgebra(v);
    const w = [v[0], v[1], v[2]];
    const [b, c] = SE3.coeffs(Math.hypot(...w));
    const V = poly3(w, b, c);
    const t = [0, 1, 2].map((i) => V[i * 3] * v[3] + V[i * 3 + 1] * v[4] + V[i * 3 + 2] * v[5]);
    return this.compose2(so3exp(w), t);
  }
  log(g: LieElement): Float64Array {
    this.check(g);
    const w = so3log(this.rotation(g));
    const t = Math.hypot(w[0], w[1], w[2]);
    // V^-1 = I - W/2 + k W^2, k = (1 - t sin t / (2 (1 - cos t))) / t^2.
    const k = t < 1e-4 ? 1 / 12 + (t * t) / 720 : (1 - (t * Math.sin(t)) / (2 * (1 - Math.cos(t)))) / (t * t);
    const Vi = poly3(w, -0.5, k);
    const x = this.translation(g);
    const u = [0, 1, 2].map((i) => Vi[i * 3] * x[0] + Vi[i * 3 + 1] * x[1] + Vi[i * 3 + 2] * x[2]);
    return new Float64Array([w[0], w[1], w[2], ...u]);
  }
  protected randomRotation(rng: Rng): Float64Array {
    return randomSO3(rng);
  }
}

const so2Group = new SO2(), se2Group = new SE2(), so3Group = new SO3(), se3Group = new SE3();
export const so2 = (): LieGroup => so2Group;
export const se2 = (): LieGroup => se2Group;
export const so3 = (): LieGroup => so3Group;
export const se3 = (): LieGroup => se3Group;
