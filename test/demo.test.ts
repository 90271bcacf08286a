// The main job's pieces: the shipped models, the data (full set or shipped sample), the exact
// and bilinear rotations, and agreement with PyTorch's recorded predictions.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import * as eq from '../dist/index.js';
import { DATASET_DIR, loadTestSet, rotateBilinear } from '../bin/data.mjs';
import { main } from '../bin/demo.mjs';

const models = new URL('../models/', import.meta.url).pathname;
beforeAll(() => eq.init());

describe('demo data', () => {
  it('reads the shipped sample when the dataset is absent, and it matches the dataset', () => {
    const sample = loadTestSet('/nonexistent');
    expect(sample.n).toBe(1000);
    expect(sample.images.length).toBe(1000 * 784);
    expect(sample.source).toContain('sample of 1000');
    expect(Math.max(...sample.labels)).toBe(9);
    if (existsSync(`${DATASET_DIR}/t10k-images-idx3-ubyte.gz`)) {
      const full = loadTestSet();
      expect(full.n).toBe(10000);
      expect(full.images.subarray(0, 1000 * 784)).toEqual(sample.images);
      expect(full.labels.subarray(0, 1000)).toEqual(sample.labels);
    }
  });

  it('bilinear rotation by 90 degrees equals the exact rotation, up to rounding of cos and sin', () => {
    const { images } = loadTestSet('/nonexistent');
    const five = images.subarray(0, 5 * 784);
    const bil = rotateBilinear(five, 5, 90);
    const exact = eq.tidy(() => eq.groups.p4().act(eq.groups.p4().rotation(1), eq.tensor(five, [5, 1, 28, 28])).toArray());
    let err = 0;
    for (let i = 0; i < bil.length; i++) err = Math.max(err, Math.abs(bil[i] - exact[i]));
    expect(err).toBeLessThan(1e-6);
    expect(rotateBilinear(five, 5, 0)).toEqual(five);
  });
});

describe('demo models', () => {
  it('ship with configs, weights, PyTorch predictions and reference accuracies', () => {
    const reference = JSON.parse(readFileSync(`${models}reference.json`, 'utf8'));
    for (const k of ['p4cnn', 'z2cnn']) {
      expect(Object.keys(reference.models[k].accuracy)).toHaveLength(24);
      expect(existsSync(`${models}${k}-fashion.safetensors`)).toBe(true);
    }
    const ratio = reference.models.z2cnn.parameters / reference.models.p4cnn.parameters;
    expect(ratio).toBeGreaterThan(0.9);
    expect(ratio).toBeLessThan(1.15);
    expect(readFileSync(`${models}predictions.bin`).length).toBe(2 * 24 * 10000);
    const steerable = JSON.parse(readFileSync(`${models}steerable-reference.json`, 'utf8'));
    for (const k of ['c8', 'c16', 'd8']) {
      expect(Object.keys(steerable.models[k].accuracy)).toHaveLength(24);
      expect(existsSync(`${models}${k}-fashion.safetensors`)).toBe(true);
      expect(readFileSync(`${models}${k}-fashion.safetensors`).length).toBeLessThan(300_000);
    }
    expect(readFileSync(`${models}steerable-predictions.bin`).length).toBe(3 * 24 * 10000);
  });

  it('the demo agrees with PyTorch, keeps the P4CNN and the steerable models exactly invariant at right angles, and writes its plot', async () => {
    const out = `/tmp/eq-demo-test-${process.pid}`;
    const results = await main(['--limit', '200', '--workers', '2', '--out', out]);
    for (const k of ['p4cnn', 'z2cnn', 'c8', 'c16', 'd8']) for (const r of results[k]) expect(r.agreement, `${k} at ${r.angle}`).toBeGreaterThanOrEqual(99.5);
    for (const k of ['p4cnn', 'z2cnn']) for (const r of results[k]) expect(r.agreement, `${k} at ${r.angle}`).toBeGreaterThanOrEqual(99.9);
    for (const k of ['p4cnn', 'c8', 'c16', 'd8']) {
      const m = results[k];
      for (const i of [6, 12, 18]) expect(m[i].preds, `${k} at ${m[i].angle}`).toEqual(m[0].preds);
      expect(m.equivariance, k).toBeLessThan(1e-5);
    }
    // Between right angles the steerable models are only approximately invariant (resampled images).
    for (const k of ['c8', 'c16', 'd8']) expect(results[k].interpolatedEquivariance, k).toBeGreaterThan(1e-5);
    expect(results.z2cnn.equivariance).toBeGreaterThan(1e-2);
    const svg = readFileSync(`${out}/accuracy-vs-angle.svg`, 'utf8');
    expect(svg).toContain('<svg');
    for (const name of ['P4CNN (p4)', 'C8 steerable CNN', 'C16 steerable CNN', 'D8 steerable CNN']) expect(svg).toContain(name);
    const json = JSON.parse(readFileSync(`${out}/results.json`, 'utf8'));
    expect(Object.keys(json.models)).toEqual(['p4cnn', 'z2cnn', 'c8', 'c16', 'd8']);
    for (const k of Object.keys(json.models)) expect(json.models[k].accuracy).toHaveLength(24);
  }, 400_000);
});

describe('the Tetris demo', () => {
  it('ships three models with e3nn\'s labels and the training command; the shapes are e3nn\'s', async () => {
    const { LABELS, SHAPES } = await import('../page/tetris-shapes.js');
    expect(LABELS).toEqual(['chiral_shape_1', 'chiral_shape_2', 'square', 'line', 'corner', 'L', 'T', 'zigzag']);
    expect(SHAPES).toHaveLength(8);
    for (const s of SHAPES) {
      expect(s).toHaveLength(4);
      // Unit cubes at integer coordinates, face to face: every cube touches another.
      for (const p of s) expect(s.some((q: number[]) => q !== p && Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]) === 1)).toBe(true);
    }
    const reference = JSON.parse(readFileSync(`${models}tetris-reference.json`, 'utf8'));
    expect(reference.command).toContain('tools/pytorch/train_tetris.py');
    const sizes: number[] = [];
    for (const k of ['lietransformer', 'lieconv', 'plain']) {
      const config = JSON.parse(readFileSync(`${models}tetris-${k}.json`, 'utf8'));
      expect(config.labels).toEqual(LABELS);
      expect(config.input).toEqual({ field: 'points', channels: 1 });
      sizes.push(reference.models[k].parameters);
    }
    expect(Math.max(...sizes) / Math.min(...sizes)).toBeLessThan(2);
  });

  it('runs: the equivariant models keep their accuracy under random poses, the plain one collapses; writes its plot', async () => {
    const out = `/tmp/eq-tetris-test-${process.pid}`;
    const { main: tetris } = await import('../bin/tetris.mjs');
    const r = await tetris(['--poses', '25', '--workers', '2', '--out', out]);
    // 25 poses per shape: the SE(3) models near their recorded accuracy over 1,000 (PyTorch's
    // over its own random poses: tetris-reference.json), the plain one near chance (12.5%).
    const reference = JSON.parse(readFileSync(`${models}tetris-reference.json`, 'utf8'));
    for (const k of ['lietransformer', 'lieconv']) {
      expect(r[k].accuracy, k).toBeGreaterThanOrEqual(80);
      expect(Math.abs(r[k].accuracy - reference.models[k].accuracyRandomPoses), k).toBeLessThan(10);
    }
    expect(r.plain.accuracy).toBeLessThanOrEqual(40);
    // Equivariance keeps the accuracy: an SE(3) model in random poses scores what it scores in
    // the training pose over the lift's random draws (the draws, not the pose, decide); the
    // plain model draws nothing and is right in the training pose only.
    for (const k of ['lietransformer', 'lieconv']) {
      expect(r[k].trainingPose.draws, k).toBe(25);
      expect(Math.abs(r[k].accuracy - r[k].trainingPose.accuracy), k).toBeLessThan(10);
    }
    expect(r.plain.trainingPose.accuracy).toBe(100);
    // The layers after the lift are invariant when the lifted elements move with the cloud.
    expect(r.lietransformer.liftedInvariance).toBeLessThan(1e-4);
    expect(r.lieconv.liftedInvariance).toBeLessThan(1e-4);
    expect(r.plain.invariance.median).toBeGreaterThan(1e-2);
    const svg = readFileSync(`${out}/tetris-accuracy.svg`, 'utf8');
    expect(svg).toContain('SE(3) LieTransformer');
    expect(JSON.parse(readFileSync(`${out}/tetris-results.json`, 'utf8')).poses).toBe(25);
  }, 120_000);
});
