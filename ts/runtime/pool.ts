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
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ArgumentError, EquivariantError } from '../core/errors.js';
import { init, wasmModule } from '../core/wasm.js';
import { type ModelConfig, type Source, type WeightsSource, inputChecker, readConfigSource, readWeightsBytes } from '../io/model.js';
import type { ConvAlgorithm } from '../nn/phi.js';
import { Tensor, expectTensor, tensor } from '../core/tensor.js';
import type { WorkerApi } from './worker.js';

/** A worker died (crashed or was terminated) while serving this run. */
export class WorkerCrashedError extends EquivariantError {}
/** The pool was closed. */
export class PoolClosedError extends EquivariantError {}
/** The run was cancelled through its AbortSignal. */
export class AbortError extends EquivariantError {}

export interface PoolOptions {
  /** Number of workers (default: hardware concurrency, at least 1). */
  workers?: number;
  /** Runs admitted at once before `run` waits (default: 2 x workers). */
  maxQueue?: number;
  /** The worker script (default: `worker.js` next to this module). */
  workerUrl?: URL | string;
}

const isNode = () => typeof process === 'object' && typeof process.versions?.node === 'string';

interface Slot {
  remote: Comlink.Remote<WorkerApi>;
  terminate(): void;
  busy: Chunk | undefined;
  ready: Promise<void>;
  dead: boolean;
}

interface Job {
  shape: number[];
  chunks: Chunk[];
  outputs: ({ data: Float32Array; shape: number[] } | undefined)[];
  remaining: number;
  settled: boolean;
  resolve(t: Tensor): void;
  reject(e: unknown): void;
}

interface Chunk {
  job: Job;
  index: number;
  data: Float32Array;
  shape: number[];
}

async function spawn(url: URL | string, onDeath: (err: unknown) => void): Promise<{ remote: Comlink.Remote<WorkerApi>; terminate(): void }> {
  if (isNode()) {
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(url instanceof URL ? url : new URL(url));
    w.on('error', (e) => onDeath(e));
    w.on('exit', (code) => onDeath(new Error(`worker exited with code ${code}`)));
    return { remote: Comlink.wrap<WorkerApi>(nodeEndpoint(w)), terminate: () => void w.terminate() };
  }
  const w = new Worker(url, { type: 'module' });
  w.addEventListener('error', (e) => onDeath(e.error ?? new Error(e.message)));
  return { remote: Comlink.wrap<WorkerApi>(w), terminate: () => w.terminate() };
}

export class Pool {
  readonly size: number;
  readonly maxQueue: number;
  #url: URL | string;
  #slots: Slot[] = [];
  #queue: Chunk[] = [];
  #admitted = 0;
  #waiters: (() => void)[] = [];
  #model: { config: ModelConfig; weights: Uint8Array; algorithm?: ConvAlgorithm; check: (x: Tensor) => void } | undefined;
  #closed = false;
  /** A load in progress: runs wait for it, so no run sees a mix of two models. */
  #loading: Promise<void> | undefined;
  /** Workers replaced after dying. */
  replaced = 0;

  /** Use `createPool`. */
  constructor(size: number, maxQueue: number, url: URL | string) {
    this.size = size;
    this.maxQueue = maxQueue;
    this.#url = url;
  }

  /** Starts the workers and hands each the compiled module. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.size }, (_, i) => this.#startSlot(i)));
  }

  async #startSlot(i: number): Promise<void> {
    const slot: Slot = { remote: undefined as never, terminate: () => {}, busy: undefined, ready: Promise.resolve(), dead: false };
    this.#slots[i] = slot;
    const { remote, terminate } = await spawn(this.#url, (err) => this.#onDeath(slot, i, err));
    slot.remote = remote;
    slot.terminate = terminate;
    slot.ready = (async () => {
      await remote.init(wasmModule());
      if (this.#model) await remote.load(this.#model.config, this.#model.weights.slice().buffer, this.#model.algorithm);
    })();
    await slot.ready;
    this.#dispatch();
  }

  #onDeath(slot: Slot, i: number, err: unknown): void {
    if (slot.dead) return;
    slot.dead = true;
    slot.terminate();
    const chunk = slot.busy;
    slot.busy = undefined;
    if (chunk) this.#fail(chunk.job, new WorkerCrashedError(`pool: worker ${i} died while running this batch (${err instanceof Error ? err.message : String(err)}); it is being replaced, other runs go on`));
    if (this.#closed) return;
    this.replaced++;
    void this.#startSlot(i).catch((e) => {
      for (const c of this.#queue.splice(0)) this.#fail(c.job, new WorkerCrashedError(`pool: replacing worker ${i} failed: ${(e as Error).message}`));
    });
  }

  /**
   * Loads a model on every worker (the weights are sent to each once). Waits for runs in
   * flight to finish first.
   */
  async load(options: { config: ModelConfig | Source; weights: WeightsSource; algorithm?: ConvAlgorithm }): Promise<void> {
    this.#checkOpen();
    const previous = this.#loading;
    // Set before anything is awaited, so a run called right after load() waits for it.
    const loading = (async () => {
      if (previous) await previous.catch(() => {});
      const config = await readConfigSource(options.config);
      const weights = await readWeightsBytes(options.weights);
      const check = inputChecker(config);
      while (this.#admitted > 0) await new Promise<void>((r) => this.#waiters.push(r));
      this.#model = { config, weights, algorithm: options.algorithm, check };
      await Promise.all(this.#slots.map(async (s) => {
        await s.ready;
        await s.remote.load(config, weights.slice().buffer, options.algorithm);
      }));
    })();
    this.#loading = loading;
    try {
      await loading;
    } finally {
      if (this.#loading === loading) this.#loading = undefined;
    }
  }

  /** Runs the loaded model on `batch` (`[N, ...]`); resolves to the output, as `model.run` would. */
  async run(batch: Tensor, options: { signal?: AbortSignal } = {}): Promise<Tensor> {
    this.#checkOpen();
    while (this.#loading) await this.#loading.catch(() => {});
    this.#checkOpen();
    if (!this.#model) throw new ArgumentError('pool.run: no model loaded (call pool.load first)');
    expectTensor(batch, 'pool.run');
    if (batch.rank < 1 || batch.shape[0] < 1) throw new ArgumentError(`pool.run: expected a batch [N, ...] with N >= 1, got [${batch.shape.join(', ')}]`);
    this.#model.check(batch);
    const { signal } = options;
    const aborted = () => new AbortError(`pool.run: aborted${signal?.reason ? ` (${String(signal.reason)})` : ''}`);
    if (signal?.aborted) throw aborted();
    const data = batch.toArray();
    const shape = [...batch.shape];
    // Backpressure: wait for a slot among maxQueue admitted runs.
    while (this.#admitted >= this.maxQueue) {
      await new Promise<void>((resolve, reject) => {
        const wake = () => { signal?.removeEventListener('abort', onAbort); resolve(); };
        const onAbort = () => { this.#waiters.splice(this.#waiters.indexOf(wake), 1); reject(aborted()); };
        this.#waiters.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      this.#checkOpen();
    }
    this.#admitted++;
    return new Promise<Tensor>((resolve, reject) => {
      const n = shape[0], per = Math.ceil(n / this.size), inner = data.length / n;
      const job: Job = { shape, chunks: [], outputs: [], remaining: 0, settled: false, resolve, reject };
      for (let start = 0, i = 0; start < n; start += per, i++) {
        const count = Math.min(per, n - start);
        job.chunks.push({ job, index: i, data: data.slice(start * inner, (start + count) * inner), shape: [count, ...shape.slice(1)] });
      }
      job.remaining = job.chunks.length;
      job.outputs = job.chunks.map(() => undefined);
      signal?.addEventListener('abort', () => this.#fail(job, aborted()), { once: true });
      this.#queue.push(...job.chunks);
      this.#dispatch();
    });
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (!slot || slot.dead || slot.busy || !slot.remote) continue;
      const chunk = this.#queue.shift();
      if (!chunk) return;
      slot.busy = chunk;
      void slot.ready
        .then(() => slot.remote.run(Comlink.transfer(chunk.data, [chunk.data.buffer]), chunk.shape))
        .then((out) => {
          if (slot.busy !== chunk) return; // the worker died meanwhile; already failed
          slot.busy = undefined;
          this.#done(chunk, out);
          this.#dispatch();
        }, (err) => {
          if (slot.busy !== chunk) return;
          slot.busy = undefined;
          this.#fail(chunk.job, err instanceof Error ? new EquivariantError(`pool: a worker failed: ${err.message}`) : err);
          this.#dispatch();
        });
    }
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
      job.reject(e);
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
    this.#admitted--;
    this.#waiters.shift()?.();
  }

  #checkOpen(): void {
    if (this.#closed) throw new PoolClosedError('pool: closed');
  }

  /** Workers, runs admitted, chunks waiting, and workers replaced so far. */
  status(): { workers: number; admitted: number; queued: number; busy: number; replaced: number } {
    return { workers: this.#slots.filter((s) => s && !s.dead).length, admitted: this.#admitted, queued: this.#queue.length, busy: this.#slots.filter((s) => s?.busy).length, replaced: this.replaced };
  }

  /** Terminates worker `i` as a crash would (for tests of recovery). */
  killWorker(i: number): void {
    const slot = this.#slots[i];
    if (!slot) throw new ArgumentError(`pool.killWorker: no worker ${i} (the pool has ${this.size})`);
    slot.terminate();
    if (!isNode()) this.#onDeath(slot, i, new Error('terminated'));
  }

  /** Stops every worker; runs not finished reject with PoolClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const err = new PoolClosedError('pool: closed before this run finished');
    for (const s of this.#slots) {
      if (s?.busy) this.#fail(s.busy.job, err);
      if (s) { s.dead = true; s.terminate(); }
    }
    for (const c of this.#queue.splice(0)) this.#fail(c.job, err);
    for (const w of this.#waiters.splice(0)) w();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Starts a pool of workers, each with the compiled wasm module (compiled once, here). */
export async function createPool(options: PoolOptions = {}): Promise<Pool> {
  const cores = isNode() ? (await import('node:os')).availableParallelism?.() ?? 1 : globalThis.navigator?.hardwareConcurrency ?? 1;
  const workers = options.workers ?? Math.max(1, cores);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new ArgumentError(`createPool: workers must be an integer in 1..256, got ${String(workers)}`);
  const maxQueue = options.maxQueue ?? 2 * workers;
  if (!Number.isInteger(maxQueue) || maxQueue < 1) throw new ArgumentError(`createPool: maxQueue must be a positive integer, got ${String(maxQueue)}`);
  await init();
  const pool = new Pool(workers, maxQueue, options.workerUrl ?? new URL('./worker.js', import.meta.url));
  try {
    await pool.start();
  } catch (e) {
    await pool.close();
    throw e;
  }
  return pool;
}
