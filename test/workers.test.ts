// init() in Node worker_threads, finding the .wasm itself or given the compiled module.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import * as eq from '../dist/index.js';
import { smoke } from './support/smoke.js';

const runWorker = (module?: WebAssembly.Module) =>
  new Promise<{ hex: string; tensors: number }>((resolve, reject) => {
    const w = new Worker(new URL('./support/node-worker.mjs', import.meta.url), { workerData: { module } });
    w.once('message', (m) => { void w.terminate(); resolve(m); });
    w.once('error', reject);
  });

describe('init in Node worker_threads', () => {
  it('gives the same bytes in a worker (own load, or a transferred module) as on the main thread', async () => {
    const main = await smoke(eq);
    expect(main.hex.length).toBe(33 * 21 * 8);
    const own = await runWorker();
    const shared = await runWorker(eq.wasmModule());
    expect(own).toEqual(main);
    expect(shared).toEqual(main);
  });
});
