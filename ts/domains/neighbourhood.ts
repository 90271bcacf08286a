/**
 * Neighbourhoods: for each output element `g`, the input elements `g'` that `omega` sees, as a
 * compressed list (`offsets[m_out + 1]`, `indices[nnz]`), and the relative element `g^-1 g'` of
 * every pair, as a table index (finite groups, grids) and/or coordinates (the Lie algebra's on
 * lifted clouds; the frame-relative offset on grids). The lists live in wasm memory, where the
 * engine reads them; a domain caches them per shape and specification.
 */
import { ArgumentError } from '../core/errors.js';
import { U32Buffer } from '../core/buffers.js';
import type { Tensor } from '../core/tensor.js';
import type { Padding } from '../core/ops.js';

/** Which `g'` a `g` sees. */
export type NeighbourSpec =
  /** Every element (of the same cloud, for lifted clouds). */
  | 'global'
  /** The `k` nearest by the left-invariant distance (lifted clouds), itself included. */
  | { k: number; alpha?: number }
  /** Every element within `radius` by that distance (lifted clouds). */
  | { radius: number; alpha?: number }
  /** A `window x window` spatial window (grids), with the convolution's padding and stride. */
  | { window: number; padding?: Padding; stride?: number }
  /** `g' = g s` for `s` in the support, a subset of a finite group (in this order). */
  | { support: number[] };

export class Neighbourhood {
  readonly bytes: number;
  constructor(
    readonly mOut: number,
    readonly mIn: number,
    readonly offsets: U32Buffer,
    /** At least `nnz` entries (a buffer may have room to spare). */
    readonly indices: U32Buffer,
    /** Number of pairs. */
    readonly nnz: number,
    /** The relative element as an index below `size` (a kernel table's position). */
    readonly index?: { buffer: U32Buffer; size: number },
    /** The relative element as `width` coordinates per pair. */
    readonly coords?: { buffer: Tensor; width: number },
  ) {
    this.bytes = offsets.bytes + indices.bytes + (index?.buffer.bytes ?? 0) + (coords?.buffer.bytes ?? 0);
  }
  get disposed(): boolean {
    return this.offsets.disposed;
  }
  dispose(): void {
    this.offsets.dispose();
    this.indices.dispose();
    this.index?.buffer.dispose();
    this.coords?.buffer.dispose();
  }
}

const positiveInt = (v: unknown, what: string) => {
  if (!Number.isInteger(v) || (v as number) < 1) throw new ArgumentError(`${what} must be a positive integer, got ${String(v)}`);
  return v as number;
};

/** Checks a specification's shape; returns a cache key. */
export function specKey(spec: NeighbourSpec, where: string): string {
  if (spec === 'global') return 'global';
  if (spec === null || typeof spec !== 'object') throw new ArgumentError(`${where}: neighbours must be 'global', { k }, { radius }, { window } or { support }, got ${String(spec)}`);
  // Keys set to undefined count as absent, as everywhere else in the options.
  const s = Object.fromEntries(Object.entries(spec as Record<string, unknown>).filter(([, v]) => v !== undefined));
  // One kind per spec, and only its own keys: a typo ({ k: 8, alpah: 1 }) or a second kind
  // ({ k: 8, radius: 1 }) would otherwise be dropped without a word.
  const allowed: Record<string, string[]> = { k: ['k', 'alpha'], radius: ['radius', 'alpha'], window: ['window', 'padding', 'stride'], support: ['support'] };
  const kinds = Object.keys(allowed).filter((key) => key in s);
  if (kinds.length > 1) throw new ArgumentError(`${where}: neighbours give ${kinds.map((key) => `'${key}'`).join(' and ')}; give one of { k }, { radius }, { window } or { support }`);
  if (kinds.length === 1) {
    const unknown = Object.keys(s).filter((key) => !allowed[kinds[0]].includes(key));
    if (unknown.length) throw new ArgumentError(`${where}: neighbours { ${kinds[0]} } take ${allowed[kinds[0]].map((key) => `'${key}'`).join(', ')}; unknown: ${unknown.map((key) => `'${key}'`).join(', ')}`);
  }
  const alpha = 'alpha' in s ? s.alpha : 0.2; // a null given is refused below, not defaulted
  if ('k' in s || 'radius' in s) {
    if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) throw new ArgumentError(`${where}: neighbours.alpha (the weight of the rotation part of the distance) must be in [0, 1], got ${String(s.alpha)}`);
  }
  if ('k' in s) return `k${positiveInt(s.k, `${where}: neighbours.k`)}/${alpha}`;
  if ('radius' in s) {
    if (typeof s.radius !== 'number' || !(s.radius >= 0) || !Number.isFinite(s.radius)) throw new ArgumentError(`${where}: neighbours.radius must be a non-negative number, got ${String(s.radius)}`);
    return `r${s.radius}/${alpha}`;
  }
  if ('window' in s) return `w${positiveInt(s.window, `${where}: neighbours.window`)}/${String(s.padding ?? 'valid')}/${String(s.stride ?? 1)}`;
  if ('support' in s) {
    if (!Array.isArray(s.support) || s.support.length === 0) throw new ArgumentError(`${where}: neighbours.support must be a non-empty array of group elements`);
    return `s${(s.support as unknown[]).join(',')}`;
  }
  throw new ArgumentError(`${where}: neighbours must be 'global', { k }, { radius }, { window } or { support }, got ${JSON.stringify(spec)}`);
}
