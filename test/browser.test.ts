// init() in headless Chromium: in a page, in a module Web Worker loading the .wasm itself, and
// in one given the compiled module; the bytes must equal Node's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import type { Browser } from 'playwright-core';
import * as eq from '../dist/index.js';
import { smoke } from './support/smoke.js';
import { cloudBatch } from './support/clouds.js';
import { launch, openAndWait } from './support/chromium.js';

let env: Awaited<ReturnType<typeof launch>>;
let browser: Browser;

beforeAll(async () => {
  env = await launch();
  browser = env.browser;
});
afterAll(() => env?.close());

describe('the P4CNN in a browser', () => {
  it('gives the same SHA-256 in a page and through a Web Worker pool as in Node', async () => {
    const { value: result, errors } = await openAndWait<Record<string, unknown>>(browser, `${env.url}/test/support/p4cnn.html`, 'result');
    expect(errors).toEqual([]);
    expect(result.error).toBeUndefined();
    await eq.init();
    const fx = new URL('./fixtures/', import.meta.url).pathname;
    const model = await eq.loadModel({ config: `${fx}p4cnn.json`, weights: `${fx}p4cnn.safetensors` });
    const n = 13;
    const x = eq.tensor(Float32Array.from({ length: n * 784 }, (_, i) => Math.sin(i * 0.013 + 1)), [n, 1, 28, 28]);
    const y = model.run(x);
    const node = createHash('sha256').update(new Uint8Array(y.toArray().buffer)).digest('hex');
    y.dispose();
    x.dispose();
    expect(result.page).toBe(node);
    expect(result.pooled).toBe(node);
    expect(result.workers).toBe(3);
    model.dispose();
  });
});

describe('point-cloud models in a browser', () => {
  it('LieTransformer and LieConv give the same SHA-256 in a page and through a Web Worker pool as in Node', async () => {
    const { value: result, errors } = await openAndWait<Record<string, { page: string; pooled: string }> & { error?: string }>(browser, `${env.url}/test/support/clouds.html`, 'result');
    expect(errors).toEqual([]);
    expect(result.error).toBeUndefined();
    await eq.init();
    const fx = new URL('./fixtures/', import.meta.url).pathname;
    for (const name of ['lietransformer_model', 'lieconv_model']) {
      const model = await eq.loadModel({ config: `${fx}${name}.json`, weights: `${fx}${name}.safetensors` });
      const x = cloudBatch(eq, 7, 9);
      const y = model.run(x);
      const node = createHash('sha256').update(new Uint8Array(y.toArray().buffer)).digest('hex');
      for (const t of [y, x.points, x.features, x.mask]) t.dispose();
      expect(result[name].page, name).toBe(node);
      expect(result[name].pooled, name).toBe(node);
      model.dispose();
    }
  });
});

describe('init in a browser', () => {
  it('works in a page and in Web Workers, bit-identical to Node', async () => {
    const { value: result, errors } = await openAndWait<Record<string, unknown>>(browser, `${env.url}/test/support/browser.html`, 'result');
    expect(errors).toEqual([]);
    expect(result.error).toBeUndefined();
    const node = await smoke(eq);
    expect(result.simd).toBe(true);
    expect(result.page).toEqual(node);
    expect(result.worker).toEqual(node);
    expect(result.workerWithModule).toEqual(node);
  });
});
