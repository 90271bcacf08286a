/**
 * The other steerable layers on the plane, after escnn's modules (names in camelCase):
 * nonlinearities (pointwise on permutation fields, norm and gated on any), pooling over the
 * fibre (`groupPooling`, `normPool`), batch norms that fold into a preceding `r2conv` at load
 * (`innerBatchNorm`, `iidBatchNorm`), anti-aliased spatial pooling, and `mask`.
 *
 * Each is equivariant for the reason escnn gives: pointwise maps commute with permutation
 * representations; a function of a field's norm commutes with orthogonal ones; pooling over a
 * fibre is invariant under its permutations (max) or orthogonal maps (norm); a per-field affine
 * commutes with the field's representation when its shift lies in the trivial subspace.
 */
import { ArgumentError, ShapeError } from '../../core/errors.js';
import { checkLayerBytes, checkOptions, describe } from '../../core/limits.js';
import { channelAffine, convGeometry, reduceAxis, relu as reluOp } from '../../core/ops.js';
import { blur2d } from '../../gspaces/ops.js';
import { Tensor, expectTensor, keep, tensor, tidy } from '../../core/tensor.js';
import type { FieldType } from '../../fields/index.js';
import { InvariantField } from '../../fields/index.js';
import { R2FieldType } from '../../gspaces/field.js';
import type { R2Rep } from '../../gspaces/repr.js';
import { Layer, type LayerConfig } from '../layer.js';
import type { ChannelAffine } from './conv.js';

const isR2 = (t: unknown): t is R2FieldType => t instanceof R2FieldType;

function fieldTypeOption(v: unknown, where: string): R2FieldType {
  if (!isR2(v)) throw new ArgumentError(`${where}: in must be a field type made by eq.fieldType(gspace, reps), got ${describe(v)}`);
  return v;
}

/** A layer with a fixed input field type on the plane; its output type follows. */
abstract class FieldLayer extends Layer {
  declare inType: R2FieldType;
  declare outType: R2FieldType;
  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    if (!this.inType.equals(t)) throw new ShapeError(`${this.label()}: expects ${this.inType.describe()}, but its input is ${t.describe()}`);
    return this.outType;
  }
  protected base(): LayerConfig {
    return { type: this.type, ...(this.name ? { name: this.name } : {}), in: this.inType.spec() };
  }
}

/** Refuses a pointwise map on fields it does not commute with. */
export function requirePointwise(t: FieldType<unknown, any>, what: string): void {
  if (isR2(t) && !t.pointwise) {
    const bad = [...new Set(t.representations.filter((r) => !r.pointwise).map((r) => r.name))];
    throw new ShapeError(`${what}: a pointwise nonlinearity is equivariant only on trivial, regular and quotient fields, but its input has ${bad.join(', ')} fields (use normNonlinearity or gatedNonlinearity)`);
  }
}

export type PointwiseFunction = 'relu' | 'elu' | 'sigmoid' | 'tanh';

/** `f` applied to every value (escnn's `PointwiseNonLinearity`, `ELU`): shape-generic; refuses non-permutation fields. */
export class Pointwise extends Layer {
  readonly type: string;
  readonly fn: PointwiseFunction;
  readonly alpha: number;
  constructor(options: { function: PointwiseFunction; alpha?: number; name?: string }) {
    checkOptions(options?.function === 'elu' ? 'elu' : 'pointwiseNonlinearity', options, { function: [['relu', 'elu', 'sigmoid', 'tanh']], alpha: ['positive', true], name: ['string', true] });
    super(options.name);
    this.fn = options.function;
    this.alpha = options.alpha ?? 1;
    this.type = this.fn === 'elu' ? 'elu' : 'pointwiseNonlinearity';
  }
  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    requirePointwise(t, this.label());
    return t;
  }
  run(x: Tensor): Tensor {
    expectTensor(x, this.label());
    if (this.fn === 'relu') return reluOp(x);
    const v = x.toArray(), a = this.alpha;
    const f = this.fn === 'elu' ? (t: number) => (t > 0 ? t : a * Math.expm1(t)) : this.fn === 'sigmoid' ? (t: number) => 1 / (1 + Math.exp(-t)) : Math.tanh;
    for (let i = 0; i < v.length; i++) v[i] = f(v[i]);
    return tensor(v, x.shape);
  }
  config(): LayerConfig {
    const c: LayerConfig = { type: this.type, ...(this.name ? { name: this.name } : {}) };
    if (this.type !== 'elu') c.function = this.fn;
    if (this.fn === 'elu' && this.alpha !== 1) c.alpha = this.alpha;
    return c;
  }
}

/** Fields grouped by size, ascending, field order within a size: how escnn orders per-field parameters of norm and gated layers. */
function bySize(t: R2FieldType, fields: number[]): number[] {
  return [...fields].sort((a, b) => t.representations[a].size - t.representations[b].size || a - b);
}

export type NormFunction = 'n_relu' | 'n_sigmoid' | 'n_softplus' | 'squash';

/**
 * `f(|x_f| - b_f) x_f / |x_f|` on every field (escnn's `NormNonLinearity`): `bias` holds `b_f`
 * (escnn's `exp(log_bias)`) in field order.
 */
export class NormNonlinearity extends FieldLayer {
  readonly type = 'normNonlinearity';
  readonly fn: NormFunction;
  readonly bias: boolean;
  constructor(options: { in: R2FieldType; function?: NormFunction; bias?: boolean; name?: string }) {
    checkOptions('normNonlinearity', options, { in: ['object'], function: [['n_relu', 'n_sigmoid', 'n_softplus', 'squash'], true], bias: ['bool', true], name: ['string', true] });
    super(options.name);
    this.inType = this.outType = fieldTypeOption(options.in, this.label());
    this.fn = options.function ?? 'n_relu';
    this.bias = options.bias ?? this.fn !== 'squash';
    if (this.fn === 'squash' && this.bias) throw new ArgumentError(`${this.label()}: 'squash' takes no bias`);
    if (this.bias) this.setParameters({ bias: new Float32Array(this.inType.length).fill(1) });
  }
  parameterShapes(): Record<string, number[]> {
    return this.bias ? { bias: [this.inType.length] } : {};
  }
  run(x: Tensor): Tensor {
    this.checkInput(x);
    const t = this.inType, [n, c, h, w] = x.shape, hw = h * w;
    const v = x.toArray(), out = new Float32Array(v.length);
    const b = this.bias ? this.params().get('bias')!.toArray() : undefined;
    const f = this.fn === 'n_relu' ? (s: number) => Math.max(0, s) : this.fn === 'n_sigmoid' ? (s: number) => 1 / (1 + Math.exp(-s)) : this.fn === 'n_softplus' ? (s: number) => (s > 20 ? s : Math.log1p(Math.exp(s))) : (s: number) => s / (1 + s);
    for (let img = 0; img < n; img++) t.representations.forEach((r, fi) => {
      const base = (img * c + t.offsets[fi]) * hw;
      for (let p = 0; p < hw; p++) {
        let ss = 0;
        for (let a = 0; a < r.size; a++) ss += v[base + a * hw + p] ** 2;
        const norm = Math.sqrt(ss);
        const m = norm <= 1e-10 ? 0 : f(norm - (b ? b[fi] : 0)) / Math.max(norm, 1e-10);
        for (let a = 0; a < r.size; a++) out[base + a * hw + p] = v[base + a * hw + p] * m;
      }
    });
    return tensor(out, x.shape);
  }
  config(): LayerConfig {
    return { ...this.base(), function: this.fn, ...(this.bias === (this.fn !== 'squash') ? {} : { bias: this.bias }) };
  }
}

/**
 * Gated nonlinearity (escnn's `GatedNonLinearity1`): each gated field times
 * `sigmoid(gate - bias)` of one trivial gate field. `gates` labels every field `'gate'` or
 * `'gated'` (default: the first half gates). As in escnn, the `t`-th gate (channel order) goes
 * with the `t`-th gated field ordered by size, ascending, then by position. With `dropGates`
 * (default) the output holds the gated fields only.
 */
export class GatedNonlinearity extends FieldLayer {
  readonly type = 'gatedNonlinearity';
  readonly gates: ('gate' | 'gated')[];
  readonly dropGates: boolean;
  /** For each gate (channel order): the gated field it multiplies. */
  readonly pairs: { gate: number; field: number }[];
  constructor(options: { in: R2FieldType; gates?: ('gate' | 'gated')[]; dropGates?: boolean; name?: string }) {
    checkOptions('gatedNonlinearity', options, { in: ['object'], gates: ['any', true], dropGates: ['bool', true], name: ['string', true] });
    super(options.name);
    const t = (this.inType = fieldTypeOption(options.in, this.label()));
    const L = t.length;
    if (options.gates === undefined && L % 2) throw new ArgumentError(`${this.label()}: without gates, the first half of the ${L} fields are gates, so their number must be even`);
    const gates = options.gates ?? Array.from({ length: L }, (_, i) => (i < L / 2 ? 'gate' : 'gated'));
    if (!Array.isArray(gates) || gates.length !== L || !gates.every((g) => g === 'gate' || g === 'gated')) throw new ArgumentError(`${this.label()}: gates must label each of the ${L} fields 'gate' or 'gated', got ${describe(options.gates)}`);
    this.gates = [...gates];
    this.dropGates = options.dropGates ?? true;
    const gateIdx = gates.flatMap((g, i) => (g === 'gate' ? [i] : []));
    const gatedIdx = gates.flatMap((g, i) => (g === 'gated' ? [i] : []));
    for (const i of gateIdx) if (!t.representations[i].isTrivial || t.representations[i].size !== 1) throw new ArgumentError(`${this.label()}: field ${i} (${t.representations[i].name}) is a gate, but gates must be trivial fields`);
    if (gateIdx.length !== gatedIdx.length) throw new ArgumentError(`${this.label()}: ${gateIdx.length} gates for ${gatedIdx.length} gated fields; they must match`);
    const order = bySize(t, gatedIdx);
    this.pairs = gateIdx.map((g, k) => ({ gate: g, field: order[k] }));
    const kept = this.dropGates ? gatedIdx : t.representations.map((_, i) => i);
    this.outType = new R2FieldType(t.gspace, kept.map((i) => t.representations[i]));
    this.setParameters({ bias: new Float32Array(gateIdx.length) });
  }
  parameterShapes(): Record<string, number[]> {
    return { bias: [this.pairs.length] };
  }
  run(x: Tensor): Tensor {
    this.checkInput(x);
    const t = this.inType, [n, c, h, w] = x.shape, hw = h * w;
    const v = x.toArray(), b = this.params().get('bias')!.toArray();
    const co = this.outType.size, out = new Float32Array(n * co * hw);
    const kept = this.dropGates ? this.gates.flatMap((g, i) => (g === 'gated' ? [i] : [])) : t.representations.map((_, i) => i);
    const outOffset = new Map<number, number>();
    kept.forEach((f, k) => outOffset.set(f, this.outType.offsets[k]));
    const gateOf = new Map(this.pairs.map((p, k) => [p.field, k]));
    for (let img = 0; img < n; img++) {
      for (const f of kept) {
        const r = t.representations[f], src = (img * c + t.offsets[f]) * hw, dst = (img * co + outOffset.get(f)!) * hw;
        const k = gateOf.get(f);
        if (k === undefined) {
          // A gate kept in the output: its sigmoid.
          const bi = this.pairs.findIndex((p) => p.gate === f);
          for (let p = 0; p < hw; p++) out[dst + p] = 1 / (1 + Math.exp(-(v[src + p] - b[bi])));
          continue;
        }
        const gsrc = (img * c + t.offsets[this.pairs[k].gate]) * hw;
        for (let p = 0; p < hw; p++) {
          const g = 1 / (1 + Math.exp(-(v[gsrc + p] - b[k])));
          for (let a = 0; a < r.size; a++) out[dst + a * hw + p] = v[src + a * hw + p] * g;
        }
      }
    }
    return tensor(out, [n, co, h, w]);
  }
  config(): LayerConfig {
    return { ...this.base(), gates: this.gates, ...(this.dropGates ? {} : { dropGates: false }) };
  }
}

const trivialFields = (t: R2FieldType) => new R2FieldType(t.gspace, t.representations.map(() => t.gspace.trivialRepr));

/** One invariant value per field: the max over its channels (escnn's `GroupPooling`; permutation fields). */
export class GroupPooling extends FieldLayer {
  readonly type = 'groupPooling';
  constructor(options: { in: R2FieldType; name?: string }) {
    checkOptions('groupPooling', options, { in: ['object'], name: ['string', true] });
    super(options.name);
    this.inType = fieldTypeOption(options.in, this.label());
    requirePointwise(this.inType, `${this.label()} (the max over a field commutes with permutations only)`);
    this.outType = trivialFields(this.inType);
  }
  run(x: Tensor): Tensor {
    this.checkInput(x);
    const t = this.inType, [n, c, h, w] = x.shape, hw = h * w, F = t.length;
    const s0 = t.representations[0].size;
    if (t.representations.every((r) => r.size === s0)) return reduceAxis(x, n * F, s0, hw, 'max', [n, F, h, w]);
    const v = x.toArray(), out = new Float32Array(n * F * hw);
    for (let img = 0; img < n; img++) t.representations.forEach((r, f) => {
      const src = (img * c + t.offsets[f]) * hw, dst = (img * F + f) * hw;
      for (let p = 0; p < hw; p++) {
        let m = -Infinity;
        for (let a = 0; a < r.size; a++) m = Math.max(m, v[src + a * hw + p]);
        out[dst + p] = m;
      }
    });
    return tensor(out, [n, F, h, w]);
  }
  config(): LayerConfig {
    return this.base();
  }
}

/** One invariant value per field: its norm (escnn's `NormPool`; any orthogonal field). */
export class NormPool extends FieldLayer {
  readonly type = 'normPool';
  constructor(options: { in: R2FieldType; name?: string }) {
    checkOptions('normPool', options, { in: ['object'], name: ['string', true] });
    super(options.name);
    this.inType = fieldTypeOption(options.in, this.label());
    this.outType = trivialFields(this.inType);
  }
  run(x: Tensor): Tensor {
    this.checkInput(x);
    const t = this.inType, [n, c, h, w] = x.shape, hw = h * w, F = t.length;
    const v = x.toArray(), out = new Float32Array(n * F * hw);
    for (let img = 0; img < n; img++) t.representations.forEach((r, f) => {
      const src = (img * c + t.offsets[f]) * hw, dst = (img * F + f) * hw;
      for (let p = 0; p < hw; p++) {
        let ss = 0;
        for (let a = 0; a < r.size; a++) ss += v[src + a * hw + p] ** 2;
        out[dst + p] = Math.sqrt(ss);
      }
    });
    return tensor(out, [n, F, h, w]);
  }
  config(): LayerConfig {
    return this.base();
  }
}

/** Shared by the two batch norms: the inference affine per channel, applied or folded. */
abstract class FieldNorm extends FieldLayer {
  readonly eps: number;
  #affine?: { version: number; scale: Tensor; shift: Tensor };
  constructor(name: string | undefined, eps: number | undefined) {
    super(name);
    this.eps = eps ?? 1e-5;
  }
  get channels(): number {
    return this.inType.size;
  }
  abstract channelAffine(): ChannelAffine;
  protected prepare(): void {
    if (Object.keys(this.parameterShapes()).some((k) => !this.params().has(k))) return;
    const v = this.params().get('running_var')!.toArray();
    if (v.some((x) => !(x >= 0))) throw new ArgumentError(`${this.label()}: running_var must be non-negative (and not NaN)`);
  }
  run(x: Tensor): Tensor {
    return this.runWith(x, false);
  }
  runWith(x: Tensor, relu: boolean): Tensor {
    this.checkInput(x);
    if (this.#affine?.version !== this.version) {
      this.#affine?.scale.dispose();
      this.#affine?.shift.dispose();
      const a = this.channelAffine();
      this.#affine = tidy(() => ({ version: this.version, scale: keep(tensor(a.scale, [a.scale.length])), shift: keep(tensor(a.shift, [a.shift.length])) }));
    }
    const [n, c, h, w] = x.shape;
    return channelAffine(x, this.#affine.scale, this.#affine.shift, n, c, h * w, relu);
  }
  config(): LayerConfig {
    return { ...this.base(), ...(this.eps !== 1e-5 ? { eps: this.eps } : {}) };
  }
  dispose(): void {
    this.#affine?.scale.dispose();
    this.#affine?.shift.dispose();
    this.#affine = undefined;
    super.dispose();
  }
}

/**
 * Batch norm with one statistic per field, shared by its channels (escnn's `InnerBatchNorm`;
 * permutation fields): `weight`, `bias`, `running_mean`, `running_var`, each `[fields]`. At load
 * it folds into a preceding `r2conv`.
 */
export class InnerBatchNorm extends FieldNorm {
  readonly type = 'innerBatchNorm';
  constructor(options: { in: R2FieldType; eps?: number; name?: string }) {
    checkOptions('innerBatchNorm', options, { in: ['object'], eps: ['positive', true], name: ['string', true] });
    super(options.name, options.eps);
    this.inType = this.outType = fieldTypeOption(options.in, this.label());
    requirePointwise(this.inType, `${this.label()} (a shift per channel commutes with permutations only)`);
    const F = this.inType.length;
    checkLayerBytes(this.label(), 4 * 10 * (F + this.inType.size));
    this.setParameters({ weight: new Float32Array(F).fill(1), bias: new Float32Array(F), running_mean: new Float32Array(F), running_var: new Float32Array(F).fill(1) });
  }
  parameterShapes(): Record<string, number[]> {
    const F = [this.inType.length];
    return { weight: F, bias: F, running_mean: F, running_var: F };
  }
  channelAffine(): ChannelAffine {
    const t = this.inType;
    const [w, b, m, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((k) => this.params().get(k)!.toArray());
    const scale = new Float32Array(t.size), shift = new Float32Array(t.size);
    t.representations.forEach((r, f) => {
      const s = w[f] / Math.sqrt(v[f] + this.eps), sh = b[f] - m[f] * s;
      for (let a = 0; a < r.size; a++) {
        scale[t.offsets[f] + a] = s;
        shift[t.offsets[f] + a] = sh;
      }
    });
    return { scale, shift };
  }
}

/**
 * escnn's `IIDBatchNorm2d` at inference: `(x - mean) w_f / sqrt(var_f + eps) + bias`, with one
 * variance and scale per field, `running_mean` `[C]` (escnn's per-field mean, in the trivial
 * subspace) and `bias` `[C]` (escnn's bias spread by the field's trivial columns of `Q`).
 */
export class IIDBatchNorm extends FieldNorm {
  readonly type = 'iidBatchNorm';
  constructor(options: { in: R2FieldType; eps?: number; name?: string }) {
    checkOptions('iidBatchNorm', options, { in: ['object'], eps: ['positive', true], name: ['string', true] });
    super(options.name, options.eps);
    this.inType = this.outType = fieldTypeOption(options.in, this.label());
    const F = this.inType.length, C = this.inType.size;
    checkLayerBytes(this.label(), 4 * 10 * (F + C));
    this.setParameters({ weight: new Float32Array(F).fill(1), bias: new Float32Array(C), running_mean: new Float32Array(C), running_var: new Float32Array(F).fill(1) });
  }
  parameterShapes(): Record<string, number[]> {
    const F = [this.inType.length], C = [this.inType.size];
    return { weight: F, bias: C, running_mean: C, running_var: F };
  }
  protected prepare(): void {
    super.prepare();
    if (!this.params().has('running_mean') || !this.params().has('bias')) return;
    // The mean and the bias must lie in each field's trivial subspace, else the map is not equivariant.
    const t = this.inType;
    for (const key of ['running_mean', 'bias']) {
      const v = this.params().get(key)!.toArray();
      t.representations.forEach((r, f) => {
        const off = t.offsets[f];
        const triv = r.trivialPositions();
        const Q = r.changeOfBasis, s = r.size;
        // Residual of v after projecting on the trivial columns of Q.
        let res = 0, scale = 0;
        for (let a = 0; a < s; a++) {
          let proj = 0;
          for (const p of triv) {
            let dot = 0;
            for (let c2 = 0; c2 < s; c2++) dot += Q[c2 * s + p] * v[off + c2];
            proj += Q[a * s + p] * dot;
          }
          res = Math.max(res, Math.abs(v[off + a] - proj));
          scale = Math.max(scale, Math.abs(v[off + a]));
        }
        if (res > 1e-4 * Math.max(1, scale)) throw new ArgumentError(`${this.label()}: ${key} of field ${f} (${r.name}) is not in the field's trivial subspace (off by ${res.toExponential(2)}), so the norm would not be equivariant`);
      });
    }
  }
  channelAffine(): ChannelAffine {
    const t = this.inType;
    const [w, b, m, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((k) => this.params().get(k)!.toArray());
    const scale = new Float32Array(t.size), shift = new Float32Array(t.size);
    t.representations.forEach((r: R2Rep, f) => {
      const s = w[f] / Math.sqrt(v[f] + this.eps);
      for (let a = 0; a < r.size; a++) {
        const c = t.offsets[f] + a;
        scale[c] = s;
        shift[c] = b[c] - m[c] * s;
      }
    });
    return { scale, shift };
  }
}

/**
 * The normalised 1-D Gaussian of `size` taps: escnn's normalised 2-D blur is its outer product
 * (crate/src/blur.rs filters the columns, then the rows).
 */
function gaussianTaps(size: number, sigma: number): Float32Array {
  const c = (size - 1) / 2, out = new Float64Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) sum += out[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
  return Float32Array.from(out, (v) => v / sum);
}

/** Python's `round` (half to even), for escnn's filter sizes. */
const roundHalfEven = (v: number) => {
  const f = Math.floor(v), d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
};

/**
 * Anti-aliased pooling (escnn's `PointwiseMaxPoolAntialiased2D`, `PointwiseAvgPoolAntialiased2D`):
 * max: a dense max over `size x size` windows (stride 1), then a Gaussian blur of width `sigma`
 * (filter `2 round(4 sigma) + 1`) sampled with `stride` and padding `padding + (filter - 1)/2`;
 * avg: the blur alone (filter `2 round(3 sigma) + 1`, padding default `(filter - 1)/2`).
 */
export class AntialiasedPool extends Layer {
  readonly type: 'maxPoolAntialiased' | 'avgPoolAntialiased';
  readonly size: number;
  readonly stride: number;
  readonly padding: number;
  readonly sigma: number;
  readonly filterSize: number;
  #blur?: Tensor;
  constructor(kind: 'max' | 'avg', options: { size?: number; stride?: number; padding?: number; sigma?: number; name?: string }) {
    const type = kind === 'max' ? 'maxPoolAntialiased' : 'avgPoolAntialiased';
    checkOptions(type, options, { size: ['dim', true], stride: ['dim', kind === 'max'], padding: ['dim0', true], sigma: ['positive', true], name: ['string', true] });
    super(options.name);
    this.type = type;
    this.sigma = options.sigma ?? 0.6;
    this.filterSize = 2 * roundHalfEven((kind === 'max' ? 4 : 3) * this.sigma) + 1;
    if (this.filterSize > 65) throw new ArgumentError(`${this.label()}: sigma ${this.sigma} gives a ${this.filterSize}x${this.filterSize} blur; at most 65`);
    if (kind === 'max') {
      if (options.size === undefined) throw new ArgumentError(`${this.label()}: option 'size' (the max window) is required`);
      // Refused here, not at the first run: a config with them would load and then never run.
      if (options.size !== 2) throw new ArgumentError(`${this.label()}: the max window is 2x2 (escnn's default size); got ${options.size}`);
      if ((options.padding ?? 0) !== 0) throw new ArgumentError(`${this.label()}: padding before the max is not supported (only 0); got ${options.padding}`);
      this.size = options.size;
      this.stride = options.stride ?? options.size;
      this.padding = 0;
    } else {
      if (options.size !== undefined) throw new ArgumentError(`${this.label()}: the averaging window is the blur's (2 round(3 sigma) + 1); give sigma, not size`);
      this.size = 1;
      this.stride = options.stride!;
      this.padding = options.padding ?? (this.filterSize - 1) / 2;
    }
    const pad = this.blurPadding;
    if (pad >= this.filterSize) throw new ArgumentError(`${this.label()}: padding ${this.padding} is too large for a ${this.filterSize}x${this.filterSize} blur`);
  }
  /** The output maps' size for `h x w` input maps (ShapeError when the window or blur does not fit). */
  mapSize(h: number, w: number): [number, number] {
    const pre = this.type === 'maxPoolAntialiased';
    const hh = pre ? h - 1 : h, ww = pre ? w - 1 : w;
    if (hh < 1 || ww < 1) throw new ShapeError(`${this.label()}: a 2x2 window does not fit a ${h}x${w} input`);
    const f = this.filterSize;
    const { ho, wo } = convGeometry(hh, ww, f, this.stride, this.blurPadding);
    if (ho < 1 || wo < 1) throw new ShapeError(`${this.label()}: the ${f}x${f} blur does not fit a ${hh}x${ww} map`);
    return [ho, wo];
  }
  /** Padding of the blur convolution. */
  get blurPadding(): number {
    return this.type === 'maxPoolAntialiased' ? this.padding + (this.filterSize - 1) / 2 : this.padding;
  }
  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    if (this.type === 'maxPoolAntialiased') requirePointwise(t, this.label());
    return t;
  }
  run(x: Tensor): Tensor {
    expectTensor(x, this.label());
    if (x.rank !== 4) throw new ShapeError(`${this.label()}: expected [N, C, H, W], got [${x.shape.join(', ')}]`);
    if (this.type === 'maxPoolAntialiased' && this.padding !== 0) throw new ShapeError(`${this.label()}: padding before the max is not supported (only 0)`);
    const [n, c, h, w] = x.shape;
    return tidy(() => {
      // The dense 2x2 max of max pooling is taken inside the blur kernel, on the fly.
      const pre = this.type === 'maxPoolAntialiased';
      if (pre && this.size !== 2) throw new ShapeError(`${this.label()}: the max window is 2x2 (escnn's default size); got ${this.size}`);
      const hh = pre ? h - 1 : h, ww = pre ? w - 1 : w;
      if (hh < 1 || ww < 1) throw new ShapeError(`${this.label()}: a 2x2 window does not fit a ${h}x${w} input`);
      this.#blur ??= keep(tensor(gaussianTaps(this.filterSize, this.sigma), [this.filterSize]));
      const f = this.filterSize, pad = this.blurPadding;
      const { ho, wo } = convGeometry(hh, ww, f, this.stride, pad);
      if (ho < 1 || wo < 1) throw new ShapeError(`${this.label()}: the ${f}x${f} blur does not fit a ${hh}x${ww} map`);
      return blur2d(x, this.#blur, n * c, hh, ww, f, this.stride, pad, [n, c, ho, wo], pre ? 1 : 0);
    });
  }
  config(): LayerConfig {
    const c: LayerConfig = { type: this.type, ...(this.name ? { name: this.name } : {}), sigma: this.sigma, stride: this.stride };
    if (this.type === 'maxPoolAntialiased') c.size = this.size;
    if (this.padding !== (this.type === 'maxPoolAntialiased' ? 0 : (this.filterSize - 1) / 2)) c.padding = this.padding;
    return c;
  }
  dispose(): void {
    this.#blur?.dispose();
    this.#blur = undefined;
    super.dispose();
  }
}

/**
 * escnn's `MaskModule`: multiplies every channel by a disk mask of an `size x size` image
 * (1 inside radius `(size - 1)/2 (1 - margin/100)`, `exp((t - r^2)/sigma^2)` outside), which
 * removes what a rotation would carry off the grid.
 */
export class Mask extends Layer {
  readonly type = 'mask';
  readonly size: number;
  readonly margin: number;
  readonly sigma: number;
  #mask?: Tensor;
  constructor(options: { size: number; margin?: number; sigma?: number; name?: string }) {
    checkOptions('mask', options, { size: ['dim'], margin: ['any', true], sigma: ['positive', true], name: ['string', true] });
    super(options.name);
    const m = options.margin ?? 0;
    if (typeof m !== 'number' || !Number.isFinite(m) || m < 0 || m > 100) throw new ArgumentError(`${this.label()}: margin must be a percentage in 0..100, got ${describe(m)}`);
    this.size = options.size;
    this.margin = m;
    this.sigma = options.sigma ?? 2;
  }
  /** The maps pass unchanged; a map of another size than the mask's is a ShapeError. */
  mapSize(h: number, w: number): [number, number] {
    if (h !== this.size || w !== this.size) throw new ShapeError(`${this.label()}: a ${this.size}x${this.size} mask, but the maps reaching it are ${h}x${w}`);
    return [h, w];
  }
  /** The mask values, `size x size`. */
  values(): Float32Array {
    const s = this.size, c = (s - 1) / 2, t = (c - (this.margin / 100) * c) ** 2;
    const out = new Float32Array(s * s);
    for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) {
      const r = (i - c) ** 2 + (j - c) ** 2;
      out[i * s + j] = r > t ? Math.exp((t - r) / this.sigma ** 2) : 1;
    }
    return out;
  }
  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    return t;
  }
  run(x: Tensor): Tensor {
    expectTensor(x, this.label());
    if (x.rank !== 4 || x.shape[2] !== this.size || x.shape[3] !== this.size) throw new ShapeError(`${this.label()}: expected [N, C, ${this.size}, ${this.size}], got [${x.shape.join(', ')}]`);
    const [n, c, h, w] = x.shape;
    this.#mask ??= keep(tensor(this.values(), [h * w]));
    // The mask as a per-position scale: x viewed as [N*C, H*W, 1].
    return tidy(() => channelAffine(x, this.#mask!, tensor(new Float32Array(h * w), [h * w]), n * c, h * w, 1, false));
  }
  config(): LayerConfig {
    return { type: this.type, ...(this.name ? { name: this.name } : {}), size: this.size, ...(this.margin ? { margin: this.margin } : {}), ...(this.sigma !== 2 ? { sigma: this.sigma } : {}) };
  }
  dispose(): void {
    this.#mask?.dispose();
    this.#mask = undefined;
    super.dispose();
  }
}

/** Invariant features from trivial fields pooled over space (what GlobalPool gives for them). */
export function afterGlobalPool(t: R2FieldType, what: string): FieldType<unknown, any> {
  if (!t.trivial) throw new ShapeError(`${what}: pooling ${t.describe()} over space leaves features that still turn with the group; pool over the fibres first (groupPooling or normPool)`);
  return new InvariantField(t.group, t.size);
}
