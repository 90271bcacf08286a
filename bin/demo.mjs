// `npm run demo` / `npx equivariant demo`: the main job.
//
// Loads the shipped models (a P4CNN and a plain CNN of about the same size, trained by
// tools/pytorch/train.py, and steerable CNNs over C8, C16 and D8, trained with e2cnn by
// tools/escnn/train.py; all on upright Fashion-MNIST only), evaluates them on the test set
// rotated by every multiple of 15 degrees, and shows what equivariance buys: the P4CNN's accuracy
// is identical at 0/90/180/270 degrees and its predictions are exactly invariant there, the
// steerable models are approximately invariant between right angles too, while the plain CNN's
// collapse. Prints the table, the equivariance errors, agreement with PyTorch and throughput;
// writes an SVG plot.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as eq from '../dist/index.js';
import { loadTestSet, rotateBilinear } from './data.mjs';
import { lineChart } from './plot.mjs';
import { progress } from './progress.mjs';
import { table } from '../bench/harness.mjs';

const models = new URL('../models/', import.meta.url).pathname;
const ANGLES = Array.from({ length: 24 }, (_, i) => i * 15);
const NAMES = { p4cnn: 'P4CNN (p4)', z2cnn: 'plain CNN (z2)', c8: 'C8 steerable CNN', c16: 'C16 steerable CNN', d8: 'D8 steerable CNN' };
/** The steerable models (tools/escnn/train.py): their file prefix and their reference data. */
const STEERABLE = ['c8', 'c16', 'd8'];
const COLORS = { p4cnn: '#1f77b4', z2cnn: '#d62728', c8: '#2ca02c', c16: '#9467bd', d8: '#ff7f0e' };

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
  const steerableReference = JSON.parse(readFileSync(join(models, 'steerable-reference.json'), 'utf8'));
  const steerablePreds = new Uint8Array(readFileSync(join(models, 'steerable-predictions.bin')));
  const keys = ['p4cnn', 'z2cnn', ...STEERABLE];
  /** PyTorch's recorded predictions for model `key` at angle index `ai`. */
  const recorded = (key, ai) => {
    const s = STEERABLE.indexOf(key);
    return s < 0 ? torchPreds.subarray((keys.indexOf(key) * ANGLES.length + ai) * 10000, (keys.indexOf(key) * ANGLES.length + ai) * 10000 + data.n)
      : steerablePreds.subarray((s * ANGLES.length + ai) * 10000, (s * ANGLES.length + ai) * 10000 + data.n);
  };
  const recordedAccuracy = (key, angle) => (STEERABLE.includes(key) ? steerableReference : reference).models[key].accuracy[String(angle)];
  console.log(`equivariant demo: rotated Fashion-MNIST\nData: ${data.source}.`);
  console.log(`Models: trained by PyTorch on upright training images only (${reference.command}; steerable: ${steerableReference.command}); loaded from models/.\n`);

  const pool = await eq.createPool({ workers });
  const results = {};
  const bar = progress(keys.length * ANGLES.length * data.n, 'evaluating');
  const batch = 500;
  for (const key of keys) {
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
      const ref = recorded(key, ai);
      for (let i = 0; i < data.n; i++) {
        if (preds[i] === data.labels[i]) correct++;
        if (preds[i] === ref[i]) agree++;
      }
      results[key].push({ angle, accuracy: (100 * correct) / data.n, agreement: (100 * agree) / data.n, preds });
    }
  }
  const seconds = bar.end();

  const full = data.n === 10000;
  const SHORT = { p4cnn: 'P4CNN', z2cnn: 'plain CNN', c8: 'C8', c16: 'C16', d8: 'D8' };
  const rows = ANGLES.map((a, i) => [`${a}`, ...keys.flatMap((k) => [results[k][i].accuracy.toFixed(2), ...(full ? [recordedAccuracy(k, a).toFixed(2)] : [])])]);
  console.log(`\nTest accuracy (%) by rotation of the test images (${data.n} images; multiples of 90 degrees exact, others bilinear${full ? '; "PyTorch": the accuracy the training script recorded' : ''}):\n`);
  console.log(table(['angle', ...keys.flatMap((k) => [SHORT[k], ...(full ? [`${SHORT[k]}, PyTorch`] : [])])], rows));
  const mean = (k) => results[k].reduce((s, r) => s + r.accuracy, 0) / ANGLES.length;
  const worst = (k) => results[k].reduce((w, r) => (r.accuracy < w.accuracy ? r : w));
  console.log(`\nmean over all angles: ${keys.map((k) => `${SHORT[k]} ${mean(k).toFixed(2)}%`).join(', ')}`);
  console.log(`worst angle: ${keys.map((k) => `${SHORT[k]} ${worst(k).accuracy.toFixed(2)}% (${worst(k).angle})`).join(', ')}`);
  const rightAngles = (k) => [0, 6, 12, 18].map((i) => results[k][i].accuracy.toFixed(2)).join(' / ');
  console.log(`at 0/90/180/270 degrees: ${keys.map((k) => `${SHORT[k]} ${rightAngles(k)}`).join('; ')}`);
  const identicalFor = (k) => [6, 12, 18].every((i) => results[k][i].preds.every((v, j) => v === results[k][0].preds[j]));
  const identical = identicalFor('p4cnn');
  console.log(`predictions at 90/180/270 degrees identical to upright, image by image: ${['p4cnn', ...STEERABLE].map((k) => `${SHORT[k]} ${identicalFor(k) ? 'yes' : 'NO'}`).join(', ')}`);

  // Agreement with PyTorch, and the recorded reference accuracy.
  const agreement = Math.min(...keys.flatMap((k) => results[k].map((r) => r.agreement)));
  console.log(`\nagreement with PyTorch's predictions (same images, every angle, every model): at least ${agreement.toFixed(2)}%`);
  if (full) {
    const gap = Math.max(...keys.flatMap((k) => results[k].map((r, i) => Math.abs(r.accuracy - recordedAccuracy(k, ANGLES[i])))));
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
  // Steerable models: exact under the elements that map the pixel grid onto itself (rotations
  // by multiples of 90 degrees, the reflection), approximate (bilinear resampling) otherwise.
  for (const key of STEERABLE) {
    const model = await eq.loadModel({ config: join(models, `${key}-fashion.json`), weights: join(models, `${key}-fashion.safetensors`) });
    const gs = model.inType.gspace, G = gs.fibreGroup;
    const outType = eq.field.invariant(G, 10);
    const exact = eq.checkEquivariance((x) => model.run(x), { input, inType: model.inType, outType, elements: gs.gridElements(), tolerance: 1e-5 });
    const others = gs.elements().filter((g) => !G.exactOnGrid(g));
    const approx = eq.checkEquivariance((x) => model.run(x), { input, inType: model.inType, outType, elements: others, tolerance: 1 });
    console.log(`${NAMES[key]} (${G.name}): invariance of the logits, max relative error ${exact.maxRelError.toExponential(2)} under its ${exact.perElement.length} exact elements (${exact.ok ? 'invariant' : 'not invariant'}), ${approx.maxRelError.toExponential(2)} under the other ${others.length} (interpolated)`);
    results[key].equivariance = exact.maxRelError;
    results[key].interpolatedEquivariance = approx.maxRelError;
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
  console.log(`\nP4CNN throughput: ${single.toFixed(0)} images/s on one thread (batch ${x64.shape[0]}), ${poolRate.toFixed(0)} images/s with a pool of ${workers} workers (batch ${nb}); the whole evaluation (${keys.length * ANGLES.length * data.n} images, ${keys.length} models) took ${seconds.toFixed(1)} s`);
  model.dispose();
  x64.dispose();
  xb.dispose();
  input.dispose();

  mkdirSync(out, { recursive: true });
  const svg = lineChart({
    title: 'Rotated Fashion-MNIST: accuracy against rotation angle',
    xlabel: 'rotation of the test images (degrees)', ylabel: 'test accuracy (%)', xticks: [0, 45, 90, 135, 180, 225, 270, 315], ymin: 0, ymax: 100,
    series: keys.map((k) => ({ name: NAMES[k], color: COLORS[k], points: results[k].map((r) => [r.angle, r.accuracy]), dashed: k === 'z2cnn' })),
  });
  writeFileSync(join(out, 'accuracy-vs-angle.svg'), svg);
  writeFileSync(join(out, 'results.json'), JSON.stringify({ source: data.source, n: data.n, angles: ANGLES, models: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, { accuracy: v.map((r) => r.accuracy), agreementWithPyTorch: v.map((r) => r.agreement), maxRelEquivarianceError: v.equivariance, ...(v.interpolatedEquivariance === undefined ? {} : { maxRelEquivarianceErrorInterpolated: v.interpolatedEquivariance }) }])), throughputSingleThread: single, throughputPool: { workers, imagesPerSecond: poolRate } }, null, 2));
  console.log(`\nwrote ${join(out, 'accuracy-vs-angle.svg')} and ${join(out, 'results.json')}`);
  return results;
}
