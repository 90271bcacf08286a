#!/usr/bin/env node
// Steerable CNNs on the plane, one thread, against the peers in the same run (docs/workloads.md):
//   C8       the demo's C8 model (models/c8-fashion: 5x5 kernels, regular fields), batch 64
//   C8-TUT   a C8 model of escnn's tutorial size (six layers of 24, 48, 48, 96, 96, 64 regular
//            fields, 7x7 then 5x5), batch 8
//   BUILD    building and loading C8-TUT from its config and coefficients (safetensors bytes), in
//            a fresh process each pass: loadModel, then prepare() (every filter bank expanded)
// Peers (tfjs-backend-wasm, onnxruntime-web) run the same network as a plain conv net over the
// expanded filters (bench/steerable-peers.mjs). Tables give medians over passes, executed FLOP/s
// (Winograd counted as run) and direct-convolution-equivalent FLOP/s separately.
// Usage: node bench/steerable.mjs [--passes N] [--only C8,C8-TUT,BUILD] [--json FILE] [--no-peers] [--model PREFIX]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as eq from '../dist/index.js';
import { median, peakGflops, table } from './harness.mjs';
import { ortSteerable, steerableFlops, steerableOps, tfjsSteerable } from './steerable-peers.mjs';

const models = new URL('../models/', import.meta.url).pathname;

/** escnn's tutorial C8 model (its README example), as a config. */
export function tutorialConfig() {
  const reg = (n) => [['regular', n]];
  const block = (name, fi, fo, k, p) => [
    { type: 'r2conv', name, in: fi ? reg(fi) : ['trivial'], out: reg(fo), kernel: k, padding: p, bias: false },
    { type: 'innerBatchNorm', name: `${name}.bn`, in: reg(fo) }, { type: 'relu' },
  ];
  const layers = [
    ...block('block1', 0, 24, 7, 1), ...block('block2', 24, 48, 5, 2), { type: 'avgPoolAntialiased', sigma: 0.66, stride: 2 },
    ...block('block3', 48, 48, 5, 2), ...block('block4', 48, 96, 5, 2), { type: 'avgPoolAntialiased', sigma: 0.66, stride: 2 },
    ...block('block5', 96, 96, 5, 2), ...block('block6', 96, 64, 5, 1), { type: 'avgPoolAntialiased', sigma: 0.66, stride: 1, padding: 0 },
    { type: 'groupPooling', in: reg(64) }, { type: 'globalPool', reduce: 'mean' },
    { type: 'linear', name: 'fc1', in: 64, out: 64 }, { type: 'batchNorm', name: 'fc1.bn', channels: 64 }, { type: 'elu' },
    { type: 'linear', name: 'fc2', in: 64, out: 10 },
  ];
  return { format: 'equivariant.model', version: 1, name: 'C8 (escnn tutorial size)', group: 'rot2dOnR2(8)', input: { field: 'r2', channels: 1, reps: ['trivial'], size: [29, 29] }, layers };
}

/** Seeded weights for a config (coefficients and statistics), as safetensors bytes. */
export function tutorialWeights(config) {
  let s = 12345;
  const rnd = (n, scale = 0.05) => Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 2 * scale);
  const gs = eq.gspaces.gspaceByName(config.group);
  const named = {};
  for (const l of config.layers) {
    if (l.type === 'r2conv') {
      const conv = eq.nn.r2conv({ in: eq.gspaces.fieldTypeFromSpec(gs, l.in, 'in'), out: eq.gspaces.fieldTypeFromSpec(gs, l.out, 'out'), kernel: l.kernel, bias: false, initialize: false });
      named[`${l.name}.weights`] = { shape: [conv.basisDimension], data: rnd(conv.basisDimension) };
      conv.dispose();
    } else if (l.type === 'innerBatchNorm' || l.type === 'batchNorm') {
      const F = l.type === 'batchNorm' ? l.channels : eq.gspaces.fieldTypeFromSpec(gs, l.in, 'in').length;
      named[`${l.name}.weight`] = { shape: [F], data: rnd(F, 0.5).map((v) => 1 + v) };
      named[`${l.name}.bias`] = { shape: [F], data: rnd(F) };
      named[`${l.name}.running_mean`] = { shape: [F], data: rnd(F) };
      named[`${l.name}.running_var`] = { shape: [F], data: rnd(F, 0.5).map((v) => 1 + v) };
    } else if (l.type === 'linear') {
      named[`${l.name}.weight`] = { shape: [l.out, l.in], data: rnd(l.in * l.out, 0.2) };
      named[`${l.name}.bias`] = { shape: [l.out], data: rnd(l.out) };
    }
  }
  return eq.encodeSafetensors(named);
}

const rand = (n, seed) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
};

async function timeOne(run, minSeconds) {
  for (let i = 0; i < 2; i++) await run();
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minSeconds * 1000 || calls < 3) {
    await run();
    calls++;
  }
  return (performance.now() - t0) / 1000 / calls;
}

/** One cold build in this process: { loadMs, prepareMs }. */
async function buildChild() {
  const t0 = performance.now();
  await eq.init();
  const config = JSON.parse(readFileSync(process.argv[process.argv.indexOf('--build-child') + 1], 'utf8'));
  const bytes = readFileSync(process.argv[process.argv.indexOf('--build-child') + 2]);
  const t1 = performance.now();
  const model = await eq.loadModel({ config, weights: bytes });
  const t2 = performance.now();
  model.prepare();
  const t3 = performance.now();
  process.stdout.write(JSON.stringify({ initMs: t1 - t0, loadMs: t2 - t1, prepareMs: t3 - t2, totalMs: t3 - t1, wasmBytes: eq.memory().wasmBytes }));
  model.dispose();
}

export async function runSteerable({ passes = 3, only = ['C8', 'C8-TUT', 'BUILD'], peers = true, model = `${models}c8-fashion` } = {}) {
  await eq.init();
  const version = JSON.parse(readFileSync(new URL('../package.json', import.meta.url))).version;
  const workloads = [];
  const c8Path = model;
  if (only.includes('C8') && existsSync(`${c8Path}.json`)) workloads.push({ name: 'C8', model: await eq.loadModel({ config: `${c8Path}.json`, weights: `${c8Path}.safetensors` }), load: { config: `${c8Path}.json`, weights: `${c8Path}.safetensors` }, shape: [64, 1, 28, 28], minSeconds: 0.8 });
  const tutConfig = tutorialConfig();
  const tutWeights = only.some((w) => w === 'C8-TUT' || w === 'BUILD') ? tutorialWeights(tutConfig) : undefined;
  if (only.includes('C8-TUT')) workloads.push({ name: 'C8-TUT', model: await eq.loadModel({ config: tutConfig, weights: tutWeights }), load: { config: tutConfig, weights: tutWeights }, shape: [8, 1, 29, 29], minSeconds: 2 });
  for (const wl of workloads) {
    wl.ops = steerableOps(wl.model, wl.shape.slice(1));
    wl.flops = steerableFlops(wl.ops, wl.shape[0]);
    wl.input = rand(wl.shape.reduce((a, b) => a * b), 7);
    wl.x = eq.tensor(wl.input, wl.shape);
    const runOf = (m) => () => { const y = m.run(wl.x); const d = y.toArray(); y.dispose(); return d; };
    wl.direct = await eq.loadModel({ ...wl.load, algorithm: 'direct' });
    wl.engines = [
      { name: `equivariant ${version}`, run: runOf(wl.model), ours: true },
      { name: `equivariant ${version}, direct conv`, run: runOf(wl.direct), ours: true, directOnly: true },
      ...(peers ? [await tfjsSteerable(wl.ops, wl.input, wl.shape), await ortSteerable(wl.ops, wl.input, wl.shape)] : []),
    ];
    const ref = wl.engines[0].run();
    wl.agreement = 0;
    for (const e of wl.engines.slice(1)) {
      const y = e.nchw ? e.nchw(await e.run()) : await e.run();
      let err = 0, scale = 0;
      for (let i = 0; i < ref.length; i++) { err = Math.max(err, Math.abs(y[i] - ref[i])); scale = Math.max(scale, Math.abs(ref[i])); }
      if (!(err / scale < 1e-3)) throw new Error(`${wl.name}: ${e.name} disagrees with equivariant (relative error ${err / scale})`);
      wl.agreement = Math.max(wl.agreement, err / scale);
    }
    wl.times = wl.engines.map(() => []);
  }
  const builds = [];
  let buildFiles;
  if (only.includes('BUILD')) {
    mkdirSync(new URL('./out/', import.meta.url), { recursive: true });
    buildFiles = [fileURLToPath(new URL('./out/c8-tut.json', import.meta.url)), fileURLToPath(new URL('./out/c8-tut.safetensors', import.meta.url))];
    writeFileSync(buildFiles[0], JSON.stringify(tutConfig));
    writeFileSync(buildFiles[1], tutWeights);
  }
  const peaks = [];
  for (let p = 0; p < passes; p++) {
    peaks.push(peakGflops(3));
    for (const wl of workloads) for (const [i, e] of wl.engines.entries()) wl.times[i].push(await timeOne(e.run, wl.minSeconds));
    if (buildFiles) builds.push(JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--build-child', ...buildFiles], { encoding: 'utf8' })));
    process.stderr.write(`pass ${p + 1}/${passes}: peak ${peaks.at(-1).toFixed(1)} GFLOP/s; ${workloads.map((wl) => `${wl.name} ${wl.times.map((t) => (t.at(-1) * 1e3).toFixed(1)).join('/')} ms`).join('; ')}${builds.length ? `; BUILD ${builds.at(-1).loadMs.toFixed(0)} + ${builds.at(-1).prepareMs.toFixed(0)} ms` : ''}\n`);
  }
  const peak = median(peaks);
  const range = (xs, f = (v) => v.toFixed(1)) => `${f(Math.min(...xs))}-${f(Math.max(...xs))}`;
  console.log(`node ${process.version}, one thread, ${passes} passes; SIMD128 mul+add peak: median ${peak.toFixed(1)} GFLOP/s (range ${range(peaks)})\n`);
  const rows = [], results = [];
  for (const wl of workloads) {
    const ours = wl.times[0];
    wl.engines.forEach((e, i) => {
      const t = median(wl.times[i]);
      const executed = e.ours ? (e.directOnly ? wl.flops.direct : wl.flops.executed) : wl.flops.direct;
      const ratios = wl.times[i].map((ti, k) => ti / ours[k]);
      rows.push([wl.name, e.name, `${(t * 1e3).toFixed(1)} (${range(wl.times[i].map((v) => v * 1e3))})`, (executed / t / 1e9).toFixed(1), (wl.flops.direct / t / 1e9).toFixed(1), `${((100 * wl.flops.direct) / t / 1e9 / peak).toFixed(0)}%`, (wl.shape[0] / t).toFixed(0), i === 0 ? '1.00' : `${median(ratios).toFixed(2)} (${range(ratios, (v) => v.toFixed(2))})`]);
      results.push({ workload: wl.name, engine: e.name, msMedian: t * 1e3, times: wl.times[i], executedGflops: executed / t / 1e9, directGflops: wl.flops.direct / t / 1e9, imagesPerSecond: wl.shape[0] / t, oursSpeedup: median(ratios) });
    });
  }
  if (rows.length) {
    console.log(table(['workload', 'engine', 'ms (median, range)', 'executed GFLOP/s', 'direct-equivalent GFLOP/s', 'of peak (direct-eq.)', 'img/s', 'equivariant is x faster (median, range)'], rows));
    console.log(`\nGFLOP per call (direct-equivalent / executed by equivariant): ${workloads.map((w) => `${w.name} ${(w.flops.direct / 1e9).toFixed(3)} / ${(w.flops.executed / 1e9).toFixed(3)}`).join(', ')}; outputs agree across engines to ${Math.max(...workloads.map((w) => w.agreement)).toExponential(1)} relative.`);
    console.log('Peers run the expanded filters as direct convolutions (their executed FLOPs are the direct-equivalent ones).');
  }
  if (builds.length) {
    const b = (k) => `${median(builds.map((x) => x[k])).toFixed(0)} (${range(builds.map((x) => x[k]), (v) => v.toFixed(0))})`;
    console.log(`\nBUILD (C8-TUT, fresh process per pass): loadModel ${b('loadMs')} ms, prepare ${b('prepareMs')} ms, total ${b('totalMs')} ms (median, range); wasm memory after: ${(median(builds.map((x) => x.wasmBytes)) / 2 ** 20).toFixed(0)} MiB`);
    results.push({ workload: 'BUILD', builds });
  }
  for (const wl of workloads) { wl.x.dispose(); wl.model.dispose(); for (const e of wl.engines) await e.dispose?.(); }
  return { peaks, results };
}

if (process.argv.includes('--build-child')) await buildChild();
else if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const arg = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
  const { peaks, results } = await runSteerable({ passes: Number(arg('--passes', 3)), only: arg('--only', 'C8,C8-TUT,BUILD').split(','), peers: !argv.includes('--no-peers'), ...(argv.includes('--model') ? { model: arg('--model') } : {}) });
  const out = arg('--json', null);
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, peaks, results }, null, 2));
  }
}
