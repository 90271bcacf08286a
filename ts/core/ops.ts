/**
 * Typed calls into the layer kernels (convolution, pooling, reductions, per-channel affine,
 * ReLU). Each validates what it is given, allocates its output, and frees it again if the kernel
 * refuses; layers compose these and never touch wasm directly.
 */
import { ShapeError } from './errors.js';
import { Tensor, WasmBuffer, empty, tensor } from './tensor.js';
import { PackedMatrix, matmulRows, packMatrix } from './gemm.js';
import type { U32Buffer } from './buffers.js';
import { call, memoryBuffer, testExports } from './wasm.js';

/** Convolution padding: `'valid'`, `'same'` (PyTorch's: the extra pixel bottom/right), or pixels per side. */
export type Padding = 'same' | 'valid' | number;

export const MAX = 0;
export const MEAN = 1;
export type Reduction = 'max' | 'mean';
export const reductionCode = (r: Reduction) => (r === 'max' ? MAX : MEAN);

/** A new tensor of `shape` that `run` fills (a kernel call); freed if the call throws. */
export function into(shape: readonly number[], run: (out: Tensor) => void): Tensor {
  const out = empty(shape);
  try {
    run(out);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

export interface ConvGeometry {
  /** Input `[n, cin, h, w]` (any tensor of that size). */
  n: number;
  cin: number;
  h: number;
  w: number;
  /** Output channels (rows of the weight matrix). */
  cout: number;
  kh: number;
  kw: number;
  stride: number;
  padTop: number;
  padLeft: number;
  ho: number;
  wo: number;
}

/** Output size and padding for `'valid'`, `'same'` (PyTorch's: the extra pixel bottom/right) or an integer. */
export function convGeometry(h: number, w: number, k: number, stride: number, padding: Padding) {
  let padTop: number, padBottom: number;
  if (padding === 'valid') padTop = padBottom = 0;
  else if (padding === 'same') {
    padTop = Math.floor((k - 1) / 2);
    padBottom = k - 1 - padTop;
  } else padTop = padBottom = padding;
  const ho = Math.floor((h + padTop + padBottom - k) / stride) + 1;
  const wo = Math.floor((w + padTop + padBottom - k) / stride) + 1;
  return { padTop, padLeft: padTop, ho, wo };
}

/** `relu?(conv(x, weights) + bias)` with `weights` `[cout, cin*kh*kw]`; output `outShape`. */
export function conv2d(x: Tensor, weights: Tensor, bias: Tensor | undefined, g: ConvGeometry, relu: boolean, outShape: readonly number[]): Tensor {
  if (x.size !== g.n * g.cin * g.h * g.w) throw new ShapeError(`conv2d: input ${x.describe()} is not [${g.n}, ${g.cin}, ${g.h}, ${g.w}]`);
  if (g.ho < 1 || g.wo < 1) throw new ShapeError(`conv2d: a ${g.kh}x${g.kw} kernel does not fit a ${g.h}x${g.w} input with this padding`);
  return into(outShape, (out) =>
    call('conv2d', (k) => k.conv2d(x.ptr, weights.ptr, bias ? bias.ptr : 0, out.ptr, g.n, g.cin, g.h, g.w, g.cout, g.kh, g.kw, g.stride, g.padTop, g.padLeft, g.ho, g.wo, relu)));
}

/** Winograd F(2x2, 3x3) transform of 3x3 filters `[cout, cin*9]` into `[16, cout, cin]`. */
export function winogradWeights(weights: Tensor, cout: number, cin: number): Tensor {
  if (weights.size !== cout * cin * 9) throw new ShapeError(`winogradWeights: ${weights.describe()} is not [${cout}, ${cin}, 3, 3]`);
  return into([16, cout, cin], (out) => call('winogradWeights', (k) => k.winograd_weights(weights.ptr, cout, cin, out.ptr)));
}

/** 3x3 stride-1 convolution with padding 0 or 1 by Winograd F(2x2, 3x3); `u` from `winogradWeights`. */
export function conv3x3Winograd(x: Tensor, u: Tensor, bias: Tensor | undefined, g: ConvGeometry, relu: boolean, outShape: readonly number[]): Tensor {
  if (x.size !== g.n * g.cin * g.h * g.w) throw new ShapeError(`conv3x3Winograd: input ${x.describe()} is not [${g.n}, ${g.cin}, ${g.h}, ${g.w}]`);
  return into(outShape, (out) =>
    call('conv3x3Winograd', (k) => k.conv3x3_winograd(x.ptr, u.ptr, bias ? bias.ptr : 0, out.ptr, g.n, g.cin, g.h, g.w, g.cout, g.padTop, relu)));
}

/** Whether a convolution can run as Winograd F(2x2, 3x3): 3x3, stride 1, padding 0 or 1 on all sides. */
export function winogradApplies(k: number, stride: number, padding: Padding): boolean {
  return k === 3 && stride === 1 && (padding === 'valid' || padding === 'same' || padding === 0 || padding === 1);
}

/** The plain-loop reference of `conv2d` (same arguments). Test builds of the module only. */
export function conv2dReference(x: Tensor, weights: Tensor, bias: Tensor | undefined, g: ConvGeometry, relu: boolean, outShape: readonly number[]): Tensor {
  const t = testExports();
  return into(outShape, (out) =>
    call('conv2dReference', () => t.conv2d_reference(x.ptr, weights.ptr, bias ? bias.ptr : 0, out.ptr, g.n, g.cin, g.h, g.w, g.cout, g.kh, g.kw, g.stride, g.padTop, g.padLeft, g.ho, g.wo, relu ? 1 : 0)));
}

/** `x` as `[outer, len, inner]` reduced over the middle axis; output `outShape` (`outer*inner`). */
export function reduceAxis(x: Tensor, outer: number, len: number, inner: number, op: Reduction, outShape: readonly number[]): Tensor {
  return into(outShape, (out) => call('reduce', (k) => k.reduce_axis(x.ptr, out.ptr, outer, len, inner, reductionCode(op))));
}

/** Rows of `x` (`[m, c]`) reduced per segment (`segments[e]`, `0xffffffff` skipped) into `[count, c]`. */
export function segmentReduce(x: Tensor, segments: U32Buffer, count: number, op: Reduction): Tensor {
  const [m, c] = x.shape;
  return into([count, c], (out) => call('segmentReduce', (k) => k.segment_reduce(x.ptr, segments.ptr, out.ptr, m, c, count, reductionCode(op))));
}

/** Pools `planes` planes of `h x w` with a `size` window and `stride`. */
export function pool2d(x: Tensor, planes: number, h: number, w: number, size: number, stride: number, op: Reduction, outShape: readonly number[]): Tensor {
  return into(outShape, (out) => call('pool2d', (k) => k.pool2d(x.ptr, out.ptr, planes, h, w, size, stride, reductionCode(op))));
}

/** `relu?(x * scale[c] + shift[c])` over `x` as `[n, c, inner]`. */
export function channelAffine(x: Tensor, scale: Tensor, shift: Tensor, n: number, c: number, inner: number, relu: boolean): Tensor {
  return into(x.shape, (out) => call('channelAffine', (k) => k.channel_affine(x.ptr, scale.ptr, shift.ptr, out.ptr, n, c, inner, relu)));
}

export function relu(x: Tensor): Tensor {
  return into(x.shape, (out) => call('relu', (k) => k.relu(x.ptr, out.ptr, x.size)));
}

/** A copy of `x` with another shape of the same size. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== x.size) throw new ShapeError(`reshape: ${x.describe()} has ${x.size} values, [${shape.join(', ')}] holds ${n}`);
  const out = empty(shape);
  out.view().set(x.view());
  return out;
}

/** Indices in wasm memory, applied by the gather kernel (group actions, filter-bank expansion). */
export class IndexTable extends WasmBuffer {
  /** @param scoped false for tables a cache owns. */
  constructor(readonly indices: Int32Array, scoped = true) {
    super(indices.length * 4, `index table [${indices.length}]`, scoped);
    new Int32Array(memoryBuffer(), this.address, indices.length).set(indices);
  }
  describe(): string {
    return `index table [${this.indices.length}]`;
  }
}

/**
 * `out[o, i] = x[o, table[i]]` for each of `outer` blocks: source blocks hold `x.size / outer`
 * values, output blocks `table.length`. The output has `outShape` (default: `x`'s shape).
 */
export function gather(x: Tensor, table: IndexTable, outer: number, outShape: readonly number[] = x.shape): Tensor {
  const srcBlock = outer === 0 ? 0 : x.size / outer;
  return into(outShape, (out) => call('gather', (k) => k.gather(x.ptr, srcBlock, table.ptr, out.ptr, outer, table.indices.length)));
}

/** `x` re-indexed once: `out.flat[i] = x.flat[indices[i]]`, shape `outShape`. */
export function permute(x: Tensor, indices: Int32Array, outShape: readonly number[]): Tensor {
  const t = new IndexTable(indices);
  try {
    return gather(x, t, 1, outShape);
  } finally {
    t.dispose();
  }
}

/**
 * `x` read as rows of length `d`, each row `r` replaced by `r M^T + bias` (`mt` is `M^T`,
 * `d x d`): how a representation or a rotation acts on vector features. A new tensor of x's shape.
 */
export function applyMatrix(x: Tensor, mt: Float32Array, d: number, bias?: Float32Array): Tensor {
  const w = tensor(mt, [d, d]);
  const b = bias ? tensor(bias, [d]) : undefined;
  let packed: PackedMatrix | undefined;
  try {
    packed = packMatrix(w);
    return matmulRows(x, x.size / d, d, packed, { bias: b }, x.shape);
  } finally {
    packed?.dispose();
    w.dispose();
    b?.dispose();
  }
}

/** A copy of `x` (same shape). */
export function copy(x: Tensor): Tensor {
  return reshape(x, x.shape);
}

/** Layer norm over the last axis of `x` viewed as `rows x c`: `(x - mean) / sqrt(var + eps) * gamma + beta`. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, rows: number, c: number, eps: number): Tensor {
  if (x.size !== rows * c) throw new ShapeError(`layerNorm: ${x.describe()} is not ${rows} rows of ${c}`);
  return into(x.shape, (out) => call('layerNorm', (k) => k.layer_norm(x.ptr, gamma.ptr, beta.ptr, out.ptr, rows, c, eps)));
}

/** `x * sigmoid(x)` (SiLU, Swish), a new tensor. */
export function silu(x: Tensor): Tensor {
  return into(x.shape, (out) => call('silu', (k) => k.silu(x.ptr, out.ptr, x.size)));
}
