#!/usr/bin/env node
// Soak: many model runs with random batch sizes through a worker pool and on the main thread,
// interleaved with failing calls (bad shapes, bad options, empty batches, aborted runs, loads
// that fail in the workers) and worker kills. Checks that memory stays flat and that the output
// for a fixed input keeps the same SHA-256 throughout. Usage:
//   node bench/soak.mjs [--runs N] [--workers W] [--seed S] [--json FILE]
// Exit code 1 when a run gave an unexpected error, the fixed output changed, or memory grew.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as eq from '../dist/index.js';

const argv = process.argv.slice(2);
const arg = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const runs = Number(arg('--runs', 100_000));
const workers = Number(arg('--workers', 2));
const seed = Number(arg('--seed', 1));
const jsonOut = arg('--json', null);
const fx = new URL('../models/', import.meta.url).pathname;
const src = { config: `${fx}p4cnn-fashion.json`, weights: `${fx}p4cnn-fashion.safetensors` };

let s = seed >>> 0;
const rand = () => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (n) => Math.floor(rand() * n);
const sha = (t) => createHash('sha256').update(new Uint8Array(t.toArray().buffer)).digest('hex');
const images = (n, k) => eq.tensor(Float32Array.from({ length: n * 784 }, (_, i) => Math.sin(i * 0.013 + k)), [n, 1, 28, 28]);

await eq.init();
const model = await eq.loadModel(src);
const pool = await eq.createPool({ workers });
await pool.load(src);
const fixed = images(5, 0.5);
const first = model.run(fixed);
const want = sha(first);
first.dispose();
const badConfig = JSON.parse(readFileSync(src.config, 'utf8'));
badConfig.layers[2] = { type: 'gelu' }; // passes the checks on this thread, fails in the workers

const counts = { pool: 0, main: 0, images: 0, expectedErrors: 0, kills: 0, hashChecks: 0 };
const unexpected = [];
const samples = [];
const sample = (at) => {
  const m = process.memoryUsage();
  const w = eq.memory();
  samples.push({ run: at, rssMiB: m.rss / 2 ** 20, heapMiB: m.heapUsed / 2 ** 20, wasmMiB: w.wasmBytes / 2 ** 20, tensors: w.tensors, allocations: w.allocations });
};
const expectError = async (what, cls, fn) => {
  try {
    const r = await fn();
    r?.dispose?.();
    unexpected.push(`${what}: did not fail`);
  } catch (e) {
    if (e instanceof cls) counts.expectedErrors++;
    else unexpected.push(`${what}: ${e?.name}: ${e?.message}`);
  }
};

const t0 = performance.now();
const every = Math.max(1, Math.floor(runs / 50));
const inputs = Array.from({ length: 8 }, (_, i) => images(i + 1, i));
const wrongChannels = eq.zeros([1, 3, 28, 28]), emptyBatch = eq.zeros([0, 1, 28, 28]), wrongSize = eq.zeros([1, 1, 30, 30]);
sample(0);
for (let i = 1; i <= runs; i++) {
  const n = 1 + int(8);
  const x = inputs[n - 1];
  try {
    if (i % 10 === 0) {
      model.run(x).dispose();
      counts.main++;
    } else {
      (await pool.run(x)).dispose();
      counts.pool++;
    }
    counts.images += n;
  } catch (e) {
    unexpected.push(`run ${i}: ${e?.name}: ${e?.message}`);
  }
  if (i % 97 === 0) {
    switch (int(6)) {
      case 0: await expectError('wrong channels', eq.ShapeError, () => pool.run(wrongChannels)); break;
      case 1: await expectError('empty batch', eq.ShapeError, () => pool.run(emptyBatch)); break;
      case 2: await expectError('bad options', eq.ArgumentError, () => pool.run(x, { signal: 'x' })); break;
      case 3: {
        const ac = new AbortController();
        const p = pool.run(inputs[7], { signal: ac.signal });
        ac.abort();
        await expectError('aborted', eq.AbortError, () => p);
        break;
      }
      case 4: await expectError('load failing in the workers', eq.ConfigError, () => pool.load({ config: badConfig, weights: src.weights })); break;
      default: await expectError('main thread, wrong size', eq.ShapeError, () => model.run(wrongSize)); break;
    }
  }
  if (i % 2003 === 0) {
    pool.killWorker(int(workers));
    counts.kills++;
  }
  if (i % 1009 === 0) {
    const y = await pool.run(fixed);
    if (sha(y) !== want) unexpected.push(`run ${i}: the fixed input's output changed`);
    y.dispose();
    const z = model.run(fixed);
    if (sha(z) !== want) unexpected.push(`run ${i}: the fixed input's output changed on the main thread`);
    z.dispose();
    counts.hashChecks++;
  }
  if (i % every === 0) {
    sample(i);
    if (i % (every * 5) === 0) process.stderr.write(`soak: ${i}/${runs} runs, rss ${samples.at(-1).rssMiB.toFixed(0)} MiB, ${unexpected.length} unexpected\n`);
  }
}
const seconds = (performance.now() - t0) / 1000;
for (const t of [...inputs, wrongChannels, emptyBatch, wrongSize]) t.dispose();
const y = await pool.run(fixed);
const finalHash = sha(y);
y.dispose();
await pool.close();
model.dispose();
fixed.dispose();
eq.clearCaches();
const end = eq.memory();

// Flat: after warm-up (the first 10% of runs), memory may not trend upwards. Compare the
// median of the samples in the second fifth with those in the last fifth.
const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const warm = samples.filter((p) => p.run >= runs * 0.2 && p.run <= runs * 0.4);
const last = samples.filter((p) => p.run >= runs * 0.8);
const growth = {
  rssMiB: med(last.map((p) => p.rssMiB)) - med(warm.map((p) => p.rssMiB)),
  heapMiB: med(last.map((p) => p.heapMiB)) - med(warm.map((p) => p.heapMiB)),
  wasmMiB: med(last.map((p) => p.wasmMiB)) - med(warm.map((p) => p.wasmMiB)),
};
const maxTensors = Math.max(...samples.map((p) => p.tensors));
const result = {
  runs, workers, seed, seconds: Number(seconds.toFixed(1)), ...counts, unexpected: unexpected.length,
  hash: want, finalHashSame: finalHash === want, leftOver: { tensors: end.tensors, allocations: end.allocations },
  rssMiB: { first: samples[1]?.rssMiB, warm: med(warm.map((p) => p.rssMiB)), last: med(last.map((p) => p.rssMiB)), max: Math.max(...samples.map((p) => p.rssMiB)) },
  growth, maxLiveTensors: maxTensors, node: process.version,
};
console.log(`soak: ${runs} runs (${counts.pool} through a pool of ${workers}, ${counts.main} on the main thread; ${counts.images} images) in ${seconds.toFixed(1)} s`);
console.log(`  ${counts.expectedErrors} failing calls gave their typed error; ${counts.kills} workers killed and replaced; ${counts.hashChecks} checks of the fixed output`);
console.log(`  fixed output sha256 ${want.slice(0, 16)}...: ${finalHash === want && !unexpected.some((u) => u.includes('changed')) ? 'unchanged throughout' : 'CHANGED'}`);
console.log(`  memory: rss ${result.rssMiB.warm.toFixed(0)} MiB after warm-up, ${result.rssMiB.last.toFixed(0)} MiB at the end (max ${result.rssMiB.max.toFixed(0)}); growth warm->end: rss ${growth.rssMiB.toFixed(1)} MiB, JS heap ${growth.heapMiB.toFixed(1)} MiB, wasm ${growth.wasmMiB.toFixed(1)} MiB; live tensors at most ${maxTensors}; left over: ${end.tensors} tensors, ${end.allocations} allocations`);
for (const u of unexpected.slice(0, 20)) console.log(`  UNEXPECTED ${u}`);
if (jsonOut) {
  mkdirSync(dirname(jsonOut), { recursive: true });
  writeFileSync(jsonOut, JSON.stringify({ result, samples }, null, 1));
}
const flat = growth.rssMiB < 64 && growth.wasmMiB === 0 && end.tensors === 0 && end.allocations === 0;
const ok = unexpected.length === 0 && finalHash === want && flat;
console.log(ok ? 'soak: passed' : `soak: FAILED${flat ? '' : ' (memory not flat)'}`);
process.exit(ok ? 0 : 1);
