/**
 * The matrix product, the kernel every layer lowers to: `C = relu?(A B + bias)`.
 *
 * B is packed once into the kernel's 8-column panels (`packMatrix`), so weights that are used
 * again and again are laid out once, at load time; `matmul` also takes an unpacked B and packs
 * it for that one call. Each output element is summed in a fixed order (k = 0..K-1, then bias,
 * then ReLU), whatever the shapes, so results are identical on every platform and split.
 */
import { ArgumentError, DisposedError, ShapeError } from './errors.js';
import { checkOptions, describe } from './limits.js';
import { Tensor, WasmBuffer, empty, expectTensor } from './tensor.js';
import { call, kernels } from './wasm.js';

/** Bytes of a packed `k x n` matrix; sizes checked first (the kernel takes u32, which would wrap). */
function packedBytes(k: number, n: number): number {
  if (!Number.isSafeInteger(k) || !Number.isSafeInteger(n) || k < 0 || n < 1 || k * (n + 8) > 2 ** 29) {
    throw new ArgumentError(`PackedMatrix: k and n must be integers (k >= 0, n >= 1) with k x n at most about 2^29, got ${describe(k)} x ${describe(n)}`);
  }
  return kernels().packed_b_len(k, n) * 4;
}

/** A `k x n` matrix packed for the GEMM kernel. Create with `packMatrix`. */
export class PackedMatrix extends WasmBuffer {
  constructor(
    readonly k: number,
    readonly n: number,
  ) {
    super(packedBytes(k, n), `packed matrix [${k}, ${n}]`);
  }

  describe(): string {
    return `packed matrix [${this.k}, ${this.n}]`;
  }
}

/** Packs a `[k, n]` tensor for repeated use as the right operand of `matmul`. */
export function packMatrix(b: Tensor): PackedMatrix {
  expectTensor(b, 'packMatrix', 2);
  const [k, n] = b.shape as [number, number];
  const packed = new PackedMatrix(k, n);
  try {
    call('packMatrix', (kn) => kn.pack_b(b.ptr, k, n, packed.ptr));
  } catch (e) {
    packed.dispose();
    throw e;
  }
  return packed;
}

export interface MatmulOptions {
  /** Added to every row (`[n]`). */
  bias?: Tensor;
  /** Apply ReLU (`x > 0 || isNaN(x) ? x : 0`) after the bias. */
  relu?: boolean;
}

/** `relu?(a b + bias)` for `a: [m, k]` and `b: [k, n]` (a tensor, or packed once by `packMatrix`). */
export function matmul(a: Tensor, b: Tensor | PackedMatrix, options: MatmulOptions = {}): Tensor {
  expectTensor(a, 'matmul: a', 2);
  const [m, k] = a.shape as [number, number];
  let bk: number, n: number;
  if (b instanceof PackedMatrix) {
    if (b.disposed) throw new DisposedError(`matmul: b, ${b.describe()}, was used after dispose()`);
    [bk, n] = [b.k, b.n];
  } else {
    [bk, n] = expectTensor(b, 'matmul: b', 2).shape as [number, number];
  }
  if (bk !== k) throw new ShapeError(`matmul: a is [${m}, ${k}] so b must have ${k} rows, but b is [${bk}, ${n}]`);
  checkOptions('matmul', options, { bias: ['any', true], relu: ['bool', true] }, true);
  const { bias, relu = false } = options;
  if (typeof relu !== 'boolean') throw new ArgumentError(`matmul: options.relu must be a boolean, got ${typeof relu}`);
  if (bias !== undefined) {
    expectTensor(bias, 'matmul: options.bias', 1);
    if (bias.shape[0] !== n) throw new ShapeError(`matmul: bias must be [${n}] (one per column of the result), got [${bias.shape.join(', ')}]`);
  }
  const temp = b instanceof PackedMatrix ? undefined : packMatrix(b);
  try {
    return matmulRows(a, m, k, temp ?? (b as PackedMatrix), { bias, relu }, [m, n]);
  } finally {
    temp?.dispose();
  }
}

/**
 * The GEMM on `a` read as `m x k` rows (any shape of that size) against a packed matrix;
 * the result has shape `outShape` (`m * n` values). Shapes are the caller's to validate.
 */
export function matmulRows(a: Tensor, m: number, k: number, packed: PackedMatrix, options: MatmulOptions & RowOptions, outShape: readonly number[]): Tensor {
  if (a.size !== m * k || packed.k !== k) throw new ShapeError(`matmul: ${a.describe()} is not ${m} rows of ${k}, or the matrix is not [${k}, n]`);
  const n = packed.n;
  const { bias, relu = false, activation = relu ? 'relu' : 'none', residual } = options;
  if (residual && residual.size !== m * n) throw new ShapeError(`matmul: the residual ${residual.describe()} is not ${m} x ${n}`);
  const out = empty(outShape);
  try {
    if (residual) out.view().set(residual.view());
    const code = residual ? 3 : activation === 'relu' ? 1 : activation === 'silu' ? 2 : 0;
    if (residual && activation !== 'none') throw new ShapeError('matmul: a residual sum takes no activation');
    call('matmul', (kn) => kn.gemm_act(m, n, k, a.ptr, packed.ptr, bias ? bias.ptr : 0, out.ptr, code));
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

/** Internal options of `matmulRows`: the activation after the bias, or a residual added instead. */
export interface RowOptions {
  activation?: 'none' | 'relu' | 'silu';
  /** `out = a b + bias + residual` (the residual has the output's size). */
  residual?: Tensor;
}
