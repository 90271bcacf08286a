// Every layer type, the full P4CNN and a p4m variant, point-cloud layers (lift, LieConv, attention,
// the LieTransformer block) and whole LieTransformer and LieConv models against PyTorch (golden fixtures written by
// tools/pytorch/fixtures.py with Debian's torch; regenerate with `npm run fixtures`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import * as eq from '../ts/index.js';
import { relError } from './helpers.js';

const dir = new URL('./fixtures/', import.meta.url);
const cases = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());


describe('agreement with PyTorch', () => {
  it('has fixtures for every layer type and both full models', () => {
    const types = new Set(cases.flatMap((c) => JSON.parse(readFileSync(new URL(`${c}.json`, dir), 'utf8')).layers.map((l: { type: string }) => l.type)));
    for (const t of ['liftingConv', 'groupConv', 'groupPool', 'maxPool2d', 'avgPool2d', 'globalPool', 'relu', 'batchNorm', 'linear', 'flatten', 'groupAttention',
      'lift', 'silu', 'layerNorm', 'coordinates', 'lieConv', 'phi', 'lieTransformerBlock']) expect(types).toContain(t);
    for (const m of ['p4cnn', 'p4mcnn', 'lietransformer_model', 'lieconv_model']) expect(cases).toContain(m);
  });

  for (const name of cases) {
    it(`${name}: fused and unfused outputs match PyTorch to 1e-5 relative`, async () => {
      const model = await eq.loadModel({ config: new URL(`${name}.json`, dir).pathname, weights: new URL(`${name}.safetensors`, dir).pathname });
      const io = eq.parseSafetensors(readFileSync(new URL(`${name}.io.safetensors`, dir))).tensors;
      const want = io.get('output')!;
      const t = (k: string) => (io.has(k) ? eq.tensor(io.get(k)!.data, io.get(k)!.shape) : undefined);
      eq.tidy(() => {
        const x = io.has('points') ? { points: t('points')!, features: t('features')!, mask: t('mask') } : t('input')!;
        const y = model.run(x);
        expect(y.shape).toEqual(want.shape);
        expect(relError(y.toArray(), want.data), 'fused').toBeLessThanOrEqual(1e-5);
        expect(relError(model.runUnfused(x).toArray(), want.data), 'unfused').toBeLessThanOrEqual(1e-5);
      });
      model.dispose();
      expect(eq.memory()).toMatchObject({ tensors: 0, allocations: 0 });
    });
  }
});
