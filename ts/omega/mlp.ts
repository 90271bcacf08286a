/**
 * `omega.mlp`: a learned `psi` of the relative element `g^-1 g'` (its coordinates: the log on a
 * Lie group; `[one-hot(q), dx, dy]` on a grid; the one-hot element on a finite group), and
 * optionally of the features `f(g)` (`target`) and `f(g')` (`source`): the implicit-kernel
 * family (Zhdanov et al. 2023) and LieConv (Finzi et al. 2020). Its output is read in one of
 * three ways:
 *
 * - `'matrix'` (default): `omega = psi(...) f(g')`, psi giving an `out x in` matrix;
 * - `'basis'`: LieConv's form, psi giving `m` numbers, `out(g) = W vec(sum_j f(g'_j) (x) psi_j)`
 *   (`weight [out, in * m]`, index `c * m + k` as `einsum` then `flatten` gives it);
 * - `'heads'`: psi giving one weight per head, normalised over `g'` (softmax, mean, ...), times
 *   the values `W_V f(g')` (`value [out, in]`).
 *
 * An MLP that reads no features is a kernel of the relative element alone: on finite groups and
 * grids `Phi` evaluates it once per table position and runs the convolution fast paths.
 */
import { ArgumentError } from '../core/errors.js';
import { PackedMatrix, matmulRows, packMatrix } from '../core/gemm.js';
import type { Padding } from '../core/ops.js';
import { Tensor, keep, tensor, tidy } from '../core/tensor.js';
import type { Rng } from '../groups/lie.js';
import type { Neighbourhood, NeighbourSpec } from '../domains/neighbourhood.js';
import { Act, activation, normCode, normaliser, runEngine, type Activation, type EngineMlp, type Normaliser } from './engine.js';
import { Omega, bool, options, positiveInt, relWidth, uniform, type DomainKind, type EngineInput, type EngineOutput, type OmegaContext, type Prepared } from './omega.js';
import { PsiNet } from './psi.js';
import { channelsLast } from './features.js';

export type MlpOutput = 'matrix' | 'basis' | 'heads';
export type MlpFeatures = 'none' | 'source' | 'target' | 'both';

export interface MlpOmegaOptions {
  in: number;
  out: number;
  /** Hidden widths of psi; default [32, 32]. */
  hidden?: number[];
  /** After each hidden layer; default `'silu'` (Swish). */
  activation?: Activation | 'swish';
  /** After psi's last layer; default `'none'` (LieConv uses `'silu'`). */
  outputActivation?: Activation | 'swish';
  /** Which features psi reads besides the relative element; default `'none'`. */
  features?: MlpFeatures;
  /** How psi's output is used; default `'matrix'`. */
  output?: MlpOutput;
  /** Width `m` of psi's output for `'basis'`; default 16 (LieConv's). */
  basis?: number;
  /** Heads for `'heads'`; default 1. */
  heads?: number;
  /** Over the neighbours: `'none'`/`'mean'` for matrix and basis (default none), softmax etc. for heads (default softmax). */
  normalise?: Normaliser;
  /** A bias per output channel (matrix, basis); default true. */
  bias?: boolean;
  /** Grids: the input is images on the plane (lifting onto p4/p4m); default false. */
  lift?: boolean;
  /** Grids: the window psi sees (as a convolution's); default 3, 'same', 1. */
  size?: number;
  padding?: Padding;
  stride?: number;
}

interface MlpPrepared extends Prepared {
  psi: EngineMlp & { dispose(): void };
  weights?: PackedMatrix;
  bias?: Tensor;
  value?: PackedMatrix;
}

export class MlpOmega extends Omega {
  readonly kind = 'mlp';
  readonly in: number;
  readonly out: number;
  readonly hidden: readonly number[];
  readonly activation: Activation;
  readonly outputActivation: Activation;
  readonly features: MlpFeatures;
  readonly output: MlpOutput;
  readonly basis: number;
  readonly heads: number;
  readonly normalise: Normaliser;
  readonly bias: boolean;
  readonly lift: boolean;
  readonly size: number;
  readonly padding: Padding;
  readonly stride: number;

  constructor(o: MlpOmegaOptions) {
    super();
    const where = 'omega.mlp';
    options(o, where, ['in', 'out', 'hidden', 'activation', 'outputActivation', 'features', 'output', 'basis', 'heads', 'normalise', 'bias', 'lift', 'size', 'padding', 'stride']);
    this.in = positiveInt(o.in, `${where}: in`);
    this.out = positiveInt(o.out, `${where}: out`);
    const hidden = o.hidden ?? [32, 32];
    if (!Array.isArray(hidden) || hidden.length > 16) throw new ArgumentError(`${where}: hidden must be an array of at most 16 widths, got ${String(hidden)}`);
    this.hidden = hidden.map((h, i) => positiveInt(h, `${where}: hidden[${i}]`));
    this.activation = activation(o.activation ?? 'silu', `${where}: activation`);
    this.outputActivation = activation(o.outputActivation ?? 'none', `${where}: outputActivation`);
    const f = o.features ?? 'none';
    if (!['none', 'source', 'target', 'both'].includes(f)) throw new ArgumentError(`${where}: features must be 'none', 'source' (f(g')), 'target' (f(g)) or 'both', got ${String(f)}`);
    this.features = f;
    const out = o.output ?? 'matrix';
    if (!['matrix', 'basis', 'heads'].includes(out)) throw new ArgumentError(`${where}: output must be 'matrix', 'basis' or 'heads', got ${String(out)}`);
    this.output = out;
    this.basis = positiveInt(o.basis ?? 16, `${where}: basis`);
    this.heads = positiveInt(o.heads ?? 1, `${where}: heads`);
    if (out === 'heads' && this.out % this.heads !== 0) throw new ArgumentError(`${where}: out (${this.out}) must be divisible by heads (${this.heads})`);
    this.normalise = normaliser(o.normalise ?? (out === 'heads' ? 'softmax' : 'none'), `${where}: normalise`, out === 'heads' ? ['softmax', 'dot_product', 'norm_exp', 'mean', 'none'] : ['none', 'mean']);
    this.bias = bool(o.bias ?? true, `${where}: bias`);
    this.lift = bool(o.lift ?? false, `${where}: lift`);
    this.size = positiveInt(o.size ?? 3, `${where}: size`);
    this.stride = positiveInt(o.stride ?? 1, `${where}: stride`);
    this.padding = o.padding ?? 'same';
    if (out === 'matrix' && this.in * this.out > 65536) throw new ArgumentError(`${where}: a matrix psi gives in x out = ${this.in * this.out} values per pair; use output 'basis' (LieConv's) for wide layers`);
  }

  supports(kind: DomainKind): string | undefined {
    if (this.lift && kind !== 'grid') return 'omega.mlp: lift applies to grids (images onto p4/p4m)';
    return undefined;
  }

  get hasBias(): boolean {
    return this.bias && this.output !== 'heads';
  }

  get readsFeatures(): boolean {
    return this.features !== 'none';
  }

  /** psi's output width. */
  private psiOut(): number {
    return this.output === 'matrix' ? this.out * this.in : this.output === 'basis' ? this.basis : this.heads;
  }

  private net(ctx: OmegaContext): PsiNet {
    const z = relWidth(ctx) + (this.features === 'target' || this.features === 'both' ? this.in : 0) + (this.features === 'source' || this.features === 'both' ? this.in : 0);
    const acts: Activation[] = [...this.hidden.map(() => this.activation), this.outputActivation];
    return new PsiNet('psi', [z, ...this.hidden, this.psiOut()], acts);
  }

  shapes(ctx: OmegaContext): Record<string, number[]> {
    const s = this.net(ctx).shapes();
    if (this.output === 'basis') s.weight = [this.out, this.in * this.basis];
    if (this.output === 'heads') s.value = [this.out, this.in];
    if (this.hasBias) s.bias = [this.out];
    return s;
  }

  init(ctx: OmegaContext, rng: Rng): Record<string, Float32Array> {
    const v = this.net(ctx).init(rng);
    if (this.output === 'basis') v.weight = uniform(this.out * this.in * this.basis, 1 / Math.sqrt(this.in * this.basis), rng);
    if (this.output === 'heads') v.value = uniform(this.out * this.in, 1 / Math.sqrt(this.in), rng);
    if (this.hasBias) v.bias = new Float32Array(this.out);
    return v;
  }

  defaultNeighbours(kind: DomainKind): NeighbourSpec {
    return kind === 'grid' ? { window: this.size, padding: this.padding, stride: this.stride } : 'global';
  }

  /**
   * Without features, psi is a kernel of the relative element: `kappa[o, c, r]` from psi at the
   * coordinates of table position `r` (the same inputs the engine gives it for a pair with that
   * index), in double precision.
   */
  table(ctx: OmegaContext, params: ReadonlyMap<string, Tensor>): Float32Array | undefined {
    if (this.readsFeatures || this.output !== 'matrix' || ctx.tableSize === undefined) return undefined;
    const R = ctx.tableSize, net = this.net(ctx);
    const kappa = new Float32Array(this.out * this.in * R);
    for (let r = 0; r < R; r++) {
      const m = net.forward(params, tableCoords(ctx, r, this.lift ? 1 : undefined));
      for (let o = 0; o < this.out; o++) for (let c = 0; c < this.in; c++) kappa[(o * this.in + c) * R + r] = m[o * this.in + c];
    }
    return kappa;
  }

  prepare(ctx: OmegaContext, params: ReadonlyMap<string, Tensor>): MlpPrepared {
    const f = this.features;
    const psi = this.net(ctx).prepare(params, { rel: true, target: f === 'target' || f === 'both', source: f === 'source' || f === 'both' });
    try {
      return tidy(() => {
        const p: MlpPrepared = { psi, dispose() { psi.dispose(); this.weights?.dispose(); this.bias?.dispose(); this.value?.dispose(); } };
        const b = params.get('bias');
        if (b) p.bias = keep(tensor(b.toArray(), [this.out]));
        if (this.output === 'basis') {
          // W[(k, c), o] = weight[o, c m + k]: the engine's basis layout.
          const w = params.get('weight')!.toArray(), m = this.basis, ci = this.in, co = this.out;
          const t = new Float32Array(m * ci * co);
          for (let o = 0; o < co; o++) for (let c = 0; c < ci; c++) for (let k = 0; k < m; k++) t[(k * ci + c) * co + o] = w[o * ci * m + c * m + k];
          p.weights = keep(packMatrix(tensor(t, [m * ci, co])));
        }
        if (this.output === 'heads') p.value = keep(packMatrix(transpose(params.get('value')!, this.out, this.in)));
        return p;
      });
    } catch (e) {
      psi.dispose();
      throw e;
    }
  }

  run(ctx: OmegaContext, prepared: Prepared, input: EngineInput, nbhd: Neighbourhood, output: EngineOutput, where: string): void {
    const p = prepared as MlpPrepared;
    const base = { batch: input.batch, mIn: input.mIn, cIn: this.in, cOut: this.out, x: input.x, xs: input.xs, out: output.out, os: output.os, nbhd };
    const norm = normCode(this.normalise);
    if (this.output === 'matrix') return runEngine({ ...base, mode: { kind: 'matrix', mlp: p.psi, bias: p.bias, act: Act.None, norm } }, where);
    if (this.output === 'basis') return runEngine({ ...base, mode: { kind: 'basis', mlp: p.psi, m: this.basis, weights: p.weights!, bias: p.bias, act: Act.None, norm } }, where);
    // Heads: values W_V f(g') for every input element, channels last.
    tidy(() => {
      const xl = channelsLast(input, this.in);
      const v = matmulRows(xl, input.batch * input.mIn, this.in, p.value!, {}, [input.batch * input.mIn, this.out]);
      runEngine({ ...base, mode: { kind: 'heads', heads: this.heads, dv: this.out / this.heads, values: v, location: { kind: 'mlp', mlp: p.psi }, norm } }, where);
    });
    void ctx;
  }

  config(): Record<string, unknown> {
    const c: Record<string, unknown> = { kind: this.kind, in: this.in, out: this.out, hidden: [...this.hidden], activation: this.activation, outputActivation: this.outputActivation, features: this.features, output: this.output, normalise: this.normalise, bias: this.bias };
    if (this.output === 'basis') c.basis = this.basis;
    if (this.output === 'heads') c.heads = this.heads;
    if (this.lift) c.lift = true;
    if (this.size !== 3 || this.padding !== 'same' || this.stride !== 1) Object.assign(c, { size: this.size, padding: this.padding, stride: this.stride });
    return c;
  }
}

/** `[rows, cols]` as a `[cols, rows]` tensor. */
export function transpose(t: Tensor, rows: number, cols: number): Tensor {
  const a = t.toArray(), out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return tensor(out, [cols, rows]);
}

/**
 * The relative coordinates of table position `r` (what the domain gives a pair with index
 * `r`): finite groups one-hot; grids `[one-hot(q), dx, dy]` (`S = 1` when lifting: `[dx, dy]`).
 */
export function tableCoords(ctx: OmegaContext, r: number, inputOrder?: number): Float64Array {
  const R = ctx.tableSize!;
  if (ctx.kind === 'finite') {
    const z = new Float64Array(R);
    z[r] = 1;
    return z;
  }
  const S = inputOrder ?? (ctx.coordsWidth! - 2);
  const k = Math.round(Math.sqrt(R / S));
  const q = Math.floor(r / (k * k)), ii = Math.floor((r % (k * k)) / k), jj = r % k;
  const width = ctx.coordsWidth!;
  const z = new Float64Array(width);
  if (width > 2) z[q] = 1;
  z[width - 2] = (2 * jj - (k - 1)) / 2;
  z[width - 1] = ((k - 1) - 2 * ii) / 2;
  return z;
}
