/**
 * Worker pools: a model on several workers (Node `worker_threads` or browser Web Workers, through
 * comlink), for batches.
 *
 * The compiled `WebAssembly.Module` and the model's weights go to each worker once. `run` splits
 * a batch into contiguous chunks (`ceil(N / workers)` images, the last one shorter), runs them
 * in parallel and reassembles the output in order. Each image's result depends only on that
 * image (the kernels never let batch composition change a sum's order), so the output bytes
 * equal `model.run(batch)` on one thread, for any worker count. At most `maxQueue` runs are
 * admitted at once; further `run` calls wait (backpressure). A run can be cancelled with an
 * `AbortSignal`. A worker that dies is replaced; only the run it was serving rejects.
 *
 * Nothing hangs: every call into a worker races the worker's death and the pool's `close()`, a
 * worker that does not start within `limits.workerStartTimeout` counts as a failed start, and
 * after `limits.maxWorkerStartFailures` failed starts in a row the pool stops trying (and
 * `createPool` rejects with a WorkerStartError). A load is all or nothing: the model in force
 * changes only when every worker loaded the new one, and workers that did not are brought back
 * to the model in force before they run anything. Errors raised in a worker keep their class.
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import {
  ArgumentError, ConfigError, DisposedError, EquivariantError, KernelError, NotInitializedError, OutOfMemoryError, ShapeError, UnsupportedError, WasmTrapError, WeightsError,
} from '../core/errors.js';
import { init, wasmModule } from '../core/wasm.js';
import { checkOptions, describe, limits } from '../core/limits.js';
import { type ModelConfig, type Source, type WeightsSource, exactBuffer, inputChecker, readConfigSource, readWeightsBytes } from '../io/model.js';
import type { ConvAlgorithm } from '../nn/phi.js';
import { Tensor, expectTensor, tensor } from '../core/tensor.js';
import type { PointCloud } from '../fields/points.js';
import type { WorkerApi } from './worker.js';

/** A worker died (crashed or was terminated) while serving this run. */
export class WorkerCrashedError extends EquivariantError {}
/** The pool was closed. */
export class PoolClosedError extends EquivariantError {}
/** The run was cancelled through its AbortSignal. */
export class AbortError extends EquivariantError {}
/** Workers could not be started (a missing or broken worker script), after the allowed retries. */
export class WorkerStartError extends EquivariantError {}

const CLASSES: Record<string, new (message: string) => EquivariantError> = {
  ShapeError, ArgumentError, DisposedError, OutOfMemoryError, UnsupportedError, NotInitializedError, KernelError, ConfigError, WeightsError,
  WorkerCrashedError, PoolClosedError, AbortError, WorkerStartError, EquivariantError,
};

/** An error from a worker, with its class restored from its name (typed, whatever it was). */
export function reviveError(e: unknown): EquivariantError {
  if (e instanceof EquivariantError) return e;
  const name = e !== null && typeof e === 'object' && typeof (e as Error).name === 'string' ? (e as Error).name : '';
  const message = e !== null && typeof e === 'object' && typeof (e as Error).message === 'string' ? (e as Error).message : String(e);
  if (name === 'WasmTrapError') {
    // The worker's message already says which op trapped and that its instance was recovered.
    const err = new WasmTrapError('pool worker', new Error(message));
    const wrapped = err.message;
    err.message = message;
    if (err.stack) err.stack = err.stack.replace(wrapped, message);
    return err;
  }
  const C = Object.prototype.hasOwnProperty.call(CLASSES, name) ? CLASSES[name] : undefined;
  if (C) return new C(message);
  return new EquivariantError(`pool: a worker failed: ${name ? `${name}: ` : ''}${message}`);
}

export interface PoolOptions {
  /** Number of workers (default: hardware concurrency, at least 1; at most 256). */
  workers?: number;
  /** Runs admitted at once before `run` waits (default: 2 x workers). */
  maxQueue?: number;
  /** The worker script (default: `worker.js` next to this module). */
  workerUrl?: URL | string;
}

const isNode = () => typeof process === 'object' && typeof process.versions?.node === 'string';

interface Slot {
  index: number;
  remote: Comlink.Remote<WorkerApi> | undefined;
  terminate(): void;
  state: 'starting' | 'ready' | 'dead';
  busy: Chunk | undefined;
  /** Rejects when the worker dies or the pool closes: every call into the worker races it. */
  died: Promise<never>;
  kill(err: EquivariantError): void;
  /** Which model the worker holds (0: none). */
  modelGen: number;
  /** Settles when the start finished (either way). */
  started: Promise<void>;
}

interface Job {
  shape: number[];
  chunks: Chunk[];
  outputs: ({ data: Float32Array; shape: number[] } | undefined)[];
  remaining: number;
  settled: boolean;
  resolve(t: Tensor): void;
  reject(e: unknown): void;
  cleanup(): void;
}

/** A batch as named arrays: `{ input }` for a tensor, `{ points, features, mask? }` for point clouds. */
export type Parts = Record<string, { data: Float32Array; shape: number[] }>;

interface Chunk {
  job: Job;
  index: number;
  parts: Parts;
}

interface LoadedModel {
  gen: number;
  config: ModelConfig;
  weights: Uint8Array;
  algorithm?: ConvAlgorithm;
  check: (x: Tensor | PointCloud) => void;
}

async function spawn(url: URL | string, onDeath: (err: unknown) => void): Promise<{ remote: Comlink.Remote<WorkerApi>; terminate(): void }> {
  if (isNode()) {
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(url instanceof URL ? url : new URL(url));
    w.on('error', (e) => onDeath(e));
    w.on('exit', (code) => onDeath(new Error(`worker exited with code ${code}`)));
    return { remote: Comlink.wrap<WorkerApi>(nodeEndpoint(w)), terminate: () => void w.terminate().catch(() => {}) };
  }
  const w = new Worker(url, { type: 'module' });
  w.addEventListener('error', (e) => onDeath(e.error ?? new Error(e.message || 'the worker script failed to load')));
  w.addEventListener('messageerror', () => onDeath(new Error('the worker sent a message that could not be read')));
  return { remote: Comlink.wrap<WorkerApi>(w), terminate: () => w.terminate() };
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class Pool {
  readonly size: number;
  readonly maxQueue: number;
  #url: URL | string;
  #slots: Slot[] = [];
  /** Failed starts in a row, per worker index. */
  #failures: number[];
  #queue: Chunk[] = [];
  #admitted = 0;
  /** Runs waiting for one of the maxQueue slots: one is woken per slot freed. */
  #waiters: (() => void)[] = [];
  /** One abort listener per signal, with the runs it stands for. */
  #aborts = new Map<AbortSignal, { fns: Set<() => void>; listener: () => void }>();
  /** Loads waiting for the admitted runs to finish: all are woken when none is left. */
  #idle: (() => void)[] = [];
  #model: LoadedModel | undefined;
  #gen = 0;
  #closed = false;
  /** A load in progress: runs wait for it, so no run sees a mix of two models. */
  #loading: Promise<void> | undefined;
  /**
   * Set while a load swaps the model (runs admitted before it have all finished): chunks wait.
   * Not while it waits for those runs: their queued chunks must still be dispatched, or the load
   * would wait for runs that wait for it.
   */
  #swapping = false;
  /** Workers replaced after dying. */
  replaced = 0;

  /** Use `createPool`. */
  constructor(size: number, maxQueue: number, url: URL | string) {
    this.size = size;
    this.maxQueue = maxQueue;
    this.#url = url;
    this.#failures = new Array(size).fill(0);
  }

  /** Starts the workers and hands each the compiled module; rejects with a WorkerStartError when one cannot be started. */
  async start(): Promise<void> {
    const results = await Promise.allSettled(Array.from({ length: this.size }, (_, i) => this.#ensureSlot(i)));
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
  }

  /** Starts worker `i`, retrying up to `limits.maxWorkerStartFailures` failed starts in a row. */
  async #ensureSlot(i: number): Promise<void> {
    const max = limits().maxWorkerStartFailures;
    let last: unknown;
    while (!this.#closed) {
      try {
        await this.#startSlot(i);
        this.#failures[i] = 0;
        this.#dispatch();
        return;
      } catch (e) {
        last = e;
        if (this.#closed) break;
        if (++this.#failures[i] >= max) {
          throw new WorkerStartError(`pool: worker ${i} failed to start ${this.#failures[i]} times in a row (last: ${message(e)}); check the worker script (${String(this.#url)})`);
        }
        await new Promise((r) => setTimeout(r, 20 * this.#failures[i]));
      }
    }
    throw last instanceof PoolClosedError ? last : new PoolClosedError('pool: closed while starting a worker');
  }

  async #startSlot(i: number): Promise<void> {
    let kill!: (err: EquivariantError) => void;
    const died = new Promise<never>((_, reject) => {
      kill = reject;
    });
    died.catch(() => {});
    let startedResolve!: () => void;
    const started = new Promise<void>((r) => {
      startedResolve = r;
    });
    const slot: Slot = { index: i, remote: undefined, terminate: () => {}, state: 'starting', busy: undefined, died, kill: () => {}, modelGen: 0, started };
    slot.kill = (err) => {
      if (slot.state === 'dead') return;
      slot.state = 'dead';
      slot.terminate();
      kill(err);
    };
    this.#slots[i] = slot;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const { remote, terminate } = await Promise.race([spawn(this.#url, (err) => this.#onDeath(slot, err)), died]);
      slot.remote = remote;
      slot.terminate = terminate;
      if (slot.state === 'dead') terminate();
      const timeout = limits().workerStartTimeout;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new WorkerStartError(`pool: worker ${i} did not start within ${timeout} ms (limits.workerStartTimeout)`)), timeout);
      });
      await Promise.race([(async () => {
        await this.#call(slot, (r) => r.init(wasmModule(), limits()));
        const m = this.#model;
        if (m) {
          const buf = exactBuffer(m.weights);
          await this.#call(slot, (r) => r.load(m.config, Comlink.transfer(buf, [buf]), m.algorithm));
          slot.modelGen = m.gen;
        }
      })(), timedOut, died]);
      if (slot.state === 'dead') throw new WorkerStartError(`pool: worker ${i} died while starting`);
      slot.state = 'ready';
    } catch (e) {
      slot.kill(new WorkerStartError(`pool: worker ${i} failed to start: ${message(e)}`));
      throw e instanceof EquivariantError ? e : new WorkerStartError(`pool: worker ${i} failed to start: ${message(e)}`);
    } finally {
      clearTimeout(timer);
      startedResolve();
    }
  }

  /** Waits until no worker is in the middle of starting (bounded by the start timeout and retries). */
  async #settled(): Promise<void> {
    for (let i = 0; i < 4 * limits().maxWorkerStartFailures && this.#slots.some((s) => s && s.state === 'starting'); i++) {
      await Promise.all(this.#slots.filter((s) => s && s.state === 'starting').map((s) => s.started));
      await new Promise((r) => setTimeout(r, 0));
    }
  }

  /** Runs `fn` on the worker; settles when the worker answers, dies, or the pool closes. */
  #call<T>(slot: Slot, fn: (r: Comlink.Remote<WorkerApi>) => Promise<T>): Promise<T> {
    if (slot.state === 'dead' || !slot.remote) return slot.died;
    const remote = slot.remote;
    return Promise.race([fn(remote).catch((e: unknown) => {
      throw reviveError(e);
    }), slot.died]);
  }

  #onDeath(slot: Slot, err: unknown): void {
    if (slot.state === 'dead') return;
    const wasReady = slot.state === 'ready';
    slot.kill(new WorkerCrashedError(`pool: worker ${slot.index} died (${message(err)})`));
    const chunk = slot.busy;
    slot.busy = undefined;
    if (chunk) this.#fail(chunk.job, new WorkerCrashedError(`pool: worker ${slot.index} died while running this batch (${message(err)}); it is being replaced, other runs go on`));
    if (this.#closed || !wasReady || this.#slots[slot.index] !== slot) return; // a start that failed is retried by #ensureSlot
    this.replaced++;
    void this.#ensureSlot(slot.index).catch((e) => this.#failIfNoWorkers(e));
  }

  /** When no worker is ready or starting, queued work cannot run: reject it. */
  #failIfNoWorkers(e: unknown): void {
    if (this.#slots.some((s) => s && s.state !== 'dead')) return;
    const err = e instanceof EquivariantError ? e : new WorkerStartError(`pool: no worker could be started: ${message(e)}`);
    for (const c of this.#queue.splice(0)) this.#fail(c.job, err);
  }

  /** Restarts workers that are down (after failed starts), each with a fresh budget of tries. */
  async #revive(): Promise<void> {
    const down = this.#slots.map((s, i) => (s && s.state !== 'dead' ? -1 : i)).filter((i) => i >= 0);
    if (down.length === 0) return;
    if (down.length < this.size) {
      // Some workers are up: restart the others in the background.
      for (const i of down) { this.#failures[i] = 0; void this.#ensureSlot(i).catch(() => {}); }
      return;
    }
    for (const i of down) this.#failures[i] = 0;
    const results = await Promise.allSettled(down.map((i) => this.#ensureSlot(i)));
    if (results.every((r) => r.status === 'rejected')) throw (results[0] as PromiseRejectedResult).reason;
  }

  /**
   * Loads a model on every worker (the weights are sent to each once). Waits for runs in
   * flight to finish first. All or nothing: if any worker fails to load it, the pool keeps the
   * model it had (or none) and the error, with its class, is thrown.
   */
  async load(options: { config: ModelConfig | Source; weights: WeightsSource; algorithm?: ConvAlgorithm }): Promise<void> {
    checkOptions('pool.load', options, { config: ['any'], weights: ['any'], algorithm: [['auto', 'direct'], true] });
    this.#checkOpen();
    const previous = this.#loading;
    let swapped = false;
    // Set before anything is awaited, so a run called right after load() waits for it.
    const loading = (async () => {
      if (previous) await previous.catch(() => {});
      this.#checkOpen();
      const config = await readConfigSource(options.config);
      const weights = await readWeightsBytes(options.weights);
      const check = inputChecker(config);
      while (this.#admitted > 0) {
        await new Promise<void>((r) => this.#idle.push(r));
        this.#checkOpen();
      }
      this.#swapping = true;
      swapped = true;
      await this.#revive();
      await this.#settled();
      this.#checkOpen();
      const candidate: LoadedModel = { gen: ++this.#gen, config, weights, algorithm: options.algorithm, check };
      const ready = this.#slots.filter((s) => s.state === 'ready');
      if (ready.length === 0) throw new WorkerStartError('pool.load: no worker is running');
      const results = await Promise.allSettled(ready.map(async (s) => {
        const buf = exactBuffer(weights);
        await this.#call(s, (r) => r.load(config, Comlink.transfer(buf, [buf]), options.algorithm));
        s.modelGen = candidate.gen;
      }));
      // A worker that died meanwhile is being replaced, and loads the model in force before it
      // runs anything; any other failure (the model itself) makes the load fail.
      const failed = results.find((r) => r.status === 'rejected' && !(r.reason instanceof WorkerCrashedError)) as PromiseRejectedResult | undefined;
      this.#checkOpen();
      if (failed) throw reviveError(failed.reason);
      if (results.every((r) => r.status === 'rejected')) throw reviveError((results[0] as PromiseRejectedResult).reason);
      this.#model = candidate;
    })();
    this.#loading = loading;
    try {
      await loading;
    } finally {
      if (this.#loading === loading) this.#loading = undefined;
      if (swapped) this.#swapping = false;
      this.#dispatch();
    }
  }

  /**
   * Runs the loaded model on `batch` (`[N, ...]`, or point clouds `{ points, features, mask? }`
   * for a point-cloud model); resolves to the output, as `model.run` would.
   */
  async run(batch: Tensor | PointCloud, options: { signal?: AbortSignal } = {}): Promise<Tensor> {
    checkOptions('pool.run', options, { signal: ['signal', true] }, true);
    this.#checkOpen();
    while (this.#loading) await this.#loading.catch(() => {});
    this.#checkOpen();
    if (!this.#model) throw new ArgumentError('pool.run: no model loaded (call pool.load first)');
    const cloud = !(batch instanceof Tensor) && batch !== null && typeof batch === 'object' && 'points' in batch;
    if (!cloud) {
      expectTensor(batch, 'pool.run');
      if (batch.rank < 1 || batch.shape[0] < 1) throw new ShapeError(`pool.run: expected a batch [N, ...] with N >= 1, got [${batch.shape.join(', ')}]`);
    }
    this.#model.check(batch);
    const signal = options?.signal;
    const aborted = () => new AbortError(`pool.run: aborted${signal?.reason !== undefined ? ` (${describe(signal.reason)})` : ''}`);
    if (signal?.aborted) throw aborted();
    const named: [string, Tensor | undefined][] = cloud ? [['points', (batch as PointCloud).points], ['features', (batch as PointCloud).features], ['mask', (batch as PointCloud).mask]] : [['input', batch as Tensor]];
    const whole = named.filter((e): e is [string, Tensor] => e[1] !== undefined).map(([k, t]) => [k, t.toArray(), [...t.shape]] as const);
    const shape = [...whole[0][2]];
    // Backpressure: wait for a slot among maxQueue admitted runs.
    while (this.#admitted >= this.maxQueue) {
      await new Promise<void>((resolve, reject) => {
        let off = () => {};
        const wake = () => { off(); resolve(); };
        const onAbort = () => {
          const at = this.#waiters.indexOf(wake);
          if (at >= 0) this.#waiters.splice(at, 1);
          reject(aborted());
        };
        this.#waiters.push(wake);
        if (signal) off = this.#onAbort(signal, onAbort);
      });
      this.#checkOpen();
    }
    if (!this.#slots.some((s) => s && s.state !== 'dead')) {
      await this.#revive();
      this.#checkOpen();
    }
    // An abort while waiting for the slot or the workers is not heard by a listener added later.
    if (signal?.aborted) {
      this.#waiters.shift()?.();
      throw aborted();
    }
    this.#admitted++;
    return new Promise<Tensor>((resolve, reject) => {
      const n = shape[0], per = Math.ceil(n / this.size);
      const onAbort = () => this.#fail(job, aborted());
      let off = () => {};
      const job: Job = {
        shape, chunks: [], outputs: [], remaining: 0, settled: false, resolve, reject,
        cleanup: () => off(),
      };
      for (let start = 0, i = 0; start < n; start += per, i++) {
        const count = Math.min(per, n - start);
        const parts: Parts = {};
        for (const [k, data, sh] of whole) {
          const inner = data.length / sh[0];
          parts[k] = { data: data.slice(start * inner, (start + count) * inner), shape: [count, ...sh.slice(1)] };
        }
        job.chunks.push({ job, index: i, parts });
      }
      job.remaining = job.chunks.length;
      job.outputs = job.chunks.map(() => undefined);
      off = signal ? this.#onAbort(signal, onAbort) : () => {};
      this.#queue.push(...job.chunks);
      this.#dispatch();
    });
  }

  /**
   * Calls `fn` when `signal` aborts; returns its remover. One listener per signal, however many
   * runs share it (a listener each made Node warn of a leak past ten, for a signal the docs say
   * may be reused).
   */
  #onAbort(signal: AbortSignal, fn: () => void): () => void {
    let entry = this.#aborts.get(signal);
    if (!entry) {
      const fns = new Set<() => void>();
      const listener = () => {
        this.#aborts.delete(signal);
        for (const f of [...fns]) f();
      };
      entry = { fns, listener };
      this.#aborts.set(signal, entry);
      signal.addEventListener('abort', listener, { once: true });
    }
    const e = entry;
    e.fns.add(fn);
    return () => {
      e.fns.delete(fn);
      if (e.fns.size === 0 && this.#aborts.get(signal) === e) {
        this.#aborts.delete(signal);
        signal.removeEventListener('abort', e.listener);
      }
    };
  }

  #dispatch(): void {
    if (this.#closed || this.#swapping) return;
    const model = this.#model;
    if (!model) return;
    for (const slot of this.#slots) {
      if (!slot || slot.state !== 'ready' || slot.busy) continue;
      const chunk = this.#queue.shift();
      if (!chunk) return;
      slot.busy = chunk;
      void this.#runOn(slot, chunk, model);
    }
  }

  async #runOn(slot: Slot, chunk: Chunk, model: LoadedModel): Promise<void> {
    try {
      if (slot.modelGen !== model.gen) {
        // This worker holds another model (a load that failed elsewhere): bring it back first.
        const buf = exactBuffer(model.weights);
        await this.#call(slot, (r) => r.load(model.config, Comlink.transfer(buf, [buf]), model.algorithm));
        slot.modelGen = model.gen;
      }
      const out = await this.#call(slot, (r) => r.run(Comlink.transfer(chunk.parts, Object.values(chunk.parts).map((p) => p.data.buffer))));
      if (slot.busy !== chunk) return; // the worker died meanwhile; already failed
      slot.busy = undefined;
      this.#done(chunk, out);
    } catch (err) {
      if (slot.busy !== chunk) return;
      slot.busy = undefined;
      this.#fail(chunk.job, reviveError(err));
    }
    this.#dispatch();
  }

  #done(chunk: Chunk, out: { data: Float32Array; shape: number[] }): void {
    const job = chunk.job;
    if (job.settled) return;
    job.outputs[chunk.index] = out;
    if (--job.remaining > 0) return;
    this.#settle(job);
    try {
      const parts = job.outputs as { data: Float32Array; shape: number[] }[];
      const total = parts.reduce((s, p) => s + p.data.length, 0);
      const all = new Float32Array(total);
      let at = 0;
      for (const p of parts) { all.set(p.data, at); at += p.data.length; }
      job.resolve(tensor(all, [job.shape[0], ...parts[0].shape.slice(1)]));
    } catch (e) {
      job.reject(e instanceof EquivariantError ? e : reviveError(e));
    }
  }

  #fail(job: Job, err: unknown): void {
    if (job.settled) return;
    this.#settle(job);
    this.#queue = this.#queue.filter((c) => c.job !== job);
    job.reject(err);
  }

  #settle(job: Job): void {
    job.settled = true;
    job.cleanup();
    this.#admitted--;
    // One slot freed, one run woken (an aborted run has left the list already). Separate from the
    // loads' list: a single shared wake-up could go to a run and leave a load waiting.
    this.#waiters.shift()?.();
    if (this.#admitted === 0) for (const wake of this.#idle.splice(0)) wake();
  }

  #checkOpen(): void {
    if (this.#closed) throw new PoolClosedError('pool: closed');
  }

  /** Workers, runs admitted, chunks waiting, and workers replaced so far. */
  status(): { workers: number; admitted: number; queued: number; busy: number; replaced: number } {
    return { workers: this.#slots.filter((s) => s && s.state === 'ready').length, admitted: this.#admitted, queued: this.#queue.length, busy: this.#slots.filter((s) => s?.busy).length, replaced: this.replaced };
  }

  /** Terminates worker `i` as a crash would (for tests of recovery). */
  killWorker(i: number): void {
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= this.size) throw new ArgumentError(`pool.killWorker: no worker ${describe(i)} (the pool has ${this.size}: 0..${this.size - 1})`);
    const slot = this.#slots[i];
    if (!slot || slot.state === 'dead') return;
    this.#onDeath(slot, new Error('terminated by killWorker'));
  }

  /** Stops every worker; every pending `run`, `load` and waiting call rejects with PoolClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const err = new PoolClosedError('pool: closed before this call finished');
    for (const s of this.#slots) {
      if (!s) continue;
      if (s.busy) this.#fail(s.busy.job, err);
      s.busy = undefined;
      s.kill(err);
    }
    for (const c of this.#queue.splice(0)) this.#fail(c.job, err);
    for (const w of [...this.#waiters.splice(0), ...this.#idle.splice(0)]) w();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Starts a pool of workers, each with the compiled wasm module (compiled once, here). */
export async function createPool(options: PoolOptions = {}): Promise<Pool> {
  checkOptions('createPool', options, { workers: ['int', true], maxQueue: ['int', true], workerUrl: ['any', true] }, true);
  const cores = isNode() ? (await import('node:os')).availableParallelism?.() ?? 1 : globalThis.navigator?.hardwareConcurrency ?? 1;
  const workers = options?.workers ?? Math.max(1, cores);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new ArgumentError(`createPool: workers must be an integer in 1..256, got ${describe(workers)}`);
  const maxQueue = options?.maxQueue ?? 2 * workers;
  if (!Number.isSafeInteger(maxQueue) || maxQueue < 1) throw new ArgumentError(`createPool: maxQueue must be a positive integer, got ${describe(maxQueue)}`);
  let url: URL | string = new URL('./worker.js', import.meta.url);
  if (options?.workerUrl !== undefined) {
    const u = options.workerUrl;
    if (!(u instanceof URL) && typeof u !== 'string') throw new ArgumentError(`createPool: workerUrl must be a URL or a string, got ${describe(u)}`);
    try {
      url = u instanceof URL ? u : isNode() ? new URL(u) : new URL(u, globalThis.location?.href);
    } catch {
      throw new ArgumentError(`createPool: workerUrl ${describe(u)} is not a valid URL`);
    }
  }
  await init();
  const pool = new Pool(workers, maxQueue, url);
  try {
    await pool.start();
  } catch (e) {
    await pool.close();
    throw e;
  }
  return pool;
}
