/**
 * The worker side of `createPool` (Node worker_threads and browser Web Workers): it receives the
 * compiled module and the model once, then runs chunks of batches. Loaded by the pool from
 * `dist/worker.js`; not imported by users.
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { init } from '../core/wasm.js';
import { loadModel, type Model, type ModelConfig } from '../io/model.js';
import type { ConvAlgorithm } from '../nn/phi.js';
import { tensor } from '../core/tensor.js';

let model: Model | undefined;

export const api = {
  async init(module: WebAssembly.Module): Promise<void> {
    await init({ wasm: module });
  },
  async load(config: ModelConfig, weights: ArrayBuffer, algorithm: ConvAlgorithm | undefined): Promise<void> {
    model?.dispose();
    model = undefined;
    model = await loadModel({ config, weights: new Uint8Array(weights), algorithm });
  },
  run(data: Float32Array, shape: number[]): { data: Float32Array; shape: number[] } {
    if (!model) throw new Error('worker: no model loaded');
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
  },
};
export type WorkerApi = typeof api;

if (typeof process === 'object' && typeof process.versions?.node === 'string') {
  const { parentPort } = await import('node:worker_threads');
  if (parentPort) Comlink.expose(api, nodeEndpoint(parentPort));
} else {
  Comlink.expose(api);
}
