/**
 * The fibre groups of the plane's gspaces: `C_N`, `D_N` (finite), `SO(2)` and `O(2)`, with the
 * real irreducible representations escnn and e2cnn use (the same matrices, names and order), so
 * that weights trained there mean the same here.
 *
 * An element is `{ flip, angle }`: the rotation by `angle` (radians, counter-clockwise) after
 * `flip` reflections `x -> -x` (escnn's `(f, theta)`, read `r_theta f^flip`). So
 * `(f1, a1)(f2, a2) = (f1 xor f2, a1 + (-1)^f1 a2)`. Finite groups hold the angles
 * `2 pi i / N` exactly as computed from `i`, and remember `i`.
 *
 * Irreps (ids as escnn's): `C_N`, `SO(2)`: `[k]`, `k >= 0`: `[1]` for `k = 0`, `[cos k theta]`
 * for `k = N/2` (N even), else the rotation by `k theta` (2-dim, of complex type). `D_N`, `O(2)`:
 * `[j, k]`: `[0, 0]` trivial, `[1, 0]` the flip's sign, `[0, N/2]` and `[1, N/2]` (N even,
 * 1-dim), else `R(k theta) diag(1, (-1)^f)` (2-dim, real type).
 */
import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/limits.js';

export interface PlaneElement {
  /** 1 if a reflection `x -> -x` comes first. */
  readonly flip: 0 | 1;
  /** The rotation after it, radians in `[0, 2 pi)`. */
  readonly angle: number;
}

export type IrrepId = readonly number[];
export type FibreKind = 'C' | 'D' | 'SO2' | 'O2';

const TWO_PI = 2 * Math.PI;
/** `a mod n` in `[0, n)` (angles may be negative). */
const mod = (a: number, n: number) => ((a % n) + n) % n;
const norm = (a: number) => {
  const r = a % TWO_PI;
  return r < 0 ? r + TWO_PI : r;
};

/** `R(t)` row-major. */
export const rotation = (t: number) => new Float64Array([Math.cos(t), -Math.sin(t), Math.sin(t), Math.cos(t)]);

export class FibreGroup {
  /** escnn's name: `C8`, `D4`, `SO(2)`, `O(2)`, `C1`, `C2` (the flips of `flipRot2dOnR2(1)`). */
  readonly name: string;
  /** Whether it contains the reflection. */
  readonly hasFlip: boolean;
  /** Finite: `N` rotations; continuous: -1. */
  readonly N: number;
  readonly identity: PlaneElement = { flip: 0, angle: 0 };
  /** The irreps listed by `irreps` (for SO(2) and O(2), up to this frequency). */
  readonly maximumFrequency: number;

  constructor(readonly kind: FibreKind, N: number, maximumFrequency = 6) {
    this.N = kind === 'SO2' || kind === 'O2' ? -1 : N;
    this.hasFlip = kind === 'D' || kind === 'O2';
    this.maximumFrequency = maximumFrequency;
    this.name = kind === 'C' ? `C${N}` : kind === 'D' ? (N === 1 ? 'C2' : `D${N}`) : kind === 'SO2' ? 'SO(2)' : 'O(2)';
  }

  get finite(): boolean {
    return this.N > 0;
  }

  /** Number of elements (finite groups); Infinity otherwise. */
  get order(): number {
    return this.finite ? (this.hasFlip ? 2 : 1) * this.N : Infinity;
  }

  /** Elements in escnn's order: rotations `i = 0..N-1`, then (D_N) the same after the flip. */
  elements(): PlaneElement[] {
    if (!this.finite) throw new ArgumentError(`${this.name} is infinite: give a list of elements (for example gspace.randomElements(n))`);
    const out: PlaneElement[] = [];
    for (let f = 0; f < (this.hasFlip ? 2 : 1); f++) for (let i = 0; i < this.N; i++) out.push({ flip: f as 0 | 1, angle: (TWO_PI * i) / this.N });
    return out;
  }

  /** Position of an element in `elements()` (finite groups). */
  index(g: PlaneElement): number {
    this.check(g);
    const i = mod(Math.round((g.angle * this.N) / TWO_PI), this.N);
    return g.flip * this.N + i;
  }

  /** The element from escnn's element id: `i` (C_N) or `[f, i]` (D_N) or an angle (SO(2)) or `[f, angle]` (O(2)). */
  element(flip: number, rotation: number): PlaneElement {
    if (flip !== 0 && flip !== 1) throw new ArgumentError(`${this.name}: flip must be 0 or 1, got ${describe(flip)}`);
    if (flip === 1 && !this.hasFlip) throw new ArgumentError(`${this.name} has no reflections`);
    if (typeof rotation !== 'number' || !Number.isFinite(rotation)) throw new ArgumentError(`${this.name}: the rotation must be a finite number, got ${describe(rotation)}`);
    if (this.finite) {
      if (!Number.isInteger(rotation)) throw new ArgumentError(`${this.name}: the rotation is a whole number of steps of 360/${this.N} degrees, got ${describe(rotation)}`);
      const i = ((rotation % this.N) + this.N) % this.N;
      return { flip: flip as 0 | 1, angle: (TWO_PI * i) / this.N };
    }
    return { flip: flip as 0 | 1, angle: norm(rotation) };
  }

  /** Throws unless `g` is an element of this group. */
  check(g: unknown, what = 'element'): PlaneElement {
    const e = g as PlaneElement;
    if (e === null || typeof e !== 'object' || (e.flip !== 0 && e.flip !== 1) || typeof e.angle !== 'number' || !Number.isFinite(e.angle)) {
      throw new ArgumentError(`${this.name}: ${what} must be { flip: 0 | 1, angle } (radians), got ${describe(g)}`);
    }
    if (e.flip === 1 && !this.hasFlip) throw new ArgumentError(`${this.name}: ${what} has a reflection, but ${this.name} has none`);
    if (this.finite) {
      const steps = (e.angle * this.N) / TWO_PI;
      if (Math.abs(steps - Math.round(steps)) > 1e-9) throw new ArgumentError(`${this.name}: ${what} rotates by ${(e.angle * 180) / Math.PI} degrees, not a multiple of ${360 / this.N}`);
    }
    return e;
  }

  compose(a: PlaneElement, b: PlaneElement): PlaneElement {
    this.check(a);
    this.check(b);
    const angle = norm(a.angle + (a.flip ? -b.angle : b.angle));
    return { flip: (a.flip ^ b.flip) as 0 | 1, angle: this.snap(angle) };
  }

  inverse(a: PlaneElement): PlaneElement {
    this.check(a);
    return a.flip ? a : { flip: 0, angle: this.snap(norm(-a.angle)) };
  }

  /** Finite groups: the exact angle `2 pi i / N` for the nearest `i`. */
  private snap(angle: number): number {
    if (!this.finite) return angle;
    const i = mod(Math.round((angle * this.N) / TWO_PI), this.N);
    return (TWO_PI * i) / this.N;
  }

  label(g: PlaneElement): string {
    this.check(g);
    if (this.finite) {
      const i = mod(Math.round((g.angle * this.N) / TWO_PI), this.N);
      const r = i ? `r${i}` : '';
      return [r, g.flip ? 'f' : ''].filter(Boolean).join(' ') || 'e';
    }
    const deg = (g.angle * 180) / Math.PI;
    return `rotation ${deg.toFixed(2)} deg${g.flip ? ' after the flip' : ''}`;
  }

  /** A random element (Haar measure), from a uniform source in [0, 1). */
  random(rng: () => number): PlaneElement {
    const flip = (this.hasFlip && rng() < 0.5 ? 1 : 0) as 0 | 1;
    if (this.finite) return { flip, angle: (TWO_PI * Math.min(this.N - 1, Math.floor(rng() * this.N))) / this.N };
    return { flip, angle: rng() * TWO_PI };
  }

  /** Whether `g` maps the pixel grid onto itself: a multiple of 90 degrees (and any flip). */
  exactOnGrid(g: PlaneElement): boolean {
    const q = (g.angle * 2) / Math.PI;
    return Math.abs(q - Math.round(q)) < 1e-9;
  }

  /** The irreps, in escnn's order (continuous groups: up to `maximumFrequency`). */
  irreps(maxFrequency = this.maximumFrequency): IrrepId[] {
    const N = this.N;
    if (this.kind === 'C') return Array.from({ length: Math.floor(N / 2) + 1 }, (_, k) => [k]);
    if (this.kind === 'SO2') return Array.from({ length: maxFrequency + 1 }, (_, k) => [k]);
    const top = this.kind === 'D' ? Math.floor(N / 2) : maxFrequency;
    const ids: IrrepId[] = [[0, 0]];
    for (let k = 0; k <= top; k++) ids.push([1, k]);
    if (this.kind === 'D' && N % 2 === 0) ids.push([0, N / 2]);
    return ids;
  }

  /** Checks an irrep id, returning it normalised. */
  checkIrrep(id: unknown, what = 'irrep'): IrrepId {
    const a = Array.isArray(id) ? id : [id];
    const bad = () => new ArgumentError(`${this.name}: ${what} ${describe(id)} is not an irrep; ${this.hasFlip ? 'give (j, k): j = 0 or 1 (the flip), k >= 0 the frequency' : 'give the frequency k >= 0'}${this.finite ? ` (k <= ${Math.floor(this.N / 2)})` : ''}`);
    if (!a.every((v) => Number.isSafeInteger(v) && v >= 0)) throw bad();
    if (this.hasFlip) {
      // flipRot2dOnR2(1): escnn names the flip group's irreps by one index.
      const ids = a.length === 1 && this.N === 1 ? [a[0], 0] : a;
      if (ids.length !== 2 || ids[0] > 1) throw bad();
      const [j, k] = ids;
      if (this.finite && k > this.N / 2) throw bad();
      if (k === 0 || (this.finite && 2 * k === this.N)) return [j, k];
      if (j !== 1) throw bad();
      return [j, k];
    }
    if (a.length !== 1) throw bad();
    if (this.finite && a[0] > this.N / 2) throw bad();
    return [a[0]];
  }

  irrepSize(id: IrrepId): number {
    const k = id[id.length - 1];
    return k === 0 || (this.finite && 2 * k === this.N) ? 1 : 2;
  }

  /** Complex type (two endomorphisms): the 2-dim irreps of C_N and SO(2). */
  irrepComplex(id: IrrepId): boolean {
    return !this.hasFlip && this.irrepSize(id) === 2;
  }

  irrepName(id: IrrepId): string {
    if (this.hasFlip && this.N === 1) return `irrep_${id[0]}`;
    return `irrep_${id.join(',')}`;
  }

  /** The irrep's frequency `k` (its last index). */
  frequency(id: IrrepId): number {
    return id[id.length - 1];
  }

  /** `psi_id(g)`, row-major. */
  irrepMatrix(id: IrrepId, g: PlaneElement): Float64Array {
    const t = g.angle, s = g.flip ? -1 : 1;
    if (!this.hasFlip) {
      const k = id[0];
      if (k === 0) return new Float64Array([1]);
      if (this.irrepSize(id) === 1) return new Float64Array([Math.cos(k * t)]);
      return rotation(k * t);
    }
    const [j, k] = id;
    if (k === 0) return new Float64Array([j === 1 ? s : 1]);
    if (this.irrepSize(id) === 1) return new Float64Array([Math.cos(k * t) * (j === 1 ? s : 1)]);
    const R = rotation(k * t);
    return new Float64Array([R[0], R[1] * s, R[2], R[3] * s]);
  }

  /** How `g` moves points of the plane: `R(angle) diag(-1, 1)^flip`, row-major 2 x 2. */
  planeMatrix(g: PlaneElement): Float64Array {
    const R = rotation(g.angle);
    return g.flip ? new Float64Array([-R[0], R[1], -R[2], R[3]]) : R;
  }

  toString(): string {
    return this.name;
  }
}
