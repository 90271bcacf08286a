// `npx equivariant bench`: the standard workloads of workloads.md (PEAK, GEMM, L1, L2, P4CNN),
// with the peers when they are installed, printed as tables and written as JSON
// (schema `equivariant-bench/1`, docs/bench.md) so runs on different machines can be compared.
import { writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { runGemm } from '../bench/gemm.mjs';
import { runGcnn } from '../bench/gcnn.mjs';
import { median } from '../bench/harness.mjs';

async function peersInstalled() {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    await import('onnxruntime-web');
    return true;
  } catch {
    return false;
  }
}

export async function main(args = []) {
  const arg = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
  const passes = Number(arg('--passes', 3));
  const out = arg('--json', 'bench-results.json');
  const only = arg('--only', 'GEMM,L1,L2,P4CNN,P4CNN-1').split(',');
  const peers = !args.includes('--no-peers') && (await peersInstalled());
  if (!peers) console.log('(peers not installed or --no-peers: measuring equivariant only; `npm i -D @tensorflow/tfjs-core @tensorflow/tfjs-backend-wasm onnxruntime-web` adds them)\n');
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const report = {
    schema: 'equivariant-bench/1',
    date: new Date().toISOString(),
    package: { name: pkg.name, version: pkg.version },
    machine: { runtime: `node ${process.version}`, platform: process.platform, arch: process.arch, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '' },
    passes,
    peakGflops: { median: 0, passes: [] },
    results: [],
  };
  const peaks = [];
  if (only.includes('GEMM')) {
    const g = await runGemm({ passes });
    peaks.push(...g.peaks);
    for (const r of g.rows) report.results.push({ workload: r.name, engine: `${pkg.name} ${pkg.version}`, threads: 1, shape: [r.m, r.n, r.k], gflops: r.gflops, ofPeak: r.ratio });
    console.log('');
  }
  const gcnnOnly = only.filter((w) => ['L1', 'L2', 'P4CNN', 'P4CNN-1'].includes(w));
  if (gcnnOnly.length) {
    const g = await runGcnn({ passes, only: gcnnOnly, peers });
    peaks.push(...g.peaks);
    for (const r of g.results) report.results.push({ workload: r.workload, engine: r.engine, threads: 1, msMedian: r.msMedian, gflops: r.gflops, ofPeak: r.ofPeak, imagesPerSecond: r.imagesPerSecond, equivariantSpeedup: r.oursSpeedup });
  }
  report.peakGflops = { median: median(peaks), passes: peaks };
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  console.log(`\nwrote ${out} (schema equivariant-bench/1, docs/bench.md)`);
}
