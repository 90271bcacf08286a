// `npx equivariant check --config model.json --weights model.safetensors [--batch N] [--tolerance T]`:
// checks a model's equivariance over every element of its group on a random input (random
// elements for a point-cloud model on a Lie group). For a model on the plane (a gspace), over the
// elements that map the pixel grid onto itself (exact; quarter turns on square maps only);
// `--all` also reports the others (resampled, so only approximately equivariant; not failures).
import * as eq from '../dist/index.js';
import { parseArgs } from './batch/args.mjs';
import { UsageError } from './batch/errors.mjs';

/** A tolerance from the command line: a positive number (Infinity allowed). */
function positive(v, name) {
  const n = Number(v);
  if (!(n > 0)) throw new UsageError(`${name} must be a positive number, got '${v}'\n${USAGE}`);
  return n;
}

const USAGE = 'usage: equivariant check --config model.json --weights model.safetensors [--batch N] [--size H] [--tolerance T] [--seed S] [--elements N] [--points P] [--all]';
const SPEC = {
  config: { type: 'string' }, weights: { type: 'string' },
  batch: { type: 'int', min: 1, max: 4096 }, size: { type: 'int', min: 1, max: 1024 }, points: { type: 'int', min: 1, max: 4096 },
  elements: { type: 'int', min: 1, max: 4096 }, seed: { type: 'int', min: 0, max: 2 ** 32 - 1 }, tolerance: { type: 'string' }, all: { type: 'flag' },
};

export async function main(args = []) {
  const opts = parseArgs(args, SPEC, USAGE);
  const { config, weights } = opts;
  if (!config || !weights) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  // Checked before anything loads; each kind of model has its own default.
  const tolerance = opts.tolerance === undefined ? undefined : positive(opts.tolerance, '--tolerance');
  await eq.init();
  const model = await eq.loadModel({ config, weights });
  const spec = model.config.input;
  if (spec.field === 'points') return checkPoints(model, opts, tolerance ?? 1e-4);
  const batch = opts.batch ?? 4;
  const side = opts.size ?? 16;
  const size = spec.size ?? [side, side];
  const group = model.group;
  const order = group instanceof eq.groups.GridGroup ? group.pointOrder : group.order;
  // The model's own input type knows its width (a rep field's config gives the rep, not channels).
  const C = model.inType.channels;
  const shape = spec.field === 'image' || spec.field === 'r2' ? [batch, C, ...size]
    : spec.field === 'grid' ? [batch, C, order, ...size]
      : spec.field === 'regular' ? [batch, C, order] : [batch, C];
  const values = shape.reduce((a, b) => a * b, 1);
  if (values > 2 ** 26) throw new UsageError(`an input of [${shape.join(', ')}] is ${values} values; check with a smaller --batch or --size (at most 2^26 values)`);
  const rng = eq.groups.seededRng(opts.seed ?? 1);
  const x = eq.tensor(Float32Array.from({ length: values }, () => rng() * 2 - 1), shape);
  // On the plane, the elements that map the pixel grid onto itself are exact (quarter turns only
  // on square maps); `--all` adds the others, which resample the image, as approximate only.
  // Finite groups over every element; O(3) (equivariant MLPs) over random ones.
  let elements = typeof order === 'number' ? 'all' : opts.elements ?? 16, others = [];
  if (spec.field === 'r2') {
    const gs = model.inType.gspace, G = gs.fibreGroup;
    elements = gs.gridElements().filter((g) => size[0] === size[1] || Math.abs(Math.sin(g.angle)) < 1e-9);
    if (opts.all) others = (G.finite ? gs.elements() : gs.randomElements(8, opts.seed ?? 1)).filter((g) => !elements.some((e) => e.flip === g.flip && Math.abs(Math.cos(e.angle - g.angle) - 1) < 1e-12));
  }
  const report = eq.checkEquivariance(model, { input: x, elements, tolerance: tolerance ?? 1e-5 });
  console.log(`${model.name}: input [${shape.join(', ')}], field types ${model.inType.describe()} -> ${model.outType.describe()}\n`);
  for (const r of report.perElement) console.log(`  ${r.label.padEnd(8)} abs ${r.absError.toExponential(2)}  rel ${r.relError.toExponential(2)}  ${r.ok ? 'ok' : 'FAIL'}`);
  console.log(`\n${report.summary}`);
  if (model.inType instanceof eq.InvariantField && model.outType instanceof eq.InvariantField) {
    console.log('(the group acts trivially on this model\'s input and output as declared, so this check cannot fail: it says nothing about the network)');
  }
  if (others.length) {
    const approx = eq.checkEquivariance(model, { input: x, elements: others, tolerance: Infinity });
    console.log(`\nresampled (not exact on the pixel grid, reported, not checked):`);
    for (const r of approx.perElement) console.log(`  ${r.label.padEnd(8)} abs ${r.absError.toExponential(2)}  rel ${r.relError.toExponential(2)}`);
  }
  if (!report.ok) process.exitCode = 1;
  x.dispose();
  model.dispose();
}

/**
 * A point-cloud model on a Lie group: random clouds moved by random elements. The lift draws
 * random samples, so the model is invariant in distribution only: the whole model's change is
 * reported; what must hold exactly (to `--tolerance`) is the rest of the network on the lifted
 * elements moved along with the cloud.
 */
function checkPoints(model, opts, tolerance) {
  const [lift, ...rest] = model.network.layers;
  const G = model.group;
  const batch = opts.batch ?? 4, P = opts.points ?? 8, elements = opts.elements ?? 8;
  const rng = eq.groups.seededRng(opts.seed ?? 1);
  const C = model.config.input.channels, d = G.d;
  // Points off the origin (SO(d) lifts are undefined there).
  const x = {
    points: eq.tensor(Float32Array.from({ length: batch * P * d }, () => (rng() * 2 - 1) * 2 + (rng() < 0.5 ? -0.3 : 0.3)), [batch, P, d]),
    features: eq.tensor(Float32Array.from({ length: batch * P * C }, () => rng() * 2 - 1), [batch, P, C]),
  };
  const values = (y) => (y.features ?? y).toArray();
  const relErr = (a, b) => {
    let e = 0, s = 0;
    for (let i = 0; i < a.length; i++) { e = Math.max(e, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(b[i])); }
    return s > 0 ? e / s : e;
  };
  const base = eq.tidy(() => model.run(x).toArray());
  const lifted = lift.run(x);
  const runRest = (f) => eq.tidy(() => values(rest.reduce((cur, l) => l.run(cur), f)));
  const restBase = runRest(lifted);
  console.log(`${model.name}: ${batch} random clouds of ${P} points in R^${d}, ${elements} random elements of ${G.name}\n`);
  console.log('  element   whole model (lift draws anew)   after the lift (elements moved along)');
  let worst = 0;
  for (let i = 0; i < elements; i++) {
    const u = G.random(rng);
    const moved = eq.tidy(() => model.run({ points: G.act(u, x.points), features: x.features }).toArray());
    const field = eq.liftedField(G, G.actLifted(u, lifted.lifted), lifted.features);
    const after = relErr(runRest(field), restBase);
    worst = Math.max(worst, after);
    console.log(`  u${String(i).padEnd(8)} rel ${relErr(moved, base).toExponential(2).padEnd(28)} rel ${after.toExponential(2)}  ${after <= tolerance ? 'ok' : 'FAIL'}`);
  }
  const ok = worst <= tolerance;
  console.log(`\n${model.name}: ${ok ? `the layers after the lift are invariant over ${elements} elements: max relative error ${worst.toExponential(2)} <= ${tolerance}` : `NOT invariant after the lift: max relative error ${worst.toExponential(2)} > ${tolerance}`} (the lift itself is equivariant in distribution: its samples are drawn anew)`);
  if (!ok) process.exitCode = 1;
  lifted.dispose();
  x.points.dispose();
  x.features.dispose();
  model.dispose();
}
