import { describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import * as eq from '../ts/index.js';
import { testWasm } from './helpers.js';

const wasmPath = new URL('../ts/gen/equivariant_bg.wasm', import.meta.url);

describe('init and the wasm boundary', () => {
  it('refuses use before init with NotInitializedError', () => {
    expect(eq.initialized()).toBe(false);
    expect(() => eq.zeros([1])).toThrow(eq.NotInitializedError);
  });

  it('is idempotent and safe to call concurrently', async () => {
    await Promise.all([eq.init({ wasm: testWasm }), eq.init(), eq.init()]);
    await eq.init();
    expect(eq.initialized()).toBe(true);
    expect(eq.wasmModule()).toBeInstanceOf(WebAssembly.Module);
  });

  it('turns a trap into WasmTrapError and the instance stays usable, every time', () => {
    const a = eq.tensor([1, 2, 3, 4], [2, 2]);
    for (let i = 0; i < 2000; i++) {
      // Each trap abandons frames on the shadow stack; without recovery 2000 would overflow it.
      expect(() => eq.diagnostics.trap(20)).toThrow(eq.WasmTrapError);
    }
    const c = eq.matmul(a, a);
    expect(Array.from(c.toArray())).toEqual([7, 10, 15, 22]);
    expect(Array.from(a.toArray())).toEqual([1, 2, 3, 4]);
    c.dispose();
    a.dispose();
  });

  it('counts kernel scratch in memory() and frees it when a kernel traps holding it', () => {
    // A convolution keeps its panel scratch for the next call...
    eq.tidy(() => { eq.nn.groupConv({ group: eq.groups.p4(), in: 4, out: 4, kernel: 3, padding: 'same' }).run(eq.zeros([1, 4, 4, 16, 16])); });
    expect(eq.memory().scratchBytes).toBeGreaterThan(0);
    // ...and a trap while scratch is taken leaves nothing behind.
    expect(() => eq.diagnostics.trap(2)).toThrow(eq.WasmTrapError);
    expect(eq.memory().scratchBytes).toBe(0);
    const t = eq.matmul(eq.tensor([2], [1, 1]), eq.tensor([3], [1, 1]));
    expect(t.toArray()[0]).toBe(6);
  });
});

describe('init sources (fresh module instances)', () => {
  async function fresh() {
    vi.resetModules();
    return (await import('../ts/index.js')) as typeof eq;
  }
  const smoke = (m: typeof eq) => {
    const t = m.matmul(m.tensor([2], [1, 1]), m.tensor([3], [1, 1]));
    expect(t.toArray()[0]).toBe(6);
    t.dispose();
  };

  it('accepts bytes', async () => {
    const m = await fresh();
    await m.init({ wasm: readFileSync(wasmPath) });
    smoke(m);
  });

  it('accepts a compiled WebAssembly.Module', async () => {
    const m = await fresh();
    await m.init({ wasm: new WebAssembly.Module(readFileSync(wasmPath)) });
    smoke(m);
  });

  it('accepts a file URL and a path', async () => {
    const m = await fresh();
    await m.init({ wasm: wasmPath });
    smoke(m);
    const m2 = await fresh();
    await m2.init({ wasm: wasmPath.pathname });
    smoke(m2);
  });

  it('accepts a Response', async () => {
    const m = await fresh();
    await m.init({ wasm: new Response(readFileSync(wasmPath), { headers: { 'Content-Type': 'application/wasm' } }) });
    smoke(m);
  });

  it('says clearly when SIMD128 is unsupported, and can be retried', async () => {
    const m = await fresh();
    const spy = vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    await expect(m.init()).rejects.toThrow(m.UnsupportedError);
    await expect(m.init()).rejects.toThrow('lacks WebAssembly SIMD128');
    spy.mockRestore();
    await m.init();
    smoke(m);
  });

  it('rejects a source of the wrong kind with ArgumentError', async () => {
    const m = await fresh();
    await expect(m.init({ wasm: 42 as never })).rejects.toThrow(m.ArgumentError);
  });
});
