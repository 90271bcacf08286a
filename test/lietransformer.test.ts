// LieTransformer and LieConv on point clouds: lift, the block, pooling, the model.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';
import { random, relError } from './helpers.js';

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());
const { se2, se3 } = eq.groups;
const input = (shape: number[], seed: number) => eq.tensor(random(shape.reduce((a, b) => a * b, 1), seed), shape);

describe('LieTransformer block', () => {
  it('runs on a lifted cloud and is invariant under moving the cloud', () => eq.tidy(() => {
    for (const [G, samples, neighbours] of [[se3(), 2, { k: 6 }], [se2(), 3, 'global']] as const) {
      const pts = random(10 * G.d, 3);
      const lifted = G.lift(pts, { samples, seed: 4 });
      const x = eq.liftedField(G, lifted, input([lifted.count, 8], 5));
      const block = eq.nn.lieTransformerBlock({ group: G, dim: 8, heads: 2, neighbours: neighbours as eq.NeighbourSpec, seed: 3 });
      const y = block.run(x);
      expect(y.features.shape).toEqual([lifted.count, 8]);
      const report = eq.checkEquivariance(block, { input: x, elements: 3, seed: 2, tolerance: 1e-4 });
      expect(report.ok, report.summary).toBe(true);
      block.dispose();
    }
  }));
});

/** A model config and weights from layers built in code (their seeded initial weights). */
function modelFrom(group: string, channels: number, layers: eq.nn.Layer[]): { config: eq.ModelConfig; weights: Record<string, eq.Tensor> } {
  const net = eq.nn.sequential(layers);
  const config = { format: 'equivariant.model', version: 1, name: 'cloud', group, input: { field: 'points', channels }, layers: net.layers.map((l) => l.config()) } as eq.ModelConfig;
  return { config, weights: net.parameters() };
}

describe('point-cloud models', () => {
  it('model.run({ points, features, mask }) gives [B, classes]; each cloud gives the same bytes alone as in a padded batch', async () => {
    const G = se3();
    eq.clearCaches();
    const before = eq.memory();
    const layers = [
      eq.nn.lift({ group: G, samples: 2, seed: 11 }),
      eq.nn.linear({ in: 1, out: 16, seed: 1 }),
      eq.nn.lieTransformerBlock({ group: G, dim: 16, heads: 2, neighbours: { k: 5 }, seed: 2 }),
      eq.nn.globalPool({ reduce: 'mean' }),
      eq.nn.linear({ in: 16, out: 3, seed: 3 }),
    ];
    const { config, weights } = modelFrom('SE(3)', 1, layers);
    const model = await eq.loadModel({ config, weights });
    const B = 3, P = 7, sizes = [7, 5, 6];
    const pts = random(B * P * 3, 21), mask = new Float32Array(B * P);
    sizes.forEach((n, b) => mask.fill(1, b * P, b * P + n));
    const out = eq.tidy(() => model.run({ points: eq.tensor(pts, [B, P, 3]), features: eq.tensor(new Float32Array(B * P).fill(1), [B, P, 1]), mask: eq.tensor(mask, [B, P]) }).toArray());
    expect(out.length).toBe(B * 3);
    // Neighbour lists of the clouds lifted in a run are freed after it: the cache does not grow.
    const cached = eq.memory().cacheBytes;
    for (let i = 0; i < 3; i++) eq.tidy(() => void model.run({ points: eq.tensor(pts, [B, P, 3]), features: eq.tensor(new Float32Array(B * P).fill(1), [B, P, 1]) }));
    expect(eq.memory().cacheBytes).toBe(cached);
    sizes.forEach((n, b) => {
      const alone = eq.tidy(() => model.run({ points: eq.tensor(pts.slice(b * P * 3, (b * P + n) * 3), [1, n, 3]), features: eq.tensor(new Float32Array(n).fill(1), [1, n, 1]) }).toArray());
      expect(Array.from(alone), `cloud ${b}`).toEqual(Array.from(out.subarray(b * 3, b * 3 + 3)));
    });
    model.dispose();
    for (const l of layers) l.dispose();
    eq.clearCaches();
    expect(eq.memory().tensors).toBe(before.tensors);
  });
});

describe('bad input to point-cloud models', () => {
  it('heads not dividing the width, k larger than a cloud, NaN coordinates, a point at the origin for SO(3), masks of the wrong shape: typed errors; the model stays usable', async () => {
    expect(() => eq.nn.lieTransformerBlock({ group: se3(), dim: 10, heads: 3 })).toThrow(eq.ArgumentError);
    expect(() => eq.nn.lieTransformerBlock({ group: se3(), dim: 10, heads: 3 })).toThrow('dim (10) must be divisible by heads (3)');
    const cfg = (group: string, layers: object[]) => ({ format: 'equivariant.model', version: 1, name: 'bad', group, input: { field: 'points', channels: 1 }, layers }) as eq.ModelConfig;
    await expect(eq.loadModel({ config: cfg('SE(3)', [{ type: 'lift', samples: 2 }, { type: 'linear', in: 1, out: 6 }, { type: 'lieTransformerBlock', dim: 6, heads: 4 }]), weights: {} })).rejects.toThrow(eq.ConfigError);

    const G = se3();
    const layers = [eq.nn.lift({ group: G, samples: 2, seed: 1 }), eq.nn.linear({ in: 1, out: 8, seed: 1 }), eq.nn.lieTransformerBlock({ group: G, dim: 8, heads: 2, neighbours: { k: 6 }, seed: 2 }), eq.nn.globalPool(), eq.nn.linear({ in: 8, out: 2, seed: 3 })];
    const { config, weights } = modelFrom('SE(3)', 1, layers);
    const model = await eq.loadModel({ config, weights });
    layers.forEach((l) => l.dispose());
    const cloud = (pts: Float32Array, B: number, P: number, mask?: eq.Tensor) => ({ points: eq.tensor(pts, [B, P, 3]), features: eq.tensor(new Float32Array(B * P).fill(1), [B, P, 1]), mask });
    const good = random(2 * 5 * 3, 9);
    const want = eq.tidy(() => model.run(cloud(good, 2, 5)).toArray());
    eq.tidy(() => {
      // k = 6 nearest of 2 samples x 2 points = 4 elements.
      expect(() => model.run(cloud(random(2 * 3, 1), 1, 2))).toThrow(eq.ArgumentError);
      expect(() => model.run(cloud(random(2 * 3, 1), 1, 2))).toThrow("neighbours { k: 6 } needs at least 6 elements in every cloud, but cloud 0 has 4");
      const nan = good.slice();
      nan[7] = NaN;
      expect(() => model.run(cloud(nan, 2, 5))).toThrow(eq.ArgumentError);
      expect(() => model.run(cloud(nan, 2, 5))).toThrow(/non-finite coordinate/);
      expect(() => model.run(cloud(good, 2, 5, eq.tensor(new Float32Array(10).fill(1), [5, 2])))).toThrow(eq.ShapeError);
      expect(() => model.run(cloud(good, 2, 5, eq.tensor(new Float32Array(10).fill(1), [5, 2])))).toThrow('mask must be [2, 5]');
      expect(() => model.run(cloud(good, 2, 5, eq.tensor(new Float32Array(10).fill(0.5), [2, 5])))).toThrow(/mask\[0, 0\] is 0.5/);
      expect(() => model.run(cloud(good, 2, 5, eq.tensor(new Float32Array(10).fill(1), [2, 5, 1] as number[])))).toThrow(eq.ShapeError);
      expect(() => model.run({ points: eq.tensor(good, [2, 5, 3]) } as never)).toThrow(eq.ArgumentError);
      expect(() => model.run(eq.tensor(good, [2, 5, 3]))).toThrow('expected point clouds');
      expect(() => model.run({ points: eq.tensor(random(2 * 5 * 2, 1), [2, 5, 2]), features: eq.tensor(new Float32Array(10), [2, 5, 1]) })).toThrow('points must be [B, P, 3]');
    });
    // SO(3) lifts a point onto its orbit, undefined at the origin.
    const so = eq.groups.so3();
    const lift = eq.nn.lift({ group: so, samples: 2 });
    eq.tidy(() => {
      const pts = random(4 * 3, 5);
      pts.fill(0, 6, 9);
      expect(() => lift.run({ points: eq.tensor(pts, [1, 4, 3]), features: eq.tensor(new Float32Array(4), [1, 4, 1]) })).toThrow(/cloud 0, point 2 is at the origin/);
      // ...but a masked-out point at the origin is fine.
      const mask = eq.tensor(Float32Array.from([1, 1, 0, 1]), [1, 4]);
      expect(lift.run({ points: eq.tensor(pts, [1, 4, 3]), features: eq.tensor(new Float32Array(4), [1, 4, 1]), mask }).features.shape).toEqual([8, 1]);
    });
    lift.dispose();
    // Still usable, and the same bytes as before the errors.
    expect(Array.from(eq.tidy(() => model.run(cloud(good, 2, 5)).toArray()))).toEqual(Array.from(want));
    model.dispose();
  });

  it('clouds that are all padding, sizes over the limits, conflicting neighbour specs, a lift config it cannot run: typed errors, and the model stays usable', async () => {
    const G = se3();
    const layers = [eq.nn.lift({ group: G, samples: 2, seed: 1 }), eq.nn.linear({ in: 1, out: 8, seed: 1 }), eq.nn.lieTransformerBlock({ group: G, dim: 8, heads: 2, seed: 2 }), eq.nn.globalPool(), eq.nn.linear({ in: 8, out: 2, seed: 3 })];
    const { config, weights } = modelFrom('SE(3)', 1, layers);
    const model = await eq.loadModel({ config, weights });
    const named = Object.fromEntries(Object.entries(weights).map(([k, t]) => [k, { shape: [...t.shape], data: t.toArray() }]));
    layers.forEach((l) => l.dispose());
    const cloud = (B: number, P: number, mask?: number[]) => ({ points: eq.tensor(random(B * P * 3, 4), [B, P, 3]), features: eq.tensor(new Float32Array(B * P).fill(1), [B, P, 1]), mask: mask && eq.tensor(Float32Array.from(mask), [B, P]) });
    const want = eq.tidy(() => model.run(cloud(2, 3)).toArray());
    eq.tidy(() => {
      // A cloud with no point: alone or beside others, in this model as in any other (it had
      // trapped the LieTransformer's location MLP, and given the others bias-only logits).
      for (const [mask, b] of [[[0, 0, 0, 0, 0, 0], 0], [[1, 1, 0, 0, 0, 0], 1]] as const) {
        expect(() => model.run(cloud(2, 3, [...mask]))).toThrow(eq.ArgumentError);
        expect(() => model.run(cloud(2, 3, [...mask]))).toThrow(`cloud ${b} has no present points`);
      }
      const before = eq.setLimits({ maxLiftedElements: 10 });
      try {
        expect(() => model.run(cloud(2, 3))).toThrow(/2 clouds x 3 points x 2 samples = 12 elements, over the limit of 10 \(limits.maxLiftedElements/);
      } finally {
        eq.setLimits(before);
      }
    });
    // Neighbourhoods whose pair count is past the limit, refused before they are built: global
    // counts in 64 bits (65,537 elements are 2^32 + 2^17 + 1 pairs, which 32 bits wrap), a radius
    // that takes in everything stops counting at the limit.
    const T = eq.groups.t3();
    const big = T.lift(random(65_537 * 3, 6));
    const feats = eq.tensor(new Float32Array(65_537), [65_537, 1]);
    const phi = (neighbours: unknown) => eq.nn.phi({ group: T, omega: eq.omega.mlp({ in: 1, out: 1, hidden: [2] }), neighbours: neighbours as never });
    const global = phi('global');
    expect(() => global.run(eq.liftedField(T, big, feats))).toThrow('have 4295098369 pairs, over the limit of 268435456 (limits.maxNeighbourPairs)');
    const before = eq.setLimits({ maxNeighbourPairs: 100_000 });
    try {
      const radius = phi({ radius: 1e6 });
      const small = T.lift(random(2_000 * 3, 7));
      expect(() => radius.run(eq.liftedField(T, small, eq.tensor(new Float32Array(2_000), [2_000, 1])))).toThrow('radius 1000000 gives more than 100000 pairs (limits.maxNeighbourPairs)');
      expect(() => phi({ k: 100 }).run(eq.liftedField(T, small, eq.tensor(new Float32Array(2_000), [2_000, 1])))).toThrow('are 200000 pairs, over the limit of 100000');
      radius.dispose();
    } finally {
      eq.setLimits(before);
    }
    global.dispose();
    feats.dispose();
    for (const spec of [{ k: 3, radius: 0.1 }, { k: 3, alpah: 1 }, { k: 3, alpha: null }, { radius: 1, stride: 2 }]) {
      expect(() => phi(spec)).toThrow(eq.ArgumentError);
    }
    expect(() => phi({ k: 3, radius: 0.1 })).toThrow("neighbours give 'k' and 'radius'");
    expect(() => phi({ k: 3, alpah: 1 })).toThrow("unknown: 'alpah'");
    // A key set to undefined is a key left out, as in every other options object.
    phi({ k: 3, alpha: undefined, radius: undefined }).dispose();
    const cfg = (lift: object) => ({ ...config, layers: [lift, ...config.layers.slice(1)] }) as eq.ModelConfig;
    await expect(eq.loadModel({ config: cfg({ type: 'lift', samples: 5000 }), weights: named })).rejects.toThrow(eq.ConfigError);
    await expect(eq.loadModel({ config: cfg({ type: 'lift', samples: 5000 }), weights: named })).rejects.toThrow('samples must be an integer in 1..4096, got 5000');
    await expect(eq.loadModel({ config: { ...config, labels: ['a', 'b', 'c'] } as eq.ModelConfig, weights: named })).rejects.toThrow('3 labels for 2 outputs');
    await expect(eq.loadModel({ config: { ...config, labels: 'ab' } as eq.ModelConfig, weights: named })).rejects.toThrow('labels (the names of the outputs) must be an array of strings');
    (await eq.loadModel({ config: { ...config, labels: ['yes', 'no'] } as eq.ModelConfig, weights: named })).dispose();
    expect(Array.from(eq.tidy(() => model.run(cloud(2, 3)).toArray()))).toEqual(Array.from(want));
    model.dispose();
  });
});
