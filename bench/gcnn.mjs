#!/usr/bin/env node
// The G-CNN workloads of ../shared/docs/workloads.md, one thread, against the peers in the same
// run: L1 (p4 conv 10->10, batch 64, 28x28, 'same', + ReLU), L2 (p4 conv 32->32, batch 8, 32x32),
// and the whole P4CNN (batch 64, and batch 1 as P4CNN-1). Peers run the same network as a plain conv net over the
// expanded filters. Each pass measures the SIMD peak and every engine on every workload;
// tables report medians over passes.
// Usage: node bench/gcnn.mjs [--passes N] [--json FILE] [--only L1,L2,P4CNN]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as eq from '../dist/index.js';
import { median, peakGflops, table } from './harness.mjs';
import { convFlops, plainOps } from './plain.mjs';
import { ortRunner, tfjsRunner } from './peers.mjs';

const models = new URL('../models/', import.meta.url).pathname;

async function layerModel(channels) {
  const conv = eq.nn.groupConv({ group: 'p4', in: channels, out: channels, kernel: 3, padding: 'same', seed: 7 });
  const config = { format: 'equivariant.model', version: 1, name: `p4 conv ${channels}`, group: 'p4', input: { field: 'grid', channels },
    layers: [{ type: 'groupConv', name: 'conv', in: channels, out: channels, kernel: 3, padding: 'same', bias: true }, { type: 'relu' }] };
  const weights = { 'conv.weight': conv.parameters().weight, 'conv.bias': eq.tensor(Float32Array.from({ length: channels }, (_, i) => 0.01 * i), [channels]) };
  const model = await eq.loadModel({ config, weights });
  conv.dispose();
  return model;
}

const rand = (n, seed) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1);
};

/** Runs the workloads; prints the table; returns `{ peaks, results }`. */
export async function runGcnn({ passes = 5, only = ['L1', 'L2', 'P4CNN', 'P4CNN-1'], peers = true } = {}) {
await eq.init();
const workloads = [];
if (only.includes('L1')) workloads.push({ name: 'L1', model: await layerModel(10), shape: [64, 40, 28, 28], modelShape: [64, 10, 4, 28, 28] });
if (only.includes('L2')) workloads.push({ name: 'L2', model: await layerModel(32), shape: [8, 128, 32, 32], modelShape: [8, 32, 4, 32, 32] });
if (only.includes('P4CNN')) {
  const model = await eq.loadModel({ config: `${models}p4cnn-fashion.json`, weights: `${models}p4cnn-fashion.safetensors` });
  workloads.push({ name: 'P4CNN', model, shape: [64, 1, 28, 28], modelShape: [64, 1, 28, 28], images: 64 });
}
if (only.includes('P4CNN-1')) {
  const model = await eq.loadModel({ config: `${models}p4cnn-fashion.json`, weights: `${models}p4cnn-fashion.safetensors` });
  workloads.push({ name: 'P4CNN-1', model, shape: [1, 1, 28, 28], modelShape: [1, 1, 28, 28], images: 1 });
}

for (const wl of workloads) {
  wl.ops = plainOps(wl.model);
  wl.flops = convFlops(wl.ops, wl.shape[0], wl.shape[2], wl.shape[3]);
  wl.input = rand(wl.shape.reduce((a, b) => a * b), 42);
  wl.x = eq.tensor(wl.input, wl.modelShape);
  const version = JSON.parse(readFileSync(new URL('../package.json', import.meta.url))).version;
  const runOf = (m) => () => { const y = m.run(wl.x); const d = y.toArray(); y.dispose(); return d; };
  wl.direct = await eq.loadModel({ config: wl.model.config, weights: wl.model.parameters(), algorithm: 'direct' });
  wl.engines = [
    { name: `equivariant ${version}`, run: runOf(wl.model) },
    { name: `equivariant ${version}, direct conv`, run: runOf(wl.direct), dispose: () => wl.direct.dispose() },
    ...(peers ? [await tfjsRunner(wl.ops, wl.input, wl.shape), await ortRunner(wl.ops, wl.input, wl.shape, 1)] : []),
  ];
  // The engines must compute the same thing.
  const ref = wl.engines[0].run();
  for (const e of wl.engines.slice(1)) {
    const y = e.nchw ? e.nchw(await e.run()) : await e.run();
    let err = 0, scale = 0;
    for (let i = 0; i < ref.length; i++) { err = Math.max(err, Math.abs(y[i] - ref[i])); scale = Math.max(scale, Math.abs(ref[i])); }
    if (!(err / scale < 1e-4)) throw new Error(`${wl.name}: ${e.name} disagrees with equivariant (relative error ${err / scale})`);
    wl.agreement = Math.max(wl.agreement ?? 0, err / scale);
  }
  wl.times = wl.engines.map(() => []);
}

async function timeOne(engine, minSeconds = 0.6) {
  for (let i = 0; i < 2; i++) await engine.run();
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minSeconds * 1000 || calls < 3) {
    await engine.run();
    calls++;
  }
  return (performance.now() - t0) / 1000 / calls;
}

const peaks = [];
for (let p = 0; p < passes; p++) {
  peaks.push(peakGflops(3));
  for (const wl of workloads) for (const [i, e] of wl.engines.entries()) wl.times[i].push(await timeOne(e));
  process.stderr.write(`pass ${p + 1}/${passes}: peak ${peaks.at(-1).toFixed(1)} GFLOP/s; ${workloads.map((wl) => `${wl.name} ${wl.times.map((t) => (t.at(-1) * 1e3).toFixed(1)).join('/')} ms`).join('; ')}\n`);
}

const peak = median(peaks);
console.log(`node ${process.version}, one thread, ${passes} passes; SIMD128 mul+add peak: median ${peak.toFixed(1)} GFLOP/s (range ${Math.min(...peaks).toFixed(1)}-${Math.max(...peaks).toFixed(1)})\n`);
const rows = [];
const results = [];
for (const wl of workloads) {
  wl.engines.forEach((e, i) => {
    const t = median(wl.times[i]);
    const gflops = wl.flops / t / 1e9;
    const speedup = median(wl.times[i].map((ti, k) => ti / wl.times[0][k]));
    rows.push([wl.name, e.name, (t * 1e3).toFixed(1), gflops.toFixed(1), `${((100 * gflops) / peak).toFixed(0)}%`, wl.images ? (wl.images / t).toFixed(0) : '', i === 0 ? '1.00' : speedup.toFixed(2)]);
    results.push({ workload: wl.name, engine: e.name, msMedian: t * 1e3, gflops, ofPeak: gflops / peak, imagesPerSecond: wl.images ? wl.images / t : undefined, oursSpeedup: i === 0 ? 1 : speedup, times: wl.times[i] });
  });
}
console.log(table(['workload', 'engine', 'ms (median)', 'GFLOP/s', 'of peak', 'img/s', 'equivariant is x faster'], rows));
console.log(`\nGFLOP per call: ${workloads.map((w) => `${w.name} ${(w.flops / 1e9).toFixed(3)}`).join(', ')}; outputs agree across engines to ${Math.max(...workloads.map((w) => w.agreement)).toExponential(1)} relative.`);
console.log('"x faster" is the median over passes of (peer time / our time) measured in the same pass.');
for (const wl of workloads) { wl.x.dispose(); wl.model.dispose(); for (const e of wl.engines) await e.dispose?.(); }
return { peaks, results };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const arg = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
  const jsonOut = arg('--json', null);
  const { peaks, results } = await runGcnn({ passes: Number(arg('--passes', 5)), only: arg('--only', 'L1,L2,P4CNN,P4CNN-1').split(','), peers: !argv.includes('--no-peers') });
  if (jsonOut) {
    mkdirSync(dirname(jsonOut), { recursive: true });
    writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), node: process.version, peaks, results }, null, 2));
  }
}
