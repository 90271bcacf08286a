/**
 * ReLU, and inference batch norm with one statistic per channel shared across the group axis
 * and space (so it commutes with the group action: the same affine map is applied to every
 * entry a group element can move a value to).
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import type { FieldType } from '../fields/index.js';
import { channelAffine, layerNorm as layerNormOp, relu as reluOp, silu as siluOp } from '../core/ops.js';
import { InvariantField } from '../fields/index.js';
import { LiftedField, LiftedFieldType } from '../fields/lifted.js';
import { Tensor, expectTensor, keep, tensor } from '../core/tensor.js';
import { Layer, inner, type LayerConfig } from './layer.js';
import { checkLayerBytes, checkOptions } from '../core/limits.js';

export class Relu extends Layer {
  readonly type = 'relu';
  constructor(options: { name?: string } = {}) {
    checkOptions('relu', options, { name: ['string', true] }, true);
    super(options?.name);
  }
  outputType(t: FieldType<unknown>): FieldType<unknown> {
    // Fields on the plane whose representation is not a permutation (irreps) would lose equivariance.
    if ((t as { pointwise?: boolean }).pointwise === false) throw new ShapeError(`${this.label()}: ReLU is equivariant only on trivial, regular and quotient fields, but its input is ${t.describe()} (use normNonlinearity or gatedNonlinearity)`);
    return t;
  }
  run(x: Tensor): Tensor;
  run(x: LiftedField): LiftedField;
  run(x: Tensor | LiftedField): Tensor | LiftedField {
    return onFeatures(x, this.label(), reluOp);
  }
  config(): LayerConfig {
    return { type: this.type, ...(this.name ? { name: this.name } : {}) };
  }
}

/** `x * sigmoid(x)` (SiLU, Swish), pointwise: on any feature map, lifted fields included. */
export class Silu extends Layer {
  readonly type = 'silu';
  constructor(options: { name?: string } = {}) {
    checkOptions('silu', options, { name: ['string', true] }, true);
    super(options?.name);
  }
  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    return t;
  }
  run(x: Tensor): Tensor;
  run(x: LiftedField): LiftedField;
  run(x: Tensor | LiftedField): Tensor | LiftedField {
    return onFeatures(x, this.label(), siluOp);
  }
  config(): LayerConfig {
    return { type: this.type, ...(this.name ? { name: this.name } : {}) };
  }
}

/**
 * Layer norm over each element's channels (LieTransformer's "equivariant layer norm": it acts
 * on one element's features at a time, so moving elements commutes with it): on a lifted field
 * `[M, C]` or on invariant features `[N, C]`.
 */
export class LayerNorm extends Layer {
  readonly type = 'layerNorm';
  readonly channels: number;
  readonly eps: number;

  constructor(options: { channels: number; eps?: number; name?: string }) {
    checkOptions('layerNorm', options, { channels: ['dim'], eps: ['positive', true], name: ['string', true] });
    super(options.name);
    this.channels = options.channels;
    this.eps = options.eps ?? 1e-5;
    this.setParameters({ weight: new Float32Array(this.channels).fill(1), bias: new Float32Array(this.channels) });
  }

  parameterShapes(): Record<string, number[]> {
    return { weight: [this.channels], bias: [this.channels] };
  }

  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    if (t.channels !== this.channels) throw new ShapeError(`${this.label()}: normalises ${this.channels} channels, but its input has ${t.channels} (${t.describe()})`);
    if (!(t instanceof LiftedFieldType) && !(t instanceof InvariantField)) throw new ShapeError(`${this.label()}: normalises each element's channels of a lifted field or invariant features [N, C]; its input is ${t.describe()}`);
    return t;
  }

  run(x: Tensor): Tensor;
  run(x: LiftedField): LiftedField;
  run(x: Tensor | LiftedField): Tensor | LiftedField {
    return onFeatures(x, this.label(), (t) => {
      if (t.rank !== 2 || t.shape[1] !== this.channels) throw new ShapeError(`${this.label()}: expected [N, ${this.channels}], got [${t.shape.join(', ')}]`);
      return layerNormOp(t, this.store.get('weight')!, this.store.get('bias')!, t.shape[0], this.channels, this.eps);
    });
  }

  config(): LayerConfig {
    return { type: this.type, channels: this.channels, eps: this.eps, ...(this.name ? { name: this.name } : {}) };
  }
}

/** Applies `op` to a tensor, or to a lifted field's features (a field on the same elements back). */
function onFeatures(x: Tensor | LiftedField, what: string, op: (t: Tensor) => Tensor): Tensor | LiftedField {
  if (x instanceof LiftedField) {
    expectTensor(x.features, what);
    return x.withFeatures(op(x.features));
  }
  expectTensor(x, what);
  return op(x);
}

export class BatchNorm extends Layer {
  readonly type = 'batchNorm';
  readonly channels: number;
  readonly eps: number;
  #scale?: Tensor;
  #shift?: Tensor;

  constructor(options: { channels: number; eps?: number; name?: string }) {
    checkOptions('batchNorm', options, { channels: ['dim'], eps: ['positive', true], name: ['string', true], group: ['any', true] });
    super(options.name);
    // Four parameters, scale and shift, and the arrays they are computed from.
    checkLayerBytes(`batchNorm ${options.channels}`, 4 * 10 * options.channels);
    this.channels = options.channels;
    this.eps = options.eps ?? 1e-5;
    const c = this.channels;
    this.setParameters({ weight: new Float32Array(c).fill(1), bias: new Float32Array(c), running_mean: new Float32Array(c), running_var: new Float32Array(c).fill(1) });
  }

  parameterShapes(): Record<string, number[]> {
    const c = [this.channels];
    return { weight: c, bias: c, running_mean: c, running_var: c };
  }

  /** `y = x * scale + shift` per channel: `scale = weight / sqrt(var + eps)`, `shift = bias - mean * scale`. */
  affine(): { scale: Float32Array; shift: Float32Array } {
    const [w, b, m, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((k) => this.store.get(k)!.toArray());
    const scale = new Float32Array(this.channels), shift = new Float32Array(this.channels);
    for (let c = 0; c < this.channels; c++) {
      scale[c] = w[c] / Math.sqrt(v[c] + this.eps);
      shift[c] = b[c] - m[c] * scale[c];
    }
    return { scale, shift };
  }

  protected prepare(): void {
    if (this.store.size < 4) return;
    if (this.store.get('running_var')!.toArray().some((v) => !(v >= 0))) {
      throw new ArgumentError(`${this.label()}: running_var must be non-negative (and not NaN)`);
    }
    const { scale, shift } = this.affine();
    this.#scale?.dispose();
    this.#shift?.dispose();
    this.#scale = keep(tensor(scale, [this.channels]));
    this.#shift = keep(tensor(shift, [this.channels]));
  }

  outputType(t: FieldType<unknown>): FieldType<unknown> {
    if (t.channels !== this.channels) throw new ShapeError(`${this.label()}: normalises ${this.channels} channels, but its input has ${t.channels} (${t.describe()})`);
    return t;
  }

  run(x: Tensor): Tensor;
  run(x: LiftedField): LiftedField;
  run(x: Tensor | LiftedField): Tensor | LiftedField {
    if (x instanceof LiftedField) return onFeatures(x, this.label(), (t) => this.runWith(t, false));
    return this.runWith(x, false);
  }

  /** Batch norm with ReLU fused. */
  runWith(x: Tensor, relu: boolean): Tensor {
    expectTensor(x, this.label());
    if (x.rank < 2 || x.shape[1] !== this.channels) throw new ShapeError(`${this.label()}: expected [N, ${this.channels}, ...], got [${x.shape.join(', ')}]`);
    return channelAffine(x, this.#scale!, this.#shift!, x.shape[0], this.channels, inner(x), relu);
  }

  config(): LayerConfig {
    return { type: this.type, channels: this.channels, eps: this.eps, ...(this.name ? { name: this.name } : {}) };
  }

  dispose(): void {
    this.#scale?.dispose();
    this.#shift?.dispose();
    super.dispose();
  }
}
