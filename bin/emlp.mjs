// `npx equivariant emlp`: the shipped equivariant MLPs (O(3)), trained in PyTorch on this
// library's bases (tools/pytorch/emlp.py), run here on their test sets beside plain MLPs of about
// the same size: test error, equivariance error under random rotations and reflections, and
// agreement with PyTorch's own outputs.
import { readFileSync, writeFileSync } from 'node:fs';
import * as eq from '../dist/index.js';
import { parseArgs } from './batch/args.mjs';

const models = new URL('../models/', import.meta.url);

export const TASKS = {
  invariant: 'five vectors in R^3 -> a function of their norms and dot products (O(3)-invariant)',
  inertia: 'five point masses -> their inertia tensor (O(3)-equivariant, rank 2)',
};

const read = (f) => readFileSync(new URL(f, models));

/** Evaluates one task; returns the numbers the table prints. */
export async function evaluate(task, { elements = 20, seed = 7 } = {}) {
  const data = eq.parseSafetensors(read('emlp-data.safetensors')).tensors;
  const reference = JSON.parse(read('emlp-reference.json').toString()).tasks[task];
  const x = data.get(`${task}.x`), y = data.get(`${task}.y`);
  const out = {};
  const emlp = await eq.loadModel({ config: JSON.parse(read(`emlp-${task}.json`)), weights: read(`emlp-${task}.safetensors`) });
  try {
    for (const kind of ['emlp', 'mlp']) {
      const model = kind === 'emlp' ? emlp : await eq.loadModel({ config: JSON.parse(read(`mlp-${task}.json`)), weights: read(`mlp-${task}.safetensors`) });
      try {
        const r = eq.tidy(() => {
          const input = eq.tensor(x.data, x.shape);
          const pred = model.run(input).toArray();
          let se = 0, mean = new Float64Array(y.shape[1]), torchDiff = 0, scale = 0;
          const torch = data.get(`${task}.${kind}`).data;
          for (let i = 0; i < pred.length; i++) {
            se += (pred[i] - y.data[i]) ** 2;
            mean[i % y.shape[1]] += y.data[i] / y.shape[0];
            torchDiff = Math.max(torchDiff, Math.abs(pred[i] - torch[i]));
            scale = Math.max(scale, Math.abs(torch[i]));
          }
          let variance = 0;
          for (let i = 0; i < pred.length; i++) variance += (y.data[i] - mean[i % y.shape[1]]) ** 2;
          // Equivariance: the same field types for both (the plain MLP reads the same layout).
          const report = eq.checkEquivariance((t) => model.run(t), { input, elements, seed, inType: emlp.inType, outType: emlp.outType, tolerance: 1e-5 });
          const reflections = report.perElement.filter((e) => eq.groups.o3().determinant(e.element) < 0).length;
          return { mse: se / pred.length, relativeRmse: Math.sqrt(se / variance), equivarianceError: report.maxRelError, equivariant: report.ok, reflections, agreement: torchDiff / scale };
        });
        const params = Object.values(model.parameters()).reduce((s, t) => s + t.size, 0);
        out[kind] = { parameters: params, ...r, pytorch: reference[kind] };
      } finally {
        if (kind === 'mlp') model.dispose();
      }
    }
  } finally {
    emlp.dispose();
  }
  return out;
}

export async function main(args = []) {
  const { json } = parseArgs(args, { json: { type: 'string' } }, 'usage: equivariant emlp [--json results.json]');
  await eq.init();
  const reference = JSON.parse(read('emlp-reference.json').toString());
  const results = {};
  console.log(`Equivariant MLPs for O(3) (models/emlp-*; trained by tools/pytorch/emlp.py on ${reference.settings.train} examples, ${reference.settings.steps} steps),`);
  console.log('run here on the shipped test sets; equivariance over 20 random elements of O(3) (rotations and reflections).\n');
  console.log('| task      | model | parameters | test MSE   | relative RMSE | equivariance error | vs PyTorch |');
  console.log('| --------- | ----- | ---------- | ---------- | ------------- | ------------------ | ---------- |');
  for (const task of Object.keys(TASKS)) {
    const r = (results[task] = await evaluate(task));
    for (const kind of ['emlp', 'mlp']) {
      const m = r[kind];
      console.log(`| ${task.padEnd(9)} | ${(kind === 'emlp' ? 'EMLP' : 'MLP').padEnd(5)} | ${String(m.parameters).padStart(10)} | ${m.mse.toPrecision(4).padStart(10)} | ${m.relativeRmse.toFixed(3).padStart(13)} | ${m.equivarianceError.toExponential(2).padStart(18)} | ${m.agreement.toExponential(1).padStart(10)} |`);
    }
  }
  console.log('\nrelative RMSE: sqrt(MSE / variance of the targets); equivariance error: max |f(g x) - g f(x)| / max |f(x)|;');
  console.log("vs PyTorch: max |ours - PyTorch's| / max |PyTorch's| on the test set.");
  for (const [task, d] of Object.entries(TASKS)) console.log(`${task}: ${d}`);
  if (json) {
    writeFileSync(json, JSON.stringify(results, null, 1));
    console.log(`wrote ${json}`);
  }
}
