#!/usr/bin/env node
// `equivariant batch` throughput: the P4CNN over the Fashion-MNIST test set (10,000 images,
// scaled to [0, 1] as in training, written with eq.encodeSafetensors as docs/scaling.md's example
// does), timed as a user runs it, from
// the command's start to its exit, with
//   - the local pool, 1 worker and 2 workers (`batch --workers N`);
//   - BullMQ on Redis with 2 worker processes on this machine (`worker --workers 1` each, started
//     once and warmed up; redis-server on a free loopback port), so the same 2 cores compute.
// Every pass runs every engine once, in turn; tables give medians and ranges over passes, and the
// queue's cost per chunk as (time through Redis - time of the local pool with 2 workers) / chunks,
// from the same pass. The outputs of all engines must be identical (SHA-256) or the run fails.
// Usage: node bench/batch.mjs [--passes N] [--batch 256] [--concurrency C] [--wait-quiet S] [--json FILE]
// (--concurrency: chunks each worker process takes at a time; default the worker's own default;
// --wait-quiet: before each pass, wait up to S seconds for other processes to leave the machine idle)
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { availableParallelism } from 'node:os';
import * as eq from '../dist/index.js';
import { DATASET_DIR } from '../bin/data.mjs';
import { median, table } from './harness.mjs';

const argv = process.argv.slice(2);
const arg = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const passes = Number(arg('--passes', 5));
const batch = Number(arg('--batch', 256));
const jsonOut = arg('--json', null);
const concurrency = arg('--concurrency', null);
const waitQuiet = Number(arg('--wait-quiet', 0));
const root = new URL('..', import.meta.url).pathname;
const cli = `${root}bin/equivariant.mjs`;
const out = `${root}bench/out`;
const model = ['--config', `${root}models/p4cnn-fashion.json`, '--weights', `${root}models/p4cnn-fashion.safetensors`];
mkdirSync(out, { recursive: true });

// The data: the full test set, scaled as in training (bin/data.mjs does the same for the demo).
const images = `${DATASET_DIR}/t10k-images-idx3-ubyte.gz`;
if (!existsSync(images)) {
  console.error(`bench/batch.mjs needs the Fashion-MNIST test set at ${images}: npm run bench:batch installs it (Debian's dataset-fashion-mnist)`);
  process.exit(1);
}
const idx = gunzipSync(readFileSync(images));
const n = idx.readUInt32BE(4);
const pixels = Float32Array.from(idx.subarray(16), (v) => v / 255);
const labels = gunzipSync(readFileSync(`${DATASET_DIR}/t10k-labels-idx1-ubyte.gz`)).subarray(8);
const input = `${out}/fashion-test.safetensors`;
writeFileSync(input, eq.encodeSafetensors({ images: { shape: [n, 1, 28, 28], data: pixels } }));
const chunks = Math.ceil(n / batch);

// Redis and two worker processes.
const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});
if (spawnSync('redis-server', ['--version']).status !== 0) {
  console.error('bench/batch.mjs needs redis-server: npm run bench:batch installs it (Debian\'s redis-server)');
  process.exit(1);
}
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--loglevel', 'warning'], { stdio: 'ignore' });
const url = `redis://127.0.0.1:${port}`;
for (let t0 = Date.now(); ;) {
  const up = await new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
  });
  if (up) break;
  if (Date.now() - t0 > 10_000) throw new Error('redis-server did not start');
  await new Promise((r) => setTimeout(r, 50));
}
const workers = [0, 1].map(() => {
  const w = spawn(process.execPath, [cli, 'worker', '--queue', url, '--workers', '1', '--quiet', ...(concurrency ? ['--concurrency', concurrency] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  w.ready = new Promise((resolve) => w.stdout.on('data', (d) => { if (String(d).includes('serving queue')) resolve(); }));
  return w;
});
await Promise.all(workers.map((w) => w.ready));
const stopAll = () => { for (const p of [...workers, redis]) p.kill('SIGKILL'); };
process.on('exit', stopAll);

// CPU accounting (Linux): busy ticks of the machine, and of this process tree (this process,
// its reaped children such as each `batch` run, and the live redis-server and workers).
const ncpu = availableParallelism();
const machineBusy = () => {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return v.slice(0, 8).reduce((a, b) => a + b, 0) - v[3] - v[4]; // all but idle and iowait
};
const ticksOf = (pid, withChildren) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]) + (withChildren ? Number(f[13]) + Number(f[14]) : 0);
};
const ourBusy = () => ticksOf('self', true) + [redis, ...workers].reduce((s, p) => s + ticksOf(p.pid, false), 0);
const HZ = 100; // USER_HZ on Linux

/**
 * Runs `batch` to its end: wall seconds, the seconds it reports for the compute, the output's
 * SHA-256, and the share of the machine's CPU that other processes used meanwhile.
 */
function runBatch(extra, output) {
  rmSync(output, { force: true });
  return new Promise((resolve, reject) => {
    const m0 = machineBusy(), o0 = ourBusy(), t0 = performance.now();
    const p = spawn(process.execPath, [cli, 'batch', ...model, '--input', input, '--output', output, '--batch', String(batch), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code) => {
      const wall = (performance.now() - t0) / 1000;
      const cpu = (ourBusy() - o0) / HZ;
      const others = Math.max(0, (machineBusy() - m0) / HZ - cpu) / (wall * ncpu);
      if (code !== 0) return reject(new Error(`batch ${extra.join(' ')} exited with ${code}:\n${stderr}`));
      resolve({ wall, cpu, others, compute: Number(stdout.match(/items\/s over ([\d.]+) s/)[1]), sha: stdout.match(/SHA-256 ([0-9a-f]{64})/)[1] });
    });
  });
}

let job = 0;
const engines = [
  { name: 'local pool, 1 worker', args: () => ['--workers', '1'] },
  { name: 'local pool, 2 workers', args: () => ['--workers', '2'] },
  { name: 'BullMQ + Redis, 2 worker processes', args: () => ['--queue', url, '--name', `bench-${process.pid}-${job++}`] },
];
// Warm-up: one untimed run of each (the page cache, the workers' model).
for (const e of engines) await runBatch(e.args(), `${out}/batch-warmup.safetensors`);

/** Waits (at most `seconds`) until other processes use < 5% of the machine for 3 s in a row. */
async function untilQuiet(seconds) {
  const t0 = performance.now();
  for (let calm = 0; calm < 3 && performance.now() - t0 < seconds * 1000;) {
    const m0 = machineBusy(), o0 = ourBusy();
    await new Promise((r) => setTimeout(r, 1000));
    calm = (machineBusy() - m0 - (ourBusy() - o0)) / HZ / ncpu < 0.05 ? calm + 1 : 0;
  }
}

const results = engines.map(() => ({ wall: [], compute: [], cpu: [], others: [] }));
const shas = new Set();
for (let p = 0; p < passes; p++) {
  if (waitQuiet) await untilQuiet(waitQuiet);
  for (const [i, e] of engines.entries()) {
    const r = await runBatch(e.args(), `${out}/batch-${i}.safetensors`);
    results[i].wall.push(r.wall);
    results[i].compute.push(r.compute);
    results[i].others.push(r.others);
    results[i].cpu.push(r.cpu);
    shas.add(r.sha);
  }
  process.stderr.write(`pass ${p + 1}/${passes}: ${results.map((r) => `${Math.round(n / r.wall.at(-1))}`).join(' / ')} items/s (wall); ` +
    `CPU used by other processes: ${results.map((r) => `${Math.round(100 * r.others.at(-1))}%`).join(' / ')}\n`);
}
if (shas.size !== 1) throw new Error(`the engines' outputs differ: ${[...shas].join(', ')}`);

// The output is the model's: accuracy on the upright test set, as a sanity check.
const { tensors } = eq.parseSafetensors(readFileSync(`${out}/batch-0.safetensors`));
const logits = tensors.get('output').data;
let correct = 0;
for (let i = 0; i < n; i++) {
  let best = 0;
  for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
  if (best === labels[i]) correct++;
}

const QUIET = 0.05; // a pass is quiet when other processes used under 5% of the machine during each of its runs
const quiet = results[0].wall.map((_, k) => results.every((r) => r.others[k] < QUIET));
const report = (title, keep) => {
  const ks = quiet.map((_, k) => k).filter(keep);
  console.log(`\n${title} (${ks.length} of ${passes} passes)\n`);
  if (!ks.length) return;
  const pick = (xs) => ks.map((k) => xs[k]);
  const rates = (xs) => pick(xs).map((t) => n / t);
  const med = (xs) => median(pick(xs));
  const span = (xs, f) => `${f(Math.min(...pick(xs)))}-${f(Math.max(...pick(xs)))}`;
  console.log(table(['engine', 'items/s, wall (median)', 'range', 'items/s, compute (median)', 'range', 'wall s (median)', 'CPU s (median)', 'CPU of others (median)'], engines.map((e, i) => [
    e.name, Math.round(median(rates(results[i].wall))), span(results[i].wall.map((t) => n / t), Math.round),
    Math.round(median(rates(results[i].compute))), span(results[i].compute.map((t) => n / t), Math.round),
    med(results[i].wall).toFixed(2), med(results[i].cpu).toFixed(2), `${Math.round(100 * med(results[i].others))}%`,
  ])));
  const perPass = (f) => results[0].wall.map((_, k) => f(k));
  const ratioWall = perPass((k) => results[1].wall[k] / results[2].wall[k]);
  const ratioCompute = perPass((k) => results[1].compute[k] / results[2].compute[k]);
  const overhead = perPass((k) => ((results[2].wall[k] - results[1].wall[k]) / chunks) * 1000);
  const cpuOverhead = perPass((k) => ((results[2].cpu[k] - results[1].cpu[k]) / chunks) * 1000);
  const speedup = perPass((k) => results[0].wall[k] / results[1].wall[k]);
  const stat = (xs, d, unit) => `${median(pick(xs)).toFixed(d)}${unit} (range ${Math.min(...pick(xs)).toFixed(d)} to ${Math.max(...pick(xs)).toFixed(d)})`;
  console.log(`\nBullMQ + Redis (2 processes) vs local pool (2 workers): ${stat(ratioWall, 3, 'x')} wall, ${stat(ratioCompute, 3, 'x')} compute (target >= 0.9)`);
  console.log(`queue cost per chunk, (wall through Redis - wall of the local pool, 2 workers) / ${chunks} chunks: ${stat(overhead, 1, ' ms')}`);
  console.log(`queue CPU per chunk, (CPU of producer + workers + redis-server - CPU of the local pool, 2 workers) / ${chunks} chunks: ${stat(cpuOverhead, 1, ' ms')}`);
  console.log(`local pool, 2 workers vs 1: ${stat(speedup, 2, 'x')} wall`);
};
console.log(`node ${process.version}, P4CNN over ${n} Fashion-MNIST test images (float32 safetensors, [0, 1]), --batch ${batch} (${chunks} chunks), ${passes} passes; worker processes: --workers 1, ${concurrency ? `--concurrency ${concurrency}` : 'default concurrency (2)'}`);
console.log('"compute" is the time the command reports from its workers being ready to its last chunk; "wall" is the whole command, start-up included;');
console.log('"CPU s" is the CPU time of the command and (for Redis) of redis-server and the worker processes during the run.');
report('All passes', () => true);
if (quiet.every(Boolean)) console.log(`\nEvery pass was quiet: other processes used < ${100 * QUIET}% of the machine during each run.`);
else report(`Quiet passes: other processes used < ${100 * QUIET}% of the machine during each run of the pass`, (k) => quiet[k]);
console.log(`\nevery engine wrote the same bytes (SHA-256 ${[...shas][0]}); top-1 accuracy of the output: ${((100 * correct) / n).toFixed(2)}%`);
if (jsonOut) {
  mkdirSync(new URL('.', `file://${jsonOut}`).pathname, { recursive: true });
  writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), node: process.version, n, batch, chunks, passes, engines: engines.map((e, i) => ({ name: e.name, ...results[i] })), sha256: [...shas][0] }, null, 2));
}
stopAll();
process.exit(0);
