import { beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';
import { random } from './helpers.js';

beforeAll(() => eq.init());

describe('tensors in wasm memory', () => {
  it('round-trips data and shape, and toArray is a copy', () => {
    const data = random(24, 1);
    const t = eq.tensor(data, [2, 3, 4]);
    expect(t.shape).toEqual([2, 3, 4]);
    expect(t.size).toBe(24);
    const copy = t.toArray();
    expect(copy).toEqual(data);
    copy[0] = 42;
    expect(t.toArray()[0]).toBe(data[0]);
    expect(() => (t.shape as number[]).push(1)).toThrow(TypeError);
    t.dispose();
  });

  it('accepts plain arrays and defaults to a 1-D shape', () => {
    const t = eq.tensor([1, 2, 3]);
    expect(t.shape).toEqual([3]);
    expect(Array.from(t.toArray())).toEqual([1, 2, 3]);
    t.dispose();
  });

  it('re-derives views after memory growth', () => {
    const data = random(1000, 2);
    const t = eq.tensor(data, [1000]);
    const before = eq.memory().wasmBytes;
    const big = eq.zeros([64 * 1024 * 1024 / 4]); // 64 MiB: the memory must grow
    expect(eq.memory().wasmBytes).toBeGreaterThan(before);
    expect(t.toArray()).toEqual(data);
    big.dispose();
    t.dispose();
  });

  it('dispose is idempotent; use after dispose is a DisposedError', () => {
    const t = eq.tensor([1, 2], [2]);
    t.dispose();
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(() => t.toArray()).toThrow(eq.DisposedError);
    expect(() => t.toArray()).toThrow('tensor [2] was used after dispose()');
  });

  it('frees at the end of a `using` block', () => {
    const start = eq.memory().tensors;
    {
      using t = eq.tensor([1, 2, 3], [3]);
      expect(eq.memory().tensors).toBe(start + 1);
      expect(t.size).toBe(3);
    }
    expect(eq.memory().tensors).toBe(start);
  });

  it('tidy disposes intermediates and keeps what is returned, in nested scopes', () => {
    const start = eq.memory();
    const [kept, alsoKept] = eq.tidy(() => {
      const a = eq.tensor([1, 2], [1, 2]);
      const b = eq.tensor([3, 4], [2, 1]);
      const inner = eq.tidy(() => {
        const t = eq.matmul(a, b);
        eq.zeros([5]);
        return { t };
      });
      const saved = eq.keep(eq.zeros([7]));
      return [inner.t, saved] as const;
    });
    expect(Array.from(kept.toArray())).toEqual([11]);
    expect(eq.memory().tensors).toBe(start.tensors + 2);
    kept.dispose();
    alsoKept.dispose();
    expect(eq.memory()).toMatchObject({ tensors: start.tensors, bytes: start.bytes });
  });

  it('tidy keeps tensors anywhere in what it returns: class fields, Sets, Map keys, a 100,000-deep chain; never calls getters; skips unreadable proxies', () => {
    const start = eq.memory().tensors;
    class Holder { constructor(readonly t: eq.Tensor) {} }
    const held = eq.tidy(() => new Holder(eq.zeros([2])));
    expect(held.t.disposed).toBe(false);
    const keyed = eq.tidy(() => new Map([[eq.zeros([1]), 'a']]));
    const [key] = [...keyed.keys()];
    expect(key.disposed).toBe(false);
    const deep = eq.tidy(() => {
      let node: { next?: unknown; t?: eq.Tensor } = { t: eq.zeros([3]) };
      for (let i = 0; i < 100_000; i++) node = { next: node };
      return node;
    });
    let bottom = deep as { next?: unknown; t?: eq.Tensor };
    while (bottom.next) bottom = bottom.next as typeof bottom;
    expect(bottom.t!.disposed).toBe(false);
    let called = 0;
    const viaGetter = eq.tidy(() => {
      const t = eq.zeros([4]);
      return { get t() { called++; return t; } };
    });
    expect(called).toBe(0);
    expect(viaGetter.t.disposed).toBe(true); // reachable only through a getter: not kept
    const hostile = eq.tidy(() => { eq.zeros([5]); return new Proxy({}, { ownKeys() { throw new Error('no'); } }); });
    expect(hostile).toBeTruthy();
    for (const t of [held.t, key, bottom.t!]) t.dispose();
    expect(eq.memory().tensors).toBe(start);
  });

  it('tidy disposes everything when the function throws, and refuses async functions', () => {
    const start = eq.memory().tensors;
    expect(() => eq.tidy(() => {
      eq.zeros([3]);
      throw new Error('boom');
    })).toThrow('boom');
    expect(() => eq.tidy((async () => eq.zeros([3])) as never)).toThrow(eq.ArgumentError);
    expect(eq.memory().tensors).toBe(start);
  });

  it('10,000 create/compute/dispose cycles leave memory flat', () => {
    const w = eq.packMatrix(eq.tensor(random(16 * 8, 3), [16, 8]));
    const x0 = random(4 * 16, 4);
    const before = eq.memory();
    const wasm: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      if (i % 2 === 0) {
        using x = eq.tensor(x0, [4, 16]);
        using y = eq.matmul(x, w, { relu: true });
        if (y.size !== 32) throw new Error('bad size');
      } else {
        eq.tidy(() => eq.matmul(eq.tensor(x0, [4, 16]), eq.tensor(random(16 * 8, i), [16, 8]))).dispose();
      }
      if (i === 100) wasm.push(eq.memory().wasmBytes);
    }
    const after = eq.memory();
    expect(after).toEqual({ ...before, wasmBytes: after.wasmBytes });
    expect(after.wasmBytes).toBe(wasm[0]); // no growth after warm-up either
    w.dispose();
  });

  it('rejects bad shapes and data with typed errors', () => {
    const start = eq.memory();
    expect(() => eq.tensor([1, 2, 3], [2, 2])).toThrow(eq.ShapeError);
    expect(() => eq.tensor([1, 2, 3], [2, 2])).toThrow('shape [2, 2] holds 4 values, but data has 3');
    expect(() => eq.tensor([1], [1.5] as never)).toThrow('non-negative integers');
    expect(() => eq.tensor([1], [-1])).toThrow(eq.ShapeError);
    expect(() => eq.tensor(null as never, [1])).toThrow(eq.ArgumentError);
    expect(eq.memory()).toEqual({ ...start, wasmBytes: eq.memory().wasmBytes });
  });

  it('reports out-of-memory as OutOfMemoryError and stays usable', () => {
    // Beyond what wasm32 can address at all: refused before calling into wasm.
    expect(() => eq.zeros([2 ** 31])).toThrow(eq.OutOfMemoryError);
    expect(() => eq.zeros([2 ** 31])).toThrow('at most 4 GiB');
    // Within the 4 GiB but over what one allocation can hold (2 GiB - 16 bytes): refused too.
    expect(() => eq.zeros([(2 ** 32 - 2 ** 17) / 4])).toThrow(eq.OutOfMemoryError);
    expect(() => eq.zeros([2 ** 29])).toThrow('at most 2147483632 bytes');
    const t = eq.tensor([5], [1]);
    expect(t.toArray()[0]).toBe(5);
    t.dispose();
  });
});
