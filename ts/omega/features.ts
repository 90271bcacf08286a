/**
 * Features as the products of attention and values need them: channels last, `[batch * m, c]`
 * contiguous. Lifted clouds already are; regular fields and grids (`[N, C, elements]`) are
 * transposed once per call by the gather kernel with a cached table.
 */
import { ArgumentError } from '../core/errors.js';
import { withTable } from '../core/cache.js';
import { gather } from '../core/ops.js';
import { Tensor } from '../core/tensor.js';
import type { EngineInput } from './omega.js';

const owner = {};

/** `input` as `[batch * mIn, c]`, channels last (the tensor itself when it already is). */
export function channelsLast(input: EngineInput, c: number): Tensor {
  const { x, xs, batch, mIn } = input;
  if (xs.chan === 1 && xs.elem === c && xs.batch === mIn * c) return x;
  if (xs.elem === 1 && xs.chan === mIn && xs.batch === mIn * c) {
    return withTable(owner, `cl/${mIn}x${c}`, () => {
      const t = new Int32Array(mIn * c);
      for (let e = 0; e < mIn; e++) for (let ch = 0; ch < c; ch++) t[e * c + ch] = ch * mIn + e;
      return t;
    }, (t) => gather(x, t, batch, [batch * mIn, c]));
  }
  throw new ArgumentError(`channelsLast: features with strides ${JSON.stringify(xs)} are neither channels-first nor channels-last`);
}
