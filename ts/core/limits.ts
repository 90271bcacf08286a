/**
 * Limits and option checks: what the library refuses before it allocates anything.
 *
 * Model files and inputs may come from anywhere (docs/SECURITY.md), so sizes are checked against
 * documented limits before any memory is reserved, and every option is type-checked (a string
 * where a number belongs is an error, never coerced). The limits are configurable with
 * `eq.setLimits({ ... })` (per realm: a pool's workers get the limits of the thread that created
 * the pool) and read with `eq.limits()`.
 */
import { ArgumentError, OutOfMemoryError } from './errors.js';

export interface Limits {
  /** Bytes one layer may need: parameters plus what is derived from them (expanded, packed). Default 256 MiB. */
  maxLayerBytes: number;
  /** Bytes a whole model may need (the sum over its layers). Default 1 GiB. */
  maxModelBytes: number;
  /** Largest value of any size option (channels, kernel size, stride, heads, ...). Default 65,536. */
  maxDimension: number;
  /** Largest order of a finite group (its Cayley table is order^2 entries). Default 1,024. */
  maxGroupOrder: number;
  /** Bytes read from one file, URL or byte source (config or weights). Default 1 GiB. */
  maxSourceBytes: number;
  /** Elements `lift` may create (points x samples). Default 4,194,304. */
  maxLiftedElements: number;
  /** Pairs one neighbourhood of lifted elements may have (global, or within a radius). Default 268,435,456 (2^28). */
  maxNeighbourPairs: number;
  /** Milliseconds a pool waits for a worker to start before counting the start as failed. Default 30,000. */
  workerStartTimeout: number;
  /** Failed starts in a row after which a pool gives up on a worker (and `createPool` rejects). Default 3. */
  maxWorkerStartFailures: number;
  /** Unknowns (`d_out x d_in` of one block of a representation) the basis solver takes. Default 1,048,576. */
  maxBasisUnknowns: number;
  /** Bytes of a dense basis the solver may build (the projector's block, a dense result). Default 256 MiB. */
  maxBasisBytes: number;
}

const DEFAULTS: Limits = {
  maxLayerBytes: 256 * 2 ** 20,
  maxModelBytes: 2 ** 30,
  maxDimension: 65_536,
  maxGroupOrder: 1024,
  maxSourceBytes: 2 ** 30,
  maxLiftedElements: 4 * 2 ** 20,
  maxNeighbourPairs: 2 ** 28,
  workerStartTimeout: 30_000,
  maxWorkerStartFailures: 3,
  maxBasisUnknowns: 2 ** 20,
  maxBasisBytes: 256 * 2 ** 20,
};

const current: Limits = { ...DEFAULTS };

/** The limits in force (a copy). */
export function limits(): Limits {
  return { ...current };
}

/** The default limits (a copy). */
export function defaultLimits(): Limits {
  return { ...DEFAULTS };
}

/**
 * Changes some limits; returns the previous ones (pass them back to restore). Each must be a
 * positive safe integer.
 */
export function setLimits(changes: Partial<Limits>): Limits {
  if (changes === null || typeof changes !== 'object' || Array.isArray(changes)) throw new ArgumentError(`setLimits: expected an object of limits, got ${describe(changes)}`);
  if (Object.getOwnPropertySymbols(changes).length) throw new ArgumentError('setLimits: limits are named by strings, got a symbol key');
  // Each value read once (a getter could answer differently the second time), own keys of the
  // defaults only ('toString' is in every object).
  const read: [keyof Limits, number][] = [];
  for (const [k, v] of Object.entries(changes)) {
    if (!Object.prototype.hasOwnProperty.call(DEFAULTS, k)) throw new ArgumentError(`setLimits: unknown limit '${k}' (known: ${Object.keys(DEFAULTS).join(', ')})`);
    if (!Number.isSafeInteger(v) || (v as number) < 1) throw new ArgumentError(`setLimits: ${k} must be a positive safe integer, got ${describe(v)}`);
    // setTimeout takes at most 2^31 - 1 ms; past it, it fires at once.
    if (k === 'workerStartTimeout' && (v as number) > 2 ** 31 - 1) throw new ArgumentError(`setLimits: workerStartTimeout must be at most 2147483647 ms (what timers take), got ${v}`);
    read.push([k as keyof Limits, v as number]);
  }
  const before = limits();
  for (const [k, v] of read) current[k] = v;
  return before;
}

/**
 * Whether `b` is a detached ArrayBuffer (transferred by postMessage or structuredClone): its
 * views then read as empty, and constructing one throws a bare TypeError.
 */
export function detached(b: ArrayBufferLike): boolean {
  if (!(b instanceof ArrayBuffer)) return false;
  const flag = (b as { detached?: unknown }).detached;
  if (typeof flag === 'boolean') return flag;
  if (b.byteLength !== 0) return false;
  try {
    new Uint8Array(b);
    return false;
  } catch {
    return true;
  }
}

/** A short description of a value for messages (never throws, never huge). */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  try {
    const name = (v as object).constructor?.name;
    return name && name !== 'Object' ? `a ${name}` : 'an object';
  } catch {
    return 'an object';
  }
}

/** A size option: a safe integer in `min..maxDimension`. */
export function dimension(v: unknown, what: string, min = 1): number {
  const max = current.maxDimension;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ArgumentError(`${what} must be an integer in ${min}..${max}, got ${describe(v)}${typeof v === 'number' && v > max && Number.isFinite(v) ? ' (raise limits.maxDimension to allow more)' : ''}`);
  }
  return v;
}

/** The kinds of option `checkOptions` knows. A trailing `?` makes an option optional. */
export type OptionKind = 'dim' | 'dim0' | 'int' | 'bool' | 'string' | 'positive' | 'object' | 'function' | 'signal' | 'any' | readonly string[];

/**
 * Checks an options object: it must be an object (not null, not an array) unless `optional`
 * and undefined; each listed option must have its kind (`[kind, optional]`). Returns the object.
 */
export function checkOptions<T>(what: string, options: T, spec: Record<string, readonly [OptionKind, boolean?]>, optionalObject = false): T {
  if (options === undefined && optionalObject) return {} as T;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ArgumentError(`${what}: options must be an object${optionalObject ? ' (or omitted)' : ''}, got ${describe(options)}`);
  }
  const o = options as Record<string, unknown>;
  // A misspelt option would otherwise be dropped without a word and its default used.
  const unknown = Object.keys(o).filter((key) => !Object.prototype.hasOwnProperty.call(spec, key));
  if (unknown.length) throw new ArgumentError(`${what}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => `'${key}'`).join(', ')}; it takes ${Object.keys(spec).map((key) => `'${key}'`).join(', ')}`);
  for (const [key, [kind, optional]] of Object.entries(spec)) {
    const v = o[key];
    if (v === undefined) {
      if (optional) continue;
      throw new ArgumentError(`${what}: option '${key}' is required`);
    }
    checkKind(`${what}: ${key}`, v, kind);
  }
  return options;
}

function checkKind(what: string, v: unknown, kind: OptionKind): void {
  if (Array.isArray(kind)) {
    if (!kind.includes(v as string)) throw new ArgumentError(`${what} must be one of ${kind.map((k) => `'${k}'`).join(', ')}, got ${describe(v)}`);
    return;
  }
  switch (kind) {
    case 'dim': dimension(v, what, 1); return;
    case 'dim0': dimension(v, what, 0); return;
    case 'int':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ArgumentError(`${what} must be a safe integer, got ${describe(v)}`);
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw new ArgumentError(`${what} must be a boolean (true or false), got ${describe(v)}`);
      return;
    case 'string':
      if (typeof v !== 'string') throw new ArgumentError(`${what} must be a string, got ${describe(v)}`);
      return;
    case 'positive':
      if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0)) throw new ArgumentError(`${what} must be a finite positive number, got ${describe(v)}`);
      return;
    case 'object':
      if (v === null || typeof v !== 'object') throw new ArgumentError(`${what} must be an object, got ${describe(v)}`);
      return;
    case 'function':
      if (typeof v !== 'function') throw new ArgumentError(`${what} must be a function, got ${describe(v)}`);
      return;
    case 'signal':
      if (typeof AbortSignal === 'undefined' || !(v instanceof AbortSignal)) throw new ArgumentError(`${what} must be an AbortSignal, got ${describe(v)}`);
      return;
    case 'any':
      return;
  }
}

/**
 * Refuses a layer that would need more than `limits.maxLayerBytes` (parameters and what is
 * derived from them), before anything is allocated.
 */
export function checkLayerBytes(what: string, bytes: number): void {
  if (!Number.isFinite(bytes) || bytes > current.maxLayerBytes) {
    throw new OutOfMemoryError(`${what}: needs about ${fmtBytes(bytes)} for its parameters and the weights derived from them, over the limit of ${fmtBytes(current.maxLayerBytes)} per layer (limits.maxLayerBytes; raise it with eq.setLimits if this is intended)`);
  }
}

/** Refuses a model whose layers together would need more than `limits.maxModelBytes`. */
export function checkModelBytes(what: string, bytes: number): void {
  if (!Number.isFinite(bytes) || bytes > current.maxModelBytes) {
    throw new OutOfMemoryError(`${what}: its layers would need about ${fmtBytes(bytes)}, over the limit of ${fmtBytes(current.maxModelBytes)} per model (limits.maxModelBytes; raise it with eq.setLimits if this is intended)`);
  }
}

export function fmtBytes(b: number): string {
  if (!Number.isFinite(b)) return `${b} bytes`;
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  return `${b} bytes`;
}

/** The option checks of `omega.kernel` (called first in its constructor). */
export function checkKernelOmegaOptions(o: unknown): void {
  checkOptions('omega.kernel', o, { in: ['dim'], out: ['dim'], size: ['dim', true], stride: ['dim', true], padding: ['any', true], bias: ['bool', true], lift: ['bool', true] });
  const p = (o as { padding?: unknown }).padding;
  if (p !== undefined && p !== 'same' && p !== 'valid' && !(typeof p === 'number' && Number.isSafeInteger(p) && p >= 0)) {
    throw new ArgumentError(`omega.kernel: padding must be 'same', 'valid' or a non-negative integer, got ${describe(p)}`);
  }
}

/** The option checks of `omega.attention` (called first in its constructor). */
export function checkAttentionOmegaOptions(o: unknown): void {
  // The rest are checked, with their own messages, by the constructor.
  checkOptions('omega.attention', o, { in: ['dim'], out: ['dim'], heads: ['dim', true], dim: ['dim', true], content: ['bool', true], location: ['any', true], hidden: ['any', true], activation: ['any', true], normalise: ['any', true], combine: ['any', true], bias: ['bool', true] });
}
