#!/usr/bin/env node
// The general operator, one thread (docs/workloads.md):
//   LIFT-SE3        lift 1,024 points (uniform in a 10-cube) to SE(3) x 4 samples, the 32 nearest
//                   of every element, and the relative logs of those 131,072 pairs; also global
//   MLP-vs-KERNEL   L1-sized input (p4, batch 64, 10 -> 10, 28x28, 3x3 'same'): omega.kernel,
//                   omega.mlp (hidden [32, 32]) without features (evaluated once into a table,
//                   then the fast path), and with f(g), f(g') (the engine, psi per pair)
//   ENGINE-vs-DENSE a group convolution on S4 (|G| = 24), 32 -> 32 channels, batch 64: the dense
//                   Cayley product against the general engine on the same omega
// Each pass measures every workload; tables report medians and ranges over passes.
// Usage: node bench/phi.mjs [--passes N] [--json FILE] [--only LIFT,MLP,DENSE] [--no-global]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as eq from '../dist/index.js';
import { median, peakGflops, table, time } from './harness.mjs';

const rand = (n, seed) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1);
};
const range = (xs) => `${Math.min(...xs).toFixed(xs[0] < 10 ? 2 : 1)}-${Math.max(...xs).toFixed(xs[0] < 10 ? 2 : 1)}`;

export async function runPhi({ passes = 5, only = ['LIFT', 'MLP', 'DENSE'], global = true } = {}) {
  await eq.init();
  const rows = {};
  const add = (key, v) => (rows[key] ??= []).push(v);
  const se3 = eq.groups.se3();
  const pts = Float64Array.from(rand(1024 * 3, 7), (v) => v * 5);
  let l1;
  if (only.includes('MLP')) {
    const x = eq.tensor(rand(64 * 10 * 4 * 28 * 28, 3), [64, 10, 4, 28, 28]);
    const mk = (omega) => eq.nn.phi({ group: 'p4', omega, seed: 2 });
    l1 = {
      x,
      kernel: mk(eq.omega.kernel({ in: 10, out: 10, size: 3, padding: 'same' })),
      mlp: mk(eq.omega.mlp({ in: 10, out: 10, hidden: [32, 32] })),
      mlpGeneral: eq.nn.phi({ group: 'p4', omega: eq.omega.mlp({ in: 10, out: 10, hidden: [32, 32] }), seed: 2, path: 'general' }),
      mlpFeatures: mk(eq.omega.mlp({ in: 10, out: 10, hidden: [32, 32], features: 'both' })),
    };
  }
  let dense;
  if (only.includes('DENSE')) {
    const omega = eq.omega.kernel({ in: 32, out: 32 });
    dense = {
      x: eq.tensor(rand(64 * 32 * 24, 5), [64, 32, 24]),
      fast: eq.nn.phi({ group: 'S4', omega, seed: 4 }),
      general: eq.nn.phi({ group: 'S4', omega, seed: 4, path: 'general' }),
    };
  }
  const run = (layer, x) => () => { const y = layer.run(x); y.toArray(); y.dispose(); };
  for (let pass = 0; pass < passes; pass++) {
    const peak = peakGflops(3);
    add('peak', peak);
    const line = [`pass ${pass + 1}/${passes}: peak ${peak.toFixed(1)} GFLOP/s`];
    if (only.includes('LIFT')) {
      const lift = time(() => se3.lift(pts, { samples: 4, seed: pass + 1 }), { rounds: 3, minSeconds: 0.2 });
      const lifted = se3.lift(pts, { samples: 4, seed: pass + 1 });
      const d = new eq.domains.LiftedDomain(lifted);
      const knn = time(() => d.build({ k: 32 }).dispose(), { rounds: 3, minSeconds: 0.3 });
      const all = time(() => { const l = se3.lift(pts, { samples: 4, seed: pass + 1 }); new eq.domains.LiftedDomain(l).build({ k: 32 }).dispose(); }, { rounds: 3, minSeconds: 0.3 });
      add('lift', lift.median * 1e3);
      add('knn', knn.median * 1e3);
      add('liftKnn', all.median * 1e3);
      line.push(`LIFT-SE3 lift ${(lift.median * 1e3).toFixed(1)} + kNN/logs ${(knn.median * 1e3).toFixed(1)} = ${(all.median * 1e3).toFixed(1)} ms`);
      if (global) {
        const g = time(() => d.build('global').dispose(), { rounds: 1, minSeconds: 0.001, warmup: 0 });
        add('global', g.median * 1e3);
        line.push(`global ${(g.median * 1e3).toFixed(0)} ms`);
      }
    }
    if (l1) {
      const k = time(run(l1.kernel, l1.x), { rounds: 3, minSeconds: 0.3 });
      const m = time(run(l1.mlp, l1.x), { rounds: 3, minSeconds: 0.3 });
      const mg = time(run(l1.mlpGeneral, l1.x), { rounds: 1, minSeconds: 0.5, warmup: 1 });
      const mf = time(run(l1.mlpFeatures, l1.x), { rounds: 1, minSeconds: 0.001, warmup: 0 });
      add('l1Kernel', k.median * 1e3); add('l1Mlp', m.median * 1e3); add('l1MlpGeneral', mg.median * 1e3); add('l1MlpFeatures', mf.median * 1e3);
      line.push(`L1 kernel ${(k.median * 1e3).toFixed(1)} / mlp ${(m.median * 1e3).toFixed(1)} / mlp engine ${(mg.median * 1e3).toFixed(0)} / mlp+features ${(mf.median * 1e3).toFixed(0)} ms`);
    }
    if (dense) {
      const f = time(run(dense.fast, dense.x), { rounds: 3, minSeconds: 0.3 });
      const g = time(run(dense.general, dense.x), { rounds: 3, minSeconds: 0.3 });
      add('denseFast', f.median * 1e3); add('denseGeneral', g.median * 1e3); add('denseRatio', g.median / f.median);
      line.push(`S4 dense ${(f.median * 1e3).toFixed(2)} / engine ${(g.median * 1e3).toFixed(2)} ms (${(g.median / f.median).toFixed(2)}x)`);
    }
    console.log(line.join('; '));
  }
  const out = [];
  const fmt = (k, d = 1) => (rows[k] ? `${median(rows[k]).toFixed(d)} (${range(rows[k])})` : '-');
  console.log(`\nnode ${process.version}, one thread, ${passes} passes; SIMD128 mul+add peak: median ${median(rows.peak).toFixed(1)} GFLOP/s (range ${range(rows.peak)})\n`);
  if (rows.lift) {
    out.push(['LIFT-SE3: lift 1,024 x 4', 'ms', fmt('lift', 2)]);
    out.push(['LIFT-SE3: 32 nearest + relative logs (131,072 pairs)', 'ms', fmt('knn', 2)]);
    out.push(['LIFT-SE3: lift + neighbours + logs', 'ms', fmt('liftKnn', 2)]);
    if (rows.global) out.push(['LIFT-SE3 global: all 16.8 M pairs + logs', 'ms', fmt('global', 0)]);
  }
  if (rows.l1Kernel) {
    const gflop = 1.445 - 64 * 40 * 28 * 28 * 1e-9; // the ReLU-free layer: 2 MAC x direct conv
    out.push(['L1 omega.kernel (fast path)', 'ms', fmt('l1Kernel')]);
    out.push(['L1 omega.mlp [32, 32], no features (table, fast path)', 'ms', fmt('l1Mlp')]);
    out.push(['L1 omega.mlp [32, 32], no features, engine (psi per pair)', 'ms', fmt('l1MlpGeneral', 0)]);
    out.push(['L1 omega.mlp [32, 32], f(g) and f(g\') (engine)', 'ms', fmt('l1MlpFeatures', 0)]);
    void gflop;
  }
  if (rows.denseFast) {
    out.push(['S4 32->32 batch 64: dense Cayley product', 'ms', fmt('denseFast', 2)]);
    out.push(['S4 32->32 batch 64: general engine', 'ms', fmt('denseGeneral', 2)]);
    out.push(['S4: engine / dense', 'x', fmt('denseRatio', 2)]);
  }
  console.log(table(['workload', 'unit', 'median (range)'], out));
  for (const v of [l1, dense]) if (v) for (const t of Object.values(v)) t.dispose();
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
  const rows = await runPhi({ passes: Number(opt('--passes', 5)), only: opt('--only', 'LIFT,MLP,DENSE').split(','), global: !args.includes('--no-global') });
  const json = opt('--json');
  if (json) {
    mkdirSync(dirname(json), { recursive: true });
    writeFileSync(json, JSON.stringify({ schema: 'equivariant-bench-phi/1', node: process.version, rows }, null, 2));
  }
}
