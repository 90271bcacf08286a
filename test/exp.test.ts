import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';
import { firstBitDifference, testWasm } from './helpers.js';

beforeAll(() => eq.init({ wasm: testWasm }));
afterAll(() => expect(eq.memory()).toMatchObject({ tensors: 0 }));

/** `n` points evenly over `[lo, hi]`, then the given extras. */
function grid(lo: number, hi: number, n: number, extra: number[] = []): Float32Array {
  return Float32Array.from([...Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1)), ...extra]);
}

/** `|got - e^x| / ulp(e^x)` at its worst, in f64, over the values whose `e^x` is a normal f32. */
function worstUlps(x: Float32Array, got: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const want = Math.exp(x[i]);
    if (want < 2 ** -126 || want > 3.4e38) continue;
    const ulp = 2 ** (Math.floor(Math.log2(want)) - 23);
    worst = Math.max(worst, Math.abs(got[i] - want) / ulp);
  }
  return worst;
}

const run = (x: Float32Array, kind: eq.diagnostics.ExpKernel) => eq.tidy(() => eq.diagnostics.expKernel(eq.tensor(x), kind).toArray());

describe('exp in wasm (the SIMD code softmax, norm_exp and SiLU run)', () => {
  it('exp4 equals its scalar twin bit for bit and is within 2 ulp of f64 on [-87, 88]', () => {
    // 200,003 values: a remainder of three exercises the scalar tail of the lanes path too.
    const x = grid(-87, 88, 200_000, [-0, 0, 1e-30, -1e-30, 88.7, -103, -110, 90, Infinity, -Infinity, NaN]);
    const lanes = run(x, 'exp4'), scalar = run(x, 'exp');
    expect(firstBitDifference(lanes, scalar)).toBe(-1);
    expect(worstUlps(x.subarray(0, 200_000), lanes)).toBeLessThanOrEqual(2);
    const tail = lanes.subarray(200_000);
    expect([tail[0], tail[1], tail[2], tail[3]]).toEqual([1, 1, 1, 1]);
    expect(tail[5]).toBeGreaterThan(0); // e^-103: a subnormal, not flushed to zero
    expect(tail[6]).toBe(0); // -110 clamps to -104, whose e^x is below half the smallest subnormal
    expect(tail[7]).toBe(Infinity);
    expect(tail[8]).toBe(Infinity);
    expect(tail[9]).toBeLessThan(1e-44);
    expect(Number.isNaN(tail[10])).toBe(true);
  });

  it("the softmax's expNonpos4 equals its scalar twin bit for bit and is within 2 ulp of f64 on [-87.3, 0]", () => {
    const x = grid(-87.3, 0, 200_001, [-0, -1e-30, -90, -Infinity, NaN]);
    const lanes = run(x, 'expNonpos4'), scalar = run(x, 'expNonpos');
    expect(firstBitDifference(lanes, scalar)).toBe(-1);
    expect(worstUlps(x.subarray(0, 200_001), lanes)).toBeLessThanOrEqual(2);
    const tail = lanes.subarray(200_001);
    expect([tail[0], tail[1]]).toEqual([1, 1]);
    // Below ln 2^-126 the result is e^-87.34, about 2^-126 (nothing next to a softmax's sum >= 1).
    expect(tail[2]).toBeGreaterThan(0);
    expect(tail[2]).toBeLessThan(1.2e-38);
    expect(tail[3]).toBe(tail[2]);
    expect(Number.isNaN(tail[4])).toBe(true);
  });

  it('names a wrong kind', () => {
    eq.tidy(() => expect(() => eq.diagnostics.expKernel(eq.tensor([1]), 'exp2' as eq.diagnostics.ExpKernel)).toThrow("kind must be 'exp4'"));
  });
});
