/**
 * Winograd F(2x2, 5x5) (crate/src/winograd5.rs): 5x5 stride-1 convolutions with 36
 * multiplications per 2x2 outputs and input channel instead of 100. The filter transform runs
 * once per layer; results differ from direct convolution by rounding (a few 1e-6 relative).
 */
import { ShapeError } from './errors.js';
import { into, type ConvGeometry, type Padding } from './ops.js';
import type { Tensor } from './tensor.js';
import type { U32Buffer } from './buffers.js';
import { call } from './wasm.js';

/** Whether a convolution can run as F(2x2, 5x5): 5x5, stride 1, the same padding (at most 4) on every side. */
export function winograd5Applies(k: number, stride: number, padding: Padding): boolean {
  return k === 5 && stride === 1 && (padding === 'valid' || padding === 'same' || (typeof padding === 'number' && padding <= 4));
}

/** The F(2x2, 5x5) transform of 5x5 filters `[cout, cin*25]` into `[36, cout, cin]`. */
export function winograd5Weights(weights: Tensor, cout: number, cin: number): Tensor {
  if (weights.size !== cout * cin * 25) throw new ShapeError(`winograd5Weights: ${weights.describe()} is not [${cout}, ${cin}, 5, 5]`);
  return into([36, cout, cin], (out) => call('winograd5Weights', (k) => k.winograd5_weights(weights.ptr, cout, cin, out.ptr)));
}

/** `relu?(conv5x5(x) + bias)` by F(2x2, 5x5); `u` from `winograd5Weights`; symmetric padding `g.padTop`. */
export function conv5x5Winograd(x: Tensor, u: Tensor, bias: Tensor | undefined, g: ConvGeometry, relu: boolean, outShape: readonly number[]): Tensor {
  if (x.size !== g.n * g.cin * g.h * g.w) throw new ShapeError(`conv5x5Winograd: input ${x.describe()} is not [${g.n}, ${g.cin}, ${g.h}, ${g.w}]`);
  return into(outShape, (out) => call('conv5x5Winograd', (k) => k.conv5x5_winograd(x.ptr, u.ptr, bias ? bias.ptr : 0, out.ptr, g.n, g.cin, g.h, g.w, g.cout, g.padTop, relu)));
}

/** The stored part of symmetric F(2x2, 5x5) weights (see crate/src/winograd5.rs `Sym`), in wasm memory. */
export interface SymmetricWinograd {
  u: Tensor;
  reps: number;
  repOf: U32Buffer;
  inPerm: U32Buffer;
  inScale: Tensor;
  outPerm: U32Buffer;
  outScale: Tensor;
}

/** `relu?(conv5x5(x) + bias)` by F(2x2, 5x5) with weights stored at a few coordinates. */
export function conv5x5WinogradSym(x: Tensor, w: SymmetricWinograd, bias: Tensor | undefined, g: ConvGeometry, relu: boolean, outShape: readonly number[]): Tensor {
  if (x.size !== g.n * g.cin * g.h * g.w) throw new ShapeError(`conv5x5Winograd: input ${x.describe()} is not [${g.n}, ${g.cin}, ${g.h}, ${g.w}]`);
  return into(outShape, (out) => call('conv5x5WinogradSym', (k) => k.conv5x5_winograd_sym(x.ptr, w.u.ptr, w.reps, w.repOf.ptr, w.inPerm.ptr, w.inScale.ptr, w.outPerm.ptr, w.outScale.ptr, bias ? bias.ptr : 0, out.ptr, g.n, g.cin, g.h, g.w, g.cout, g.padTop, relu)));
}
