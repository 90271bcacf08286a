// Worker pools under hostile use (issue 12): nothing hangs (close settles everything, broken
// worker scripts are given up on after a bounded number of starts), errors keep their class
// across the worker boundary, Buffer views send exactly their bytes, a pool recovers from any
// sequence of failures, and a reused AbortSignal collects no listeners.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { getEventListeners } from 'node:events';
import * as eq from '../dist/index.js';

const fx = new URL('./fixtures/', import.meta.url).pathname;
const src = (name: string) => ({ config: `${fx}${name}.json`, weights: `${fx}${name}.safetensors` });
const sha = (t: eq.Tensor) => createHash('sha256').update(new Uint8Array(t.toArray().buffer)).digest('hex');
const images = (n: number, seed = 1) => eq.tensor(Float32Array.from({ length: n * 784 }, (_, i) => Math.sin(i * 0.013 + seed)), [n, 1, 28, 28]);
const worker = (name: string) => new URL(`./support/workers/${name}`, import.meta.url);
/** Rejects if `p` has not settled within `ms`: a hang is a failure, never a wait. */
const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms))]);
const outcome = (p: Promise<unknown>) => p.then((v) => ({ ok: true as const, v }), (e: unknown) => ({ ok: false as const, e }));

let model: eq.Model;
beforeAll(async () => {
  await eq.init();
  model = await eq.loadModel(src('p4cnn'));
});
afterAll(() => model?.dispose());

describe('nothing hangs', () => {
  it('close() settles a pending load (a worker stuck in it) and the runs waiting on it', async () => {
    const pool = await eq.createPool({ workers: 2, workerUrl: worker('hangs-on-load.mjs') });
    const load = outcome(pool.load(src('p4cnn')));
    const run = outcome(pool.run(images(2)));
    await new Promise((r) => setTimeout(r, 100));
    await pool.close();
    const [l, r] = await within(Promise.all([load, run]), 5_000, 'load and run after close');
    expect(l.ok).toBe(false);
    expect(r.ok).toBe(false);
    expect((l as { e: unknown }).e).toBeInstanceOf(eq.PoolClosedError);
    expect((r as { e: unknown }).e).toBeInstanceOf(eq.PoolClosedError);
  });

  it('close() right after load() and run() settles both, on a real pool', async () => {
    const pool = await eq.createPool({ workers: 2 });
    const load = outcome(pool.load(src('p4cnn')));
    const run = outcome(pool.run(images(2)));
    void pool.close();
    const [l, r] = await within(Promise.all([load, run]), 5_000, 'load and run after close');
    expect((l as { e: unknown }).e).toBeInstanceOf(eq.PoolClosedError);
    expect((r as { e: unknown }).e).toBeInstanceOf(eq.PoolClosedError);
  });

  it('createPool rejects with WorkerStartError for a missing, a non-worker, a throwing and a silent worker script, after a bounded number of starts', async () => {
    const before = eq.limits();
    eq.setLimits({ workerStartTimeout: 500 });
    try {
      for (const url of [worker('missing.mjs'), worker('exits.mjs'), worker('throws.mjs'), worker('silent.mjs'), new URL('./fixtures/p4cnn.json', import.meta.url)]) {
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const r = await within(outcome(eq.createPool({ workers: 2, workerUrl: url })), 10_000, `createPool(${url.pathname})`);
        const cpu = process.cpuUsage(cpu0);
        expect(r.ok, url.pathname).toBe(false);
        expect((r as { e: unknown }).e, url.pathname).toBeInstanceOf(eq.WorkerStartError);
        expect(String((r as { e: Error }).e.message)).toContain('failed to start 3 times in a row');
        // Bounded: 3 starts per worker, not a respawn loop.
        expect(performance.now() - t0).toBeLessThan(6_000);
        expect((cpu.user + cpu.system) / 1e3).toBeLessThan(6_000);
      }
    } finally {
      eq.setLimits(before);
    }
  }, 60_000);

  it('bad createPool options are ArgumentErrors: null, wrong types, a URL that does not parse', async () => {
    for (const bad of [null, 5, 'x', { workers: '2' }, { workers: 1.5 }, { maxQueue: 0 }, { workerUrl: 42 }, { workerUrl: 'not a url' }]) {
      await expect(eq.createPool(bad as never), JSON.stringify(bad)).rejects.toThrow(eq.ArgumentError);
    }
  });
});

describe('typed errors across the worker boundary', () => {
  let pool: eq.Pool;
  beforeAll(async () => {
    pool = await eq.createPool({ workers: 2 });
  });
  afterAll(() => pool?.close());

  it('pool.run(x, null) and a signal that is not an AbortSignal are ArgumentErrors', async () => {
    await pool.load(src('p4cnn'));
    await expect(pool.run(images(1), null as never)).rejects.toThrow(eq.ArgumentError);
    await expect(pool.run(images(1), { signal: 'x' } as never)).rejects.toThrow('must be an AbortSignal');
    await expect(pool.run(eq.zeros([0, 1, 28, 28]))).rejects.toThrow(eq.ShapeError);
    await expect(pool.load(null as never)).rejects.toThrow(eq.ArgumentError);
    await expect(pool.load({ ...src('p4cnn'), algorithm: 'fast' } as never)).rejects.toThrow(eq.ArgumentError);
  });

  it('a ConfigError or WeightsError raised in a worker is that class on this side, and the pool keeps its model', async () => {
    await pool.load(src('p4cnn'));
    const x = images(3);
    const want = sha(model.run(x));
    // Valid for the input check on this thread, wrong for the layers the workers build.
    const config = JSON.parse(readFileSync(`${fx}p4cnn.json`, 'utf8'));
    config.layers[2] = { type: 'gelu' };
    const e1 = await pool.load({ config, weights: `${fx}p4cnn.safetensors` }).catch((e) => e);
    expect(e1).toBeInstanceOf(eq.ConfigError);
    expect(e1.message).toContain("unknown type 'gelu'");
    const e2 = await pool.load({ config: `${fx}p4cnn.json`, weights: `${fx}p4mcnn.safetensors` }).catch((e) => e);
    expect(e2).toBeInstanceOf(eq.WeightsError);
    const y = await pool.run(x);
    expect(sha(y)).toBe(want);
  });

  it('an out-of-memory condition in a worker is an OutOfMemoryError', async () => {
    const before = eq.limits();
    eq.setLimits({ maxModelBytes: 1024 });
    let small: eq.Pool | undefined;
    try {
      small = await eq.createPool({ workers: 1 }); // its worker gets these limits
    } finally {
      eq.setLimits(before);
    }
    const e = await small.load(src('p4cnn')).catch((err) => err);
    expect(e).toBeInstanceOf(eq.OutOfMemoryError);
    expect(e.message).toContain('limits.maxModelBytes');
    await small.close();
  });
});

describe('exact bytes and recovery', () => {
  it('pool.load with a Node Buffer that is a window on a larger buffer sends exactly its bytes', async () => {
    const bytes = readFileSync(`${fx}p4cnn.safetensors`);
    const cfg = readFileSync(`${fx}p4cnn.json`);
    const junk = Buffer.alloc(4096, 7);
    const big = Buffer.concat([junk, bytes, junk, cfg, junk]);
    const weights = big.subarray(junk.length, junk.length + bytes.length);
    const config = big.subarray(2 * junk.length + bytes.length, 2 * junk.length + bytes.length + cfg.length);
    expect(weights.buffer.byteLength).toBeGreaterThan(weights.byteLength);
    const pool = await eq.createPool({ workers: 2 });
    await pool.load({ config, weights });
    const x = images(5);
    expect(sha(await pool.run(x))).toBe(sha(model.run(x)));
    // And a file read with readFileSync (often a view on Node's shared pool).
    await pool.load({ config: readFileSync(`${fx}p4cnn.json`), weights: readFileSync(`${fx}p4cnn.safetensors`) });
    expect(sha(await pool.run(x))).toBe(sha(model.run(x)));
    await pool.close();
  });

  it('recovers from any sequence of failed loads, kills, aborts and bad runs', async () => {
    const pool = await eq.createPool({ workers: 2 });
    await pool.load(src('p4cnn'));
    const x = images(4);
    const want = sha(model.run(x));
    const badConfig = JSON.parse(readFileSync(`${fx}p4cnn.json`, 'utf8'));
    badConfig.layers[2] = { type: 'gelu' }; // passes the checks on this thread, fails in the workers
    for (let round = 0; round < 3; round++) {
      await expect(pool.load({ config: `${fx}p4cnn.json`, weights: `${fx}p4mcnn.safetensors` })).rejects.toThrow(eq.WeightsError);
      pool.killWorker(round % 2);
      await expect(pool.load({ config: badConfig, weights: `${fx}p4cnn.safetensors` })).rejects.toThrow(eq.ConfigError);
      const ac = new AbortController();
      const aborted = pool.run(images(64), { signal: ac.signal });
      ac.abort();
      await expect(aborted).rejects.toThrow(eq.AbortError);
      await expect(pool.run(eq.zeros([1, 2, 28, 28]))).rejects.toThrow(eq.ShapeError);
      const y = await within(pool.run(x), 20_000, 'run after failures');
      expect(sha(y), `round ${round}`).toBe(want);
      y.dispose();
    }
    // A new model still loads after all that.
    await pool.load(src('p4mcnn'));
    const p4m = await eq.loadModel(src('p4mcnn'));
    expect(sha(await pool.run(x))).toBe(sha(p4m.run(x)));
    p4m.dispose();
    expect(pool.status()).toMatchObject({ workers: 2, admitted: 0, queued: 0 });
    await pool.close();
  }, 60_000);

  it('one AbortSignal reused for 1,000 runs collects no listeners', async () => {
    const pool = await eq.createPool({ workers: 2 });
    await pool.load(src('relu'));
    const ac = new AbortController();
    const x = eq.tensor(new Float32Array(2 * 8 * 3 * 3).fill(-1), [1, 2, 8, 3, 3]);
    for (let i = 0; i < 1000; i++) (await pool.run(x, { signal: ac.signal })).dispose();
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    x.dispose();
    await pool.close();
  }, 60_000);
});
