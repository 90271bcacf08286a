// Shared benchmark helpers: timing with warm-up, medians, and the SIMD128 peak measured in the
// same process (every figure is reported as a ratio to peers or peak measured in the same run).
import * as eq from '../dist/index.js';

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Seconds per call of `fn`: `rounds` medians of batches lasting at least `minSeconds`. */
export function time(fn, { rounds = 5, minSeconds = 0.3, warmup = 2 } = {}) {
  for (let i = 0; i < warmup; i++) fn();
  const per = [];
  for (let r = 0; r < rounds; r++) {
    let calls = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < minSeconds * 1000) {
      fn();
      calls++;
      t = performance.now();
    }
    per.push((t - t0) / 1000 / calls);
  }
  return { median: median(per), all: per };
}

/** GFLOP/s of the SIMD multiply + add peak kernel, one thread: the best over chain counts. */
export function peakGflops(rounds = 5, detail = null) {
  const iters = 1_000_000;
  let best = 0;
  for (const chains of eq.diagnostics.PEAK_CHAINS) {
    const flops = eq.diagnostics.peak(iters, chains);
    const t = time(() => eq.diagnostics.peak(iters, chains), { rounds, minSeconds: 0.1 });
    const g = flops / t.median / 1e9;
    if (detail) detail[chains] = g;
    best = Math.max(best, g);
  }
  return best;
}

export function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(w[i])).join(' | ')} |`;
  return [line(headers), `| ${w.map((x) => '-'.repeat(x)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

export function machine() {
  return { node: process.version, arch: process.arch, cpus: (globalThis.navigator?.hardwareConcurrency ?? 0) };
}
