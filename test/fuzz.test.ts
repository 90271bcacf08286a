// The fuzzers of fuzz/targets.mjs, 1,000 seeded cases per target (npm run fuzz runs 10,000):
// every case ends normally or with a typed error, within its time limit; no wasm memory is
// left over; a known-good model gives the same bytes afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../dist/index.js';
import { TARGETS, hashOf, knownGood } from '../fuzz/targets.mjs';

let good: { model: eq.Model; hash: string };
beforeAll(async () => {
  await eq.init();
  good = await knownGood(eq);
});
afterAll(() => good?.model.dispose());

describe('fuzzing (seeded, 1,000 cases per target)', () => {
  for (const [name, target] of Object.entries(TARGETS)) {
    it(`${name}: only typed errors, no case over its time limit, no memory left over`, async () => {
      const before = eq.memory();
      const rep = await target(eq, { seed: 12, cases: 1000 });
      eq.clearCaches();
      expect(rep.cases).toBe(1000);
      expect(rep.untyped).toEqual([]);
      // Both outcomes occur: the fuzzer reaches valid inputs and refused ones.
      expect(rep.ok).toBeGreaterThan(0);
      expect(Object.values(rep.typed).reduce((a: number, b) => a + (b as number), 0)).toBeGreaterThan(0);
      const after = eq.memory();
      expect(after.tensors).toBe(before.tensors);
      expect(after.allocations).toBe(before.allocations);
      expect(await hashOf(eq, good.model)).toBe(good.hash);
    }, 120_000);
  }

  it('a known-good model loaded afresh after the campaigns gives the same bytes', async () => {
    const again = await knownGood(eq);
    expect(again.hash).toBe(good.hash);
    again.model.dispose();
  });
});
