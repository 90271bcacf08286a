// escnn and e2cnn models in this library: each fixture (tools/escnn/fixtures.py: random weights
// and batch-norm statistics, exported by tools/escnn/equivariant_export.py with an input and the
// exporting library's own output for it) loads with eq.loadModel and agrees with the library to
// 1e-5 relative, fused and unfused. The fixtures are committed: CI needs no Python.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import * as eq from '../ts/index.js';
import { relError } from './helpers.js';

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());
const dir = new URL('./fixtures/escnn/models/', import.meta.url);
const names = readdirSync(dir).filter((f) => f.endsWith('.io.safetensors')).map((f) => f.slice(0, -'.io.safetensors'.length)).sort();
const config = (n: string) => JSON.parse(readFileSync(new URL(`${n}.json`, dir), 'utf8'));

describe('escnn and e2cnn models', () => {
  it('cover C4, C8, C16, D4, D8 regular fields, SO(2) irreducible fields with norm and gated nonlinearities, O(2), kernels 1, 3, 5 and 7, from both libraries', () => {
    const all = names.map(config);
    const groups = new Set(all.map((c) => c.group.replace(/\(-1, \d+\)/, '(-1)')));
    for (const g of ['rot2dOnR2(4)', 'rot2dOnR2(8)', 'rot2dOnR2(16)', 'flipRot2dOnR2(4)', 'flipRot2dOnR2(8)', 'rot2dOnR2(-1)', 'flipRot2dOnR2(-1)']) expect(groups).toContain(g);
    const layers = all.flatMap((c) => c.layers);
    expect(new Set(layers.filter((l) => l.type === 'r2conv').map((l) => l.kernel))).toEqual(new Set([1, 3, 5, 7]));
    for (const t of ['normNonlinearity', 'gatedNonlinearity', 'innerBatchNorm', 'iidBatchNorm', 'groupPooling', 'normPool', 'maxPoolAntialiased', 'avgPoolAntialiased', 'mask', 'elu', 'linear']) expect(layers.map((l) => l.type)).toContain(t);
    expect(new Set(all.flatMap((c) => c.layers.filter((l: { type: string }) => l.type === 'r2conv').map((l: { basis?: string }) => l.basis ?? 'escnn')))).toEqual(new Set(['escnn', 'e2cnn']));
    expect(names.length).toBeGreaterThanOrEqual(6);
  });

  for (const name of names) {
    it(`${name} agrees with the exporting library to 1e-5`, async () => {
      const model = await eq.loadModel({ config: new URL(`${name}.json`, dir).pathname, weights: new URL(`${name}.safetensors`, dir).pathname });
      const io = eq.parseSafetensors(readFileSync(new URL(`${name}.io.safetensors`, dir))).tensors;
      const inp = io.get('input')!, want = io.get('output')!;
      eq.tidy(() => {
        const x = eq.tensor(inp.data, inp.shape);
        const y = model.run(x);
        expect(y.shape).toEqual(want.shape);
        expect(relError(y.toArray(), want.data)).toBeLessThan(1e-5);
        expect(relError(model.runUnfused(x).toArray(), want.data)).toBeLessThan(1e-5);
      });
      model.dispose();
    });
  }

  it('the exporter names a module it does not support', () => {
    const e = JSON.parse(readFileSync(new URL('unsupported.json', dir), 'utf8'));
    expect(e.error).toBe('UnsupportedModuleError');
    expect(e.message).toMatch(/^equivariant_export: R2Upsampling \(at \d+\) is not supported; supported: R2Conv, /);
  });
});
