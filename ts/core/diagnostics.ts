/**
 * Measurements and self-checks that are not part of the numerical API: the machine's SIMD peak
 * (benchmarks report against it), the scalar reference GEMM, the crate's `exp`s one by one, and
 * a deliberate trap.
 */
import { expectTensor, zeros, type Tensor } from './tensor.js';
import { ArgumentError, ShapeError } from './errors.js';
import { call, guard, testExports } from './wasm.js';

/** Accumulator chain counts the peak kernel can run. */
export const PEAK_CHAINS = [8, 10, 12, 13, 14, 16] as const;

/** Runs the SIMD128 multiply+add peak kernel on `chains` chains; returns the FLOPs performed. */
export function peak(iterations: number, chains: (typeof PEAK_CHAINS)[number] = 12): number {
  guard('peak', (k) => k.peak(iterations, 1.5, chains));
  return guard('peak', (k) => k.peak_flops(iterations, chains));
}

/** The plain-loop GEMM (in wasm, same summation order as `matmul`) on an unpacked `b`. Test builds of the module only. */
export function matmulReference(a: Tensor, b: Tensor, options: { bias?: Tensor; relu?: boolean } = {}): Tensor {
  expectTensor(a, 'matmulReference: a', 2);
  expectTensor(b, 'matmulReference: b', 2);
  const [m, k] = a.shape as [number, number];
  const [bk, n] = b.shape as [number, number];
  if (bk !== k) throw new ShapeError(`matmulReference: a is [${m}, ${k}] so b must have ${k} rows, got [${bk}, ${n}]`);
  if (options.bias) {
    expectTensor(options.bias, 'matmulReference: bias', 1);
    if (options.bias.shape[0] !== n) throw new ShapeError(`matmulReference: bias must be [${n}], got [${options.bias.shape.join(', ')}]`);
  }
  testExports();
  const out = zeros([m, n]);
  try {
    call('matmulReference', () => testExports().gemm_reference(m, n, k, a.ptr, b.ptr, options.bias?.ptr ?? 0, out.ptr, options.relu ? 1 : 0));
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

/** Which of the kernels' `exp`s {@link expKernel} runs. */
export type ExpKernel = 'exp4' | 'exp' | 'expNonpos4' | 'expNonpos';

/**
 * `e^x` elementwise by one of the kernels' fixed-order `exp`s: the four-lane SIMD forms (`exp4`,
 * used by SiLU and `norm_exp`; `expNonpos4`, the softmax's, for arguments <= 0) or their scalar
 * twins. Test builds of the module only.
 */
export function expKernel(x: Tensor, kind: ExpKernel): Tensor {
  expectTensor(x, 'expKernel: x');
  const code = ['exp4', 'exp', 'expNonpos4', 'expNonpos'].indexOf(kind);
  if (code < 0) throw new ArgumentError(`expKernel: kind must be 'exp4', 'exp', 'expNonpos4' or 'expNonpos', got ${String(kind)}`);
  testExports();
  const out = zeros([...x.shape]);
  try {
    call('expKernel', () => testExports().exp_reference(x.ptr, out.ptr, x.size, code));
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

/** Makes the wasm module trap on purpose (a Rust panic `depth` frames deep). Always throws. Test builds only. */
export function trap(depth = 3): never {
  const t = testExports();
  guard('diagnostics.trap', () => t.trap_for_test(depth));
  throw new Error('unreachable: trap_for_test returned');
}
