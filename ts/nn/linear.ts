/** `linear` (a dense layer on invariant features) and `flatten`. */
import { ShapeError } from '../core/errors.js';
import { FieldType, InvariantField } from '../fields/index.js';
import { LiftedField, LiftedFieldType } from '../fields/lifted.js';
import { PackedMatrix, matmulRows, packMatrix } from '../core/gemm.js';
import { permute, reshape } from '../core/ops.js';
import { Tensor, expectTensor, keep, tidy } from '../core/tensor.js';
import { Layer, type LayerConfig } from './layer.js';
import { seededRng } from '../groups/lie.js';
import { checkLayerBytes, checkOptions } from '../core/limits.js';

/** `y = x W^T + b` on `[N, in]`, with `W` `[out, in]` as PyTorch stores it (packed once). */
export class Linear extends Layer {
  readonly type = 'linear';
  readonly in: number;
  readonly out: number;
  readonly bias: boolean;
  #packed?: PackedMatrix;

  constructor(options: { in: number; out: number; bias?: boolean; name?: string; seed?: number }) {
    checkOptions('linear', options, { in: ['dim'], out: ['dim'], bias: ['bool', true], name: ['string', true], seed: ['int', true] });
    super(options.name);
    // Parameters, the transposed copy and its packed form, before anything is allocated.
    checkLayerBytes(`linear ${options.in} -> ${options.out}`, 4 * 4 * (options.in * options.out + options.out));
    this.in = options.in;
    this.out = options.out;
    this.bias = options.bias ?? true;
    const rng = seededRng(options.seed ?? 1);
    const bound = 1 / Math.sqrt(this.in);
    const w = Float32Array.from({ length: this.in * this.out }, () => (rng() * 2 - 1) * bound);
    this.setParameters(this.bias ? { weight: w, bias: new Float32Array(this.out) } : { weight: w });
  }

  parameterShapes(): Record<string, number[]> {
    return this.bias ? { weight: [this.out, this.in], bias: [this.out] } : { weight: [this.out, this.in] };
  }

  protected prepare(): void {
    if (!this.store.has('weight')) return;
    this.#packed?.dispose();
    const [o, i] = [this.out, this.in];
    const t = new Int32Array(i * o);
    for (let r = 0; r < i; r++) for (let c = 0; c < o; c++) t[r * o + c] = c * i + r;
    this.#packed = tidy(() => keep(packMatrix(permute(this.store.get('weight')!, t, [i, o]))));
  }

  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    // On a lifted field the map acts on each element's features: it commutes with moving elements.
    if (t instanceof LiftedFieldType) {
      if (t.channels !== this.in) throw new ShapeError(`${this.label()}: expects ${this.in} features per element, its input has ${t.channels}`);
      return new LiftedFieldType(t.group, this.out);
    }
    if (!(t instanceof InvariantField)) throw new ShapeError(`${this.label()}: a dense layer is equivariant only on invariant features or per element of a lifted field; its input is ${t.describe()} (pool over the group first)`);
    if ((t as InvariantField).width !== this.in && (t as InvariantField).width !== 0) throw new ShapeError(`${this.label()}: expects ${this.in} features, its input has ${t.channels}`);
    return new InvariantField(t.group, this.out);
  }

  run(x: Tensor): Tensor;
  run(x: LiftedField): LiftedField;
  run(x: Tensor | LiftedField): Tensor | LiftedField {
    return this.apply(x, {});
  }

  /**
   * `x W^T + b`, then SiLU (`activation`), or plus a residual (`residual`, the output's size):
   * fused in the product's epilogue.
   */
  apply(x: Tensor | LiftedField, o: { activation?: 'none' | 'relu' | 'silu'; residual?: Tensor | LiftedField }): Tensor | LiftedField {
    if (x instanceof LiftedField) {
      const f = x.features;
      expectTensor(f, this.label(), 2);
      if (f.shape[1] !== this.in) throw new ShapeError(`${this.label()}: expected ${this.in} features per element, got [${f.shape.join(', ')}]`);
      const residual = o.residual instanceof LiftedField ? o.residual.features : o.residual;
      return x.withFeatures(matmulRows(f, f.shape[0], this.in, this.#packed!, { bias: this.store.get('bias'), activation: o.activation, residual }, [f.shape[0], this.out]));
    }
    expectTensor(x, this.label());
    if (x.rank !== 2 || x.shape[1] !== this.in) throw new ShapeError(`${this.label()}: expected [N, ${this.in}], got [${x.shape.join(', ')}]`);
    const residual = o.residual instanceof LiftedField ? o.residual.features : o.residual;
    return matmulRows(x, x.shape[0], this.in, this.#packed!, { bias: this.store.get('bias'), activation: o.activation, residual }, [x.shape[0], this.out]);
  }

  config(): LayerConfig {
    return { type: this.type, in: this.in, out: this.out, bias: this.bias, ...(this.name ? { name: this.name } : {}) };
  }

  dispose(): void {
    this.#packed?.dispose();
    this.#packed = undefined;
    super.dispose();
  }
}

/** `[N, ...] -> [N, prod(...)]`. */
export class Flatten extends Layer {
  readonly type = 'flatten';
  constructor(options: { name?: string } = {}) {
    checkOptions('flatten', options, { name: ['string', true] }, true);
    super(options?.name);
  }
  outputType(t: FieldType<unknown>): FieldType<unknown> {
    if (!(t instanceof InvariantField)) throw new ShapeError(`${this.label()}: flattening is equivariant only on invariant features; its input is ${t.describe()}`);
    return new InvariantField(t.group, 0);
  }
  run(x: Tensor): Tensor {
    expectTensor(x, this.label());
    if (x.rank < 1) throw new ShapeError(`${this.label()}: expected [N, ...], got a scalar`);
    return reshape(x, [x.shape[0], x.size / (x.shape[0] || 1)]);
  }
  config(): LayerConfig {
    return { type: this.type, ...(this.name ? { name: this.name } : {}) };
  }
}
