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
