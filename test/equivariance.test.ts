import { beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';
import { random } from './helpers.js';

beforeAll(() => eq.init());
const { p4m, dihedral, se2, seededRng } = eq.groups;

describe('checkEquivariance', () => {
  it('passes a map that is equivariant: group averaging over p4m (exact)', () => {
    const G = p4m();
    const type = eq.field.image(G, 2);
    const average = (x: eq.Tensor) => eq.tidy(() => {
      const parts = G.elements().map((u) => G.act(u, x).toArray());
      const sum = new Float32Array(x.size);
      for (const p of parts) for (let i = 0; i < sum.length; i++) sum[i] += p[i];
      return eq.tensor(sum, x.shape);
    });
    eq.tidy(() => {
      const report = eq.checkEquivariance(average, { input: eq.tensor(random(2 * 2 * 6 * 6, 1), [2, 2, 6, 6]), inType: type, outType: type });
      expect(report.ok).toBe(true);
      expect(report.perElement).toHaveLength(8);
      expect(report.maxRelError).toBeLessThan(1e-6);
      expect(report.summary).toContain('is equivariant under p4m');
    });
  });

  it('fails a map that is not, and names exactly the offending elements', () => {
    // Rotating by 90 degrees commutes with the rotations of D4 but not with its mirrors.
    const G = p4m();
    const type = eq.field.image(G, 1);
    const rotate = (x: eq.Tensor) => G.act(G.rotation(1), x);
    eq.tidy(() => {
      const report = eq.checkEquivariance(rotate, { input: eq.tensor(random(5 * 5, 2), [1, 1, 5, 5]), inType: type, outType: type });
      expect(report.ok).toBe(false);
      expect(report.failing).toEqual(['m', 'r1 m', 'r2 m', 'r3 m']);
      expect(report.perElement.filter((r) => r.ok).map((r) => r.label)).toEqual(['e', 'r1', 'r2', 'r3']);
      expect(report.maxRelError).toBeGreaterThan(0.1);
      expect(report.summary).toContain('NOT equivariant');
    });
  });

  it('works on layers that declare their field types: a group convolution on D5 regular fields passes, a generic matrix fails', () => {
    const G = dihedral(5);
    const n = G.order;
    const type = eq.field.regular(G, 1);
    const layerFrom = (w: Float32Array, name: string): eq.EquivariantMap => ({
      name,
      inType: type,
      outType: type,
      // y[g] = sum_h W[g][h] x[h], as rows: y = x W^T.
      run: (x) => eq.tidy(() => {
        const wt = new Float32Array(n * n);
        for (let g = 0; g < n; g++) for (let h = 0; h < n; h++) wt[h * n + g] = w[g * n + h];
        const y = eq.matmul(eq.tensor(x.toArray(), [x.shape[0], n]), eq.tensor(wt, [n, n]));
        return eq.tensor(y.toArray(), x.shape);
      }),
    });
    const kappa = random(n, 3);
    const conv = new Float32Array(n * n);
    for (let g = 0; g < n; g++) for (let h = 0; h < n; h++) conv[g * n + h] = kappa[G.compose(G.inverse(g), h)];
    eq.tidy(() => {
      const x = eq.tensor(random(3 * n, 4), [3, 1, n]);
      const good = eq.checkEquivariance(layerFrom(conv, 'group convolution'), { input: x });
      expect(good.ok).toBe(true);
      expect(good.maxRelError).toBeLessThan(1e-6);
      const bad = eq.checkEquivariance(layerFrom(random(n * n, 5), 'dense'), { input: x });
      expect(bad.ok).toBe(false);
      expect(bad.failing).not.toContain('e');
      expect(bad.failing.length).toBe(n - 1);
    });
  });

  it('samples Lie group elements: a rigid-motion-equivariant map on points passes, a fixed shift fails', () => {
    const G = se2();
    const type = eq.field.points(G);
    const spread = (x: eq.Tensor) => eq.tidy(() => {
      const v = x.toArray(), p = v.length / 2;
      const c = [0, 0];
      for (let i = 0; i < p; i++) { c[0] += v[2 * i] / p; c[1] += v[2 * i + 1] / p; }
      return eq.tensor(v.map((val, i) => val + 0.5 * (val - c[i % 2])), x.shape);
    });
    const shift = (x: eq.Tensor) => eq.tidy(() => eq.tensor(x.toArray().map((v, i) => (i % 2 ? v : v + 1)), x.shape));
    eq.tidy(() => {
      const x = eq.tensor(random(20, 6), [10, 2]);
      const good = eq.checkEquivariance(spread, { input: x, inType: type, outType: type, elements: 50, tolerance: 1e-5 });
      expect(good.ok).toBe(true);
      expect(good.perElement).toHaveLength(50);
      const bad = eq.checkEquivariance(shift, { input: x, inType: type, outType: type, elements: 20 });
      expect(bad.ok).toBe(false);
      const r = seededRng(1);
      expect(() => eq.checkEquivariance(spread, { input: x, inType: type, outType: type, elements: [G.random(r)] })).not.toThrow();
    });
  });

  it('rejects bad options and inputs with typed errors, leaking nothing', () => {
    const G = p4m();
    const type = eq.field.image(G, 1);
    const id = (x: eq.Tensor) => G.act(G.identity, x);
    const start = eq.memory().tensors;
    eq.tidy(() => {
      const x = eq.zeros([1, 1, 4, 4]);
      expect(() => eq.checkEquivariance(id, { input: x })).toThrow('give options.inType and options.outType');
      expect(() => eq.checkEquivariance(id, { input: eq.zeros([1, 2, 4, 4]), inType: type, outType: type })).toThrow('has 2 channels, expected 1');
      expect(() => eq.checkEquivariance(id, { input: eq.zeros([1, 1, 4, 6]), inType: type, outType: type })).toThrow('square grids');
      expect(() => eq.checkEquivariance(id, { input: x, inType: type, outType: type, elements: 3 })).toThrow("takes elements: 'all' or a list");
      // Options by name and kind; a check of nothing is refused rather than passed.
      const bad: [object, string][] = [
        [{ tolerance: '1' }, 'tolerance must be a non-negative number'],
        [{ tolerance: true }, 'tolerance must be a non-negative number'],
        [{ tolerence: 1e-3 }, "unknown option 'tolerence'"],
        [{ seed: 'abc' }, 'seed must be a safe integer'],
        [{ elements: [] }, 'no elements to check'],
        [{ group: eq.groups.p4() }, 'is not the group of the layer'],
      ];
      for (const [o, message] of bad) expect(() => eq.checkEquivariance(id, { input: x, inType: type, outType: type, ...o } as never), message).toThrow(message);
      expect(eq.checkEquivariance(id, { input: x, inType: type, outType: type, group: G }).ok).toBe(true); // the sketch's form
      expect(() => eq.checkEquivariance(id, { input: x, inType: type, outType: type, elements: 70_000 })).toThrow('integer in 1..65536');
      expect(() => eq.checkEquivariance(id, { input: x, inType: type, outType: eq.field.image(p4m(), 2) })).toThrow('checkEquivariance: output');
      expect(() => eq.checkEquivariance(id, { input: x, inType: type, outType: eq.field.image(eq.groups.p4(), 1) })).toThrow('different groups');
    });
    expect(eq.memory().tensors).toBe(start);
  });
});
