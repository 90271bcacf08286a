/**
 * Tensors: f32, row-major, living in the wasm module's memory so kernels read them in place.
 *
 * A tensor owns one checked allocation (see crate/src/memory.rs): the kernels know it by a
 * handle (`ptr`, passed to every kernel call and resolved on the Rust side against its table of
 * live allocations), JavaScript reads it at its byte `address`. It is freed on `dispose()` (or
 * at the end of a `using` block, or of a `tidy()` scope). JavaScript never holds a view of wasm
 * memory across calls: memory can grow, which detaches every old view, so each access derives a
 * fresh one from the current buffer.
 */
import { DisposedError, OutOfMemoryError, ShapeError, ArgumentError } from './errors.js';
import { call, guard, kernels, memoryBuffer } from './wasm.js';
import { describe, detached } from './limits.js';

/**
 * The largest single allocation: Rust's allocator API allows at most `isize::MAX` bytes (2 GiB
 * on wasm32) in one block, 16-byte aligned. All allocations together can use up to 4 GiB.
 */
export const MAX_ALLOCATION_BYTES = 2 ** 31 - 16;

const live = new Set<WasmBuffer>();
const scopes: Set<WasmBuffer>[] = [];
/** Buffers created inside `owned()` calls, whatever `keep()` says (freed if the call throws). */
const owners: Set<WasmBuffer>[] = [];

/** Something that owns an allocation in wasm memory: a tensor, or a packed weight matrix. */
export abstract class WasmBuffer {
  #ptr: number;
  #address: number;
  readonly bytes: number;
  /** False for buffers the library owns itself (caches): not counted as the user's memory. */
  readonly userOwned: boolean;

  /** @param scoped whether the enclosing `tidy()` scope owns it (caches opt out). */
  protected constructor(bytes: number, what: string, scoped = true, zeroed = true) {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_ALLOCATION_BYTES) {
      throw new OutOfMemoryError(`${what}: needs ${bytes} bytes, but one WebAssembly (wasm32) allocation holds at most ${MAX_ALLOCATION_BYTES} bytes (2 GiB - 16; all tensors together at most 4 GiB)`);
    }
    const ptr = guard(what, (k) => k.tensor_alloc(bytes, zeroed));
    if (ptr === 0) {
      throw new OutOfMemoryError(`${what}: could not allocate ${bytes} bytes (wasm memory is ${memoryBuffer().byteLength} bytes and cannot grow that far; at most 4 GiB in all). Dispose tensors you no longer need.`);
    }
    this.#ptr = ptr;
    this.#address = guard(what, (k) => k.tensor_address(ptr));
    this.bytes = bytes;
    this.userOwned = scoped;
    live.add(this);
    if (scoped) scopes.at(-1)?.add(this);
    for (const o of owners) o.add(this);
  }

  /** The handle the kernels know this buffer by (pass it to kernel calls); throws once disposed. */
  get ptr(): number {
    if (this.#ptr === 0) throw new DisposedError(`${this.describe()} was used after dispose()`);
    return this.#ptr;
  }

  /** Byte address in wasm memory (for views); throws once disposed. */
  get address(): number {
    if (this.#ptr === 0) throw new DisposedError(`${this.describe()} was used after dispose()`);
    return this.#address;
  }

  get disposed(): boolean {
    return this.#ptr === 0;
  }

  /** Frees the memory. Idempotent. */
  dispose(): void {
    if (this.#ptr === 0) return;
    const ptr = this.#ptr;
    this.#ptr = 0;
    this.#address = 0;
    live.delete(this);
    for (const s of scopes) s.delete(this);
    call('dispose', (k) => k.tensor_free(ptr));
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  abstract describe(): string;
}

/** Checks a shape: a list of non-negative integers; returns the element count. */
export function shapeSize(shape: readonly number[], what = 'tensor'): number {
  if (!Array.isArray(shape)) throw new ShapeError(`${what}: shape must be an array of integers, got ${describe(shape)}`);
  if (shape.length > 32) throw new ShapeError(`${what}: shape has ${shape.length} axes; at most 32 are supported`);
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw new ShapeError(`${what}: shape must hold non-negative integers, got [${shape.map((v) => (typeof v === 'number' ? String(v) : describe(v))).join(', ')}]`);
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new OutOfMemoryError(`${what}: shape [${shape.join(', ')}] holds more values than any memory can`);
  return n;
}

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** An f32 tensor in wasm memory. */
export class Tensor extends WasmBuffer {
  readonly shape: readonly number[];
  readonly size: number;

  /** Use `tensor()` or `zeros()`. `scoped` false: owned by a library cache, not the user. */
  constructor(shape: readonly number[], zeroed = true, scoped = true) {
    const size = shapeSize(shape);
    super(size * 4, `tensor ${fmt(shape)}`, scoped, zeroed);
    this.shape = Object.freeze([...shape]);
    this.size = size;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** A fresh view of the data; valid only until the next allocation (memory may grow). */
  view(): Float32Array {
    return new Float32Array(memoryBuffer(), this.address, this.size);
  }

  /** A copy of the data. */
  toArray(): Float32Array {
    return this.view().slice();
  }

  describe(): string {
    return `tensor ${fmt(this.shape)}`;
  }

  toString(): string {
    return `Tensor${fmt(this.shape)}${this.disposed ? ' (disposed)' : ''}`;
  }
}

/**
 * Checks that `data` holds numbers: a typed array other than BigInt64Array/BigUint64Array, or
 * an array (or array-like) whose every element is a number. Nothing is converted silently.
 */
export function checkNumbers(data: unknown, what: string): asserts data is ArrayLike<number> {
  if (data === null || typeof data !== 'object') throw new ArgumentError(`${what}: expected a Float32Array or an array of numbers, got ${describe(data)}`);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) throw new ArgumentError(`${what}: expected a Float32Array or an array of numbers, got a ${data.constructor.name} (BigInt values are not converted)`);
  if (ArrayBuffer.isView(data)) {
    if (data instanceof DataView) throw new ArgumentError(`${what}: expected a Float32Array or an array of numbers, got a DataView`);
    if (detached(data.buffer)) throw new ArgumentError(`${what}: its ArrayBuffer is detached: a view of wasm memory taken before the memory grew (take the view again, or copy with toArray()), or an array transferred by postMessage or structuredClone`);
    return;
  }
  const n = (data as ArrayLike<unknown>).length;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new ArgumentError(`${what}: expected a Float32Array or an array of numbers, got ${describe(data)}`);
  for (let i = 0; i < n; i++) {
    const v = (data as ArrayLike<unknown>)[i];
    if (typeof v !== 'number') throw new ArgumentError(`${what}: element ${i} is ${describe(v)}, not a number`);
  }
}

/** Creates a tensor from data (copied into wasm memory) and a shape. */
export function tensor(data: Float32Array | ArrayLike<number>, shape?: readonly number[]): Tensor {
  checkNumbers(data, 'tensor: data');
  const dims = shape ?? [data.length];
  const size = shapeSize(dims);
  if (size !== data.length) {
    throw new ShapeError(`tensor: shape ${fmt(dims)} holds ${size} values, but data has ${data.length}`);
  }
  // A view of wasm memory (another tensor's view()) detaches if this allocation grows the
  // memory: copy it out first.
  const src = ArrayBuffer.isView(data) && data.buffer === memoryBuffer() ? (data as Float32Array).slice() : data;
  const t = new Tensor(dims, false);
  try {
    t.view().set(src);
  } catch (e) {
    t.dispose();
    throw e;
  }
  return t;
}

/** A tensor a library cache owns: outside `tidy()` scopes and the user's memory count. */
export function cachedTensor(data: Float32Array, shape: readonly number[]): Tensor {
  const t = new Tensor(shape, false, false);
  t.view().set(data);
  return t;
}

/**
 * A tensor whose contents are unspecified: for outputs a kernel overwrites whole (internal;
 * skipping the zero fill saves a pass over memory per layer).
 */
export function empty(shape: readonly number[]): Tensor {
  return new Tensor(shape, false);
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[]): Tensor {
  return new Tensor(shape);
}

/** Live wasm-backed objects and bytes, for leak checks. */
export interface MemoryInfo {
  /** Bytes held by live tensors and packed matrices (not counting caches). */
  bytes: number;
  /** Bytes held by caches the library manages itself (group-action index tables). */
  cacheBytes: number;
  /** Live tensors. */
  tensors: number;
  /** Live allocations of the user's (tensors, packed weights), as the kernels count them. */
  allocations: number;
  /** Bytes the kernels keep as scratch between calls (freed after a trap). */
  scratchBytes: number;
  /** Size of the wasm linear memory (it grows and never shrinks). */
  wasmBytes: number;
}

export function memory(): MemoryInfo {
  const k = kernels();
  let tensors = 0;
  for (const b of live) if (b instanceof Tensor) tensors++;
  let cacheBytes = 0, cached = 0;
  for (const b of live) if (!b.userOwned) { cacheBytes += b.bytes; cached++; }
  return { bytes: k.live_bytes() - cacheBytes, cacheBytes, tensors, allocations: k.live_allocations() - cached, scratchBytes: k.scratch_bytes(), wasmBytes: memoryBuffer().byteLength };
}

function collect(root: unknown, into: Set<WasmBuffer>): void {
  // Iterative (a deep chain must not overflow the stack), own data properties only (a getter is
  // not called), and an object that cannot be read (a Proxy whose traps throw) is skipped.
  const seen = new Set<unknown>();
  const stack: unknown[] = [root];
  while (stack.length) {
    const value = stack.pop();
    if (value === null || typeof value !== 'object' || seen.has(value)) continue;
    seen.add(value);
    try {
      if (value instanceof WasmBuffer) into.add(value);
      else if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) continue;
      else if (Array.isArray(value)) for (const v of value) stack.push(v);
      else if (value instanceof Map) for (const [k, v] of value) stack.push(k, v);
      else if (value instanceof Set) for (const v of value) stack.push(v);
      // Any other object by its own fields: a LiftedField's features, a class of the caller's.
      else {
        for (const key of Reflect.ownKeys(value)) {
          const d = Object.getOwnPropertyDescriptor(value, key);
          if (d && 'value' in d) stack.push(d.value);
        }
      }
    } catch {
      continue;
    }
  }
}

/**
 * Runs `fn` and disposes every tensor it created except those it returns (also inside arrays,
 * Maps, Sets and objects, a LiftedField's features included) or passed to `keep()`. Scopes nest; kept tensors belong to the outer one.
 * Synchronous only: an async function's tensors outlive the scope, so it is refused.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ArgumentError(`tidy: expected a function, got ${typeof fn}`);
  const scope = new Set<WasmBuffer>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const b of scope) b.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const b of scope) b.dispose();
    throw new ArgumentError('tidy: the function returned a Promise; tidy scopes are synchronous (dispose tensors yourself, or use `using`, in async code)');
  }
  const kept = new Set<WasmBuffer>();
  try {
    collect(result, kept);
  } catch (e) {
    for (const b of scope) b.dispose();
    throw e;
  }
  const outer = scopes.at(-1);
  for (const b of scope) {
    if (kept.has(b)) outer?.add(b);
    else b.dispose();
  }
  return result;
}

/**
 * Runs `fn` (a constructor, typically) and, if it throws, frees every wasm buffer it created,
 * kept or not: an object that never finished construction cannot free what it allocated.
 */
export function owned<T>(fn: () => T): T {
  const mine = new Set<WasmBuffer>();
  owners.push(mine);
  try {
    return fn();
  } catch (e) {
    for (const b of mine) b.dispose();
    throw e;
  } finally {
    owners.splice(owners.indexOf(mine), 1);
  }
}

/** Exempts a tensor from disposal by the enclosing `tidy()` scopes. */
export function keep<T extends WasmBuffer>(buffer: T): T {
  for (const s of scopes) s.delete(buffer);
  return buffer;
}

/** Checks that `t` is a live tensor of rank `rank`, naming `what` in the error. */
export function expectTensor(t: unknown, what: string, rank?: number): Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError(`${what}: expected a Tensor, got ${t === null ? 'null' : typeof t === 'object' ? t.constructor?.name : typeof t}`);
  if (t.disposed) throw new DisposedError(`${what}: ${t.describe()} was used after dispose()`);
  if (rank !== undefined && t.rank !== rank) throw new ShapeError(`${what}: expected a rank-${rank} tensor, got shape ${fmt(t.shape)}`);
  return t;
}
