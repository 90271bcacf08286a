/**
 * A small MLP `psi` evaluated on the pairs `(g, g')` of a neighbourhood: the learned part of
 * `omega.mlp` (an implicit kernel, LieConv's kernel of the log) and of attention's location
 * term. Layers are stored as PyTorch's `Linear` (`weight [out, in]`, `bias [out]`), or with a
 * leading heads axis (`[heads, out, in]`) for per-head MLPs side by side, whose first layer reads
 * the shared input and whose later layers are block-diagonal; the engine runs them as products
 * on its register tile with the activation fused, once per block of pairs.
 */
import { ArgumentError } from '../core/errors.js';
import { Tensor, keep, tidy } from '../core/tensor.js';
import type { Rng } from '../groups/lie.js';
import { actCode, packGroups, type Activation, type EngineMlp } from './engine.js';
import { uniform } from './omega.js';

export interface PsiLayer {
  inp: number;
  out: number;
  /** Independent blocks (heads) of this layer in the engine (1: a full matrix). */
  groups: number;
  act: Activation;
}

export class PsiNet {
  readonly layers: PsiLayer[];

  /**
   * @param dims `[input, hidden..., output]` widths of one head.
   * @param heads heads side by side (each its own MLP on the same input).
   * @param acts the activation after each layer.
   */
  constructor(readonly prefix: string, readonly dims: readonly number[], readonly acts: readonly Activation[], readonly heads = 1) {
    if (dims.length < 2 || acts.length !== dims.length - 1) throw new ArgumentError(`${prefix}: an MLP needs at least an input and an output width, and one activation per layer`);
    this.layers = acts.map((act, i) => ({
      inp: i === 0 ? dims[0] : dims[i] * heads,
      out: dims[i + 1] * heads,
      groups: i === 0 ? 1 : heads,
      act,
    }));
  }

  get output(): number {
    return this.dims[this.dims.length - 1] * this.heads;
  }

  /** Parameter shapes: `prefix.i.weight` `[out, in]` (or `[heads, out, in]`), `prefix.i.bias`. */
  shapes(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    this.dims.slice(1).forEach((o, i) => {
      const inp = this.dims[i];
      out[`${this.prefix}.${i}.weight`] = this.heads > 1 ? [this.heads, o, inp] : [o, inp];
      out[`${this.prefix}.${i}.bias`] = this.heads > 1 ? [this.heads, o] : [o];
    });
    return out;
  }

  /** PyTorch's `Linear` initialisation: uniform in `+-1/sqrt(in)`, seeded. */
  init(rng: Rng): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const [name, shape] of Object.entries(this.shapes())) {
      const fanIn = this.dims[Number(name.split('.').at(-2))];
      out[name] = uniform(shape.reduce((a, b) => a * b, 1), 1 / Math.sqrt(fanIn), rng);
    }
    return out;
  }

  /** The layers packed for the engine (kept until `dispose`). */
  prepare(params: ReadonlyMap<string, Tensor>, uses: { rel: boolean; target: boolean; source: boolean }): EngineMlp & { dispose(): void } {
    const kept: Tensor[] = [];
    const layers = tidy(() => this.layers.map((l, i) => {
      const w = params.get(`${this.prefix}.${i}.weight`)!.toArray();
      const b = params.get(`${this.prefix}.${i}.bias`)!;
      const ig = l.inp / l.groups, og = l.out / l.groups;
      // Rows of the stored weight are outputs, grouped by block: block g is rows g og.. of width ig.
      const t = new Float32Array(l.inp / l.groups * l.out);
      for (let g = 0; g < l.groups; g++) for (let o = 0; o < og; o++) for (let k = 0; k < ig; k++) t[g * ig * og + k * og + o] = w[(g * og + o) * ig + k];
      const weights = packGroups(t, ig, og, l.groups, keep);
      const bias = keep(new Tensor([l.out], false));
      bias.view().set(b.toArray());
      kept.push(weights, bias);
      return { inp: l.inp, out: l.out, groups: l.groups, act: actCode(l.act), weights, bias };
    }));
    return { layers, usesRel: uses.rel, usesTarget: uses.target, usesSource: uses.source, dispose: () => kept.forEach((t) => t.dispose()) };
  }

  /** The MLP on one input row, in double precision (tables evaluated once, references). */
  forward(params: ReadonlyMap<string, Tensor> | Map<string, Float32Array>, z: ArrayLike<number>): Float64Array {
    let h = Float64Array.from(z);
    this.layers.forEach((l, i) => {
      const get = (k: string) => { const v = params.get(`${this.prefix}.${i}.${k}`)!; return v instanceof Tensor ? v.toArray() : v; };
      const w = get('weight'), b = get('bias');
      const ig = l.inp / l.groups, og = l.out / l.groups;
      const y = new Float64Array(l.out);
      for (let g = 0; g < l.groups; g++) for (let o = 0; o < og; o++) {
        let s = b[g * og + o];
        for (let k = 0; k < ig; k++) s += w[(g * og + o) * ig + k] * h[(l.groups === 1 ? 0 : g * ig) + k];
        y[g * og + o] = l.act === 'relu' ? Math.max(0, s) : l.act === 'silu' ? s / (1 + Math.exp(-s)) : s;
      }
      h = y;
    });
    return h;
  }
}
