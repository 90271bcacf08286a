#!/usr/bin/env node
// Where a model's time goes: each step of its compiled plan timed on its own (median of runs).
// Usage: node bench/profile.mjs [config.json weights.safetensors] [--batch N]
import * as eq from '../dist/index.js';
import { median, table } from './harness.mjs';

const argv = process.argv.slice(2);
const fx = new URL('../models/', import.meta.url).pathname;
const [config = `${fx}p4cnn-fashion.json`, weights = `${fx}p4cnn-fashion.safetensors`] = argv.filter((a) => !a.startsWith('--') && !/^\d+$/.test(a));
const batch = Number(argv[argv.indexOf('--batch') + 1]) || 64;
await eq.init();
const model = await eq.loadModel({ config, weights });
const steps = model.network.compile();
const [h, w] = model.config.input.size ?? [28, 28];
let x = eq.tensor(Float32Array.from({ length: batch * model.config.input.channels * h * w }, (_, i) => Math.sin(i)), [batch, model.config.input.channels, h, w]);
const rows = [];
let total = 0;
for (const s of steps) {
  const times = [];
  let y;
  for (let r = 0; r < 15; r++) {
    const t0 = performance.now();
    y = s.run(x);
    times.push(performance.now() - t0);
    if (r < 14) y.dispose();
  }
  const t = median(times);
  total += t;
  rows.push([s.layers.map((l) => l.label()).join(' + '), `[${x.shape.join(', ')}] -> [${y.shape.join(', ')}]`, t.toFixed(2)]);
  x.dispose();
  x = y;
}
rows.push(['total', '', total.toFixed(2)]);
console.log(`${model.name}, batch ${batch}, one thread (ms, median of 15)\n`);
console.log(table(['step', 'shapes', 'ms'], rows));
x.dispose();
