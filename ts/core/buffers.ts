/**
 * Typed buffers in wasm memory besides f32 tensors: u32 (neighbour lists, indices, plans) and f64
 * (group elements, Lie-algebra vectors). Like tensors they own one checked allocation and are
 * freed by `dispose()`, a `using` block or a `tidy()` scope.
 */
import { ArgumentError } from './errors.js';
import { WasmBuffer } from './tensor.js';
import { memoryBuffer } from './wasm.js';

abstract class TypedBuffer<A extends Uint32Array | Float64Array> extends WasmBuffer {
  constructor(
    readonly length: number,
    private readonly bytesPer: number,
    private readonly what: string,
    scoped: boolean,
  ) {
    if (!Number.isSafeInteger(length) || length < 0) throw new ArgumentError(`${what}: length must be a non-negative integer, got ${length}`);
    super(length * bytesPer, `${what} [${length}]`, scoped, false);
  }
  protected abstract make(buf: ArrayBuffer, ptr: number, length: number): A;
  /** A fresh view; valid only until the next allocation (memory may grow). */
  view(): A {
    return this.make(memoryBuffer(), this.address, this.length);
  }
  /** A copy of the contents. */
  toArray(): A {
    return this.view().slice() as A;
  }
  describe(): string {
    return `${this.what} [${this.length}]`;
  }
}

/** u32 values in wasm memory. */
export class U32Buffer extends TypedBuffer<Uint32Array> {
  /** @param scoped false for buffers a cache owns. */
  constructor(data: Uint32Array | number, scoped = true) {
    super(typeof data === 'number' ? data : data.length, 4, 'u32 buffer', scoped);
    if (typeof data !== 'number') this.view().set(data);
  }
  protected make(buf: ArrayBuffer, ptr: number, length: number): Uint32Array {
    return new Uint32Array(buf, ptr, length);
  }
}

/** f64 values in wasm memory. */
export class F64Buffer extends TypedBuffer<Float64Array> {
  constructor(data: Float64Array | ArrayLike<number> | number, scoped = true) {
    super(typeof data === 'number' ? data : data.length, 8, 'f64 buffer', scoped);
    if (typeof data !== 'number') this.view().set(data);
  }
  protected make(buf: ArrayBuffer, ptr: number, length: number): Float64Array {
    return new Float64Array(buf, ptr, length);
  }
}

/** Buffers a computation needs only while it runs: each added one is freed by `dispose()`. */
export class Temporaries {
  #items: WasmBuffer[] = [];
  add<T extends WasmBuffer>(b: T): T {
    this.#items.push(b);
    return b;
  }
  dispose(): void {
    for (const b of this.#items.splice(0)) b.dispose();
  }
}

/** Runs `fn` with a set of temporaries, freed however it ends. */
export function withTemporaries<R>(fn: (t: Temporaries) => R): R {
  const t = new Temporaries();
  try {
    return fn(t);
  } finally {
    t.dispose();
  }
}
