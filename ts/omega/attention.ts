/**
 * `omega.attention`: group self-attention,
 *
 *   omega(f, g, g') = N_g'( q(f(g)).k(f(g')) / sqrt(d) + b(g^-1 g') ) W_V f(g')
 *
 * per head, with the location term `b` a table of the relative element (finite groups, grids:
 * a relative-position table, Shaw et al.) or an MLP of its coordinates (lifted clouds: the log,
 * LieTransformer's location attention; one MLP per head, Swish after every layer), and `N` the
 * normaliser over the neighbours: `softmax` (default), LieTransformer's `dot_product` (divide by
 * the neighbour count), `norm_exp` (`exp`, divided by the count), `mean`, `none`. With
 * `content: false` the logits are the location term alone and the operator is a convolution
 * with kernel `N(b) W_V` (Conclusion 1 of the framework). Queries, keys and values are products
 * run once per element; the sum over pairs runs in the engine.
 */
import { ArgumentError } from '../core/errors.js';
import { checkAttentionOmegaOptions } from '../core/limits.js';
import { PackedMatrix, matmulRows, packMatrix } from '../core/gemm.js';
import { Tensor, keep, tensor, tidy } from '../core/tensor.js';
import type { Rng } from '../groups/lie.js';
import type { Neighbourhood, NeighbourSpec } from '../domains/neighbourhood.js';
import { activation, normCode, normaliser, runEngine, type Activation, type EngineMlp, type Normaliser } from './engine.js';
import { channelsLast } from './features.js';
import { transpose } from './mlp.js';
import { Omega, bool, options, positiveInt, relWidth, uniform, type DomainKind, type EngineInput, type EngineOutput, type OmegaContext, type Prepared } from './omega.js';
import { PsiNet } from './psi.js';

export type Location = 'auto' | 'table' | 'mlp' | 'none';

export interface AttentionOmegaOptions {
  /** Input channels. */
  in: number;
  /** Output channels; split evenly over the heads. */
  out: number;
  /** Attention heads (default 1). */
  heads?: number;
  /** Query/key dimension per head (default 8). */
  dim?: number;
  /** Include the content term `q.k` (default true); without it, attention is a convolution. */
  content?: boolean;
  /** The location term: a table (default on finite groups and grids), an MLP (default on lifted clouds), or none. */
  location?: Location;
  /** Hidden widths of the location MLP per head; default [16, 16] (LieTransformer's). */
  hidden?: number[];
  /** Activation of the location MLP (after every layer); default `'silu'`. */
  activation?: Activation | 'swish';
  /** Normaliser over the neighbours; default `'softmax'`. */
  normalise?: Normaliser;
  /** How content and location make a logit: `'sum'` (default, LieTransformer's) or `'product'`. */
  combine?: 'sum' | 'product';
  /** Biases of the query, key and value maps (LieTransformer's); default false. */
  bias?: boolean;
}

interface AttentionPrepared extends Prepared {
  query: PackedMatrix;
  key: PackedMatrix;
  value: PackedMatrix;
  biases?: { query: Tensor; key: Tensor; value: Tensor };
  table?: Tensor;
  mlp?: EngineMlp & { dispose(): void };
}

export class AttentionOmega extends Omega {
  readonly kind = 'attention';
  readonly in: number;
  readonly out: number;
  readonly heads: number;
  readonly dim: number;
  readonly content: boolean;
  readonly location: Location;
  readonly hidden: readonly number[];
  readonly activation: Activation;
  readonly normalise: Normaliser;
  readonly combine: 'sum' | 'product';
  readonly bias: boolean;

  constructor(o: AttentionOmegaOptions) {
    super();
    const where = 'omega.attention';
    checkAttentionOmegaOptions(o);
    options(o, where, ['in', 'out', 'heads', 'dim', 'content', 'location', 'hidden', 'activation', 'normalise', 'combine', 'bias']);
    this.in = positiveInt(o.in, `${where}: in`);
    this.out = positiveInt(o.out, `${where}: out`);
    this.heads = positiveInt(o.heads ?? 1, `${where}: heads`);
    this.dim = positiveInt(o.dim ?? 8, `${where}: dim`);
    if (this.out % this.heads !== 0) throw new ArgumentError(`${where}: out (${this.out}) must be divisible by heads (${this.heads})`);
    this.content = bool(o.content ?? true, `${where}: content`);
    const loc = o.location ?? 'auto';
    if (!['auto', 'table', 'mlp', 'none'].includes(loc)) throw new ArgumentError(`${where}: location must be 'table', 'mlp', 'none' or 'auto', got ${String(loc)}`);
    this.location = loc;
    const hidden = o.hidden ?? [16, 16];
    if (!Array.isArray(hidden) || hidden.length > 16) throw new ArgumentError(`${where}: hidden must be an array of at most 16 widths`);
    this.hidden = hidden.map((h, i) => positiveInt(h, `${where}: hidden[${i}]`));
    this.activation = activation(o.activation ?? 'silu', `${where}: activation`);
    this.normalise = normaliser(o.normalise ?? 'softmax', `${where}: normalise`, ['softmax', 'dot_product', 'norm_exp', 'mean', 'none']);
    if (!this.content && this.locationOn('finite') === 'none') throw new ArgumentError(`${where}: with content off and no location term, every logit is 0`);
    const combine = o.combine ?? 'sum';
    if (combine !== 'sum' && combine !== 'product') throw new ArgumentError(`${where}: combine must be 'sum' or 'product', got ${String(o.combine)}`);
    this.combine = combine;
    this.bias = bool(o.bias ?? false, `${where}: bias`);
  }

  /** The location term on a domain of this kind. */
  locationOn(kind: DomainKind): Exclude<Location, 'auto'> {
    if (this.location !== 'auto') return this.location;
    return kind === 'lifted' ? 'mlp' : 'table';
  }

  /** Only the location MLP reads the relative coordinates (on lifted clouds, their logs). */
  override get readsCoords(): boolean {
    return this.locationOn('lifted') === 'mlp';
  }

  supports(kind: DomainKind): string | undefined {
    if (kind === 'lifted' && this.location === 'table') return 'omega.attention: a location table needs a finite relative element (finite groups, grids); on a Lie group use location: \'mlp\'';
    return undefined;
  }

  private net(ctx: OmegaContext): PsiNet {
    return new PsiNet('location', [relWidth(ctx), ...this.hidden, 1], [...this.hidden.map(() => this.activation), this.activation], this.heads);
  }

  shapes(ctx: OmegaContext): Record<string, number[]> {
    const { in: ci, out: co, heads: h, dim: d } = this;
    const s: Record<string, number[]> = { query: [h * d, ci], key: [h * d, ci], value: [co, ci] };
    if (this.bias) Object.assign(s, { query_bias: [h * d], key_bias: [h * d], value_bias: [co] });
    const loc = this.locationOn(ctx.kind);
    if (loc === 'table') {
      if (ctx.tableSize === undefined) throw new ArgumentError(`${ctx.where}: a location table needs a finite relative element`);
      s.position = [h, ctx.tableSize];
    }
    if (loc === 'mlp') Object.assign(s, this.net(ctx).shapes());
    return s;
  }

  init(ctx: OmegaContext, rng: Rng): Record<string, Float32Array> {
    const s = this.shapes(ctx);
    const bound = 1 / Math.sqrt(this.in);
    const v: Record<string, Float32Array> = {
      query: uniform(s.query[0] * this.in, bound, rng),
      key: uniform(s.key[0] * this.in, bound, rng),
      value: uniform(this.out * this.in, bound, rng),
    };
    if (this.bias) Object.assign(v, { query_bias: uniform(s.query[0], bound, rng), key_bias: uniform(s.key[0], bound, rng), value_bias: uniform(this.out, bound, rng) });
    if (s.position) v.position = uniform(s.position[0] * s.position[1], 0.5, rng);
    if (this.locationOn(ctx.kind) === 'mlp') Object.assign(v, this.net(ctx).init(rng));
    return v;
  }

  defaultNeighbours(kind: DomainKind): NeighbourSpec {
    return kind === 'grid' ? { window: 3, padding: 'same' } : 'global';
  }

  prepare(ctx: OmegaContext, params: ReadonlyMap<string, Tensor>): AttentionPrepared {
    const loc = this.locationOn(ctx.kind);
    const mlp = loc === 'mlp' ? this.net(ctx).prepare(params, { rel: true, target: false, source: false }) : undefined;
    try {
      return tidy(() => {
        const hd = this.heads * this.dim;
        const query = keep(packMatrix(transpose(params.get('query')!, hd, this.in)));
        const key = keep(packMatrix(transpose(params.get('key')!, hd, this.in)));
        const value = keep(packMatrix(transpose(params.get('value')!, this.out, this.in)));
        const table = loc === 'table' ? keep(tensor(params.get('position')!.toArray(), params.get('position')!.shape)) : undefined;
        const copyOf = (k: string) => keep(tensor(params.get(k)!.toArray(), params.get(k)!.shape));
        const biases = this.bias ? { query: copyOf('query_bias'), key: copyOf('key_bias'), value: copyOf('value_bias') } : undefined;
        return {
          query, key, value, table, mlp, biases,
          dispose() { query.dispose(); key.dispose(); value.dispose(); table?.dispose(); mlp?.dispose(); if (biases) for (const b of Object.values(biases)) b.dispose(); },
        };
      });
    } catch (e) {
      mlp?.dispose();
      throw e;
    }
  }

  run(ctx: OmegaContext, prepared: Prepared, input: EngineInput, nbhd: Neighbourhood, output: EngineOutput, where: string): void {
    const p = prepared as AttentionPrepared;
    if (nbhd.mOut !== input.mIn) throw new ArgumentError(`${where}: attention needs its queries on the input's elements (a window with stride 1 and 'same' padding on grids, no lifting)`);
    const rows = input.batch * input.mIn, hd = this.heads * this.dim;
    tidy(() => {
      const xl = channelsLast(input, this.in);
      const q = this.content ? matmulRows(xl, rows, this.in, p.query, { bias: p.biases?.query }, [rows, hd]) : undefined;
      const k = this.content ? matmulRows(xl, rows, this.in, p.key, { bias: p.biases?.key }, [rows, hd]) : undefined;
      const v = matmulRows(xl, rows, this.in, p.value, { bias: p.biases?.value }, [rows, this.out]);
      const loc = this.locationOn(ctx.kind);
      runEngine({
        batch: input.batch, mIn: input.mIn, cIn: this.in, cOut: this.out, x: input.x, xs: input.xs, out: output.out, os: output.os, nbhd,
        mode: {
          kind: 'heads', heads: this.heads, dv: this.out / this.heads, values: v,
          content: q && k ? { dk: this.dim, q, k, scale: 1 / Math.sqrt(this.dim) } : undefined,
          location: loc === 'table' ? { kind: 'table', table: p.table! } : loc === 'mlp' ? { kind: 'mlp', mlp: p.mlp! } : { kind: 'none' },
          combine: this.combine === 'product' ? 'product' : 'sum',
          norm: normCode(this.normalise),
        },
      }, where);
    });
  }

  config(): Record<string, unknown> {
    const c: Record<string, unknown> = { kind: this.kind, in: this.in, out: this.out, heads: this.heads, dim: this.dim, content: this.content, normalise: this.normalise };
    if (this.location !== 'auto') c.location = this.location;
    if (this.combine !== 'sum') c.combine = this.combine;
    if (this.bias) c.bias = true;
    if (this.locationOn('lifted') === 'mlp' && this.location !== 'table' && this.location !== 'none') Object.assign(c, { hidden: [...this.hidden], activation: this.activation });
    return c;
  }
}
