// `npm run demo` / `npx equivariant demo`: the main job.
//
// Loads the two shipped models (a P4CNN and a plain CNN of about the same size, both trained
// by tools/pytorch/train.py on upright Fashion-MNIST only), evaluates them on the test set
// rotated by every multiple of 15 degrees, and shows what equivariance buys: the P4CNN's accuracy
// is identical at 0/90/180/270 degrees and its predictions are exactly invariant there, while the
// plain CNN's collapse. Prints the table, the equivariance errors, agreement with PyTorch and
// throughput; writes an SVG plot.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as eq from '../dist/index.js';
import { loadTestSet, rotateBilinear } from './data.mjs';
import { lineChart } from './plot.mjs';
import { progress } from './progress.mjs';
import { table } from '../bench/harness.mjs';

const models = new URL('../models/', import.meta.url).pathname;
const ANGLES = Array.from({ length: 24 }, (_, i) => i * 15);
const NAMES = { p4cnn: 'P4CNN (p4)', z2cnn: 'plain CNN (z2)' };

/** The test images rotated by `angle` (exactly, by p4's own action, for multiples of 90). */
function rotated(data, angle) {
  if (angle % 90 === 0) {
    return eq.tidy(() => eq.groups.p4().act(eq.groups.p4().rotation(angle / 90), eq.tensor(data.images, [data.n, 1, 28, 28])).toArray());
  }
  return rotateBilinear(data.images, data.n, angle);
}

const argmax = (logits, n) => Uint8Array.from({ length: n }, (_, i) => {
  let best = 0;
  for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
  return best;
});

export async function main(args = []) {
  if (args[0] === 'tetris') return (await import('./tetris.mjs')).main(args.slice(1));
  const workers = Number(args[args.indexOf('--workers') + 1]) || 2;
  const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : 'demo-output';
  await eq.init();
  const data = loadTestSet();
  const limit = Number(args[args.indexOf('--limit') + 1]) || 0;
  if (limit > 0 && limit < data.n) {
    data.images = data.images.subarray(0, limit * 784);
    data.labels = data.labels.subarray(0, limit);
    data.n = limit;
    data.source += `, first ${limit} images (--limit)`;
  }
  const reference = JSON.parse(readFileSync(join(models, 'reference.json'), 'utf8'));
  const torchPreds = new Uint8Array(readFileSync(join(models, 'predictions.bin')));
  console.log(`equivariant demo: rotated Fashion-MNIST\nData: ${data.source}.`);
  console.log(`Models: trained by PyTorch on upright training images only (${reference.command}); loaded from models/.\n`);

  const pool = await eq.createPool({ workers });
  const results = {};
  const bar = progress(2 * ANGLES.length * data.n, 'evaluating');
  const batch = 500;
  for (const [m, key] of ['p4cnn', 'z2cnn'].entries()) {
    await pool.load({ config: join(models, `${key}-fashion.json`), weights: join(models, `${key}-fashion.safetensors`) });
    results[key] = [];
    for (const [ai, angle] of ANGLES.entries()) {
      const imgs = rotated(data, angle);
      const preds = new Uint8Array(data.n);
      for (let s = 0; s < data.n; s += batch) {
        const count = Math.min(batch, data.n - s);
        const x = eq.tensor(imgs.subarray(s * 784, (s + count) * 784), [count, 1, 28, 28]);
        const y = await pool.run(x);
        preds.set(argmax(y.toArray(), count), s);
        x.dispose();
        y.dispose();
        bar.tick(count, `${NAMES[key]} at ${angle} degrees`);
      }
      let correct = 0, agree = 0;
      const ref = torchPreds.subarray((m * ANGLES.length + ai) * 10000, (m * ANGLES.length + ai) * 10000 + data.n);
      for (let i = 0; i < data.n; i++) {
        if (preds[i] === data.labels[i]) correct++;
        if (preds[i] === ref[i]) agree++;
      }
      results[key].push({ angle, accuracy: (100 * correct) / data.n, agreement: (100 * agree) / data.n, preds });
    }
  }
  const seconds = bar.end();

  const full = data.n === 10000;
  const rows = ANGLES.map((a, i) => {
    const p = results.p4cnn[i], z = results.z2cnn[i];
    const r = (k) => reference.models[k].accuracy[String(a)];
    return [`${a}`, p.accuracy.toFixed(2), full ? r('p4cnn').toFixed(2) : '', z.accuracy.toFixed(2), full ? r('z2cnn').toFixed(2) : ''];
  });
  console.log(`\nTest accuracy (%) by rotation of the test images (${data.n} images; multiples of 90 degrees exact, others bilinear):\n`);
  console.log(table(['angle', 'P4CNN', 'P4CNN, PyTorch', 'plain CNN', 'plain CNN, PyTorch'], rows));
  const mean = (k) => results[k].reduce((s, r) => s + r.accuracy, 0) / ANGLES.length;
  console.log(`\nmean over all angles: P4CNN ${mean('p4cnn').toFixed(2)}%, plain CNN ${mean('z2cnn').toFixed(2)}%`);
  const rightAngles = (k) => [0, 6, 12, 18].map((i) => results[k][i].accuracy.toFixed(2)).join(' / ');
  console.log(`at 0/90/180/270 degrees: P4CNN ${rightAngles('p4cnn')}, plain CNN ${rightAngles('z2cnn')}`);
  const identical = [6, 12, 18].every((i) => results.p4cnn[i].preds.every((v, j) => v === results.p4cnn[0].preds[j]));
  console.log(`P4CNN predictions at 90/180/270 degrees identical to upright, image by image: ${identical ? 'yes' : 'NO'}`);

  // Agreement with PyTorch, and the recorded reference accuracy.
  const agreement = Math.min(...['p4cnn', 'z2cnn'].flatMap((k) => results[k].map((r) => r.agreement)));
  console.log(`\nagreement with PyTorch's predictions (same images, every angle, both models): at least ${agreement.toFixed(2)}%`);
  if (full) {
    const gap = Math.max(...['p4cnn', 'z2cnn'].flatMap((k) => results[k].map((r, i) => Math.abs(r.accuracy - reference.models[k].accuracy[String(ANGLES[i])]))));
    console.log(`largest difference from PyTorch's recorded accuracy: ${gap.toFixed(2)} points`);
  }

  // Equivariance, measured.
  const sample = Math.min(64, data.n);
  const input = eq.tensor(data.images.subarray(0, sample * 784), [sample, 1, 28, 28]);
  const p4 = eq.groups.p4();
  for (const key of ['p4cnn', 'z2cnn']) {
    const model = await eq.loadModel({ config: join(models, `${key}-fashion.json`), weights: join(models, `${key}-fashion.safetensors`) });
    const report = eq.checkEquivariance((x) => model.run(x), { input, inType: eq.field.image(p4, 1), outType: eq.field.invariant(p4, 10), tolerance: 1e-5 });
    console.log(`${NAMES[key]}: invariance of the logits under p4's rotations, max relative error ${report.maxRelError.toExponential(2)} over ${sample} images (${report.ok ? 'invariant' : 'not invariant'})`);
    results[key].equivariance = report.maxRelError;
    model.dispose();
  }

  // Throughput.
  const model = await eq.loadModel({ config: join(models, 'p4cnn-fashion.json'), weights: join(models, 'p4cnn-fashion.safetensors') });
  const x64 = eq.tensor(data.images.subarray(0, Math.min(64, data.n) * 784), [Math.min(64, data.n), 1, 28, 28]);
  for (let i = 0; i < 3; i++) model.run(x64).dispose();
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1500) { model.run(x64).dispose(); calls++; }
  const single = (calls * x64.shape[0]) / ((performance.now() - t0) / 1000);
  await pool.load({ config: join(models, 'p4cnn-fashion.json'), weights: join(models, 'p4cnn-fashion.safetensors') });
  const nb = Math.min(256, data.n);
  const xb = eq.tensor(data.images.subarray(0, nb * 784), [nb, 1, 28, 28]);
  for (let i = 0; i < 2; i++) (await pool.run(xb)).dispose();
  let pooled = 0;
  const t1 = performance.now();
  while (performance.now() - t1 < 1500) { (await pool.run(xb)).dispose(); pooled += nb; }
  const poolRate = pooled / ((performance.now() - t1) / 1000);
  await pool.close();
  console.log(`\nP4CNN throughput: ${single.toFixed(0)} images/s on one thread (batch ${x64.shape[0]}), ${poolRate.toFixed(0)} images/s with a pool of ${workers} workers (batch ${nb}); the whole evaluation (${2 * ANGLES.length * data.n} images, both models) took ${seconds.toFixed(1)} s`);
  model.dispose();
  x64.dispose();
  xb.dispose();
  input.dispose();

  mkdirSync(out, { recursive: true });
  const svg = lineChart({
    title: 'Rotated Fashion-MNIST: accuracy against rotation angle',
    xlabel: 'rotation of the test images (degrees)', ylabel: 'test accuracy (%)', xticks: [0, 45, 90, 135, 180, 225, 270, 315], ymin: 0, ymax: 100,
    series: [
      { name: 'P4CNN (p4)', color: '#1f77b4', points: results.p4cnn.map((r) => [r.angle, r.accuracy]) },
      { name: 'plain CNN (z2)', color: '#d62728', points: results.z2cnn.map((r) => [r.angle, r.accuracy]) },
    ],
  });
  writeFileSync(join(out, 'accuracy-vs-angle.svg'), svg);
  writeFileSync(join(out, 'results.json'), JSON.stringify({ source: data.source, n: data.n, angles: ANGLES, models: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, { accuracy: v.map((r) => r.accuracy), agreementWithPyTorch: v.map((r) => r.agreement), maxRelEquivarianceError: v.equivariance }])), throughputSingleThread: single, throughputPool: { workers, imagesPerSecond: poolRate } }, null, 2));
  console.log(`\nwrote ${join(out, 'accuracy-vs-angle.svg')} and ${join(out, 'results.json')}`);
  return results;
}
