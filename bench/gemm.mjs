#!/usr/bin/env node
// GEMM against the SIMD128 multiply+add peak, one thread, in one run.
// Shapes: 512^3, and the im2col shapes of the L1 and L2 workloads (../shared/docs/workloads.md):
//   L1: pixels 64*28*28 = 50176, K = 40*3*3 = 360, N = 40;  L2: 8*32*32 = 8192, K = 128*9 = 1152, N = 128.
// Each pass measures the peak, then every shape; the table reports medians over passes of the
// GFLOP/s and of the ratio to the peak measured in the same pass.
// Usage: node bench/gemm.mjs [--passes N] [--json FILE]
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import * as eq from '../dist/index.js';
import { median, peakGflops, table, time } from './harness.mjs';

/** Runs the GEMM shapes against the peak; prints the table; returns `{ peaks, rows }`. */
export async function runGemm({ passes = 5 } = {}) {
await eq.init();
const SHAPES = [
  { name: 'GEMM 512', m: 512, n: 512, k: 512 },
  { name: 'GEMM L1 im2col', m: 64 * 28 * 28, n: 40, k: 360 },
  { name: 'GEMM L2 im2col', m: 8 * 32 * 32, n: 128, k: 1152 },
];
const fill = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.618 + s));
const operands = SHAPES.map(({ m, n, k }) => ({
  a: eq.tensor(fill(m * k, 1), [m, k]),
  b: eq.packMatrix(eq.tensor(fill(k * n, 2), [k, n])),
  bias: eq.tensor(fill(n, 3), [n]),
}));

const peaks = [];
const results = SHAPES.map(() => ({ gflops: [], ratio: [] }));
for (let p = 0; p < passes; p++) {
  const peak = peakGflops(3);
  peaks.push(peak);
  SHAPES.forEach(({ m, n, k }, i) => {
    const { a, b, bias } = operands[i];
    const t = time(() => eq.matmul(a, b, { bias, relu: true }).dispose(), { rounds: 3, minSeconds: 0.25 });
    const gflops = (2 * m * n * k) / t.median / 1e9;
    results[i].gflops.push(gflops);
    results[i].ratio.push(gflops / peak);
  });
  process.stderr.write(`pass ${p + 1}/${passes}: peak ${peak.toFixed(1)}, ${results.map((r) => r.gflops.at(-1).toFixed(1)).join(' / ')} GFLOP/s\n`);
}
const rows = SHAPES.map((s, i) => ({ ...s, gflops: median(results[i].gflops), ratio: median(results[i].ratio), ratioMin: Math.min(...results[i].ratio), ratioMax: Math.max(...results[i].ratio) }));
console.log(`node ${process.version}; ${passes} passes; SIMD128 mul+add peak (one thread): median ${median(peaks).toFixed(1)} GFLOP/s (range ${Math.min(...peaks).toFixed(1)}-${Math.max(...peaks).toFixed(1)})\n`);
console.log(table(['workload', 'M x N x K', 'GFLOP/s (median)', 'of peak (median)', 'of peak (range)'],
  rows.map((r) => [r.name, `${r.m} x ${r.n} x ${r.k}`, r.gflops.toFixed(1), `${(100 * r.ratio).toFixed(0)}%`, `${(100 * r.ratioMin).toFixed(0)}-${(100 * r.ratioMax).toFixed(0)}%`])));
for (const o of operands) { o.a.dispose(); o.b.dispose(); o.bias.dispose(); }
return { peaks, rows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const arg = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
  const jsonOut = arg('--json', null);
  const { peaks, rows } = await runGemm({ passes: Number(arg('--passes', 5)) });
  if (jsonOut) {
    mkdirSync(dirname(jsonOut), { recursive: true });
    writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), node: process.version, peakGflops: peaks, rows }, null, 2));
  }
}
