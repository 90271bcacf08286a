// Worker pools (Node worker_threads): bit-identical to model.run for any worker count and odd
// batch sizes; crash recovery; backpressure; cancellation; close.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as eq from '../dist/index.js';
import { reviveError } from '../ts/runtime/pool.js';
import { WasmTrapError } from '../ts/core/errors.js';

const fx = new URL('./fixtures/', import.meta.url).pathname;
const src = (name: string) => ({ config: `${fx}${name}.json`, weights: `${fx}${name}.safetensors` });
const sha = (t: eq.Tensor) => createHash('sha256').update(new Uint8Array(t.toArray().buffer)).digest('hex');
const images = (n: number, seed = 1) => eq.tensor(Float32Array.from({ length: n * 784 }, (_, i) => Math.sin(i * 0.013 + seed)), [n, 1, 28, 28]);

beforeAll(() => eq.init());

describe('createPool', () => {
  it('gives the same bytes as model.run with 1, 2, 3 and 4 workers, for both models and odd batch sizes', async () => {
    for (const name of ['p4cnn', 'p4mcnn']) {
      const model = await eq.loadModel(src(name));
      const pools = await Promise.all([1, 2, 3, 4].map((w) => eq.createPool({ workers: w })));
      await Promise.all(pools.map((p) => p.load(src(name))));
      for (const n of [1, 5, 37]) {
        const x = images(n, n);
        const ref = model.run(x);
        const want = sha(ref);
        for (const pool of pools) {
          const y = await pool.run(x);
          expect(y.shape).toEqual(ref.shape);
          expect(sha(y), `${name}, batch ${n}, ${pool.size} workers`).toBe(want);
          y.dispose();
        }
        ref.dispose();
        x.dispose();
      }
      await Promise.all(pools.map((p) => p.close()));
      model.dispose();
    }
    expect(eq.memory().tensors).toBe(0);
  }, 120_000);

  it('point-cloud models: the same bytes as model.run with 1 to 4 workers, padded batches of clouds of different sizes', async () => {
    for (const name of ['lietransformer_model', 'lieconv_model']) {
      const model = await eq.loadModel(src(name));
      const pools = await Promise.all([1, 2, 3, 4].map((w) => eq.createPool({ workers: w })));
      await Promise.all(pools.map((p) => p.load(src(name))));
      for (const B of [1, 6, 11]) {
        const P = 9;
        const mask = Float32Array.from({ length: B * P }, (_, i) => (i % P < P - (Math.floor(i / P) % 4) ? 1 : 0));
        const x = {
          points: eq.tensor(Float32Array.from({ length: B * P * 3 }, (_, i) => 2 * Math.sin(i * 1.7 + B)), [B, P, 3]),
          features: eq.tensor(new Float32Array(B * P).fill(1), [B, P, 1]),
          mask: eq.tensor(mask, [B, P]),
        };
        const ref = model.run(x);
        expect(ref.shape).toEqual([B, 8]);
        for (const pool of pools) {
          const y = await pool.run(x);
          expect(sha(y), `${name}, ${B} clouds, ${pool.size} workers`).toBe(sha(ref));
          y.dispose();
        }
        for (const t of [ref, x.points, x.features, x.mask]) t.dispose();
      }
      await Promise.all(pools.map((p) => p.close()));
      model.dispose();
    }
    expect(eq.memory().tensors).toBe(0);
  }, 120_000);

  it('global content-only attention (the fused kernel): each cloud alone gives its bytes in a padded batch; pools of 1 to 3 workers give model.run\'s', async () => {
    const G = eq.groups.se3();
    // Heads of 8 with no location term over the whole cloud: crate/src/attend.rs's path.
    const layers = [
      eq.nn.lift({ group: G, samples: 2, seed: 5 }),
      eq.nn.linear({ in: 1, out: 16, seed: 1 }),
      eq.nn.lieTransformerBlock({ group: G, dim: 16, heads: 2, location: 'none', neighbours: 'global', seed: 2 }),
      eq.nn.globalPool({ reduce: 'mean' }),
      eq.nn.linear({ in: 16, out: 4, seed: 3 }),
    ];
    const net = eq.nn.sequential(layers);
    const config = { format: 'equivariant.model', version: 1, name: 'global-attention', group: 'SE(3)', input: { field: 'points', channels: 1 }, layers: net.layers.map((l) => l.config()) } as eq.ModelConfig;
    const weights = net.parameters();
    const model = await eq.loadModel({ config, weights });
    const pools = await Promise.all([1, 2, 3].map((w) => eq.createPool({ workers: w })));
    await Promise.all(pools.map((p) => p.load({ config, weights })));
    const B = 5, P = 13, sizes = [13, 6, 11, 1, 9];
    const pts = Float32Array.from({ length: B * P * 3 }, (_, i) => 2 * Math.sin(i * 1.3 + 0.5));
    const mask = new Float32Array(B * P);
    sizes.forEach((n, b) => mask.fill(1, b * P, b * P + n));
    const x = { points: eq.tensor(pts, [B, P, 3]), features: eq.tensor(new Float32Array(B * P).fill(1), [B, P, 1]), mask: eq.tensor(mask, [B, P]) };
    const ref = model.run(x);
    const all = ref.toArray();
    expect(all.every(Number.isFinite)).toBe(true);
    sizes.forEach((n, b) => {
      const one = { points: eq.tensor(pts.slice(b * P * 3, (b * P + n) * 3), [1, n, 3]), features: eq.tensor(new Float32Array(n).fill(1), [1, n, 1]) };
      const y = model.run(one);
      expect(Array.from(y.toArray()), `cloud ${b} alone`).toEqual(Array.from(all.subarray(b * 4, b * 4 + 4)));
      for (const t of [y, one.points, one.features]) t.dispose();
    });
    for (const pool of pools) {
      const y = await pool.run(x);
      expect(sha(y), `${pool.size} workers`).toBe(sha(ref));
      y.dispose();
    }
    for (const t of [ref, x.points, x.features, x.mask]) t.dispose();
    await Promise.all(pools.map((p) => p.close()));
    model.dispose();
    for (const l of layers) l.dispose();
    for (const t of Object.values(weights)) t.dispose();
    expect(eq.memory().tensors).toBe(0);
  }, 120_000);

  it('replaces a worker killed mid-run: that run rejects, the others go on, nothing hangs', async () => {
    const pool = await eq.createPool({ workers: 2 });
    await pool.load(src('p4cnn'));
    const model = await eq.loadModel(src('p4cnn'));
    const x = images(512);
    const want = sha(model.run(x));
    const doomed = pool.run(x);
    const other = pool.run(images(8, 3));
    // Kill worker 0 while it is running a chunk of `doomed` (both workers busy with its chunks).
    while (pool.status().busy < 2) await new Promise((r) => setTimeout(r, 1));
    pool.killWorker(0);
    await expect(doomed).rejects.toThrow(eq.WorkerCrashedError);
    await expect(doomed).rejects.toThrow('worker 0 died');
    // The other run completes (its chunk on worker 0 may also have been lost, in which case it
    // rejects the same way; it must not hang).
    await Promise.race([other.then((t) => t.dispose(), (e) => expect(e).toBeInstanceOf(eq.WorkerCrashedError)), new Promise((_, reject) => setTimeout(() => reject(new Error('hung')), 20_000))]);
    const y = await pool.run(x);
    expect(sha(y)).toBe(want);
    expect(pool.status()).toMatchObject({ workers: 2, replaced: 1, admitted: 0, queued: 0 });
    y.dispose();
    await pool.close();
    model.dispose();
  }, 60_000);

  it('applies backpressure: at most maxQueue runs admitted, the rest wait, all finish', async () => {
    const pool = await eq.createPool({ workers: 2, maxQueue: 1 });
    await pool.load(src('p4cnn'));
    const xs = [1, 2, 3, 4].map((s) => images(6, s));
    const runs = xs.map((x) => pool.run(x));
    await new Promise((r) => setTimeout(r, 0));
    expect(pool.status().admitted).toBeLessThanOrEqual(1);
    const outs = await Promise.all(runs);
    const model = await eq.loadModel(src('p4cnn'));
    outs.forEach((y, i) => expect(sha(y)).toBe(sha(model.run(xs[i]))));
    await pool.close();
    model.dispose();
  }, 60_000);

  it('cancels through an AbortSignal before or during a run, and stays usable', async () => {
    const pool = await eq.createPool({ workers: 2 });
    await pool.load(src('p4cnn'));
    const x = images(64);
    const before = new AbortController();
    before.abort('not needed');
    await expect(pool.run(x, { signal: before.signal })).rejects.toThrow(eq.AbortError);
    const during = new AbortController();
    const p = pool.run(x, { signal: during.signal });
    during.abort();
    await expect(p).rejects.toThrow('aborted');
    const y = await pool.run(images(3));
    expect(y.shape).toEqual([3, 10]);
    expect(pool.status()).toMatchObject({ admitted: 0, queued: 0 });
    await pool.close();
  }, 60_000);

  it('a run called while a model loads waits for it, and runs on the new model only', async () => {
    const pool = await eq.createPool({ workers: 2 });
    await pool.load(src('p4cnn'));
    const x = images(6);
    const loading = pool.load(src('p4mcnn'));
    const y = await pool.run(x);
    await loading;
    const p4m = await eq.loadModel(src('p4mcnn'));
    expect(sha(y)).toBe(sha(p4m.run(x)));
    p4m.dispose();
    await pool.close();
  }, 60_000);

  it('point-cloud models: a cloud that is all padding is the ArgumentError model.run gives; a model that does not pool is refused at load, the old one kept; a trap is told once', async () => {
    const model = await eq.loadModel(src('lieconv_model'));
    const pool = await eq.createPool({ workers: 2 });
    await pool.load(src('lieconv_model'));
    const B = 4, P = 5;
    const x = {
      points: eq.tensor(Float32Array.from({ length: B * P * 3 }, (_, i) => 1 + Math.sin(i)), [B, P, 3]),
      features: eq.tensor(new Float32Array(B * P).fill(1), [B, P, 1]),
      mask: eq.tensor(Float32Array.from({ length: B * P }, (_, i) => (Math.floor(i / P) === 3 ? 0 : 1)), [B, P]),
    };
    // Cloud 3 goes to the second worker with cloud 2; alone (one worker per cloud) it had trapped
    // there, while model.run gave it bias-only logits.
    expect(() => model.run(x)).toThrow(eq.ArgumentError);
    expect(() => model.run(x)).toThrow('cloud 3 has no present points');
    await expect(pool.run(x)).rejects.toThrow(eq.ArgumentError);
    await expect(pool.run(x)).rejects.toThrow('has no present points');
    // A model whose output stays on the lifted elements: a pool returns [B, ...] tensors only.
    const config = JSON.parse(readFileSync(`${fx}lieconv_model.json`, 'utf8'));
    const pooled = config.layers.findIndex((l: { type: string }) => l.type === 'globalPool');
    config.layers = config.layers.slice(0, pooled);
    const weights = Object.fromEntries([...eq.parseSafetensors(readFileSync(`${fx}lieconv_model.safetensors`)).tensors].filter(([k]) => config.layers.some((l: { name: string }) => k.startsWith(`${l.name}.`))));
    const unpooled = await eq.loadModel({ config, weights });
    const lifted = unpooled.run({ points: x.points, features: x.features }) as unknown as { constructor: { name: string }; dispose(): void };
    expect(lifted.constructor.name).toBe('LiftedField');
    lifted.dispose();
    unpooled.dispose();
    await expect(pool.load({ config, weights })).rejects.toThrow(eq.ConfigError);
    await expect(pool.load({ config, weights })).rejects.toThrow('does not end in globalPool');
    const full = { points: x.points, features: x.features };
    const y = await pool.run(full), ref = model.run(full);
    expect(sha(y)).toBe(sha(ref));
    for (const t of [y, ref, x.points, x.features, x.mask]) t.dispose();
    await pool.close();
    model.dispose();
    // A worker's trap comes back with the worker's message, not wrapped in a second one.
    const message = 'phi: the WebAssembly kernel trapped (unreachable); the instance was recovered and stays usable';
    const e = reviveError({ name: 'WasmTrapError', message });
    expect(e).toBeInstanceOf(WasmTrapError);
    expect(e.message).toBe(message);
    expect(e.stack).not.toContain('pool worker');
  }, 60_000);

  it('a load called while runs wait in the queue: they run on the old model, then the load (the two had waited on each other)', async () => {
    const pool = await eq.createPool({ workers: 1 });
    await pool.load(src('p4cnn'));
    const model = await eq.loadModel(src('p4cnn'));
    const x = images(8);
    const ref = model.run(x);
    const a = pool.run(x), b = pool.run(x);
    await new Promise((r) => setTimeout(r, 5));
    const loaded = pool.load(src('p4cnn'));
    const hung = new Promise((_, reject) => setTimeout(() => reject(new Error(`still pending: ${JSON.stringify(pool.status())}`)), 20_000));
    const [ya, yb] = (await Promise.race([Promise.all([a, b, loaded]), hung])) as [eq.Tensor, eq.Tensor, void];
    expect(sha(ya)).toBe(sha(ref));
    expect(sha(yb)).toBe(sha(ref));
    expect(pool.status()).toMatchObject({ admitted: 0, queued: 0, busy: 0 });
    for (const t of [ya, yb, ref, x]) t.dispose();
    await pool.close();
    model.dispose();
  }, 60_000);

  it('thousands of runs queued behind maxQueue 1, sharing one AbortSignal: all finish with model.run\'s bytes (each freed slot wakes one run)', async () => {
    const pool = await eq.createPool({ workers: 1, maxQueue: 1 });
    await pool.load(src('linear'));
    const model = await eq.loadModel(src('linear'));
    const x = eq.tensor([1, 2, 3, 4, 5, 6], [1, 6]);
    const r = model.run(x), ref = sha(r);
    r.dispose();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    const ac = new AbortController();
    const ys = await Promise.all(Array.from({ length: 3000 }, () => pool.run(x, { signal: ac.signal })));
    expect(new Set(ys.map(sha))).toEqual(new Set([ref]));
    expect(pool.status()).toMatchObject({ admitted: 0, queued: 0, busy: 0 });
    for (const y of ys) y.dispose();
    // Aborting the shared signal: every run still pending rejects with AbortError, the rest resolve.
    const stop = new AbortController();
    const pending = Array.from({ length: 200 }, () => pool.run(x, { signal: stop.signal }).then((y) => { y.dispose(); return 'done'; }, (e) => (e instanceof eq.AbortError ? 'aborted' : `other: ${e}`)));
    setTimeout(() => stop.abort(), 2);
    const outcomes = await Promise.all(pending);
    expect(outcomes.every((o) => o === 'done' || o === 'aborted'), outcomes.find((o) => o.startsWith('other'))).toBe(true);
    expect(outcomes).toContain('aborted');
    // A chunk already on the worker finishes there (an abort cannot stop it), then all is idle.
    for (let i = 0; i < 100 && pool.status().busy > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(pool.status()).toMatchObject({ admitted: 0, queued: 0, busy: 0 });
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    // One abort listener per signal, however many runs share it: Node's leak warning stays quiet.
    expect(warnings).not.toContain('MaxListenersExceededWarning');
    x.dispose();
    model.dispose();
    await pool.close();
  }, 60_000);

  it('close rejects unfinished runs; bad use gives typed errors', async () => {
    await expect(eq.createPool({ workers: 0 })).rejects.toThrow('workers must be an integer in 1..256, got 0');
    const pool = await eq.createPool({ workers: 1 });
    await expect(pool.run(images(1))).rejects.toThrow('no model loaded');
    await pool.load(src('p4cnn'));
    await expect(pool.run(eq.zeros([2, 3, 28, 28]))).rejects.toThrow(eq.ShapeError);
    await expect(pool.run(eq.zeros([2, 1, 32, 32]))).rejects.toThrow('input must be 28 x 28');
    expect((await pool.run(images(2))).shape).toEqual([2, 10]);
    const pending = pool.run(images(128));
    await pool.close();
    await expect(pending).rejects.toThrow(eq.PoolClosedError);
    await expect(pool.run(images(1))).rejects.toThrow(eq.PoolClosedError);
  }, 60_000);
});
