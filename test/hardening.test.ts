// Hostile inputs on one thread (issue 12): absurd sizes refused at once against the documented
// limits, only typed errors, no silent coercion, state kept or restored whole, no leaks, and
// the wasm boundary (handles, overlap) refusing what the facade must never pass.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import * as eq from '../ts/index.js';
import { call, kernels } from '../ts/core/wasm.js';
import { serve } from '../tools/serve.mjs';
import { random } from './helpers.js';

const fx = new URL('./fixtures/', import.meta.url).pathname;
const config = () => JSON.parse(readFileSync(`${fx}p4cnn.json`, 'utf8'));
const weightBytes = () => new Uint8Array(readFileSync(`${fx}p4cnn.safetensors`));

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());

/** Runs `fn`, which must throw `cls` quickly and without allocating in wasm. */
function refusedAtOnce(fn: () => unknown, cls: new (...a: never[]) => Error, what: string, ms = 200): Error {
  const before = eq.memory();
  const t0 = performance.now();
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  const took = performance.now() - t0;
  expect(err, what).toBeInstanceOf(cls);
  expect(took, `${what} took ${took.toFixed(0)} ms`).toBeLessThan(ms);
  expect(eq.memory(), what).toMatchObject({ tensors: before.tensors, allocations: before.allocations });
  return err as Error;
}

describe('absurd sizes are refused before anything is built', () => {
  it('layers, groups, lifts and shapes of absurd size fail at once with typed errors', () => {
    const rss = process.memoryUsage().rss;
    refusedAtOnce(() => eq.nn.linear({ in: 1e9, out: 10 }), eq.ArgumentError, 'linear in 1e9');
    refusedAtOnce(() => eq.nn.linear({ in: 60_000, out: 60_000 }), eq.OutOfMemoryError, 'linear 60000 x 60000');
    refusedAtOnce(() => eq.nn.batchNorm({ channels: 1e9 }), eq.ArgumentError, 'batchNorm 1e9');
    refusedAtOnce(() => eq.nn.groupConv({ group: eq.groups.p4(), in: 1, out: 1, kernel: 1e4 }), eq.OutOfMemoryError, 'kernel 1e4');
    refusedAtOnce(() => eq.nn.groupConv({ group: eq.groups.p4(), in: 1, out: 1, stride: 1e308 }), eq.ArgumentError, 'stride 1e308');
    refusedAtOnce(() => eq.nn.groupConv({ group: eq.groups.p4(), in: 1e308, out: 1 }), eq.ArgumentError, 'in 1e308');
    refusedAtOnce(() => eq.groups.cyclic(5040), eq.ArgumentError, 'C5040');
    refusedAtOnce(() => eq.groups.dihedral(2520), eq.ArgumentError, 'D2520');
    refusedAtOnce(() => eq.groups.se2().lift([1, 2, 3, 4], { samples: 1e9 }), eq.ArgumentError, 'lift samples 1e9');
    refusedAtOnce(() => eq.zeros([1e9, 1e9]), eq.OutOfMemoryError, 'zeros [1e9, 1e9]');
    refusedAtOnce(() => eq.zeros([1e308]), eq.ShapeError, 'zeros [1e308]');
    refusedAtOnce(() => eq.tensor([], [2 ** 40, 0, 1e308]), eq.ShapeError, 'tensor with a 1e308 axis');
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 2 ** 20);
  });

  it('says the real limit of one tensor (2 GiB - 16 bytes) when refusing one', () => {
    const e = refusedAtOnce(() => eq.zeros([2 ** 29]), eq.OutOfMemoryError, 'a 2 GiB tensor');
    expect(e.message).toContain('at most 2147483632 bytes (2 GiB - 16');
    expect(kernels().max_alloc_bytes()).toBe(2 ** 31 - 16);
  });

  it('a model whose layers would need more than limits.maxModelBytes is refused before any layer is built', async () => {
    const cfg = config();
    cfg.layers.splice(3, 0, ...Array.from({ length: 40 }, (_, i) => ({ type: 'groupConv', name: `big${i}`, in: 10, out: 10, kernel: 40 })));
    const before = eq.memory();
    const t0 = performance.now();
    const e = await eq.loadModel({ config: cfg, weights: {} }).catch((err) => err);
    expect(e).toBeInstanceOf(eq.OutOfMemoryError);
    expect(e.message).toContain('limits.maxModelBytes');
    expect(performance.now() - t0).toBeLessThan(500);
    expect(eq.memory()).toMatchObject({ allocations: before.allocations });
    // The limit is configurable.
    const old = eq.setLimits({ maxModelBytes: 1024 });
    try {
      await expect(eq.loadModel({ config: `${fx}p4cnn.json`, weights: `${fx}p4cnn.safetensors` })).rejects.toThrow(eq.OutOfMemoryError);
    } finally {
      eq.setLimits(old);
    }
    expect(eq.limits()).toEqual(eq.defaultLimits());
    expect(() => eq.setLimits({ maxModelBytes: -1 })).toThrow(eq.ArgumentError);
    expect(() => eq.setLimits({ nope: 1 } as never)).toThrow("unknown limit 'nope'");
  });

  it('weights read from /dev/zero, a directory or an oversized file are refused at once', async () => {
    for (const path of ['/dev/zero', fx]) {
      const t0 = performance.now();
      await expect(eq.loadModel({ config: config(), weights: path })).rejects.toThrow('is not a regular file');
      expect(performance.now() - t0).toBeLessThan(500);
    }
    await expect(eq.loadModel({ config: '/dev/zero', weights: weightBytes() })).rejects.toThrow(eq.ArgumentError);
    const old = eq.setLimits({ maxSourceBytes: 1000 });
    try {
      await expect(eq.loadModel({ config: config(), weights: `${fx}p4cnn.safetensors` })).rejects.toThrow('limits.maxSourceBytes');
      const server = await serve(new URL('..', import.meta.url).pathname);
      try {
        await expect(eq.loadModel({ config: config(), weights: `${server.url}/test/fixtures/p4cnn.safetensors` })).rejects.toThrow('limits.maxSourceBytes');
      } finally {
        await server.close();
      }
    } finally {
      eq.setLimits(old);
    }
  });
});

describe('only typed errors', () => {
  it('a safetensors header nested 10,000 deep is a WeightsError', () => {
    const shape = '['.repeat(10_000) + ']'.repeat(10_000);
    const json = `{"w":{"dtype":"F32","shape":${shape},"data_offsets":[0,0]}}`;
    const bytes = new Uint8Array(8 + json.length);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(new TextEncoder().encode(json), 8);
    expect(() => eq.parseSafetensors(bytes)).toThrow(eq.WeightsError);
    // And in a config: nesting is refused, never a RangeError.
    const deep = JSON.parse('{"a":'.repeat(200) + '1' + '}'.repeat(200));
    return expect(eq.loadModel({ config: { ...config(), extra: deep }, weights: weightBytes() })).rejects.toThrow(eq.ConfigError);
  });

  it('unreachable URLs are ArgumentErrors naming the URL', async () => {
    await expect(eq.loadModel({ config: 'http://127.0.0.1:9/model.json', weights: weightBytes() })).rejects.toThrow(eq.ArgumentError);
    await expect(eq.loadModel({ config: config(), weights: 'http://127.0.0.1:9/w.safetensors' })).rejects.toThrow('127.0.0.1:9');
    await expect(eq.loadModel({ config: 'http://[bad/x.json', weights: weightBytes() })).rejects.toThrow(eq.ArgumentError);
  });

  it('models and layers used after dispose() throw DisposedError; dispose stays idempotent', async () => {
    const m = await eq.loadModel({ config: config(), weights: weightBytes() });
    const x = eq.tensor(random(784, 1), [1, 1, 28, 28]);
    m.run(x).dispose();
    m.dispose();
    m.dispose();
    expect(() => m.run(x)).toThrow(eq.DisposedError);
    expect(() => m.runUnfused(x)).toThrow(eq.DisposedError);
    expect(() => m.parameters()).toThrow(eq.DisposedError);
    const layers = [
      eq.nn.linear({ in: 4, out: 2 }), eq.nn.batchNorm({ channels: 2 }), eq.nn.relu(), eq.nn.flatten(), eq.nn.maxPool2d(), eq.nn.globalPool(), eq.nn.groupPool(),
      eq.nn.groupConv({ group: eq.groups.dihedral(3), in: 2, out: 2 }), eq.nn.groupAttention({ group: 'C4', in: 2, out: 2 }),
      eq.nn.sequential([eq.nn.relu(), eq.nn.relu()]),
    ];
    for (const l of layers) {
      l.dispose();
      l.dispose();
      expect(() => l.run(x), l.type).toThrow(eq.DisposedError);
      expect(() => l.setParameters({}), l.type).toThrow(eq.DisposedError);
      expect(() => l.parameters(), l.type).toThrow(eq.DisposedError);
      expect(l.config().type).toBe(l.type);
    }
    x.dispose();
    expect(eq.memory()).toMatchObject({ tensors: 0 });
  });

  it('null and wrongly typed option objects are ArgumentErrors', () => {
    const bad: [string, () => unknown][] = [
      ['maxPool2d(null)', () => eq.nn.maxPool2d(null as never)],
      ['avgPool2d({ size: "2" })', () => eq.nn.avgPool2d({ size: '2' } as never)],
      ['relu(null)', () => eq.nn.relu(null as never)],
      ['relu({ name: 3 })', () => eq.nn.relu({ name: 3 } as never)],
      ['groupPool(null)', () => eq.nn.groupPool(null as never)],
      ['groupPool({ reduce: "sum" })', () => eq.nn.groupPool({ reduce: 'sum' } as never)],
      ['globalPool(null)', () => eq.nn.globalPool(null as never)],
      ['flatten(null)', () => eq.nn.flatten(null as never)],
      ['linear(null)', () => eq.nn.linear(null as never)],
      ['linear({ bias: "false" })', () => eq.nn.linear({ in: 2, out: 2, bias: 'false' } as never)],
      ['batchNorm({ eps: "2e-05" })', () => eq.nn.batchNorm({ channels: 2, eps: '2e-05' } as never)],
      ['batchNorm({ eps: true })', () => eq.nn.batchNorm({ channels: 2, eps: true } as never)],
      ['batchNorm({ eps: Infinity })', () => eq.nn.batchNorm({ channels: 2, eps: Infinity })],
      ['groupConv(null)', () => eq.nn.groupConv(null as never)],
      ['groupConv({ bias: "false" })', () => eq.nn.groupConv({ group: 'p4', in: 1, out: 1, bias: 'false' } as never)],
      ['groupAttention(null)', () => eq.nn.groupAttention(null as never)],
      ['omega.kernel({ lift: 1 })', () => eq.omega.kernel({ in: 1, out: 1, lift: 1 } as never)],
      ['sequential([], null)', () => eq.nn.sequential([eq.nn.relu()], null as never)],
      ['lift(points, null)', () => eq.groups.se2().lift([1, 2], null as never)],
      ['lift(["a", 1])', () => eq.groups.se2().lift(['a', 1] as never)],
    ];
    for (const [what, fn] of bad) expect(fn, what).toThrow(eq.ArgumentError);
    const lin = eq.nn.linear({ in: 2, out: 2 });
    expect(() => lin.setParameters(null as never)).toThrow(eq.ArgumentError);
    expect(() => lin.setParameters({ weight: ['1', '2', '3', '4'] } as never)).toThrow('not a number');
    expect(() => lin.setParameters({ weight: new BigInt64Array(4) } as never)).toThrow(eq.ArgumentError);
    lin.dispose();
  });

  it('misspelt options, detached buffers, a tensor named __proto__ and a custom omega returning non-numbers are typed errors', async () => {
    const se3 = eq.groups.se3();
    const misspelt: [string, () => unknown, string][] = [
      ['lift({ sed })', () => eq.nn.lift({ group: se3, samples: 2, sed: 3 } as never), "lift: unknown option 'sed'"],
      ['groupConv({ kernal })', () => eq.nn.groupConv({ group: 'p4', in: 1, out: 1, kernal: 5 } as never), "unknown option(s) kernal"],
      ['groupAttention({ combine })', () => eq.nn.groupAttention({ group: 'D4', in: 2, out: 2, combine: 'product' } as never), 'unknown option(s) combine'],
      ['lieConv({ hiden })', () => eq.nn.lieConv({ group: se3, in: 1, out: 1, hiden: [4] } as never), 'unknown option(s) hiden'],
      ['linear({ bais })', () => eq.nn.linear({ in: 2, out: 2, bais: false } as never), "linear: unknown option 'bais'"],
      ['groupPool({ gruop })', () => eq.nn.groupPool({ gruop: 'p4', reduce: 'max' } as never), "groupPool: unknown option 'gruop'"],
      ['omega.custom({ nomalise })', () => eq.omega.custom(() => [0], { in: 1, out: 1, nomalise: 'mean' } as never), 'unknown option(s) nomalise'],
    ];
    for (const [what, fn, message] of misspelt) {
      expect(fn, what).toThrow(eq.ArgumentError);
      expect(fn, what).toThrow(message);
    }
    await expect(eq.createPool({ worker: 2 } as never)).rejects.toThrow("createPool: unknown option 'worker'");
    // Detached buffers (transferred away): a typed error that says so, not a bare TypeError or "data has 0".
    const f = new Float32Array(6);
    structuredClone(f.buffer, { transfer: [f.buffer] });
    expect(() => eq.tensor(f, [2, 3])).toThrow(eq.ArgumentError);
    expect(() => eq.tensor(f, [2, 3])).toThrow('detached');
    const w = weightBytes();
    structuredClone(w.buffer, { transfer: [w.buffer] });
    await expect(eq.loadModel({ config: config(), weights: w })).rejects.toThrow(eq.ArgumentError);
    await expect(eq.loadModel({ config: config(), weights: w })).rejects.toThrow('detached ArrayBuffer');
    // An extra tensor named __proto__ is an extra tensor like any other (`in` had let it through).
    const named = eq.parseSafetensors(weightBytes()).tensors;
    for (const extra of ['__proto__', 'constructor', 'toString']) {
      const withExtra = new Map(named);
      withExtra.set(extra, { shape: [1], data: new Float32Array(1) });
      const bytes = eq.encodeSafetensors(Object.fromEntries(withExtra));
      expect(eq.parseSafetensors(bytes).tensors.has(extra), extra).toBe(true);
      await expect(eq.loadModel({ config: config(), weights: bytes }), extra).rejects.toThrow(`tensor(s) '${extra}' belong to no layer`);
    }
    // omega.custom sums numbers only: a string would concatenate, undefined would give NaN.
    const D4 = eq.groups.dihedral(4);
    const x = eq.tensor(new Float32Array(8).fill(1), [1, 1, 8]);
    for (const [ret, shown] of [[['1'], '"1"'], [[undefined], 'undefined'], [[1n], '1n']] as const) {
      const layer = eq.nn.phi({ group: D4, omega: eq.omega.custom(() => ret as never, { in: 1, out: 1 }) });
      expect(() => layer.run(x)).toThrow(eq.ArgumentError);
      expect(() => layer.run(x)).toThrow(`returned ${shown} at [0]`);
      layer.dispose();
    }
    x.dispose();
  });

  it('huge grid windows, hostile limits, views of grown memory, tidy around fields, caller-owned specs, matmul options, sequential chains', async () => {
    const p4 = eq.groups.p4();
    // A window of thousands on a grid: refused at construction (it grew wasm memory to 2.5 GB).
    expect(() => eq.nn.phi({ group: p4, omega: eq.omega.mlp({ in: 1, out: 1 }), neighbours: { window: 4001, padding: 'same' } })).toThrow('has 64032004 relative elements; at most 2^20');
    expect(() => eq.nn.phi({ group: p4, omega: eq.omega.attention({ in: 2, out: 2 }), neighbours: { window: 65_537 } })).toThrow(eq.ArgumentError);
    expect(() => eq.nn.phi({ group: p4, omega: eq.omega.mlp({ in: 64, out: 64 }), neighbours: { window: 129, padding: 'same' } })).toThrow('limits.maxLayerBytes');
    // A window larger than the input lists only the taps inside it.
    const wide = eq.nn.phi({ group: p4, omega: eq.omega.mlp({ in: 1, out: 1, hidden: [2] }), neighbours: { window: 31, padding: 'same' } });
    expect(eq.tidy(() => wide.run(eq.zeros([1, 1, 4, 3, 3])).shape)).toEqual([1, 1, 4, 3, 3]);
    wide.dispose();
    // setLimits: own keys only, each value read once, timers within range.
    expect(() => eq.setLimits({ toString: 5 } as never)).toThrow("unknown limit 'toString'");
    let reads = 0;
    const tricky = { get maxDimension() { return reads++ === 0 ? 100 : -5; } };
    const before = eq.setLimits(tricky as never);
    expect(eq.limits().maxDimension).toBe(100);
    eq.setLimits(before);
    expect(() => eq.setLimits({ workerStartTimeout: 2 ** 31 })).toThrow('at most 2147483647 ms');
    // tensor() from another tensor's view when the allocation grows memory.
    const a = eq.tensor(new Float32Array([1, 2, 3]), [3]);
    const copy = eq.tensor(a.view(), [3]);
    const grown = eq.zeros([8_000_000]);
    expect(Array.from(eq.tidy(() => eq.tensor(a.view(), [3]).toArray()))).toEqual([1, 2, 3]);
    for (const t of [a, copy, grown]) t.dispose();
    // tidy keeps what a returned LiftedField (or Set) holds.
    const T = eq.groups.t3();
    const layer = eq.nn.phi({ group: T, omega: eq.omega.mlp({ in: 1, out: 2, hidden: [2] }) });
    const lifted = T.lift([0, 0, 0, 1, 0, 0, 0, 1, 0]);
    const out = eq.tidy(() => layer.run(eq.liftedField(T, lifted, eq.tensor(new Float32Array([1, 2, 3]), [3, 1]))));
    expect(out.features.disposed).toBe(false);
    expect(out.features.shape).toEqual([3, 2]);
    const kept = eq.tidy(() => new Set([eq.zeros([2])]));
    expect([...kept][0].disposed).toBe(false);
    [...kept][0].dispose();
    out.dispose();
    layer.dispose();
    // The layer owns a copy of its neighbour spec: the caller's array may change.
    const support = [0, 1];
    const D4 = eq.groups.dihedral(4);
    const att = eq.nn.groupAttention({ group: D4, in: 1, out: 1, heads: 1, dim: 2, neighbours: { support } });
    const x = eq.tensor(Float32Array.from({ length: 8 }, (_, i) => i), [1, 1, 8]);
    const y0 = eq.tidy(() => att.run(x).toArray());
    support.push(2, 3);
    expect(Array.from(eq.tidy(() => att.run(x).toArray()))).toEqual(Array.from(y0));
    expect((att.config() as { neighbours: { support: number[] } }).neighbours.support).toEqual([0, 1]);
    att.dispose();
    x.dispose();
    // matmul options by name; a PackedMatrix of wrapping sizes refused.
    const m = eq.zeros([2, 2]);
    expect(() => eq.matmul(m, m, { bais: m } as never)).toThrow("matmul: unknown option 'bais'");
    expect(() => new eq.PackedMatrix(2 ** 31, 2 ** 31)).toThrow(eq.ArgumentError);
    m.dispose();
    // A sequential whose first layer is shape-generic still chains the declared types.
    const convs = [eq.nn.groupConv({ group: 'p4', in: 1, out: 2 }), eq.nn.groupConv({ group: 'D4', in: 2, out: 2 })];
    expect(() => eq.nn.sequential([eq.nn.relu(), ...convs])).toThrow(eq.ShapeError);
    expect(() => eq.nn.sequential([eq.nn.relu()], { inType: { foo: 1 } } as never)).toThrow('inType must be a field type');
    for (const c of convs) c.dispose();
    eq.clearCaches();
    expect(eq.memory()).toMatchObject({ tensors: 0, allocations: 0 });
  });

  it('config fields of the wrong type are ConfigErrors, never coerced', async () => {
    const w = weightBytes();
    const patched = (i: number, patch: Record<string, unknown>) => {
      const c = config();
      c.layers[i] = { ...c.layers[i], ...patch };
      return c;
    };
    const cases: [unknown, string][] = [
      [patched(1, { eps: '2e-05' }), 'eps must be a finite positive number, got "2e-05"'],
      [patched(1, { eps: true }), 'eps must be a finite positive number, got true'],
      [patched(1, { eps: Infinity }), 'eps must be a finite positive number, got Infinity'],
      [patched(0, { bias: 'false' }), 'bias must be true or false, got "false"'],
      [patched(3, { stride: 1e308 }), 'must be an integer in 1..65536, got 1e+308'],
      [patched(3, { padding: '1' }), 'padding'],
      [patched(3, { name: 5 }), 'name must be a string'],
      [{ ...config(), input: { field: 'image', channels: '1' } }, 'input.channels must be an integer'],
      [{ ...config(), input: { field: 'image', channels: 1, size: ['28', 28] } }, 'input.size'],
      [{ ...config(), name: 7 }, 'name must be a string'],
      [{ ...config(), group: 4 }, 'group must be a string'],
      [{ ...config(), layers: [null] }, 'layer 0 must be an object'],
    ];
    for (const [cfg, msg] of cases) {
      const e = await eq.loadModel({ config: cfg as never, weights: w }).catch((err) => err);
      expect(e, msg).toBeInstanceOf(eq.ConfigError);
      expect(e.message, msg).toContain(msg);
    }
    expect(eq.memory()).toMatchObject({ tensors: 0, allocations: 0 });
  });
});

describe('no silent wrong results or state', () => {
  it('a model keeps its own copy of the config', async () => {
    const cfg = config();
    const m = await eq.loadModel({ config: cfg, weights: weightBytes() });
    const x = eq.tensor(random(784, 2), [1, 1, 28, 28]);
    const before = eq.tidy(() => m.run(x).toArray());
    cfg.input.size = [32, 32];
    cfg.layers[1].eps = 1000;
    cfg.name = 'changed';
    expect(m.config.input.size).toEqual([28, 28]);
    expect(m.name).toBe('P4CNN');
    expect(eq.tidy(() => m.run(x).toArray())).toEqual(before);
    x.dispose();
    m.dispose();
  });

  it('setParameters is all or nothing, on a layer and across a sequential', () => {
    const bn = eq.nn.batchNorm({ channels: 2, name: 'bn' });
    const lin = eq.nn.linear({ in: 2, out: 2, name: 'lin' });
    const seq = eq.nn.sequential([lin, bn]);
    const snapshot = () => Object.fromEntries(Object.entries(seq.parameters()).map(([k, t]) => [k, Array.from(t.toArray())]));
    const before = snapshot();
    const x = eq.tensor([1, -2, 3, 4], [2, 2]);
    const y0 = eq.tidy(() => seq.run(x).toArray());
    // Rejected by the layer's re-derivation (negative variance) after other values were valid.
    expect(() => bn.setParameters({ weight: [5, 5], running_var: [-1, 1] })).toThrow('running_var must be non-negative');
    // Rejected in the second layer after the first one's values were fine.
    expect(() => seq.setParameters({ 'lin.weight': [9, 9, 9, 9], 'bn.running_var': [1, -1] })).toThrow(eq.ArgumentError);
    expect(() => seq.setParameters({ 'lin.weight': [9, 9, 9, 9], 'bn.bias': [1] })).toThrow(eq.ShapeError);
    expect(snapshot()).toEqual(before);
    expect(eq.tidy(() => seq.run(x).toArray())).toEqual(y0);
    const live = eq.memory();
    seq.setParameters({ 'lin.weight': [1, 0, 0, 1], 'bn.running_var': [4, 4] });
    expect(eq.memory()).toMatchObject({ tensors: live.tensors, allocations: live.allocations });
    expect(Array.from(lin.parameters().weight.toArray())).toEqual([1, 0, 0, 1]);
    x.dispose();
    seq.dispose();
  });

  it('an empty batch is a ShapeError before any kernel runs (model, layers, unfused)', async () => {
    const m = await eq.loadModel({ config: config(), weights: weightBytes() });
    for (const shape of [[0, 1, 28, 28], [2, 1, 0, 0]]) {
      const x = eq.zeros(shape);
      expect(() => m.run(x)).toThrow(eq.ShapeError);
      expect(() => m.runUnfused(x)).toThrow('is empty');
      for (const l of m.network.layers) expect(() => l.run(x)).toThrow(eq.ShapeError);
      x.dispose();
    }
    const lin = eq.nn.linear({ in: 3, out: 2 });
    const e = eq.zeros([0, 3]);
    expect(() => lin.run(e)).toThrow(eq.ShapeError);
    e.dispose();
    lin.dispose();
    m.dispose();
  });

  it('Buffer views and typed-array views load exactly their bytes', async () => {
    const bytes = readFileSync(`${fx}p4cnn.safetensors`);
    const big = Buffer.concat([Buffer.alloc(100, 1), bytes, Buffer.alloc(100, 2)]);
    const view = big.subarray(100, 100 + bytes.length);
    const m = await eq.loadModel({ config: readFileSync(`${fx}p4cnn.json`), weights: view });
    const dv = new DataView(big.buffer, big.byteOffset + 100, bytes.length);
    const m2 = await eq.loadModel({ config: config(), weights: dv });
    const x = eq.tensor(random(784, 9), [1, 1, 28, 28]);
    expect(eq.tidy(() => m.run(x).toArray())).toEqual(eq.tidy(() => m2.run(x).toArray()));
    x.dispose();
    m.dispose();
    m2.dispose();
  });
});

describe('no leaks', () => {
  it('a tensor from BigInt data throws and leaves nothing live', () => {
    const before = eq.memory();
    expect(() => eq.tensor(new BigInt64Array(4) as never, [4])).toThrow(eq.ArgumentError);
    expect(() => eq.tensor(['1', 2] as never, [2])).toThrow(eq.ArgumentError);
    expect(() => eq.tensor({ length: 1e12 } as never)).toThrow(eq.ArgumentError);
    expect(eq.memory()).toEqual({ ...before, wasmBytes: eq.memory().wasmBytes });
  });

  it('failing loads of a groupAttention model free everything, its position table included', async () => {
    const cfg = JSON.parse(readFileSync(`${fx}attention_D4.json`, 'utf8'));
    const w = eq.parseSafetensors(new Uint8Array(readFileSync(`${fx}attention_D4.safetensors`))).tensors;
    const entries = Object.fromEntries(w);
    const before = eq.memory();
    const key = Object.keys(entries).find((k) => k.endsWith('.position'))!;
    for (const bad of [
      { ...entries, [key]: { shape: [1, 1], data: new Float32Array(1) } },
      { ...entries, extra: { shape: [1], data: new Float32Array(1) } },
    ]) {
      await expect(eq.loadModel({ config: cfg, weights: bad })).rejects.toThrow(eq.WeightsError);
    }
    const broken = { ...cfg, layers: [...cfg.layers, { type: 'linear', in: 3, out: 2 }] };
    await expect(eq.loadModel({ config: broken, weights: entries })).rejects.toThrow(eq.EquivariantError);
    // A failure inside the layer's constructor, after its position table was allocated.
    const spy = vi.spyOn(eq.nn.Phi.prototype, 'setParameters').mockImplementationOnce(() => {
      throw new eq.OutOfMemoryError('simulated: memory ran out while setting the initial weights');
    });
    await expect(eq.loadModel({ config: cfg, weights: entries })).rejects.toThrow('simulated');
    spy.mockImplementationOnce(() => {
      throw new eq.OutOfMemoryError('simulated again');
    });
    expect(() => eq.nn.groupAttention({ group: 'D4', in: 2, out: 2 })).toThrow('simulated again');
    spy.mockRestore();
    expect(eq.memory()).toMatchObject({ tensors: before.tensors, allocations: before.allocations, bytes: before.bytes });
  });

  it('the action-table cache cap holds for a single large table (used once, then freed)', () => {
    const p4 = eq.groups.p4();
    const n = 4200; // a 4200 x 4200 table is 67 MiB, over the 64 MiB cap
    const x = eq.zeros([1, 1, n, n]);
    const before = eq.memory();
    const y = p4.act(p4.rotation(1), x);
    expect(eq.memory().cacheBytes).toBeLessThanOrEqual(64 * 2 ** 20);
    expect(eq.memory().cacheBytes).toBe(before.cacheBytes);
    expect(eq.memory().allocations).toBe(before.allocations + 1); // y only
    y.dispose();
    x.dispose();
  });
});

describe('the wasm boundary', () => {
  it('a freed handle is refused even when its memory block was handed out again', () => {
    const a = eq.tensor([1, 2, 3, 4], [4]);
    const stale = a.ptr;
    const address = a.address;
    a.dispose();
    const b = eq.tensor([5, 6, 7, 8], [4]);
    expect(b.address).toBe(address); // the allocator reused the block
    expect(b.ptr).not.toBe(stale);
    const out = eq.zeros([4]);
    expect(() => call('relu', (k) => k.relu(stale, out.ptr, 4))).toThrow(eq.KernelError);
    expect(() => call('relu', (k) => k.relu(stale, out.ptr, 4))).toThrow('not a live allocation');
    expect(Array.from(out.toArray())).toEqual([0, 0, 0, 0]);
    b.dispose();
    out.dispose();
  });

  it('tensor data cannot imitate an allocation, and addresses are not handles', () => {
    const t = eq.tensor(new Float32Array(64), [64]);
    const words = new Uint32Array(t.view().buffer, t.address, 64);
    words[0] = 0x45515641; // the old header's magic word
    words[2] = 64;
    const out = eq.zeros([4]);
    for (const fake of [t.address, t.address + 16, t.ptr + 2]) {
      expect(() => call('relu', (k) => k.relu(fake, out.ptr, 4)), String(fake)).toThrow(eq.KernelError);
    }
    t.dispose();
    out.dispose();
  });

  it('an output that overlaps an input is refused, and nothing is written', () => {
    const x = eq.tensor([-1, 2, -3, 4], [4]);
    expect(() => call('relu', (k) => k.relu(x.ptr, x.ptr, 4))).toThrow('must not overlap');
    expect(Array.from(x.toArray())).toEqual([-1, 2, -3, 4]);
    x.dispose();
  });
});

describe('init', () => {
  async function fresh() {
    vi.resetModules();
    return (await import('../ts/index.js')) as typeof eq;
  }

  it('bad bytes, a missing path, null and unreachable URLs are ArgumentErrors; a retry then works', async () => {
    const m = await fresh();
    await expect(m.init({ wasm: new Uint8Array([1, 2, 3]) })).rejects.toThrow('is not a valid WebAssembly module');
    await expect(m.init({ wasm: '/nonexistent/x.wasm' })).rejects.toThrow(m.ArgumentError);
    // Regular files only: /dev/zero had been read without end (24 GB in 94 s).
    await expect(m.init({ wasm: '/dev/zero' })).rejects.toThrow('is not a regular file');
    await expect(m.init(null as never)).rejects.toThrow(m.ArgumentError);
    await expect(m.init({ wasm: null as never })).rejects.toThrow(m.ArgumentError);
    await expect(m.init({ wasm: 'http://127.0.0.1:9/x.wasm' })).rejects.toThrow(m.ArgumentError);
    expect(m.initialized()).toBe(false);
    await m.init();
    const t = m.tensor([1, 2], [2]);
    expect(Array.from(t.toArray())).toEqual([1, 2]);
    t.dispose();
  });

  it('a valid wasm module without the library\'s exports is refused and leaves init retryable', async () => {
    const m = await fresh();
    const empty = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
    await expect(m.init({ wasm: empty })).rejects.toThrow("not equivariant's kernels");
    await expect(m.init({ wasm: new WebAssembly.Module(empty) })).rejects.toThrow(m.ArgumentError);
    expect(m.initialized()).toBe(false);
    expect(() => m.zeros([1])).toThrow(m.NotInitializedError);
    await m.init();
    const y = m.matmul(m.tensor([2], [1, 1]), m.tensor([3], [1, 1]));
    expect(y.toArray()[0]).toBe(6);
  });
});
