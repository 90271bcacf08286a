/**
 * `omega.kernel`: `omega(f, g, g') = kappa(g^-1 g') f(g')`, a learned kernel table on the
 * relative element: the group convolution (Cohen & Welling), or with `lift: true` the lifting
 * convolution from images on the plane (`kappa(g^-1 x') f(x')`). On p4/p4m the kernel has a
 * spatial support of `size x size` (the neighbourhood is that window); on a finite group it has
 * one entry per element. `Phi` runs it on the dense fast paths; the engine runs the same sum as
 * a product with the one-hot relative index (tested equal).
 */
import { ArgumentError } from '../core/errors.js';
import { checkKernelOmegaOptions } from '../core/limits.js';
import { PackedMatrix, packMatrix } from '../core/gemm.js';
import type { Padding } from '../core/ops.js';
import { Tensor, keep, tensor, tidy } from '../core/tensor.js';
import type { Rng } from '../groups/lie.js';
import type { NeighbourSpec } from '../domains/neighbourhood.js';
import { Act, Norm, runEngine } from './engine.js';
import { Omega, bool, heNormal, options, positiveInt, type DomainKind, type EngineInput, type EngineOutput, type OmegaContext, type Prepared } from './omega.js';
import type { Neighbourhood } from '../domains/neighbourhood.js';

export interface KernelOmegaOptions {
  /** Input channels (fields). */
  in: number;
  /** Output channels (fields). */
  out: number;
  /** Spatial support `size x size` (p4/p4m); default 3. Odd or even. */
  size?: number;
  /** `'valid'` (default), `'same'` (PyTorch's; the extra pixel goes bottom/right for even sizes), or pixels per side. */
  padding?: Padding;
  stride?: number;
  /** A learned bias per output field; default true. */
  bias?: boolean;
  /** Lift from the domain (an image on Z^2) onto the group; default false. */
  lift?: boolean;
}

interface KernelPrepared extends Prepared {
  weights: PackedMatrix;
  bias?: Tensor;
}

/** `omega(f, g, g') = kappa(g^-1 g') f(g')`. */
export class KernelOmega extends Omega {
  readonly kind = 'kernel';
  readonly in: number;
  readonly out: number;
  readonly size: number;
  readonly padding: Padding;
  readonly stride: number;
  readonly bias: boolean;
  readonly lift: boolean;

  constructor(o: KernelOmegaOptions) {
    super();
    const where = 'omega.kernel';
    checkKernelOmegaOptions(o);
    options(o, where, ['in', 'out', 'size', 'padding', 'stride', 'bias', 'lift']);
    this.in = positiveInt(o.in, `${where}: in`);
    this.out = positiveInt(o.out, `${where}: out`);
    this.size = positiveInt(o.size ?? 3, `${where}: size`);
    this.stride = positiveInt(o.stride ?? 1, `${where}: stride`);
    const p = o.padding ?? 'valid';
    if (p !== 'same' && p !== 'valid' && !(Number.isInteger(p) && (p as number) >= 0 && (p as number) < this.size)) {
      throw new ArgumentError(`${where}: padding must be 'same', 'valid' or an integer in 0..${this.size - 1}, got ${String(p)}`);
    }
    if (p === 'same' && this.stride !== 1) throw new ArgumentError(`${where}: padding 'same' needs stride 1`);
    this.padding = p;
    this.bias = bool(o.bias ?? true, `${where}: bias`);
    this.lift = bool(o.lift ?? false, `${where}: lift`);
  }

  supports(kind: DomainKind): string | undefined {
    if (kind === 'lifted') return 'omega.kernel is a table of the relative element, which finite groups and grids have; on a Lie group use omega.mlp (a learned psi of log(g^-1 g\'))';
    return undefined;
  }

  get hasBias(): boolean {
    return this.bias;
  }

  shapes(ctx: OmegaContext): Record<string, number[]> {
    const { in: ci, out: co, size: k } = this;
    let weight: number[];
    if (ctx.kind === 'finite') weight = [co, ci, ctx.tableSize!];
    else weight = this.lift ? [co, ci, k, k] : [co, ci, ctx.tableSize! / (k * k), k, k];
    return this.bias ? { weight, bias: [co] } : { weight };
  }

  init(ctx: OmegaContext, rng: Rng): Record<string, Float32Array> {
    const s = this.shapes(ctx).weight;
    const fanIn = s.slice(1).reduce((a, b) => a * b, 1);
    const weight = heNormal(s.reduce((a, b) => a * b, 1), fanIn, rng);
    return this.bias ? { weight, bias: new Float32Array(this.out) } : { weight };
  }

  defaultNeighbours(kind: DomainKind): NeighbourSpec {
    return kind === 'grid' ? { window: this.size, padding: this.padding, stride: this.stride } : 'global';
  }

  table(ctx: OmegaContext, params: ReadonlyMap<string, Tensor>): Float32Array {
    void ctx;
    return params.get('weight')!.toArray();
  }

  /** `W[(r, ci), co] = kappa[co, ci, r]`, the basis-mode matrix of the one-hot index. */
  prepare(ctx: OmegaContext, params: ReadonlyMap<string, Tensor>): KernelPrepared {
    const R = ctx.tableSize!;
    const { in: ci, out: co } = this;
    const kappa = params.get('weight')!.toArray();
    const w = new Float32Array(R * ci * co);
    for (let o = 0; o < co; o++) for (let c = 0; c < ci; c++) for (let r = 0; r < R; r++) w[(r * ci + c) * co + o] = kappa[(o * ci + c) * R + r];
    return tidy(() => {
      const weights = keep(packMatrix(tensor(w, [R * ci, co])));
      const b = params.get('bias');
      return { weights, bias: b ? keep(tensor(b.toArray(), [co])) : undefined, dispose() { weights.dispose(); this.bias?.dispose(); } };
    });
  }

  run(ctx: OmegaContext, prepared: Prepared, input: EngineInput, nbhd: Neighbourhood, output: EngineOutput, where: string): void {
    const p = prepared as KernelPrepared;
    runEngine({
      batch: input.batch, mIn: input.mIn, cIn: this.in, cOut: this.out, x: input.x, xs: input.xs, out: output.out, os: output.os, nbhd,
      mode: { kind: 'basis', m: ctx.tableSize!, weights: p.weights, bias: p.bias, act: Act.None, norm: Norm.None },
    }, where);
  }

  config(): Record<string, unknown> {
    return { kind: this.kind, in: this.in, out: this.out, size: this.size, padding: this.padding, stride: this.stride, bias: this.bias, lift: this.lift };
  }
}
