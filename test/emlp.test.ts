// Equivariant linear layers and equivariant MLPs: weights are basis coefficients packed into one
// dense matrix; every layer is equivariant over every element (finite groups) or random elements
// (Lie groups); the model format round-trips; the shipped O(3) EMLPs (trained in PyTorch on this
// library's bases) agree with PyTorch, are equivariant, and beat plain MLPs of the same size.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as eq from '../ts/index.js';
import { random } from './helpers.js';

const { cyclic, dihedral, symmetric, so2, so3, o3 } = eq.groups;

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());

describe('nn.equivariantLinear', () => {
  it('its weights are the coefficients of the basis; W is their combination, packed once', () => {
    const S4 = symmetric(4);
    const layer = eq.nn.equivariantLinear({ group: S4, in: 'perm^2', out: 'perm + 1', seed: 3 });
    const h = eq.space.hom(S4, eq.space.rep(S4, 'perm^2'), eq.space.rep(S4, 'perm + 1'));
    expect(layer.parameterShapes()).toEqual({ weight: [h.dimension], bias: [2] });
    const c = layer.parameters().weight.toArray();
    const W = h.combine(c), b = layer.biasVector();
    eq.tidy(() => {
      const x = eq.tensor(random(3 * 16, 1), [3, 16]);
      const y = layer.run(x).toArray(), xs = x.toArray();
      for (let n = 0; n < 3; n++) for (let o = 0; o < 5; o++) {
        let s = b[o];
        for (let i = 0; i < 16; i++) s += W[o * 16 + i] * xs[n * 16 + i];
        expect(y[n * 5 + o]).toBeCloseTo(s, 5);
      }
    });
    layer.dispose();
  });

  it('is equivariant over every element of finite groups', () => {
    const cases: [eq.groups.FiniteGroup, string, string][] = [
      [symmetric(4), 'perm^2', 'perm^2'], [symmetric(4), 'perm^3', 'perm + standard'], [symmetric(3), 'regular', 'sign + perm'],
      [dihedral(4), 'regular', 'irrep:4 + irrep:1'], [cyclic(6), 'irrep:2^2', 'regular'],
    ];
    for (const [G, a, b] of cases) {
      const layer = eq.nn.equivariantLinear({ group: G, in: a, out: b, seed: 2 });
      eq.tidy(() => {
        const x = eq.tensor(random(4 * layer.repIn.dim, 5), [4, layer.repIn.dim]);
        const r = eq.checkEquivariance(layer, { input: x, elements: 'all', tolerance: 1e-5 });
        expect(r.ok, `${G.name} ${a} -> ${b}: ${r.summary}`).toBe(true);
        expect(r.perElement).toHaveLength(G.order);
      });
      layer.dispose();
    }
  });

  it('is equivariant under random elements of SO(2), SO(3), O(3)', () => {
    for (const [G, a, b] of [[so2(), 'V^2 + irrep:3', 'V + irrep:2 + 1'], [so3(), 'V^3', 'V + 1'], [o3(), '2*V + V^2', 'det + V^3']] as [eq.groups.LieGroup, string, string][]) {
      const layer = eq.nn.equivariantLinear({ group: G, in: a, out: b, seed: 4 });
      expect(layer.space.dimension).toBeGreaterThan(0);
      eq.tidy(() => {
        const x = eq.tensor(random(4 * layer.repIn.dim, 6), [4, layer.repIn.dim]);
        const r = eq.checkEquivariance(layer, { input: x, elements: 12, tolerance: 1e-5 });
        expect(r.ok, r.summary).toBe(true);
      });
      layer.dispose();
    }
  });

  it('gated and tensorSquare: equivariant, and equal to plain loops', () => {
    const G = o3();
    const sq = eq.nn.tensorSquare({ group: G, rep: '2*V' });
    const gt = eq.nn.gated({ group: G, rep: '2*S + V + V^2' });
    expect(gt.gates).toBe(2);
    expect(gt.inType!.channels).toBe(2 + 3 + 9 + 2);
    eq.tidy(() => {
      const x = eq.tensor(random(3 * 6, 8), [3, 6]);
      const y = sq.run(x).toArray(), xs = x.toArray();
      for (let n = 0; n < 3; n++) for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) expect(y[n * 42 + 6 + i * 6 + j]).toBe(Math.fround(xs[n * 6 + i] * xs[n * 6 + j]));
      expect(eq.checkEquivariance(sq, { input: x, elements: 10 }).ok).toBe(true);
      const z = eq.tensor(random(3 * 16, 9), [3, 16]);
      const g = gt.run(z).toArray(), zs = z.toArray();
      const sig = (v: number) => 1 / (1 + Math.exp(-v));
      for (let n = 0; n < 3; n++) {
        const row = zs.subarray(n * 16, n * 16 + 16);
        for (let i = 0; i < 2; i++) expect(g[n * 14 + i]).toBeCloseTo(row[i] * sig(row[i]), 6);
        for (let i = 2; i < 5; i++) expect(g[n * 14 + i]).toBeCloseTo(row[i] * sig(row[14]), 6);
        for (let i = 5; i < 14; i++) expect(g[n * 14 + i]).toBeCloseTo(row[i] * sig(row[15]), 6);
      }
      expect(eq.checkEquivariance(gt, { input: z, elements: 10 }).ok).toBe(true);
    });
  });

  it('in models: the config round-trips, types chain, bad configs are ConfigErrors', async () => {
    const config = JSON.parse(readFileSync(new URL('../models/emlp-inertia.json', import.meta.url), 'utf8'));
    const a = await eq.loadModel({ config, weights: new URL('../models/emlp-inertia.safetensors', import.meta.url).pathname });
    const b = await eq.loadModel({ config: { ...config, layers: a.network.layers.map((l) => l.config()) }, weights: a.parameters() });
    eq.tidy(() => {
      const x = eq.tensor(random(2 * 20, 3), [2, 20]);
      expect(b.run(x).toArray()).toEqual(a.run(x).toArray());
    });
    a.dispose();
    b.dispose();
    const base = { format: 'equivariant.model', version: 1, group: 'O(3)', input: { field: 'rep', rep: '2*V' } };
    const bad = async (layers: unknown[], input: unknown = base.input) => eq.loadModel({ config: { ...base, input, layers } as never, weights: {} });
    await expect(bad([{ type: 'equivariantLinear', in: '3*V', out: 'V' }])).rejects.toThrow(/takes 9 input channels, but the layers before it give 6/);
    await expect(bad([{ type: 'equivariantLinear', in: '2*V', out: 'W' }])).rejects.toThrow(eq.ConfigError);
    await expect(bad([{ type: 'gated', rep: '2*V' }])).rejects.toThrow(/takes 8 input channels/);
    await expect(bad([{ type: 'equivariantLinear', in: 'V + V', out: 'V' }], { field: 'rep', rep: '2*V', channels: 7 })).rejects.toThrow(/has dimension 6/);
    // Same dimension, different representation: the field types say so.
    await expect(bad([{ type: 'equivariantLinear', in: '6*S', out: 'V' }])).rejects.toThrow(/inconsistent layers/);
    await expect(bad([{ type: 'equivariantLinear', in: '2*V', out: 'V', frob: 1 }])).rejects.toThrow(/unknown option/);
  });
});

describe('the bases PyTorch trains on (tools/pytorch/emlp-bases.mjs)', () => {
  it('are the layers\' own: W = sum of value * weight[element] at index is the layer\'s matrix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eq-bases-'));
    try {
      const config = new URL('../models/emlp-invariant.json', import.meta.url).pathname;
      execFileSync(process.execPath, [new URL('../tools/pytorch/emlp-bases.mjs', import.meta.url).pathname, config, join(dir, 'b')], { encoding: 'utf8' });
      const plan = JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8'));
      const raw = readFileSync(join(dir, 'b.safetensors'));
      const n = Number(new DataView(raw.buffer, raw.byteOffset).getBigUint64(0, true));
      const header = JSON.parse(raw.subarray(8, 8 + n).toString());
      const data = raw.subarray(8 + n);
      const get = (name: string) => {
        const e = header[name], [b, end] = e.data_offsets, bytes = data.slice(b, end);
        return e.dtype === 'I32' ? new Int32Array(bytes.buffer, bytes.byteOffset, (end - b) / 4) : new Float64Array(bytes.buffer, bytes.byteOffset, (end - b) / 8);
      };
      const model = await eq.loadModel({ config, weights: new URL('../models/emlp-invariant.safetensors', import.meta.url).pathname });
      for (const l of model.network.layers) {
        if (!(l instanceof eq.nn.EquivariantLinear)) continue;
        const p = plan.layers.find((x: { name: string }) => x.name === l.name);
        expect([p.in, p.out, p.weight]).toEqual([l.repIn.dim, l.repOut.dim, l.space.dimension]);
        const c = l.parameters().weight.toArray();
        const W = new Float64Array(p.in * p.out);
        const [index, element, value] = ['index', 'element', 'value'].map((k) => get(`${l.name}.basis.${k}`));
        for (let k = 0; k < index.length; k++) W[index[k]] += value[k] * c[element[k]];
        const mine = l.weightMatrix();
        for (let k = 0; k < W.length; k++) expect(W[k]).toBeCloseTo(mine[k], 12);
      }
      model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the shipped equivariant MLPs (O(3), tools/pytorch/emlp.py)', () => {
  const dir = new URL('../models/', import.meta.url);
  const data = eq.parseSafetensors(readFileSync(new URL('emlp-data.safetensors', dir))).tensors;
  const reference = JSON.parse(readFileSync(new URL('emlp-reference.json', dir), 'utf8'));

  for (const task of ['invariant', 'inertia']) {
    it(`${task}: PyTorch's outputs, equivariance over random rotations and reflections, and a lower test error than the plain MLP`, async () => {
      const load = (kind: string) => eq.loadModel({ config: new URL(`${kind}-${task}.json`, dir).pathname, weights: new URL(`${kind}-${task}.safetensors`, dir).pathname });
      const emlp = await load('emlp'), mlp = await load('mlp');
      const x = data.get(`${task}.x`)!, y = data.get(`${task}.y`)!;
      const err: Record<string, number> = {};
      eq.tidy(() => {
        const input = eq.tensor(x.data, x.shape);
        for (const [kind, model] of [['emlp', emlp], ['mlp', mlp]] as const) {
          const pred = model.run(input).toArray(), torch = data.get(`${task}.${kind}`)!.data;
          let diff = 0, scale = 0, se = 0;
          for (let i = 0; i < pred.length; i++) {
            diff = Math.max(diff, Math.abs(pred[i] - torch[i]));
            scale = Math.max(scale, Math.abs(torch[i]));
            se += (pred[i] - y.data[i]) ** 2;
          }
          expect(diff / scale, `${kind} vs PyTorch`).toBeLessThan(1e-5);
          err[kind] = se / pred.length;
          expect(err[kind] / reference.tasks[task][kind].mse).toBeCloseTo(1, 4);
          const r = eq.checkEquivariance((t: eq.Tensor) => model.run(t), { input, elements: 16, seed: 3, inType: emlp.inType, outType: emlp.outType, tolerance: 1e-5 });
          if (kind === 'emlp') expect(r.ok, r.summary).toBe(true);
          else expect(r.maxRelError).toBeGreaterThan(1e-2);
          expect(r.perElement.some((e) => o3().determinant(e.element as Float64Array) < 0)).toBe(true);
        }
      });
      expect(err.emlp).toBeLessThan(err.mlp);
      // The weights are coefficients of the library's bases: one per basis element.
      for (const l of emlp.network.layers) if (l instanceof eq.nn.EquivariantLinear) expect(l.parameters().weight.size).toBe(l.space.dimension);
      emlp.dispose();
      mlp.dispose();
    });
  }
});
