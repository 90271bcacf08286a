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
import { ArgumentError, ConfigError, OutOfMemoryError } from '../core/errors.js';
import { LiftedFieldType } from '../fields/lifted.js';
import { setLimits, type Limits } from '../core/limits.js';
import { loadModel, type Model, type ModelConfig } from '../io/model.js';
import type { ConvAlgorithm } from '../nn/phi.js';
import { tensor, tidy } from '../core/tensor.js';

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
      if (next.outType instanceof LiftedFieldType) {
        next.dispose();
        throw new ConfigError(`pool: model '${next.name}' returns features on the lifted elements (it does not end in globalPool); a pool returns tensors [B, ...]: end the model in a globalPool, or run it with model.run`);
      }
      model?.dispose();
      model = next;
    });
  },
  /** `{ input }` or point clouds `{ points, features, mask? }`, as named arrays. */
  run(parts: Record<string, { data: Float32Array; shape: number[] }>): Promise<{ data: Float32Array; shape: number[] }> {
    return guarded(() => {
      if (!model) throw new ArgumentError('worker: no model loaded');
      const m = model;
      return tidy(() => {
        const t = (k: string) => (parts[k] ? tensor(parts[k].data, parts[k].shape) : undefined);
        const x = parts.input ? t('input')! : { points: t('points')!, features: t('features')!, mask: t('mask') };
        const y = m.run(x);
        const out = y.toArray();
        return Comlink.transfer({ data: out, shape: [...y.shape] }, [out.buffer]);
      });
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
