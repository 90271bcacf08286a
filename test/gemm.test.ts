import { beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';
import { firstBitDifference, matmulLoops, random, testWasm } from './helpers.js';

beforeAll(() => eq.init({ wasm: testWasm }));

const SIZES = [1, 3, 5, 17, 64, 129];

describe('matmul (SIMD128 GEMM, packed B, fused bias + ReLU)', () => {
  it('equals plain f32 loops bit for bit on awkward shapes, with and without bias and ReLU', () => {
    let seed = 1;
    let cases = 0;
    for (const m of SIZES) for (const n of SIZES) for (const k of SIZES) {
      seed++;
      const withBias = seed % 2 === 0;
      const relu = seed % 3 === 0;
      const a = random(m * k, seed), b = random(k * n, seed + 1000), bias = random(n, seed + 2000);
      const want = matmulLoops(a, b, m, n, k, withBias ? bias : undefined, relu);
      const got = eq.tidy(() => eq.matmul(eq.tensor(a, [m, k]), eq.tensor(b, [k, n]), {
        bias: withBias ? eq.tensor(bias, [n]) : undefined, relu,
      }));
      expect(got.shape).toEqual([m, n]);
      const at = firstBitDifference(got.toArray(), want);
      expect(at, `m=${m} n=${n} k=${k} bias=${withBias} relu=${relu}: element ${at}`).toBe(-1);
      got.dispose();
      cases++;
    }
    expect(cases).toBe(SIZES.length ** 3);
    expect(eq.memory().tensors).toBe(0);
  });

  it('equals the scalar reference kernel in wasm bit for bit', () => {
    eq.tidy(() => {
      const [m, n, k] = [129, 64, 17];
      const a = eq.tensor(random(m * k, 5), [m, k]);
      const b = eq.tensor(random(k * n, 6), [k, n]);
      const bias = eq.tensor(random(n, 7), [n]);
      const fast = eq.matmul(a, b, { bias, relu: true }).toArray();
      const slow = eq.diagnostics.matmulReference(a, b, { bias, relu: true }).toArray();
      expect(firstBitDifference(fast, slow)).toBe(-1);
    });
  });

  it('gives each row the same bits whether computed alone, in a block, or in the whole matrix', () => {
    eq.tidy(() => {
      const [m, n, k] = [37, 29, 131];
      const a = random(m * k, 11);
      const b = eq.packMatrix(eq.tensor(random(k * n, 12), [k, n]));
      const whole = eq.matmul(eq.tensor(a, [m, k]), b).toArray();
      for (const [lo, hi] of [[0, 1], [1, 4], [4, 9], [9, 36], [36, 37], [3, 30]]) {
        const part = eq.matmul(eq.tensor(a.subarray(lo * k, hi * k), [hi - lo, k]), b).toArray();
        expect(firstBitDifference(part, whole.subarray(lo * n, hi * n)), `rows ${lo}..${hi}`).toBe(-1);
      }
    });
  });

  it('reuses a packed matrix across calls with identical results', () => {
    eq.tidy(() => {
      const b = eq.tensor(random(64 * 40, 3), [64, 40]);
      const packed = eq.packMatrix(b);
      const a = eq.tensor(random(10 * 64, 4), [10, 64]);
      const x = eq.matmul(a, packed).toArray();
      const y = eq.matmul(a, b).toArray();
      expect(firstBitDifference(x, y)).toBe(-1);
      expect([packed.k, packed.n]).toEqual([64, 40]);
    });
  });

  it('handles empty dimensions', () => {
    eq.tidy(() => {
      expect(eq.matmul(eq.zeros([0, 4]), eq.zeros([4, 3])).shape).toEqual([0, 3]);
      const r = eq.matmul(eq.zeros([2, 0]), eq.zeros([0, 3]), { bias: eq.tensor([1, -2, 3], [3]), relu: true });
      expect(Array.from(r.toArray())).toEqual([1, 0, 3, 1, 0, 3]);
    });
  });

  it('keeps NaN through ReLU and maps -0 to +0', () => {
    eq.tidy(() => {
      const a = eq.tensor([NaN, -1, 0, 1], [4, 1]);
      const out = eq.matmul(a, eq.tensor([1], [1, 1]), { relu: true }).toArray();
      expect(Number.isNaN(out[0])).toBe(true);
      expect(Object.is(out[1], 0)).toBe(true);
      expect(Object.is(out[2], 0)).toBe(true);
      expect(out[3]).toBe(1);
    });
  });

  it('rejects bad operands with typed errors that say what was expected', () => {
    eq.tidy(() => {
      const a = eq.zeros([2, 3]);
      expect(() => eq.matmul(a, eq.zeros([4, 5]))).toThrow(eq.ShapeError);
      expect(() => eq.matmul(a, eq.zeros([4, 5]))).toThrow('b must have 3 rows, but b is [4, 5]');
      expect(() => eq.matmul(eq.zeros([6]), a)).toThrow('expected a rank-2 tensor, got shape [6]');
      expect(() => eq.matmul(a, eq.zeros([3, 5]), { bias: eq.zeros([4]) })).toThrow('bias must be [5]');
      expect(() => eq.matmul(a, [[1]] as never)).toThrow(eq.ArgumentError);
      expect(() => eq.matmul(a, eq.zeros([3, 5]), { relu: 'yes' as never })).toThrow(eq.ArgumentError);
      const gone = eq.zeros([3, 5]);
      gone.dispose();
      expect(() => eq.matmul(a, gone)).toThrow(eq.DisposedError);
      const packed = eq.packMatrix(eq.zeros([3, 5]));
      packed.dispose();
      expect(() => eq.matmul(a, packed)).toThrow(eq.DisposedError);
      // Still usable, and nothing was leaked by the failed calls.
      expect(eq.matmul(a, eq.zeros([3, 5])).shape).toEqual([2, 5]);
    });
    expect(eq.memory()).toMatchObject({ tensors: 0, allocations: 0, bytes: 0 });
  });
});
