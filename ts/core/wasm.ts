/**
 * Loading the WebAssembly kernels, and the one door every kernel call goes through.
 *
 * `init()` compiles the module once (per realm: page, worker or Node process) and is idempotent
 * and safe to call concurrently. `kernels()` returns the wasm-bindgen exports; `call()` runs a
 * kernel, turns a non-zero status into a `KernelError` and a trap into a `WasmTrapError`, and
 * after a trap restores the shadow-stack pointer that the aborted frames left behind, so the
 * next call finds the instance as it was.
 */
import wbgInit, * as gen from '../gen/equivariant.js';
import { ArgumentError, EquivariantError, KernelError, NotInitializedError, UnsupportedError, WasmTrapError } from './errors.js';
import { describe, limits } from './limits.js';

/** What `init` accepts as the module: bytes, a URL or path, a fetch Response, or a compiled module. */
export type WasmSource = WebAssembly.Module | BufferSource | URL | string | Response | Promise<Response>;

export interface InitOptions {
  /** Where the `.wasm` comes from; by default the file next to this module. */
  wasm?: WasmSource;
}

type Exports = typeof gen;
interface RawExports {
  memory: WebAssembly.Memory;
  __stack_pointer: WebAssembly.Global;
}

let state: { kernels: Exports; raw: RawExports; module: WebAssembly.Module } | undefined;
let pending: Promise<void> | undefined;

// The smallest module that uses a SIMD128 instruction (i32.const 0; i8x16.splat).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 0x0a, 8, 1, 6, 0, 0x41, 0, 0xfd, 0x0f, 0x0b]);

/** Whether this runtime runs WebAssembly with SIMD128. */
export function simdSupported(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

const isNode = () => typeof process === 'object' && typeof process.versions?.node === 'string';

function sourceName(source: unknown): string {
  if (typeof source === 'string') return `'${source.length > 200 ? `${source.slice(0, 200)}...` : source}'`;
  if (source instanceof URL) return source.href;
  return describe(source);
}

async function compileSource(source: WasmSource): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (ArrayBuffer.isView(source) || source instanceof ArrayBuffer) return WebAssembly.compile(source);
  if (typeof source === 'string' || source instanceof URL) {
    const url = source instanceof URL ? source : isNode() && !/^[a-z]+:\/\//i.test(source) ? null : new URL(source, globalThis.location?.href);
    if (isNode() && (url === null || url.protocol === 'file:')) {
      const fs = await import('node:fs/promises');
      const path = url ?? (source as string);
      // A regular file of bounded size only: /dev/zero or a pipe would be read without end.
      const st = await fs.stat(path);
      if (!st.isFile()) throw new ArgumentError(`init: the wasm module at ${sourceName(source)} is not a regular file`);
      const max = limits().maxSourceBytes;
      if (st.size > max) throw new ArgumentError(`init: the wasm module at ${sourceName(source)} is ${st.size} bytes, over limits.maxSourceBytes (${max})`);
      return WebAssembly.compile(await fs.readFile(path));
    }
    return compileSource(fetch(url as URL));
  }
  const response = await source;
  if (typeof Response === 'function' && response instanceof Response) {
    if (!response.ok) throw new ArgumentError(`init: fetching the wasm module failed: ${response.status} ${response.statusText} (${response.url})`);
    if (typeof WebAssembly.compileStreaming === 'function' && response.headers.get('Content-Type') === 'application/wasm') {
      return WebAssembly.compileStreaming(response);
    }
    return WebAssembly.compile(await response.arrayBuffer());
  }
  throw new ArgumentError(`init: options.wasm must be a WebAssembly.Module, bytes, a URL, a path or a Response; got ${describe(source)}`);
}

/** Compiles the source, turning every failure (unreadable path, unreachable URL, bad bytes) into an ArgumentError. */
async function compile(source: WasmSource): Promise<WebAssembly.Module> {
  try {
    return await compileSource(source);
  } catch (e) {
    if (e instanceof EquivariantError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    const kind = e instanceof WebAssembly.CompileError ? 'is not a valid WebAssembly module' : 'could not be read';
    throw new ArgumentError(`init: the wasm module at ${sourceName(source)} ${kind} (${why})`);
  }
}

/** The exports the facade and its glue need: every kernel function, the memory, the stack pointer. */
function requiredExports(): string[] {
  const fns = Object.keys(gen).filter((k) => k !== 'default' && k !== 'initSync' && typeof (gen as Record<string, unknown>)[k] === 'function');
  return [...fns, 'memory', '__stack_pointer', '__wbindgen_start'];
}

/** Refuses a valid module that is not this library's kernels, before the glue instantiates it. */
function checkModule(module: WebAssembly.Module): void {
  const have = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = requiredExports().filter((n) => !have.has(n));
  if (missing.length) {
    throw new ArgumentError(`init: this WebAssembly module is not equivariant's kernels (or is another version): it lacks the export(s) ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}`);
  }
}

/**
 * Loads and instantiates the kernels. Idempotent; concurrent calls share one load; a failed
 * load leaves everything as if `init` had never been called, so it can be retried.
 */
export function init(options: InitOptions = {}): Promise<void> {
  if (options === null || typeof options !== 'object') return Promise.reject(new ArgumentError(`init: options must be an object { wasm? } or omitted, got ${describe(options)}`));
  if (state) return Promise.resolve();
  pending ??= (async () => {
    if (typeof WebAssembly !== 'object') throw new UnsupportedError('init: this runtime has no WebAssembly; equivariant needs WebAssembly with SIMD128 (Node >= 20, current Chrome, Firefox, Safari >= 16.4)');
    if (!simdSupported()) throw new UnsupportedError('init: this runtime lacks WebAssembly SIMD128, which equivariant needs (Node >= 20, Chrome >= 91, Firefox >= 89, Safari >= 16.4)');
    if ('wasm' in options && (options.wasm === null || options.wasm === undefined)) throw new ArgumentError(`init: options.wasm is ${describe(options.wasm)}; omit it to load the module next to this file`);
    const module = await compile(options.wasm ?? new URL('../gen/equivariant_bg.wasm', import.meta.url));
    checkModule(module);
    let raw: RawExports;
    try {
      raw = (await wbgInit({ module_or_path: module })) as unknown as RawExports;
    } catch (e) {
      throw new ArgumentError(`init: instantiating the wasm module failed (${e instanceof Error ? e.message : String(e)})`);
    }
    state = { kernels: gen, raw, module };
  })().catch((e) => {
    pending = undefined;
    throw e;
  });
  return pending;
}

/** Whether `init()` has completed. */
export function initialized(): boolean {
  return state !== undefined;
}

function loaded() {
  if (!state) throw new NotInitializedError('equivariant: call `await init()` before using tensors or layers');
  return state;
}

/** The wasm-bindgen exports (after `init`). */
export function kernels(): Exports {
  return loaded().kernels;
}

/** The compiled module, to hand to workers without compiling again. */
export function wasmModule(): WebAssembly.Module {
  return loaded().module;
}

/** The wasm linear memory's current buffer: re-read it after anything that may allocate. */
export function memoryBuffer(): ArrayBuffer {
  return loaded().raw.memory.buffer;
}

/** Runs a kernel that returns a status code; see the module comment. */
export function call(op: string, run: (k: Exports) => number): void {
  const status = guard(op, run);
  if (status !== 0) throw new KernelError(`${op}: ${loaded().kernels.last_error()}`);
}

/** Throws the `KernelError` the last refused call left (for kernels that return a count). */
export function kernelFailed(op: string): never {
  throw new KernelError(`${op}: ${loaded().kernels.last_error()}`);
}

/** Runs any wasm call, converting a trap into a `WasmTrapError` and recovering the instance. */
export function guard<T>(op: string, run: (k: Exports) => T): T {
  const s = loaded();
  const sp = s.raw.__stack_pointer.value as number;
  try {
    return run(s.kernels);
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) {
      s.raw.__stack_pointer.value = sp;
      // The aborted kernel's scratch is owned by the module: free it (a Vec would have leaked).
      s.kernels.scratch_reset();
      throw new WasmTrapError(op, e);
    }
    throw e;
  }
}

/** The test-only exports (`node tools/build-wasm.mjs --testing`); absent from the production module. */
export interface TestExports {
  gemm_reference(m: number, n: number, k: number, a: number, b: number, bias: number, c: number, relu: number): number;
  conv2d_reference(x: number, w: number, bias: number, out: number, n: number, cin: number, h: number, width: number, cout: number, kh: number, kw: number, stride: number, padTop: number, padLeft: number, ho: number, wo: number, relu: number): number;
  trap_for_test(depth: number): number;
  exp_reference(x: number, out: number, len: number, kind: number): number;
}

/** The raw test-only exports of the loaded module; an UnsupportedError when it is the production build. */
export function testExports(): TestExports {
  const raw = loaded().raw as unknown as Partial<TestExports>;
  if (typeof raw.trap_for_test !== 'function' || typeof raw.gemm_reference !== 'function' || typeof raw.conv2d_reference !== 'function' || typeof raw.exp_reference !== 'function') {
    throw new UnsupportedError('diagnostics: the loaded wasm module is the production build, which has no test-only exports (reference kernels, deliberate trap); init() with ts/gen-test/equivariant_bg.wasm (node tools/build-wasm.mjs --testing) to use them');
  }
  return raw as TestExports;
}
