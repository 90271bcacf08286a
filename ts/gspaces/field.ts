/**
 * Field types on the plane (escnn's `FieldType`): a list of representations of the gspace's
 * fibre group. A feature map is a plain `[N, C, H, W]` tensor laid out as escnn lays it out, field
 * after field, each field's `size` components contiguous, so weights and activations exported
 * from escnn need no reshuffling.
 *
 * The group acts on a field by moving the image and transforming every fibre:
 * `(u . f)(x) = rho(u) f(u^-1 x)`, the plane's origin at the image centre `((W-1)/2, (H-1)/2)`,
 * x to the right and y up. Rotations by multiples of 90 degrees and the reflection map the pixel
 * grid onto itself (square images) and are exact; other rotations resample bilinearly, with zeros
 * outside the image, so they are only approximately an action on pixels.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { describe } from '../core/limits.js';
import { Tensor, expectTensor, tensor } from '../core/tensor.js';
import { FieldType } from '../fields/field.js';
import { InvariantField } from '../fields/index.js';
import type { AnyGroup } from '../groups/index.js';
import type { PlaneElement } from './group.js';
import { GSpace } from './gspace.js';
import { R2Rep } from './repr.js';

/** A run of equal representations, as a config writes it: `[name, count]`. */
export type FieldSpec = string | [string, number];

export class R2FieldType extends FieldType<PlaneElement> {
  readonly gspace: GSpace;
  readonly representations: readonly R2Rep[];
  /** Channel offset of every field. */
  readonly offsets: readonly number[];
  readonly size: number;

  constructor(gspace: GSpace, reps: readonly R2Rep[]) {
    if (!(gspace instanceof GSpace)) throw new ArgumentError(`fieldType: the first argument must be a gspace (eq.gspaces.rot2dOnR2(8), ...), got ${describe(gspace)}`);
    if (!Array.isArray(reps) || reps.length === 0) throw new ArgumentError(`fieldType: expected a non-empty list of representations of ${gspace.name}, got ${describe(reps)}`);
    reps.forEach((r, i) => gspace.checkRep(r, `fieldType: field ${i}`));
    const size = reps.reduce((s, r) => s + r.size, 0);
    super(gspace.fibreGroup as unknown as AnyGroup, size);
    this.gspace = gspace;
    this.representations = [...reps];
    const offsets: number[] = [];
    let at = 0;
    for (const r of reps) {
      offsets.push(at);
      at += r.size;
    }
    this.offsets = offsets;
    this.size = size;
  }

  /** Whether every field is a permutation representation (trivial, regular, quotient): pointwise maps commute with it. */
  get pointwise(): boolean {
    return this.representations.every((r) => r.pointwise);
  }

  /** Whether every field is trivial (invariant fibres). */
  get trivial(): boolean {
    return this.representations.every((r) => r.isTrivial);
  }

  /** What pooling over all of space leaves: invariant features, when every field is trivial. */
  pooledOverSpace(what: string): FieldType<unknown, any> {
    if (!this.trivial) throw new ShapeError(`${what}: pooling ${this.describe()} over space leaves values that still turn with the group; pool over the fibres first (groupPooling or normPool)`);
    return new InvariantField(this.group, this.size);
  }

  /** Number of fields. */
  get length(): number {
    return this.representations.length;
  }

  /** This type followed by `other` (escnn's `+`). */
  plus(other: R2FieldType): R2FieldType {
    if (!(other instanceof R2FieldType)) throw new ArgumentError(`fieldType.plus: expected a field type, got ${describe(other)}`);
    if (other.gspace !== this.gspace) throw new ArgumentError(`fieldType.plus: field types of different spaces (${this.gspace.name} and ${other.gspace.name})`);
    return new R2FieldType(this.gspace, [...this.representations, ...other.representations]);
  }

  /** Whether `other` has the same space and the same representations in the same order. */
  equals(other: unknown): boolean {
    return other instanceof R2FieldType && other.gspace === this.gspace && other.representations.length === this.representations.length && other.representations.every((r, i) => r === this.representations[i]);
  }

  /** Runs of equal representations: `[['regular', 24]]`, or names for single fields. */
  spec(): FieldSpec[] {
    const out: FieldSpec[] = [];
    let i = 0;
    const reps = this.representations;
    while (i < reps.length) {
      let j = i;
      while (j < reps.length && reps[j] === reps[i]) j++;
      out.push(j - i === 1 ? reps[i].name : [reps[i].name, j - i]);
      i = j;
    }
    return out;
  }

  summary(): string {
    return this.spec().map((s) => (typeof s === 'string' ? s : `${s[1]} x ${s[0]}`)).join(' + ');
  }

  layout(): string {
    return `[N, ${this.size}, H, W]`;
  }

  protected kind(): string {
    return `${this.summary()} of ${this.gspace.fibreGroup.name} on R^2`;
  }

  check(x: Tensor, what: string): void {
    expectTensor(x, what);
    if (x.rank !== 4 || x.shape[1] !== this.size) throw new ShapeError(`${what}: expected ${this.layout()} (${this.kind()}), got [${x.shape.join(', ')}]`);
  }

  elements(): PlaneElement[] {
    return this.gspace.fibreGroup.elements();
  }

  label(u: PlaneElement): string {
    return this.gspace.fibreGroup.label(u);
  }

  /** `u . x`: the image moved by `u` about its centre, every fibre transformed by its `rho(u)`. */
  act(u: PlaneElement, x: Tensor): Tensor {
    this.check(x, `${this.gspace.name}.act`);
    const G = this.gspace.fibreGroup;
    G.check(u, 'u');
    const [n, c, h, w] = x.shape;
    const quarter = Math.abs(((u.angle % Math.PI) + Math.PI) % Math.PI - Math.PI / 2) < 1e-9;
    if (quarter && h !== w) {
      throw new ShapeError(`${this.gspace.name}.act: a quarter turn maps a ${h} x ${w} map onto ${w} x ${h}, not onto itself; rotations by 90 degrees act exactly only on square maps (got [${x.shape.join(', ')}])`);
    }
    const moved = resample(x.toArray(), n * c, h, w, G.planeMatrix(G.inverse(u)));
    const out = new Float32Array(moved.length);
    const hw = h * w;
    this.representations.forEach((r, f) => {
      const s = r.size, off = this.offsets[f], M = r.matrix(u);
      for (let b = 0; b < n; b++) for (let a = 0; a < s; a++) {
        const dst = (b * c + off + a) * hw;
        for (let cc = 0; cc < s; cc++) {
          const m = M[a * s + cc];
          if (m === 0) continue;
          const src = (b * c + off + cc) * hw;
          for (let p = 0; p < hw; p++) out[dst + p] += m * moved[src + p];
        }
      }
    });
    return tensor(out, x.shape);
  }

  toString(): string {
    return `field type ${this.summary()} on ${this.gspace.name}`;
  }
}

/**
 * `planes` images of `h x w` resampled at `M p` for every pixel `p` (plane coordinates about the
 * centre): bilinear, zeros outside; a sample that falls on a pixel (within 1e-9) copies it.
 */
export function resample(src: Float32Array, planes: number, h: number, w: number, M: Float64Array): Float64Array {
  const cx = (w - 1) / 2, cy = (h - 1) / 2;
  const hw = h * w;
  const taps = new Int32Array(hw * 4).fill(-1), wts = new Float64Array(hw * 4);
  const snap = (v: number) => (Math.abs(v - Math.round(v)) < 1e-9 ? Math.round(v) : v);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    const x = j - cx, y = cy - i;
    const js = snap(M[0] * x + M[1] * y + cx), is = snap(cy - (M[2] * x + M[3] * y));
    const i0 = Math.floor(is), j0 = Math.floor(js), fi = is - i0, fj = js - j0;
    const k = (i * w + j) * 4;
    const put = (q: number, ii: number, jj: number, wt: number) => {
      if (wt !== 0 && ii >= 0 && ii < h && jj >= 0 && jj < w) {
        taps[k + q] = ii * w + jj;
        wts[k + q] = wt;
      }
    };
    put(0, i0, j0, (1 - fi) * (1 - fj));
    put(1, i0, j0 + 1, (1 - fi) * fj);
    put(2, i0 + 1, j0, fi * (1 - fj));
    put(3, i0 + 1, j0 + 1, fi * fj);
  }
  const out = new Float64Array(planes * hw);
  for (let p = 0; p < planes; p++) {
    const base = p * hw;
    for (let q = 0; q < hw; q++) {
      let v = 0;
      for (let t = 0; t < 4; t++) {
        const s = taps[q * 4 + t];
        if (s >= 0) v += src[base + s] * wts[q * 4 + t];
      }
      out[base + q] = v;
    }
  }
  return out;
}

/** `eq.fieldType(gspace, reps)`: a field type of representations of `gspace`'s group. */
export function fieldType(gspace: GSpace, reps: readonly R2Rep[]): R2FieldType {
  return new R2FieldType(gspace, reps);
}

/** A field type from a config's list (`['trivial']`, `[['regular', 24]]`, ...). */
export function fieldTypeFromSpec(gspace: GSpace, spec: unknown, what: string): R2FieldType {
  if (!Array.isArray(spec) || spec.length === 0) throw new ArgumentError(`${what}: a field type is a non-empty list of representation names or [name, count] pairs, got ${describe(spec)}`);
  const reps: R2Rep[] = [];
  let total = 0;
  const byName = (n: string) => {
    try {
      return gspace.repByName(n);
    } catch (e) {
      throw new ArgumentError(`${what}: ${(e as Error).message}`);
    }
  };
  for (const s of spec) {
    if (typeof s === 'string') {
      reps.push(byName(s));
      total++;
    } else if (Array.isArray(s) && s.length === 2 && typeof s[0] === 'string' && Number.isSafeInteger(s[1]) && s[1] >= 1 && s[1] <= 65536) {
      const r = byName(s[0]);
      total += s[1];
      if (total > 65536) throw new ArgumentError(`${what}: more than 65536 fields`);
      for (let i = 0; i < s[1]; i++) reps.push(r);
    } else throw new ArgumentError(`${what}: each entry is a representation name or [name, count] with count in 1..65536, got ${describe(s)}`);
  }
  return new R2FieldType(gspace, reps);
}
