// `npm run demo -- tetris` / `npx equivariant demo tetris`: the second main job.
//
// The eight 3D Tetris shapes, each moved by 1,000 random rotations and translations, classified
// by three models trained by tools/pytorch/train_tetris.py on the shapes in ONE pose only: an
// SE(3) LieTransformer, an SE(3) LieConv, and a plain point transformer of about the same size
// that sees raw coordinates. The equivariant models keep their accuracy; the plain one collapses.
//
// Lifting draws random rotations, so an SE(3) model is invariant in distribution: a moved cloud
// is lifted to differently drawn samples, and its logits change a little (the "invariance error
// with lifting" below). Moving the lifted elements themselves along with the cloud shows the
// layers after the lift exactly invariant (to float rounding).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as eq from '../dist/index.js';
import { table } from '../bench/harness.mjs';
import { barChart } from './plot.mjs';
import { progress } from './progress.mjs';
import { LABELS, SHAPES, place, randomPose, rng } from '../page/tetris-shapes.js';

const models = new URL('../models/', import.meta.url).pathname;
export const MODELS = [
  { key: 'lietransformer', name: 'SE(3) LieTransformer', short: 'LieTransformer', color: '#1f77b4' },
  { key: 'lieconv', name: 'SE(3) LieConv', short: 'LieConv', color: '#2ca02c' },
  { key: 'plain', name: 'plain point transformer', short: 'plain', color: '#d62728' },
];
export const source = (key) => ({ config: join(models, `tetris-${key}.json`), weights: join(models, `tetris-${key}.safetensors`) });

/** `poses` random poses of every shape: points `[8 poses, 4, 3]` shape-major, and the poses. */
export function dataset(poses, seed = 2026) {
  const u = rng(seed);
  const pts = new Float32Array(SHAPES.length * poses * 12);
  const labels = new Uint8Array(SHAPES.length * poses);
  for (let p = 0; p < poses; p++) {
    for (let s = 0; s < SHAPES.length; s++) {
      const i = p * SHAPES.length + s;
      pts.set(place(SHAPES[s], randomPose(u)).flat(), i * 12);
      labels[i] = s;
    }
  }
  return { pts, labels, n: SHAPES.length * poses };
}

const cloud = (pts, n) => ({ points: eq.tensor(pts, [n, 4, 3]), features: eq.tensor(new Float32Array(n * 4).fill(1), [n, 4, 1]) });
const argmax = (v, k) => { let b = 0; for (let c = 1; c < k; c++) if (v[c] > v[b]) b = c; return b; };

export async function main(args = []) {
  const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
  const poses = Number(opt('--poses', 1000));
  const workers = Number(opt('--workers', 2));
  const out = opt('--out', 'demo-output');
  if (!Number.isInteger(poses) || poses < 1) throw new eq.ArgumentError(`demo tetris: --poses must be a positive integer, got ${opt('--poses')}`);
  await eq.init();
  const reference = JSON.parse(readFileSync(join(models, 'tetris-reference.json'), 'utf8'));
  console.log('equivariant demo: 3D Tetris under rotations and translations');
  console.log(`Shapes: e3nn's eight Tetris shapes (${LABELS.join(', ')}), ${poses} random poses each (Haar-random rotation, normal translation).`);
  console.log(`Models: trained by PyTorch on the shapes in one pose only (${reference.command}); loaded from models/.\n`);

  const data = dataset(poses);
  const pool = await eq.createPool({ workers });
  const bar = progress(MODELS.length * data.n, 'evaluating');
  const results = {};
  const batch = 500;
  for (const m of MODELS) {
    await pool.load(source(m.key));
    const logits = new Float32Array(data.n * 8);
    for (let s = 0; s < data.n; s += batch) {
      const count = Math.min(batch, data.n - s);
      const x = cloud(data.pts.subarray(s * 12, (s + count) * 12), count);
      const y = await pool.run(x);
      logits.set(y.toArray(), s * 8);
      for (const t of [x.points, x.features, y]) t.dispose();
      bar.tick(count, m.name);
    }
    const perShape = new Array(8).fill(0);
    let correct = 0;
    for (let i = 0; i < data.n; i++) {
      const ok = argmax(logits.subarray(i * 8, i * 8 + 8), 8) === data.labels[i];
      if (ok) { correct++; perShape[data.labels[i]]++; }
    }
    results[m.key] = { accuracy: (100 * correct) / data.n, perShape: perShape.map((c) => (100 * c) / poses), logits };
  }
  const seconds = bar.end();

  // Per model, on the training pose: the same shapes lifted with other seeds (what the lift's
  // random draws alone do, with no pose change at all), and the invariance of the logits (each
  // moved shape against the training pose; for lifted models also with the elements moved).
  const canon = cloud(Float32Array.from(SHAPES.flat(2)), 8);
  const draws = Math.min(poses, 200);
  for (const m of MODELS) {
    const model = await eq.loadModel(source(m.key));
    const r = results[m.key];
    r.trainingPose = trainingPoseOverDraws(model, canon, draws);
    const base = eq.tidy(() => model.run(canon).toArray());
    const errs = [];
    for (let i = 0; i < data.n; i++) {
      const s = data.labels[i];
      let d = 0, sc = 0;
      for (let c = 0; c < 8; c++) { d = Math.max(d, Math.abs(r.logits[i * 8 + c] - base[s * 8 + c])); sc = Math.max(sc, Math.abs(base[s * 8 + c])); }
      errs.push(d / sc);
    }
    errs.sort((a, b) => a - b);
    r.invariance = { median: errs[errs.length >> 1], max: errs[errs.length - 1] };
    if (m.key !== 'plain') r.liftedInvariance = liftedInvariance(model, canon);
    model.dispose();
  }

  console.log(`\nAccuracy (%) over ${poses} random poses per shape, and in the training pose over ${draws} draws of the lift (trained in one pose):\n`);
  const rows = LABELS.map((l, s) => [l, ...MODELS.flatMap((m) => [results[m.key].perShape[s].toFixed(1), results[m.key].trainingPose.perShape[s].toFixed(1)])]);
  rows.push(['all shapes', ...MODELS.flatMap((m) => [results[m.key].accuracy.toFixed(1), results[m.key].trainingPose.accuracy.toFixed(1)])]);
  rows.push([`(PyTorch, ${reference.models[MODELS[0].key]?.poses ?? '?'} poses; seed 1)`, ...MODELS.flatMap((m) => [reference.models[m.key]?.accuracyRandomPoses?.toFixed(1) ?? '-', reference.models[m.key]?.accuracyTrainingPose?.toFixed(1) ?? '-'])]);
  console.log(table(['shape', ...MODELS.flatMap((m) => [`${m.short}: moved`, `${m.short}: trained pose`])], rows));
  console.log('(An SE(3) model lifts each point to randomly drawn rotations, so a moved cloud is lifted to new draws: its');
  console.log('accuracy over random poses is its accuracy over the lift\'s draws, pose or no pose. The plain model lifts to T(3)');
  console.log('and draws nothing: it is right in the training pose and nowhere else.)');

  // Invariance: the logits of each moved shape against those of the training pose.
  console.log('\nInvariance of the logits (max |y(moved) - y(training pose)| / max |y(training pose)|, median and worst over poses):');
  for (const m of MODELS) {
    const r = results[m.key];
    const exact = r.liftedInvariance === undefined ? '' : `; with the lifted elements moved too: ${r.liftedInvariance.toExponential(1)} (the layers after the lift are invariant)`;
    console.log(`  ${m.name}: with lifting ${r.invariance.median.toExponential(1)} median, ${r.invariance.max.toExponential(1)} worst${exact}`);
  }

  // Throughput.
  const big = cloud(dataset(32, 7).pts, 256);
  console.log('\nThroughput (clouds of 4 points per second):');
  for (const m of MODELS) {
    const model = await eq.loadModel(source(m.key));
    for (let i = 0; i < 2; i++) model.run(big).dispose();
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 1000) { model.run(big).dispose(); n += 256; }
    const single = n / ((performance.now() - t0) / 1000);
    await pool.load(source(m.key));
    for (let i = 0; i < 2; i++) (await pool.run(big)).dispose();
    let k = 0;
    const t1 = performance.now();
    while (performance.now() - t1 < 1000) { (await pool.run(big)).dispose(); k += 256; }
    const pooled = k / ((performance.now() - t1) / 1000);
    results[m.key].throughput = { single, pooled };
    console.log(`  ${m.name}: ${single.toFixed(0)} on one thread, ${pooled.toFixed(0)} with ${workers} workers (batch 256)`);
    model.dispose();
  }
  await pool.close();
  for (const t of [canon.points, canon.features, big.points, big.features]) t.dispose();
  console.log(`\nThe whole evaluation (${MODELS.length * data.n} clouds) took ${seconds.toFixed(1)} s.`);

  mkdirSync(out, { recursive: true });
  const svg = barChart({
    title: `3D Tetris in ${poses} random poses per shape, trained in one pose`, ylabel: 'accuracy (%)',
    categories: [...LABELS, 'all shapes'], ymin: 0, ymax: 100,
    series: MODELS.map((m) => ({ name: m.name, color: m.color, values: [...results[m.key].perShape, results[m.key].accuracy] })),
  });
  writeFileSync(join(out, 'tetris-accuracy.svg'), svg);
  writeFileSync(join(out, 'tetris-results.json'), JSON.stringify({ poses, draws, labels: LABELS, models: Object.fromEntries(MODELS.map((m) => [m.key, { accuracy: results[m.key].accuracy, perShape: results[m.key].perShape, trainingPose: results[m.key].trainingPose, invariance: results[m.key].invariance, liftedInvariance: results[m.key].liftedInvariance, throughput: results[m.key].throughput }])) }, null, 2));
  console.log(`wrote ${join(out, 'tetris-accuracy.svg')} and ${join(out, 'tetris-results.json')}`);
  return results;
}

/** A point-cloud model's lift layer, and a function running its other layers on a lifted field. */
function afterLift(model) {
  const [lift, ...rest] = model.network.layers;
  return { lift, runRest: (f) => rest.reduce((cur, l) => l.run(cur), f) };
}

/**
 * Accuracy on the eight shapes in the training pose, lifted with seeds 2, 3, ... (`draws` of
 * them) instead of the config's: a lift layer like the model's, then the model's other layers.
 */
function trainingPoseOverDraws(model, canon, draws) {
  const { lift, runRest } = afterLift(model);
  const perShape = new Array(8).fill(0);
  for (let d = 0; d < draws; d++) {
    const other = eq.nn.lift({ group: lift.group, samples: lift.samples, seed: lift.seed + 1 + d });
    const y = eq.tidy(() => runRest(other.run(canon)).toArray());
    other.dispose();
    for (let s = 0; s < 8; s++) if (argmax(y.subarray(s * 8, s * 8 + 8), 8) === s) perShape[s]++;
  }
  const pct = perShape.map((c) => (100 * c) / draws);
  return { accuracy: pct.reduce((a, b) => a + b, 0) / 8, perShape: pct, draws };
}

/**
 * The network after its lift on the training poses, against the same network on lifted elements
 * moved by random rigid motions (the samples moved with their points): the largest relative
 * difference of the logits.
 */
function liftedInvariance(model, canon) {
  const { lift, runRest } = afterLift(model);
  const G = lift.group;
  const u = rng(99);
  return eq.tidy(() => {
    const x = lift.run(canon);
    const base = runRest(x).toArray();
    let worst = 0, scale = 0;
    for (const v of base) scale = Math.max(scale, Math.abs(v));
    for (let t = 0; t < 5; t++) {
      const moved = eq.liftedField(G, G.actLifted(G.random(u), x.lifted), x.features);
      const y = runRest(moved).toArray();
      for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i] - base[i]) / scale);
    }
    return worst;
  });
}
