/** Kernel calls of the steerable layers (crate/src/blur.rs). */
import { Tensor, empty } from '../core/tensor.js';
import { call } from '../core/wasm.js';

/**
 * Depthwise Gaussian blur of `planes` maps `h x w` with the 1-D `taps`, stride and zero padding;
 * with `pre` 1 (2) the maps are the 2x2 max (mean) of an `(h+1) x (w+1)` input. Output `outShape`.
 */
export function blur2d(x: Tensor, taps: Tensor, planes: number, h: number, w: number, size: number, stride: number, pad: number, outShape: readonly number[], pre: 0 | 1 | 2 = 0): Tensor {
  const out = empty(outShape);
  try {
    call('blur2d', (k) => k.blur2d(x.ptr, taps.ptr, out.ptr, planes, h, w, size, stride, pad, pre));
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}
