/**
 * What every `omega` is: the summand of `[Phi f](g) = sum over g' of omega(f, g, g')`, with
 * behaviour. An omega knows the parameters it needs on a domain (`shapes`), their initial
 * values, how to prepare them once for the engine (`prepare`: packed matrices, transposed
 * tables), and how to run one call (`run`: one engine call per batch). An omega that does not
 * read the features is a kernel table `kappa(g^-1 g')` on finite groups and grids (`table`),
 * which lets `Phi` run it on the dense fast paths (Cayley GEMM, convolution).
 */
import { ArgumentError } from '../core/errors.js';
import { describe, dimension } from '../core/limits.js';
import type { Tensor } from '../core/tensor.js';
import type { Lifted, Rng } from '../groups/lie.js';
import type { AnyGroup } from '../groups/index.js';
import type { Neighbourhood, NeighbourSpec } from '../domains/neighbourhood.js';
import type { Strides } from './engine.js';

export type DomainKind = 'finite' | 'grid' | 'lifted';

/** What an omega needs to know of the domain it runs on. */
export interface OmegaContext {
  kind: DomainKind;
  group: AnyGroup;
  /** Positions of the relative-element table (finite: |G|; grid: S k k); none on lifted clouds. */
  tableSize?: number;
  /** Coordinates per relative element (grid: `[one-hot(q), dx, dy]`; lifted: the log, and orbits). */
  coordsWidth?: number;
  /** The layer's name, for messages. */
  where: string;
}

/** The relative element's width as an MLP input: its coordinates, else the one-hot index. */
export function relWidth(ctx: OmegaContext): number {
  const w = ctx.coordsWidth ?? ctx.tableSize;
  if (w === undefined) throw new ArgumentError(`${ctx.where}: this domain gives no relative element`);
  return w;
}

/** The input of one engine call: features of a batch on `mIn` elements. */
export interface EngineInput {
  x: Tensor;
  xs: Strides;
  batch: number;
  mIn: number;
  /** The cloud, for layers on lifted fields. */
  lifted?: Lifted;
}

/** Where one call writes: `out` with strides over `[batch, element, channel]`. */
export interface EngineOutput {
  out: Tensor;
  os: Strides;
}

/** Weights prepared for the engine once; freed with `dispose`. */
export interface Prepared {
  dispose(): void;
}

export abstract class Omega {
  abstract readonly kind: string;
  abstract readonly in: number;
  abstract readonly out: number;
  /** Images on the plane as input (lifting onto p4/p4m). */
  readonly lift: boolean = false;

  /** Named parameters and their shapes on this domain. */
  abstract shapes(ctx: OmegaContext): Record<string, number[]>;
  /** Initial values of the parameters (seeded). */
  abstract init(ctx: OmegaContext, rng: Rng): Record<string, Float32Array>;
  /** Packs the parameters for the engine. */
  abstract prepare(ctx: OmegaContext, params: ReadonlyMap<string, Tensor>): Prepared;
  /** One call on a batch: `Phi[f]` into `output`. */
  abstract run(ctx: OmegaContext, prepared: Prepared, input: EngineInput, nbhd: Neighbourhood, output: EngineOutput, where: string): void;
  /** The JSON configuration (with `kind`). */
  abstract config(): Record<string, unknown>;

  /** Whether this omega can run on a domain of this kind; a message why not otherwise. */
  supports(kind: DomainKind): string | undefined {
    void kind;
    return undefined;
  }

  /**
   * `kappa[out, in, tableSize]` when the omega is a kernel of the relative element alone (no
   * features), so `Phi` may run the dense fast paths; undefined otherwise.
   */
  table(ctx: OmegaContext, params: ReadonlyMap<string, Tensor>): Float32Array | undefined {
    void ctx;
    void params;
    return undefined;
  }

  /** The neighbourhood this omega implies when the layer gives none (a kernel's window). */
  defaultNeighbours(kind: DomainKind): NeighbourSpec {
    return kind === 'grid' ? { window: 3, padding: 'same' } : 'global';
  }

  /** Whether a bias per output channel is added after the sum (folded with batch norm). */
  get hasBias(): boolean {
    return false;
  }

  /**
   * Whether runs read the relative element's coordinates. On lifted clouds they are built per
   * pair only for an omega that reads them: for global attention with no location term they
   * would be `n^2` logs nothing uses (three quarters of the neighbourhood's memory on T(3)).
   */
  get readsCoords(): boolean {
    return true;
  }
}

/** `v` if it is an integer in `1..limits.maxDimension`, else an ArgumentError naming `what`. */
export function positiveInt(v: unknown, what: string): number {
  return dimension(v, what, 1);
}

/** `v` if it is a boolean, else an ArgumentError. */
export function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new ArgumentError(`${what} must be a boolean (true or false), got ${describe(v)}`);
  return v;
}

/** Checks an options object, naming unknown keys. */
export function options<T>(o: unknown, where: string, keys: readonly string[]): T {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new ArgumentError(`${where}: expected an options object (it takes ${keys.join(', ')}), got ${describe(o)}`);
  const extra = Object.keys(o).filter((k) => !keys.includes(k));
  if (extra.length) throw new ArgumentError(`${where}: unknown option(s) ${extra.join(', ')}; it takes ${keys.join(', ')}`);
  return o as T;
}

/** A standard normal from a uniform source. */
export const gaussian = (rng: Rng) => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());

/** He-normal values for a layer with `fanIn` inputs. */
export function heNormal(size: number, fanIn: number, rng: Rng): Float32Array {
  const std = Math.sqrt(2 / Math.max(1, fanIn));
  return Float32Array.from({ length: size }, () => std * gaussian(rng));
}

/** Uniform values in `[-bound, bound)`. */
export function uniform(size: number, bound: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: size }, () => (rng() * 2 - 1) * bound);
}
