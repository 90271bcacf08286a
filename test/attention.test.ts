// Group self-attention, the second configuration of phi: equivariant over every element, equal
// to the operator summed literally, and (Conclusion 1) with the content term off equal to the
// group convolution whose kernel is softmax(b) W_V.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';
import { random, relError } from './helpers.js';

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());
const { cyclic, dihedral, symmetric } = eq.groups;


describe('phi with omega.attention', () => {
  it('is equivariant over every element and equals the literal sum over g\'', () => {
    for (const [G, heads, content] of [[dihedral(5), 2, true], [symmetric(4), 1, true], [cyclic(6), 3, false]] as const) eq.tidy(() => {
      const layer = eq.nn.phi({ group: G, omega: eq.omega.attention({ in: 3, out: 6, heads, dim: 4, content }) }) as eq.nn.GroupAttention;
      const x = eq.tensor(random(2 * 3 * G.order, G.order), [2, 3, G.order]);
      const report = eq.checkEquivariance(layer, { input: x });
      expect(report.ok, report.summary).toBe(true);
      expect(report.perElement).toHaveLength(G.order);
      expect(relError(layer.run(x).toArray(), layer.reference(x).toArray()), G.name).toBeLessThan(1e-5);
      expect(layer.config()).toMatchObject({ type: 'phi', omega: { kind: 'attention', heads, content } });
      layer.dispose();
    });
  });

  it('with the content term off is the group convolution with kernel softmax(b) W_V (Conclusion 1)', () => {
    const G = dihedral(4), n = G.order, heads = 2, cin = 3, cout = 4, dv = cout / heads;
    eq.tidy(() => {
      const att = eq.nn.groupAttention({ group: G, in: cin, out: cout, heads, dim: 5, content: false, seed: 3 });
      const { value, position } = att.parameters();
      const Wv = value.toArray(), b = position.toArray();
      const kappa = new Float32Array(cout * cin * n);
      for (let co = 0; co < cout; co++) {
        const h = Math.floor(co / dv);
        const row = Array.from(b.subarray(h * n, (h + 1) * n));
        const m = Math.max(...row), e = row.map((v) => Math.exp(v - m)), z = e.reduce((a, c) => a + c, 0);
        for (let ci = 0; ci < cin; ci++) for (let g = 0; g < n; g++) kappa[(co * cin + ci) * n + g] = (e[g] / z) * Wv[co * cin + ci];
      }
      const conv = eq.nn.groupConv({ group: G, in: cin, out: cout, bias: false });
      conv.setParameters({ weight: kappa });
      const x = eq.tensor(random(3 * cin * n, 9), [3, cin, n]);
      expect(relError(att.run(x).toArray(), conv.run(x).toArray())).toBeLessThan(1e-6);
      att.dispose();
      conv.dispose();
    });
  });

  it('on a whole cloud without a location term equals softmax(q.k / sqrt(dim)) v summed in f64, fused (heads of 4, 8, 16) or not (5)', () => {
    // Heads of 4 to 16 with values of 4 or 8 per head run crate/src/attend.rs; 37 elements leave a
    // partial panel of keys and a remainder of rows.
    const G = eq.groups.t3(), N = 37, C = 6;
    const lifted = G.lift(Float64Array.from(random(N * 3, 41), (v) => 3 * v));
    for (const [heads, dim, dv] of [[2, 4, 4], [2, 8, 8], [1, 16, 8], [3, 8, 4], [2, 5, 8]] as const) eq.tidy(() => {
      const X = random(N * C, 42 + dim);
      const x = eq.liftedField(G, lifted, eq.tensor(X, [N, C]));
      const layer = eq.nn.phi({ group: G, omega: eq.omega.attention({ in: C, out: heads * dv, heads, dim, location: 'none' }), neighbours: 'global', seed: 7 });
      const p = Object.fromEntries(Object.entries(layer.parameters()).map(([k, t]) => [k, t.toArray()]));
      expect(Object.keys(p).sort()).toEqual(['key', 'query', 'value']);
      const proj = (W: Float32Array, rows: number) => Array.from({ length: N * rows }, (_, a) => {
        const n = Math.floor(a / rows), r = a % rows;
        let s = 0;
        for (let i = 0; i < C; i++) s += W[r * C + i] * X[n * C + i];
        return s;
      });
      const q = proj(p.query, heads * dim), k = proj(p.key, heads * dim), v = proj(p.value, heads * dv);
      const want = new Float64Array(N * heads * dv);
      for (let n = 0; n < N; n++) for (let h = 0; h < heads; h++) {
        const l = Array.from({ length: N }, (_, m) => {
          let s = 0;
          for (let t = 0; t < dim; t++) s += q[(n * heads + h) * dim + t] * k[(m * heads + h) * dim + t];
          return s / Math.sqrt(dim);
        });
        const mx = Math.max(...l);
        const e = l.map((s) => Math.exp(s - mx)), z = e.reduce((a, b) => a + b, 0);
        for (let m = 0; m < N; m++) for (let t = 0; t < dv; t++) want[(n * heads + h) * dv + t] += (e[m] / z) * v[(m * heads + h) * dv + t];
      }
      const got = layer.run(x).features.toArray();
      expect(relError(got, Float32Array.from(want)), `heads ${heads}, dim ${dim}, dv ${dv}`).toBeLessThan(1e-5);
      layer.dispose();
    });
    // The cloud's neighbour lists are cached per lifted cloud.
    eq.clearCaches();
  });

  it('on a whole cloud without a location term builds no relative coordinates; a neighbourhood that has them serves it too', () => {
    eq.clearCaches();
    const G = eq.groups.t3(), N = 40, C = 4;
    const lifted = G.lift(Float64Array.from(random(N * 3, 51)));
    const x = eq.liftedField(G, lifted, eq.tensor(random(N * C, 52), [N, C]));
    const bare = eq.nn.phi({ group: G, omega: eq.omega.attention({ in: C, out: 8, heads: 2, dim: 4, location: 'none' }), neighbours: 'global', seed: 1 });
    const withLogs = eq.nn.phi({ group: G, omega: eq.omega.attention({ in: C, out: 8, heads: 2, dim: 4, location: 'mlp' }), neighbours: 'global', seed: 2 });
    const lists = (N + 1) * 4 + N * N * 4, logs = N * N * 3 * 4;
    const first = eq.tidy(() => bare.run(x).features.toArray());
    expect(eq.memory().cacheBytes).toBeGreaterThanOrEqual(N * N * 4);
    expect(eq.memory().cacheBytes).toBeLessThan(lists + 1024);
    eq.tidy(() => void withLogs.run(x));
    const both = eq.memory().cacheBytes;
    expect(both).toBeGreaterThanOrEqual(2 * N * N * 4 + logs);
    // Now the entry with coordinates is cached: the bare layer uses it, builds nothing, same bytes.
    const again = eq.tidy(() => bare.run(x).features.toArray());
    expect(eq.memory().cacheBytes).toBe(both);
    expect(Array.from(again)).toEqual(Array.from(first));
    // k nearest: the search computes the logs anyway; both layers share one entry.
    eq.clearCaches();
    const knnBare = eq.nn.phi({ group: G, omega: eq.omega.attention({ in: C, out: 8, heads: 2, dim: 4, location: 'none' }), neighbours: { k: 5 }, seed: 3 });
    const knnLogs = eq.nn.phi({ group: G, omega: eq.omega.attention({ in: C, out: 8, heads: 2, dim: 4, location: 'mlp' }), neighbours: { k: 5 }, seed: 4 });
    eq.tidy(() => void knnBare.run(x));
    const one = eq.memory().cacheBytes;
    expect(one).toBeGreaterThanOrEqual(N * 5 * (4 + 3 * 4));
    eq.tidy(() => void knnLogs.run(x));
    expect(eq.memory().cacheBytes).toBe(one);
    for (const l of [bare, withLogs, knnBare, knnLogs]) l.dispose();
    x.dispose();
    eq.clearCaches();
  });

  it('rejects what it cannot do with typed errors', () => {
    expect(() => eq.omega.attention({ in: 3, out: 5, heads: 2 })).toThrow('out (5) must be divisible by heads (2)');
    expect(() => eq.nn.phi({ group: eq.groups.se2(), omega: eq.omega.attention({ in: 1, out: 2, location: 'table' }) })).toThrow("on a Lie group use location: 'mlp'");
    expect(() => eq.omega.attention({ in: 1, out: 2, content: false, location: 'none' })).toThrow('every logit is 0');
    const att = eq.nn.groupAttention({ group: cyclic(3), in: 2, out: 2 });
    eq.tidy(() => expect(() => att.run(eq.zeros([1, 3, 3]))).toThrow('expected [N, 2, 3]'));
    att.dispose();
    expect(eq.memory()).toMatchObject({ tensors: 0, allocations: 0 });
  });
});
