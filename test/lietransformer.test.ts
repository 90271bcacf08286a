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
