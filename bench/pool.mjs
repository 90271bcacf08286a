#!/usr/bin/env node
// Pool throughput on the P4CNN at batch 256: our pool with 1 and 2 workers, and
// onnxruntime-web with 2 threads running the same network as a plain conv net, in one run.
// Each pass times every engine; tables report medians. CPU time / wall time shows how many
// cores each engine really kept busy.
// Usage: node bench/pool.mjs [--passes N] [--batch N] [--json FILE]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as eq from '../dist/index.js';
import { median, table } from './harness.mjs';
import { plainOps } from './plain.mjs';
import { ortRunner } from './peers.mjs';

const argv = process.argv.slice(2);
const arg = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const passes = Number(arg('--passes', 5));
const batch = Number(arg('--batch', 256));
const jsonOut = arg('--json', null);
const fx = new URL('../models/', import.meta.url).pathname;
const src = { config: `${fx}p4cnn-fashion.json`, weights: `${fx}p4cnn-fashion.safetensors` };

await eq.init();
const model = await eq.loadModel(src);
const input = Float32Array.from({ length: batch * 784 }, (_, i) => Math.sin(i * 0.013));
const x = eq.tensor(input, [batch, 1, 28, 28]);
const pools = [];
for (const w of [1, 2]) {
  const p = await eq.createPool({ workers: w });
  await p.load(src);
  pools.push(p);
}
const ort = await ortRunner(plainOps(model), input, [batch, 1, 28, 28], 2);
const engines = [
  { name: 'equivariant, model.run (main thread)', run: async () => model.run(x).dispose() },
  { name: 'equivariant pool, 1 worker', run: async () => (await pools[0].run(x)).dispose() },
  { name: 'equivariant pool, 2 workers', run: async () => (await pools[1].run(x)).dispose() },
  { name: ort.name, run: ort.run },
];

async function measure(e, minSeconds = 1.5) {
  for (let i = 0; i < 2; i++) await e.run();
  let calls = 0;
  const c0 = process.cpuUsage(), t0 = performance.now();
  while (performance.now() - t0 < minSeconds * 1000 || calls < 3) {
    await e.run();
    calls++;
  }
  const wall = (performance.now() - t0) / 1000, cpu = process.cpuUsage(c0);
  return { seconds: wall / calls, cores: (cpu.user + cpu.system) / 1e6 / wall };
}

const results = engines.map(() => ({ t: [], cores: [] }));
for (let p = 0; p < passes; p++) {
  for (const [i, e] of engines.entries()) {
    const m = await measure(e);
    results[i].t.push(m.seconds);
    results[i].cores.push(m.cores);
  }
  process.stderr.write(`pass ${p + 1}/${passes}: ${results.map((r) => `${(batch / r.t.at(-1)).toFixed(0)}`).join(' / ')} img/s\n`);
}
const ratio = (a, b) => median(results[a].t.map((t, k) => t / results[b].t[k]));
console.log(`node ${process.version}, P4CNN batch ${batch}, ${passes} passes (medians)\n`);
console.log(table(['engine', 'ms per batch', 'images/s', 'cores busy (cpu/wall)'], engines.map((e, i) => [e.name, (median(results[i].t) * 1e3).toFixed(1), (batch / median(results[i].t)).toFixed(0), median(results[i].cores).toFixed(2)])));
console.log(`\npool, 2 workers vs 1 worker: ${ratio(1, 2).toFixed(2)}x (target >= 1.85)`);
console.log(`pool, 2 workers vs ${ort.name}: ${ratio(3, 2).toFixed(2)}x (target >= 1.3)`);
if (jsonOut) {
  mkdirSync(dirname(jsonOut), { recursive: true });
  writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), node: process.version, batch, passes, engines: engines.map((e, i) => ({ name: e.name, ...results[i] })) }, null, 2));
}
for (const p of pools) await p.close();
ort.dispose();
model.dispose();
process.exit(0);
