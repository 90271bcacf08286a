/**
 * The worker side of `createPool` (Node worker_threads and browser Web Workers): it receives the
 * compiled module and the model once, then runs chunks of batches. Loaded by the pool from
 * `dist/worker.js`; not imported by users.
 *
 * Errors keep their class across the boundary: comlink sends an Error's `name` and `message`,
 * and the pool re-creates the library's error classes from the name (`reviveError` in pool.ts).
 * A JavaScript allocation failure here (a RangeError about memory or array lengths) is sent as
 * an OutOfMemoryError.
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { init } from '../core/wasm.js';
import { ArgumentError, OutOfMemoryError } from '../core/errors.js';
import { setLimits, type Limits } from '../core/limits.js';
import { loadModel, type Model, type ModelConfig } from '../io/model.js';
import type { ConvAlgorithm } from '../nn/phi.js';
import { tensor } from '../core/tensor.js';

let model: Model | undefined;

/** A RangeError from an allocation is an out-of-memory condition; anything else passes as is. */
function typed(e: unknown): unknown {
  if (e instanceof RangeError && /memory|array buffer|array length|allocation/i.test(e.message)) return new OutOfMemoryError(`worker: ${e.message}`);
  return e;
}

async function guarded<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw typed(e);
  }
}

export const api = {
  async init(module: WebAssembly.Module, limits?: Limits): Promise<void> {
    return guarded(async () => {
      if (limits) setLimits(limits);
      await init({ wasm: module });
    });
  },
  /** Builds the new model first and replaces the old one only when that succeeded. */
  async load(config: ModelConfig, weights: ArrayBuffer, algorithm: ConvAlgorithm | undefined): Promise<void> {
    return guarded(async () => {
      const next = await loadModel({ config, weights: new Uint8Array(weights), algorithm });
      model?.dispose();
      model = next;
    });
  },
  run(data: Float32Array, shape: number[]): Promise<{ data: Float32Array; shape: number[] }> {
    return guarded(() => {
      if (!model) throw new ArgumentError('worker: no model loaded');
      const x = tensor(data, shape);
      try {
        const y = model.run(x);
        const out = y.toArray();
        const outShape = [...y.shape];
        y.dispose();
        return Comlink.transfer({ data: out, shape: outShape }, [out.buffer]);
      } finally {
        x.dispose();
      }
    });
  },
};
export type WorkerApi = typeof api;

if (typeof process === 'object' && typeof process.versions?.node === 'string') {
  const { parentPort } = await import('node:worker_threads');
  if (parentPort) Comlink.expose(api, nodeEndpoint(parentPort));
} else {
  Comlink.expose(api);
}
