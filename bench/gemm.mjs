#!/usr/bin/env node
// GEMM against the SIMD128 multiply+add peak, one thread, in one run.
// Shapes: 512^3, and the im2col shapes of the L1 and L2 workloads (../shared/docs/workloads.md):
//   L1: pixels 64*28*28 = 50176, K = 40*3*3 = 360, N = 40;  L2: 8*32*32 = 8192, K = 128*9 = 1152, N = 128.
// Usage: node bench/gemm.mjs [--rounds N] [--json FILE]
import { writeFileSync, mkdirSync } from 'node:fs';
import * as eq from '../dist/index.js';
import { peakGflops, table, time } from './harness.mjs';

const argv = process.argv.slice(2);
const rounds = Number(argv[argv.indexOf('--rounds') + 1]) || 5;
const jsonOut = argv.includes('--json') ? argv[argv.indexOf('--json') + 1] : null;

await eq.init();
const SHAPES = [
  { name: 'GEMM 512', m: 512, n: 512, k: 512 },
  { name: 'GEMM L1 im2col', m: 64 * 28 * 28, n: 40, k: 360 },
  { name: 'GEMM L2 im2col', m: 8 * 32 * 32, n: 128, k: 1152 },
];

const fill = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.618 + s));
const peak0 = peakGflops(rounds);
const rows = [];
for (const { name, m, n, k } of SHAPES) {
  const a = eq.tensor(fill(m * k, 1), [m, k]);
  const b = eq.packMatrix(eq.tensor(fill(k * n, 2), [k, n]));
  const bias = eq.tensor(fill(n, 3), [n]);
  const t = time(() => eq.matmul(a, b, { bias, relu: true }).dispose(), { rounds });
  const gflops = (2 * m * n * k) / t.median / 1e9;
  rows.push({ name, m, n, k, ms: t.median * 1e3, gflops });
  eq.tidy(() => [a, b, bias].forEach((x) => x.dispose()));
}
const peak1 = peakGflops(rounds);
const peak = (peak0 + peak1) / 2;
console.log(`SIMD128 mul+add peak (one thread, measured before and after): ${peak0.toFixed(1)} / ${peak1.toFixed(1)} GFLOP/s\n`);
console.log(table(['workload', 'M x N x K', 'ms (median)', 'GFLOP/s', '% of peak'],
  rows.map((r) => [r.name, `${r.m} x ${r.n} x ${r.k}`, r.ms.toFixed(2), r.gflops.toFixed(1), `${((100 * r.gflops) / peak).toFixed(0)}%`])));
if (jsonOut) {
  mkdirSync(new URL('.', `file://${jsonOut}`).pathname, { recursive: true });
  writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), node: process.version, peakGflops: peak, rows }, null, 2));
}
