// The one operator: every configuration runs through the engine, every fast path equals the
// engine on the same omega, special cases reduce to their dedicated layers, and every
// configuration is equivariant (over every element of finite groups, random elements of Lie
// groups with the lifted samples moved too).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';
import { random, relError } from './helpers.js';

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());
const { cyclic, dihedral, symmetric, p4, p4m, t2, t3, so2, se2, so3, se3 } = eq.groups;

const input = (shape: number[], seed: number) => eq.tensor(random(shape.reduce((a, b) => a * b, 1), seed), shape);

describe('fast paths equal the general engine on the same omega', () => {
  it('omega.kernel on finite groups (dense Cayley product) and on grids (direct, Winograd, lifting, strides)', () => {
    const cases: [eq.nn.PhiOptions, number[]][] = [
      [{ group: cyclic(5), omega: eq.omega.kernel({ in: 3, out: 4 }) }, [2, 3, 5]],
      [{ group: dihedral(4), omega: eq.omega.kernel({ in: 2, out: 3, bias: false }) }, [3, 2, 8]],
      [{ group: symmetric(4), omega: eq.omega.kernel({ in: 2, out: 2 }), neighbours: { support: [0, 1, 5, 7, 23] } }, [2, 2, 24]],
      [{ group: p4(), omega: eq.omega.kernel({ in: 5, out: 4, size: 3, padding: 'same' }) }, [2, 5, 4, 9, 9]],
      [{ group: p4m(), omega: eq.omega.kernel({ in: 2, out: 3, size: 3 }) }, [1, 2, 8, 7, 7]],
      [{ group: p4(), omega: eq.omega.kernel({ in: 1, out: 3, size: 4, stride: 2, lift: true }) }, [2, 1, 10, 10]],
      [{ group: p4m(), omega: eq.omega.kernel({ in: 2, out: 2, size: 5, padding: 2, lift: true }) }, [1, 2, 8, 8]],
    ];
    for (const [opts, shape] of cases) eq.tidy(() => {
      const fast = eq.nn.phi({ ...opts, seed: 7 });
      const general = eq.nn.phi({ ...opts, seed: 7, path: 'general' });
      expect(fast.usesFastPath).toBe(true);
      expect(general.usesFastPath).toBe(false);
      const x = input(shape, 3);
      const a = fast.run(x).toArray(), b = general.run(x).toArray(), lit = fast.reference(x).toArray();
      expect(relError(b, a), `${fast.group.name} ${JSON.stringify(opts.omega.config())}`).toBeLessThan(1e-6);
      expect(relError(b, lit)).toBeLessThan(1e-6);
      if (shape.length === 5 && shape[1] >= 4) expect(fast.usesWinograd).toBe(true);
      fast.dispose();
      general.dispose();
    });
  });
});

describe('reductions (each special case through the general operator equals its dedicated layer)', () => {
  it('omega.kernel is groupConv', () => eq.tidy(() => {
    const conv = eq.nn.groupConv({ group: dihedral(3), in: 2, out: 3, seed: 4 });
    const gen = eq.nn.phi({ group: dihedral(3), omega: eq.omega.kernel({ in: 2, out: 3 }), path: 'general' });
    gen.setParameters({ weight: conv.parameters().weight, bias: conv.parameters().bias });
    const x = input([4, 2, 6], 5);
    expect(relError(gen.run(x).toArray(), conv.run(x).toArray())).toBeLessThan(1e-6);
  }));

  it('an omega.mlp whose psi ignores the features is the group convolution with kernel psi(g^-1 g\'), on finite groups and grids', () => {
    const cases: [eq.groups.FiniteGroup | eq.groups.GridGroup, number[], boolean][] = [
      [cyclic(6), [3, 2, 6], false], [dihedral(4), [2, 2, 8], false], [p4(), [2, 2, 4, 7, 7], false], [p4m(), [1, 2, 8, 6, 6], false], [p4(), [2, 2, 8, 8], true],
    ];
    for (const [G, shape, lift] of cases) eq.tidy(() => {
      const m = eq.nn.phi({ group: G, omega: eq.omega.mlp({ in: 2, out: 3, hidden: [8, 8], lift }), seed: 11 });
      expect(m.usesFastPath).toBe(true); // psi evaluated once per table position, then the fast path
      const kappa = m.kernelTable()!;
      const conv = G instanceof eq.groups.GridGroup
        ? (lift ? eq.nn.liftingConv : eq.nn.groupConv)({ group: G, in: 2, out: 3, kernel: 3, padding: 'same' })
        : eq.nn.groupConv({ group: G, in: 2, out: 3 });
      conv.setParameters({ weight: kappa, bias: m.parameters().bias });
      const x = input(shape, 12);
      const want = conv.run(x).toArray();
      expect(relError(m.run(x).toArray(), want), `${G.name} table`).toBeLessThan(1e-6);
      // The engine evaluating psi pair by pair gives the same operator.
      m.path = 'general';
      expect(m.usesFastPath).toBe(false);
      expect(relError(m.run(x).toArray(), want), `${G.name} engine`).toBeLessThan(1e-6);
      m.dispose();
      conv.dispose();
    });
  });

  it('a relative-position transformer on the translations T(2) is phi(omega.attention) on T(2)', () => {
    const P = 11, C = 3, heads = 2, dim = 4, out = 4, dv = out / heads;
    const pts = random(P * 2, 21).map((v) => v * 3);
    const feats = random(P * C, 22);
    const layer = eq.nn.phi({ group: t2(), omega: eq.omega.attention({ in: C, out, heads, dim, location: 'mlp', hidden: [6] }), seed: 5 });
    const p = Object.fromEntries(Object.entries(layer.parameters()).map(([k, v]) => [k, v.toArray()]));
    // The transformer, written from its equations: q, k, v linear maps; logits
    // q_i.k_j / sqrt(d) + b_h(x_j - x_i) with b_h a per-head MLP (Swish after each layer).
    const silu = (s: number) => s / (1 + Math.exp(-s));
    const lin = (W: Float32Array, rows: number, cols: number, x: ArrayLike<number>) => Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => W[r * cols + c] * x[c]).reduce((a, b) => a + b, 0));
    const f = (i: number) => Array.from(feats.subarray(i * C, (i + 1) * C));
    const bias = (h: number, dx: number, dy: number) => {
      const w0 = p['location.0.weight'], b0 = p['location.0.bias'], w1 = p['location.1.weight'], b1 = p['location.1.bias'];
      const hid = Array.from({ length: 6 }, (_, o) => silu(w0[(h * 6 + o) * 2] * dx + w0[(h * 6 + o) * 2 + 1] * dy + b0[h * 6 + o]));
      return silu(hid.reduce((s, v, o) => s + w1[h * 6 + o] * v, b1[h]));
    };
    const want = new Float64Array(P * out);
    for (let i = 0; i < P; i++) for (let h = 0; h < heads; h++) {
      const q = lin(p.query, heads * dim, C, f(i)).slice(h * dim, (h + 1) * dim);
      const logits = Array.from({ length: P }, (_, j) => {
        const k = lin(p.key, heads * dim, C, f(j)).slice(h * dim, (h + 1) * dim);
        return q.reduce((s, v, t) => s + v * k[t], 0) / Math.sqrt(dim) + bias(h, pts[2 * j] - pts[2 * i], pts[2 * j + 1] - pts[2 * i + 1]);
      });
      const m = Math.max(...logits), e = logits.map((l) => Math.exp(l - m)), z = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < P; j++) {
        const v = lin(p.value, out, C, f(j));
        for (let c = 0; c < dv; c++) want[i * out + h * dv + c] += (e[j] / z) * v[h * dv + c];
      }
    }
    eq.tidy(() => {
      const x = eq.liftedField(t2(), t2().lift(pts), eq.tensor(feats, [P, C]));
      const got = layer.run(x).features.toArray();
      expect(relError(got, Float32Array.from(want))).toBeLessThan(1e-6);
    });
    layer.dispose();
  });
});

describe('equivariance of random psi networks and attention', () => {
  it('on C_n, D_n, p4 and p4m, over every element', () => {
    const omegas = (cin: number) => [
      eq.omega.mlp({ in: cin, out: 3, hidden: [6, 5], features: 'both' }),
      eq.omega.mlp({ in: cin, out: 4, hidden: [5], features: 'source', output: 'heads', heads: 2 }),
      eq.omega.mlp({ in: cin, out: 3, hidden: [4], features: 'target', output: 'basis', basis: 5, normalise: 'mean' }),
      eq.omega.attention({ in: cin, out: 4, heads: 2, dim: 3 }),
      eq.omega.attention({ in: cin, out: 2, heads: 1, dim: 2, normalise: 'dot_product' }),
    ];
    const cases: [eq.groups.FiniteGroup | eq.groups.GridGroup, number[]][] = [[cyclic(5), [2, 2, 5]], [dihedral(3), [2, 2, 6]], [p4(), [1, 2, 4, 6, 6]], [p4m(), [1, 2, 8, 5, 5]]];
    for (const [G, shape] of cases) for (const omega of omegas(shape[1])) eq.tidy(() => {
      const layer = eq.nn.phi({ group: G, omega, seed: 3 });
      const report = eq.checkEquivariance(layer, { input: input(shape, 8), elements: 'all' });
      expect(report.ok, `${G.name} ${omega.kind}: ${report.summary}`).toBe(true);
      expect(report.perElement).toHaveLength(G instanceof eq.groups.GridGroup ? G.pointOrder : G.order);
      layer.dispose();
    });
  });

  it('on lifted clouds of T(2), T(3), SO(2), SO(3), SE(2), SE(3), random elements, samples moved with the cloud', () => {
    const cases: [eq.groups.LieGroup, number, eq.NeighbourSpec][] = [
      [t2(), 1, 'global'], [t3(), 1, { k: 5 }], [so2(), 1, 'global'], [so3(), 2, { k: 6 }], [se2(), 3, { k: 7 }], [se3(), 2, 'global'], [se3(), 4, { radius: 1.5 }],
    ];
    for (const [G, samples, neighbours] of cases) eq.tidy(() => {
      const pts = random(9 * G.d, 31).map((v) => v * 2 + (v > 0 ? 0.1 : -0.1));
      const lifted = G.lift(pts, { samples, seed: 4 });
      const x = eq.liftedField(G, lifted, input([lifted.count, 3], 32));
      for (const omega of [
        eq.omega.mlp({ in: 3, out: 2, hidden: [8, 8], features: 'both' }),
        eq.omega.mlp({ in: 3, out: 4, output: 'basis', basis: 6, normalise: 'mean' }),
        eq.omega.attention({ in: 3, out: 4, heads: 2, dim: 3 }),
      ]) {
        const layer = eq.nn.phi({ group: G, omega, neighbours, seed: 6 });
        const report = eq.checkEquivariance(layer, { input: x, elements: 4, seed: 9, tolerance: 1e-4 });
        expect(report.ok, `${G.name} ${omega.kind} ${JSON.stringify(neighbours)}: ${report.summary}`).toBe(true);
        layer.dispose();
      }
    });
  });

  it('SE(3) k nearest (four pairs at a time in SIMD) equal the first k of the radius lists (one pair at a time), logs too', () => {
    // The kNN search evaluates distances and logs four at a time (f64x2 in wasm), the radius search
    // one at a time: the same operations in the same order, so the same lists, bit for bit. Three
    // and six samples per point leave partial groups of four.
    const G = eq.groups.se3();
    for (const samples of [3, 4, 6]) {
      const lifted = G.lift(random(240 * 3, 71 + samples).map((v) => v * 3), { samples, seed: 5 });
      const d = new eq.domains.LiftedDomain(lifted);
      const k = 24;
      const knn = d.build({ k });
      const ball = d.build({ radius: 3 });
      try {
        const [ko, ki, bo, bi] = [knn.offsets.view(), knn.indices.view(), ball.offsets.view(), ball.indices.view()];
        const [kc, bc] = [knn.coords!.buffer.toArray(), ball.coords!.buffer.toArray()];
        const w = knn.coords!.width;
        let mismatches = 0;
        for (let q = 0; q < lifted.count; q++) {
          expect(bo[q + 1] - bo[q], `element ${q} has ${k} elements within the radius`).toBeGreaterThanOrEqual(k);
          for (let j = 0; j < k; j++) {
            if (ki[ko[q] + j] !== bi[bo[q] + j]) mismatches++;
            for (let c = 0; c < w; c++) if (kc[(ko[q] + j) * w + c] !== bc[(bo[q] + j) * w + c]) mismatches++;
          }
        }
        expect(mismatches, `${samples} samples`).toBe(0);
      } finally {
        knn.dispose();
        ball.dispose();
      }
    }
  });

  it('catches a psi that reads the absolute g (checkEquivariance accepts lifted fields)', () => eq.tidy(() => {
    const G = se2();
    const lifted = G.lift(random(8 * 2, 40), { samples: 2 });
    const x = eq.liftedField(G, lifted, input([lifted.count, 2], 41));
    // Reading only f(g'), f(g) and the relative element: equivariant.
    const ok = eq.nn.phi({ group: G, omega: eq.omega.custom((fg, fgp, rel) => [fgp[0] * Math.cos(rel.coords![0]), fgp[1]], { in: 2, out: 2 }) });
    expect(eq.checkEquivariance(ok, { input: x, elements: 3 }).ok).toBe(true);
    // ...but reading the absolute element (here: its translation) breaks equivariance.
    const bad = eq.nn.phi({ group: G, omega: eq.omega.custom((fg, fgp, rel, at) => [fgp[0] * at.lifted!.element(at.g)[2], fgp[1]], { in: 2, out: 2 }) });
    const report = eq.checkEquivariance(bad, { input: x, elements: 3 });
    expect(report.ok).toBe(false);
    expect(report.summary).toContain('NOT equivariant');
    // On a finite group: reading the position of g fails on every non-identity element.
    const C = cyclic(4);
    const badFinite = eq.nn.phi({ group: C, omega: eq.omega.custom((fg, fgp, rel, at) => [fgp[0] * (at.g === 0 ? 2 : 1)], { in: 1, out: 1 }) });
    const r2 = eq.checkEquivariance(badFinite, { input: input([1, 1, 4], 42) });
    expect(r2.failing).toEqual(['r1', 'r2', 'r3']);
  }));
});

describe('the contract in the README', () => {
  it('lift, liftedField, phi(omega.mlp) with k nearest: a lifted field back, invariant under moving the cloud; globalPool to an invariant', () => {
    const G = eq.groups.se2();
    const points = random(50 * 2, 51).map((v) => v * 4);
    const lifted = G.lift(points, { samples: 4, rng: eq.groups.seededRng(1) });
    const M = lifted.count, C = 3, D = 5;
    expect(M).toBe(200);
    const features = eq.tensor(random(M * C, 52), [M, C]);
    const x = eq.liftedField(G, lifted, features);
    const layer = eq.nn.phi({ group: G, omega: eq.omega.mlp({ in: C, out: D, hidden: [32, 32] }), neighbours: { k: 16 } });
    const y = layer.run(x);
    expect(y).toBeInstanceOf(eq.LiftedField);
    expect(y.features.shape).toEqual([M, D]);
    expect(y.lifted).toBe(lifted);
    const pool = eq.nn.globalPool({ reduce: 'mean' });
    const inv = pool.run(y);
    expect(inv.shape).toEqual([1, D]);
    const rng = eq.groups.seededRng(7);
    for (let t = 0; t < 5; t++) {
      const u = G.random(rng);
      const y2 = layer.run(eq.liftedField(G, G.actLifted(u, lifted), features));
      expect(relError(y2.features.toArray(), y.features.toArray())).toBeLessThan(1e-4);
      expect(relError(pool.run(y2).toArray(), inv.toArray())).toBeLessThan(1e-4);
      y2.dispose();
    }
    layer.dispose();
    y.dispose();
    inv.dispose();
    features.dispose();
  });
});

describe('bad input: typed errors naming the layer; the instance stays usable', () => {
  it('refuses what a domain cannot serve and inputs that do not fit', () => {
    const G = se3();
    const lifted = G.lift(random(6 * 3, 60), { samples: 2 });
    const layer = eq.nn.phi({ group: G, omega: eq.omega.mlp({ in: 2, out: 2, hidden: [4] }), neighbours: { k: 20 }, name: 'knn' });
    eq.tidy(() => {
      const x = eq.liftedField(G, lifted, input([12, 2], 61));
      expect(() => layer.run(x)).toThrow(eq.ArgumentError);
      expect(() => layer.run(x)).toThrow("phi 'knn': neighbours { k: 20 } needs at least 20 elements in every cloud, but cloud 0 has 12");
      expect(() => eq.liftedField(G, lifted, input([11, 2], 62))).toThrow('the cloud has 12 elements');
      expect(() => layer.run(eq.liftedField(G, lifted, input([12, 3], 63)))).toThrow("phi 'knn': has 3 channels per element, expected 2");
      expect(() => layer.run(input([12, 2], 64) as never)).toThrow('expected a lifted field');
      expect(() => G.lift([0, NaN, 1], { samples: 2 })).toThrow('coordinate 1 is NaN, not a finite number');
      expect(() => G.lift([0, Infinity, 1])).toThrow(eq.ArgumentError);
      expect(() => so3().lift([0, 0, 0])).toThrow('at the origin');
      expect(() => so3().lift([1, 0, 0, 0, 0, 0], { samples: 3 })).toThrow(/point 1 is at the origin/);
      expect(() => so3().lift([0, 0, 0])).toThrow(eq.ArgumentError);
      expect(() => eq.nn.phi({ group: G, omega: eq.omega.kernel({ in: 1, out: 1 }) })).toThrow('on a Lie group use omega.mlp');
      expect(() => eq.nn.phi({ group: G, omega: eq.omega.attention({ in: 1, out: 1, location: 'table' }) })).toThrow("location: 'mlp'");
      expect(() => eq.nn.phi({ group: cyclic(3), omega: eq.omega.mlp({ in: 1, out: 1 }), neighbours: { k: 2 } })).toThrow("neighbours are 'global' or { support");
      expect(() => eq.nn.phi({ group: p4(), omega: eq.omega.kernel({ in: 1, out: 1, size: 3 }), neighbours: { window: 5 } })).toThrow("omega.kernel's window");
      expect(() => eq.nn.phi({ group: G, omega: eq.omega.mlp({ in: 1, out: 1 }), neighbours: { k: 2, alpha: 3 } })).toThrow('alpha');
      // A psi whose output has the wrong size.
      const wrong = eq.nn.phi({ group: cyclic(3), omega: eq.omega.custom(() => [1, 2, 3], { in: 1, out: 2 }), name: 'custom' });
      expect(() => wrong.run(input([1, 1, 3], 65))).toThrow("phi 'custom': omega.custom's function returned 3 values, expected 2");
      // Still usable.
      const ok = eq.nn.phi({ group: G, omega: eq.omega.mlp({ in: 2, out: 2, hidden: [4] }), neighbours: { k: 5 } });
      expect(ok.run(eq.liftedField(G, lifted, input([12, 2], 66))).features.shape).toEqual([12, 2]);
      expect(layer.run(eq.liftedField(G, G.lift(random(12 * 3, 67), { samples: 2 }), input([24, 2], 68))).features.shape).toEqual([24, 2]);
      ok.dispose();
    });
    layer.dispose();
  });
});

describe('what a careful review found', () => {
  it('parameters set after a model has run take effect (no stale fused plan); so does a new algorithm', async () => {
    const config = {
      format: 'equivariant.model', version: 1, group: 'p4', input: { field: 'image', channels: 1 },
      layers: [
        { type: 'liftingConv', name: 'lift', in: 1, out: 4, kernel: 3, padding: 'same' },
        { type: 'batchNorm', name: 'bn', channels: 4 },
        { type: 'relu' },
        { type: 'groupConv', name: 'conv', in: 4, out: 4, kernel: 3, padding: 'same' },
        { type: 'groupPool', reduce: 'max' }, { type: 'globalPool', reduce: 'mean' },
      ],
    };
    const named = (shape: number[], seed: number) => ({ shape, data: seed < 0 ? new Float32Array(shape[0]).fill(2) : random(shape.reduce((a, b) => a * b, 1), seed) });
    const weights = {
      'lift.weight': named([4, 1, 3, 3], 1), 'lift.bias': named([4], 2), 'bn.weight': named([4], 3), 'bn.bias': named([4], 4),
      'bn.running_mean': named([4], 5), 'bn.running_var': named([4], -1), 'conv.weight': named([4, 4, 4, 3, 3], 6), 'conv.bias': named([4], 7),
    };
    const model = await eq.loadModel({ config, weights });
    eq.tidy(() => {
      const x = input([2, 1, 8, 8], 9);
      const before = model.run(x).toArray();
      const conv = model.network.layers.find((l) => l.name === 'conv') as eq.nn.Phi;
      const bn = model.network.layers.find((l) => l.name === 'bn')!;
      conv.setParameters({ weight: random(576, 99) });
      bn.setParameters({ running_mean: random(4, 98) });
      const after = model.run(x).toArray();
      expect(relError(after, model.runUnfused(x).toArray())).toBeLessThan(1e-6);
      expect(relError(after, before)).toBeGreaterThan(1e-3);
      conv.algorithm = 'direct';
      expect(conv.usesWinograd).toBe(false);
      expect(relError(model.run(x).toArray(), after)).toBeLessThan(1e-6);
      // A plan compiled by hand (network.compile()) follows new batch-norm statistics too.
      const steps = model.network.compile();
      const lift = (y: eq.Tensor) => steps[0].run(y) as eq.Tensor;
      const viaLayers = () => (model.network.layers[2] as eq.nn.Layer).run(bn.run((model.network.layers[0] as eq.nn.Layer).run(x))) as eq.Tensor;
      expect(relError(lift(x).toArray(), viaLayers().toArray())).toBeLessThan(1e-6);
      bn.setParameters({ running_mean: random(4, 97), weight: random(4, 96) });
      expect(relError(lift(x).toArray(), viaLayers().toArray())).toBeLessThan(1e-6);
      for (const s of steps) s.dispose();
    });
    model.dispose();
  });

  it('p4.elements() are what compose, inverse and act accept; caches are keyed by group identity', () => {
    for (const G of [p4(), p4m()]) for (const g of G.elements()) {
      expect(G.compose(g, G.inverse(g))).toEqual(G.identity);
      eq.tidy(() => G.act(g, eq.zeros([1, 1, 3, 3])));
    }
    // Two user groups both named 'G' with different tables: tests in act.test.ts.
  });
});
