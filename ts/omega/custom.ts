/**
 * `omega.custom(fn)`: any summand written in TypeScript, for prototyping. `fn(fg, fgp, rel, at)`
 * returns the contribution of one pair, a vector of `out` numbers: `fg = f(g)` and `fgp = f(g')`
 * (copies), `rel` the relative element (`index`, `coords`) and `at` the pair's absolute
 * positions. It runs in plain JavaScript, pair by pair: the slow path, orders of magnitude
 * slower than the engine. Reading `at` (the absolute `g`) breaks equivariance, and
 * `checkEquivariance` will say so.
 */
import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/limits.js';
import type { Tensor } from '../core/tensor.js';
import type { Lifted, Rng } from '../groups/lie.js';
import type { Neighbourhood } from '../domains/neighbourhood.js';
import { normaliser, type Normaliser } from './engine.js';
import { Omega, options, positiveInt, type EngineInput, type EngineOutput, type OmegaContext, type Prepared } from './omega.js';

export interface Pair {
  /** Batch item. */
  batch: number;
  /** Positions of `g` and `g'` among the output and input elements. */
  g: number;
  gp: number;
  /** On a lifted field: its cloud (`lifted.element(g)` is the absolute element). */
  lifted?: Lifted;
}

export type CustomFn = (fg: Float32Array, fgp: Float32Array, rel: { index?: number; coords?: Float32Array }, at: Pair) => ArrayLike<number>;

export interface CustomOmegaOptions {
  /** Input channels. */
  in: number;
  /** Output channels (the length of what `fn` returns). */
  out: number;
  /** `'none'` (sum, default) or `'mean'` over the neighbours. */
  normalise?: Normaliser;
}

export class CustomOmega extends Omega {
  readonly kind = 'custom';
  readonly in: number;
  readonly out: number;
  readonly normalise: Normaliser;

  constructor(readonly fn: CustomFn, o: CustomOmegaOptions) {
    super();
    if (typeof fn !== 'function') throw new ArgumentError(`omega.custom: expected a function (fg, fgp, rel, at) => number[], got ${typeof fn}`);
    options(o, 'omega.custom', ['in', 'out', 'normalise']);
    this.in = positiveInt(o.in, 'omega.custom: in');
    this.out = positiveInt(o.out, 'omega.custom: out');
    this.normalise = normaliser(o.normalise ?? 'none', 'omega.custom: normalise', ['none', 'mean']);
  }

  shapes(): Record<string, number[]> {
    return {};
  }
  init(ctx: OmegaContext, rng: Rng): Record<string, Float32Array> {
    void ctx;
    void rng;
    return {};
  }
  prepare(): Prepared {
    return { dispose() {} };
  }

  run(ctx: OmegaContext, prepared: Prepared, input: EngineInput, nbhd: Neighbourhood, output: EngineOutput, where: string): void {
    void ctx;
    void prepared;
    const f = input.x.toArray(), xs = input.xs, os = output.os;
    const offsets = nbhd.offsets.toArray(), indices = nbhd.indices.toArray();
    const index = nbhd.index?.buffer.toArray();
    const coords = nbhd.coords?.buffer.toArray(), cw = nbhd.coords?.width ?? 0;
    const out = new Float32Array(output.out.size);
    const read = (b: number, e: number) => Float32Array.from({ length: this.in }, (_, c) => f[b * xs.batch + e * xs.elem + c * xs.chan]);
    for (let b = 0; b < input.batch; b++) for (let g = 0; g < nbhd.mOut; g++) {
      const acc = new Float64Array(this.out);
      const fg = read(b, g < input.mIn ? g : 0);
      const j0 = offsets[g], j1 = offsets[g + 1];
      for (let j = j0; j < j1; j++) {
        const gp = indices[j];
        const rel = { index: index?.[j], coords: coords?.slice(j * cw, (j + 1) * cw) };
        const v = this.fn(fg, read(b, gp), rel, { batch: b, g, gp, lifted: input.lifted });
        if (!v || typeof v.length !== 'number' || v.length !== this.out) throw new ArgumentError(`${where}: omega.custom's function returned ${v && typeof v.length === 'number' ? `${v.length} values` : String(v)}, expected ${this.out}`);
        for (let o = 0; o < this.out; o++) {
          // `+=` would concatenate strings and turn undefined into NaN: only numbers are summed.
          if (typeof v[o] !== 'number') throw new ArgumentError(`${where}: omega.custom's function returned ${describe(v[o])} at [${o}] (pair g = ${g}, g' = ${gp}); expected numbers`);
          acc[o] += v[o];
        }
      }
      const scale = this.normalise === 'mean' && j1 > j0 ? 1 / (j1 - j0) : 1;
      for (let o = 0; o < this.out; o++) out[b * os.batch + g * os.elem + o * os.chan] = acc[o] * scale;
    }
    output.out.view().set(out);
  }

  config(): Record<string, unknown> {
    throw new ArgumentError('omega.custom: a TypeScript function has no JSON configuration; such a layer cannot be saved in a model file');
  }
}

export type { Tensor };
