/**
 * `phi`: the one operator every layer is a configuration of,
 * `[Phi f](g) = sum over g' of omega(f, g, g')` (docs/framework.md).
 *
 * This file implements the kernel configuration, `omega = kappa(g^-1 g') f(g')`: the G-CNN. On
 * p4/p4m the sum over `g' = (s, x)` is a 2-D correlation with a filter bank expanded from
 * `kappa` (for output element `g`: the kernel transformed spatially by `g` and re-indexed along
 * its group axis by `g^-1 s`), so the expansion is done once, when the parameters are set, and a
 * call is one convolution kernel. On a finite group given by its Cayley table the sum is a
 * matrix product with the matrix `K[(co, g), (ci, h)] = kappa[co, ci, g^-1 h]`, packed once.
 * `reference()` evaluates the same sum literally from the group's operations, as a check.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { FieldType, GridField, ImageField, RegularField } from '../fields/index.js';
import { FiniteGroup } from '../groups/finite.js';
import { GridGroup } from '../groups/grid.js';
import { byName } from '../groups/index.js';
import { seededRng } from '../groups/lie.js';
import { AttentionOmega, KernelOmega, type Omega } from '../omega/index.js';
import { GroupAttention } from './attention.js';
import { conv2d, conv3x3Winograd, convGeometry, permute, winogradApplies, winogradWeights } from '../core/ops.js';
import { matmulRows, packMatrix, PackedMatrix } from '../core/gemm.js';
import { Tensor, keep, tensor, tidy } from '../core/tensor.js';
import { Layer, type LayerConfig } from './layer.js';
import { checkPhiOptions } from './guards.js';

export type ConvAlgorithm = 'auto' | 'direct';

export interface PhiOptions {
  group: GridGroup | FiniteGroup | string;
  omega: Omega;
  name?: string;
  /**
   * `'auto'` (default) runs 3x3 stride-1 kernels by Winograd F(2x2, 3x3) when there are at
   * least 4 input channels (2.25x fewer multiplications; rounding differs from direct
   * convolution at the 1e-7 level); `'direct'` always uses the implicit-GEMM convolution.
   */
  algorithm?: ConvAlgorithm;
  /** Seed of the initial weights (He-normal); default 1. */
  seed?: number;
}

/** A per-channel affine folded into the layer's output (inference batch norm). */
export interface Affine {
  scale: Float32Array;
  shift: Float32Array;
}

/** Weights prepared for the kernels: an expanded filter bank (grids) or a packed matrix (finite groups). */
interface Prepared {
  weights?: Tensor;
  /** Winograd-transformed filters, when the layer is 3x3, stride 1, padding 0 or 1. */
  winograd?: Tensor;
  packed?: PackedMatrix;
  bias?: Tensor;
  dispose(): void;
}

export class Phi extends Layer {
  readonly type: string;
  readonly group: GridGroup | FiniteGroup;
  readonly omega: KernelOmega;
  declare inType: FieldType<unknown>;
  declare outType: FieldType<unknown>;
  #prepared?: Prepared;
  #algorithm: ConvAlgorithm = 'auto';

  constructor(options: PhiOptions, type = 'phi') {
    super(options?.name);
    this.type = type;
    checkPhiOptions(type, options);
    if (options === null || typeof options !== 'object') throw new ArgumentError(`${type}: options { group, omega } are required`);
    const group = typeof options.group === 'string' ? byName(options.group) : options.group;
    if (!(group instanceof GridGroup) && !(group instanceof FiniteGroup)) throw new ArgumentError(`${type}: group must be p4, p4m or a finite group, got ${String(options.group)}`);
    if (!(options.omega instanceof KernelOmega)) throw new ArgumentError(`${type}: omega must be made by eq.omega.kernel(...) (for eq.omega.attention use eq.nn.phi or eq.nn.groupAttention), got ${String(options.omega)}`);
    this.group = group;
    this.omega = options.omega;
    this.#algorithm = checkAlgorithm(options.algorithm ?? 'auto', type);
    const o = this.omega;
    if (group instanceof GridGroup) {
      this.inType = (o.lift ? new ImageField(group, o.in) : new GridField(group, o.in)) as FieldType<unknown>;
      this.outType = new GridField(group, o.out) as FieldType<unknown>;
    } else {
      if (o.lift) throw new ArgumentError(`${type}: lifting onto ${group.name} needs a domain; on a finite group use regular fields as input (lift: false)`);
      this.inType = new RegularField(group, o.in) as FieldType<unknown>;
      this.outType = new RegularField(group, o.out) as FieldType<unknown>;
    }
    // He-normal initial weights, reproducible from the seed.
    const rng = seededRng(options.seed ?? 1);
    const [wShape] = [this.parameterShapes().weight];
    const fanIn = wShape.slice(1).reduce((a, b) => a * b, 1);
    const std = Math.sqrt(2 / fanIn);
    const w = Float32Array.from({ length: wShape.reduce((a, b) => a * b, 1) }, () => std * Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()));
    this.setParameters(o.bias ? { weight: w, bias: new Float32Array(o.out) } : { weight: w });
  }

  /** How the convolution runs (see `PhiOptions.algorithm`). */
  get algorithm(): ConvAlgorithm {
    return this.#algorithm;
  }

  /** Switches the algorithm; re-derives the prepared weights. */
  set algorithm(a: ConvAlgorithm) {
    this.#algorithm = checkAlgorithm(a, this.label());
    this.prepare();
  }

  /** Whether calls run as Winograd F(2x2, 3x3). */
  get usesWinograd(): boolean {
    return this.#prepared?.winograd !== undefined;
  }

  /** Size of the group axis of the features (|P| on grids, |G| on a finite group). */
  get groupAxis(): number {
    return this.group instanceof GridGroup ? this.group.pointOrder : this.group.order;
  }

  parameterShapes(): Record<string, number[]> {
    const o = this.omega, n = this.groupAxis;
    const weight = this.group instanceof GridGroup ? (o.lift ? [o.out, o.in, o.size, o.size] : [o.out, o.in, n, o.size, o.size]) : [o.out, o.in, n];
    return o.bias ? { weight, bias: [o.out] } : { weight };
  }

  setParameters(values: Record<string, Float32Array | Tensor | ArrayLike<number>>): void {
    super.setParameters(values);
  }

  protected prepare(): void {
    if (!this.store.has('weight')) return;
    this.#prepared?.dispose();
    this.#prepared = undefined;
    this.#prepared = this.build();
  }

  /** Expands and packs the weights, with an optional folded affine (per output field). */
  private build(affine?: Affine, plain = false): Prepared {
    return tidy(() => {
      const o = this.omega, P = this.groupAxis;
      const psi = this.store.get('weight')!;
      const bias = this.store.get('bias');
      const rows = o.out * P;
      // Bias and folded affine per expanded row (co, g).
      const rowBias = new Float32Array(rows);
      const b = bias?.toArray();
      for (let co = 0; co < o.out; co++) for (let g = 0; g < P; g++) {
        const v = b ? b[co] : 0;
        rowBias[co * P + g] = affine ? v * affine.scale[co] + affine.shift[co] : v;
      }
      const hasBias = !!b || !!affine;
      let weights: Tensor;
      if (this.group instanceof GridGroup) {
        weights = permute(psi, this.expansion(), [rows, this.expandedK()]);
      } else {
        weights = permute(psi, this.finiteMatrix(), [o.in * P, rows]);
      }
      if (affine) {
        const w = weights.toArray();
        if (this.group instanceof GridGroup) {
          const K = this.expandedK();
          for (let r = 0; r < rows; r++) for (let c = 0; c < K; c++) w[r * K + c] *= affine.scale[Math.floor(r / P)];
        } else {
          for (let r = 0; r < o.in * P; r++) for (let c = 0; c < rows; c++) w[r * rows + c] *= affine.scale[Math.floor(c / P)];
        }
        weights = tensor(w, weights.shape);
      }
      const prepared: Prepared = {
        bias: hasBias ? keep(tensor(rowBias, [rows])) : undefined,
        dispose() {
          this.weights?.dispose();
          this.winograd?.dispose();
          this.packed?.dispose();
          this.bias?.dispose();
        },
      };
      if (!(this.group instanceof GridGroup)) prepared.packed = keep(packMatrix(weights));
      else if (!plain && this.#algorithm === 'auto' && winogradApplies(o.size, o.stride, o.padding) && this.expandedK() / 9 >= 4) prepared.winograd = keep(winogradWeights(weights, rows, this.expandedK() / 9));
      else prepared.weights = keep(weights);
      return prepared;
    });
  }

  /**
   * The layer as an ordinary convolution (or matrix), for export to other engines: on p4/p4m
   * `weight` is `[out*|P|, in*|P|? , size, size]` (OIHW, as PyTorch/ONNX take it), on a finite
   * group `[in*|G|, out*|G|]` (`y = x weight + bias`); `affine` folds a batch norm in.
   */
  expandedFilters(affine?: Affine): { weight: Float32Array; shape: number[]; bias?: Float32Array } {
    const p = this.build(affine, true);
    try {
      const o = this.omega;
      const shape = this.group instanceof GridGroup
        ? [o.out * this.groupAxis, o.in * (o.lift ? 1 : this.groupAxis), o.size, o.size]
        : [o.in * this.groupAxis, o.out * this.groupAxis];
      const weight = this.group instanceof GridGroup ? p.weights!.toArray() : permuteBack(this.store.get('weight')!, this.finiteMatrix(), affine, this.groupAxis, o.out * this.groupAxis);
      return { weight, shape, bias: p.bias?.toArray() };
    } finally {
      p.dispose();
    }
  }

  /** Columns of the expanded filter bank: `in * |P|? * size * size`. */
  private expandedK(): number {
    const o = this.omega;
    return o.in * (o.lift ? 1 : this.groupAxis) * o.size * o.size;
  }

  /** Index table: expanded[(co, g), (ci, s?, i, j)] = psi[co, ci, g^-1 s, g^-1 (i, j)]. */
  private expansion(): Int32Array {
    const G = this.group as GridGroup, P = G.pointGroup, o = this.omega;
    const k = o.size, kk = k * k, n = P.order, K = this.expandedK();
    const S = o.lift ? 1 : n;
    const t = new Int32Array(o.out * n * K);
    for (let g = 0; g < n; g++) {
      const pix = G.pixelTable(g, k, k);
      const ginv = P.inverse(g);
      for (let co = 0; co < o.out; co++) for (let ci = 0; ci < o.in; ci++) for (let s = 0; s < S; s++) {
        const q = o.lift ? 0 : P.compose(ginv, s);
        const src = ((co * o.in + ci) * S + q) * kk;
        const dst = (co * n + g) * K + (ci * S + s) * kk;
        for (let i = 0; i < kk; i++) t[dst + i] = src + pix[i];
      }
    }
    return t;
  }

  /** Index table of the transposed group-convolution matrix, `[(ci, h), (co, g)]`. */
  private finiteMatrix(): Int32Array {
    const G = this.group as FiniteGroup, o = this.omega, n = G.order;
    const t = new Int32Array(o.in * n * o.out * n);
    for (let ci = 0; ci < o.in; ci++) for (let h = 0; h < n; h++) for (let co = 0; co < o.out; co++) for (let g = 0; g < n; g++) {
      t[(ci * n + h) * (o.out * n) + co * n + g] = (co * o.in + ci) * n + G.compose(G.inverse(g), h);
    }
    return t;
  }

  outputType(t: FieldType<unknown>): FieldType<unknown> {
    const want = this.inType;
    if (t.constructor !== want.constructor || t.group !== want.group || t.channels !== want.channels) {
      throw new ShapeError(`${this.label()}: expects ${want.describe()}, but its input is ${t.describe()}`);
    }
    return this.outType;
  }

  run(x: Tensor): Tensor {
    return this.forward(x, this.#prepared!, false);
  }

  /**
   * An executor with a per-output-field affine (batch norm) folded into the weights and bias,
   * and optionally ReLU fused into the kernel's epilogue: what a model runs.
   */
  fused(affine: Affine | undefined, relu: boolean): { run(x: Tensor): Tensor; dispose(): void } {
    const prepared = affine ? this.build(affine) : undefined;
    return {
      run: (x) => this.forward(x, prepared ?? this.#prepared!, relu),
      dispose: () => prepared?.dispose(),
    };
  }

  private forward(x: Tensor, prepared: Prepared, relu: boolean): Tensor {
    this.checkInput(x);
    const o = this.omega, P = this.groupAxis;
    if (this.group instanceof GridGroup) {
      const [n] = x.shape;
      const h = x.shape[x.rank - 2], w = x.shape[x.rank - 1];
      const { padTop, padLeft, ho, wo } = convGeometry(h, w, o.size, o.stride, o.padding);
      if (ho < 1 || wo < 1) throw new ShapeError(`${this.label()}: a ${o.size}x${o.size} kernel with padding ${o.padding} does not fit a ${h}x${w} input`);
      const cin = o.in * (o.lift ? 1 : P);
      if (prepared.winograd) {
        return conv3x3Winograd(x, prepared.winograd, prepared.bias, { n, cin, h, w, cout: o.out * P, kh: 3, kw: 3, stride: 1, padTop, padLeft, ho, wo }, relu, [n, o.out, P, ho, wo]);
      }
      return conv2d(x, prepared.weights!, prepared.bias, { n, cin, h, w, cout: o.out * P, kh: o.size, kw: o.size, stride: o.stride, padTop, padLeft, ho, wo }, relu, [n, o.out, P, ho, wo]);
    }
    const n = x.shape[0];
    return matmulRows(x, n, o.in * P, prepared.packed!, { bias: prepared.bias, relu }, [n, o.out, P]);
  }

  /**
   * The operator evaluated literally: for every output element `g`,
   * `sum over g' of kappa(g^-1 g') f(g')`, with `g^-1 g'` computed by the group's own
   * operations (point-group composition and matrices, or the Cayley table). Slow; for tests.
   */
  reference(x: Tensor): Tensor {
    this.checkInput(x);
    const o = this.omega;
    const psi = this.store.get('weight')!.toArray();
    const bias = this.store.get('bias')?.toArray();
    const f = x.toArray();
    if (this.group instanceof FiniteGroup) {
      const G = this.group, n = G.order, N = x.shape[0];
      const out = new Float32Array(N * o.out * n);
      for (let b = 0; b < N; b++) for (let co = 0; co < o.out; co++) for (let g = 0; g < n; g++) {
        let acc = 0;
        for (let ci = 0; ci < o.in; ci++) for (let h = 0; h < n; h++) acc += psi[(co * o.in + ci) * n + G.compose(G.inverse(g), h)] * f[(b * o.in + ci) * n + h];
        out[(b * o.out + co) * n + g] = acc + (bias ? bias[co] : 0);
      }
      return tensor(out, [N, o.out, n]);
    }
    const G = this.group, P = G.pointGroup, n = P.order, k = o.size;
    const N = x.shape[0], H = x.shape[x.rank - 2], W = x.shape[x.rank - 1];
    const S = o.lift ? 1 : n;
    const { padTop, padLeft, ho, wo } = convGeometry(H, W, k, o.stride, o.padding);
    const out = new Float32Array(N * o.out * n * ho * wo);
    for (let b = 0; b < N; b++) for (let co = 0; co < o.out; co++) for (let g = 0; g < n; g++) {
      const ginv = P.inverse(g);
      const [a, bb, c, d] = G.matrix(ginv);
      for (let oh = 0; oh < ho; oh++) for (let ow = 0; ow < wo; ow++) {
        const top = oh * o.stride - padTop, left = ow * o.stride - padLeft;
        // The window's centre, in doubled pixel coordinates (half-integer for even sizes).
        const cy2 = 2 * top + (k - 1), cx2 = 2 * left + (k - 1);
        let acc = 0;
        for (let ci = 0; ci < o.in; ci++) for (let s = 0; s < S; s++) {
          const q = o.lift ? 0 : P.compose(ginv, s);
          for (let iy = Math.max(0, top); iy < Math.min(H, top + k); iy++) for (let ix = Math.max(0, left); ix < Math.min(W, left + k); ix++) {
            // g^-1 g' on the spatial part: the inverse point transform of x' - centre (y up).
            const X = 2 * ix - cx2, Y = cy2 - 2 * iy;
            const X2 = a * X + bb * Y, Y2 = c * X + d * Y;
            const jj = (X2 + (k - 1)) / 2, ii = (k - 1 - Y2) / 2;
            acc += psi[(((co * o.in + ci) * S + q) * k + ii) * k + jj] * f[(((b * o.in + ci) * S + s) * H + iy) * W + ix];
          }
        }
        out[(((b * o.out + co) * n + g) * ho + oh) * wo + ow] = acc + (bias ? bias[co] : 0);
      }
    }
    return tensor(out, [N, o.out, n, ho, wo]);
  }

  config(): LayerConfig {
    const base: LayerConfig = { type: this.type, group: this.group.name };
    if (this.name) base.name = this.name;
    if (this.type === 'phi') return { ...base, omega: this.omega.config() };
    const { in: i, out, size, padding, stride, bias } = this.omega;
    return { ...base, in: i, out, kernel: size, padding, stride, bias };
  }

  dispose(): void {
    this.#prepared?.dispose();
    this.#prepared = undefined;
    super.dispose();
  }
}

function checkAlgorithm(a: unknown, where: string): ConvAlgorithm {
  if (a !== 'auto' && a !== 'direct') throw new ArgumentError(`${where}: algorithm must be 'auto' or 'direct', got ${String(a)}`);
  return a;
}

/** The finite-group matrix as plain numbers (the packed form is kernel-private). */
function permuteBack(kappa: Tensor, table: Int32Array, affine: Affine | undefined, n: number, cols: number): Float32Array {
  const k = kappa.toArray();
  const out = Float32Array.from(table, (i) => k[i]);
  if (affine) for (let i = 0; i < out.length; i++) out[i] *= affine.scale[Math.floor((i % cols) / n)];
  return out;
}

/**
 * The general operator, configured by `omega`: `omega.kernel` gives the G-CNN layers (a `Phi`),
 * `omega.attention` group self-attention (a `GroupAttention`).
 */
export function phi(options: PhiOptions): Phi | GroupAttention {
  if (options?.omega instanceof AttentionOmega) {
    if (options.group instanceof GridGroup) throw new ArgumentError('phi: attention runs on the regular fields of a finite group; p4/p4m attention is not available yet');
    return new GroupAttention({ group: options.group as FiniteGroup | string, omega: options.omega, name: options.name, seed: options.seed }, 'phi');
  }
  return new Phi(options);
}
