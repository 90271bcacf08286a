// `npx equivariant check --config model.json --weights model.safetensors [--batch N] [--tolerance T]`:
// checks a model's equivariance over every element of its group on a random input (random
// elements for a point-cloud model on a Lie group). For a model on the plane (a gspace), over the
// elements that map the pixel grid onto itself (exact; quarter turns on square maps only);
// `--all` also reports the others (resampled, so only approximately equivariant; not failures).
import * as eq from '../dist/index.js';

export async function main(args = []) {
  const arg = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
  const config = arg('--config'), weights = arg('--weights');
  if (!config || !weights) {
    console.error('usage: equivariant check --config model.json --weights model.safetensors [--batch N] [--size H] [--tolerance T] [--all]');
    process.exitCode = 2;
    return;
  }
  await eq.init();
  const model = await eq.loadModel({ config, weights });
  const spec = model.config.input;
  if (spec.field === 'points') return checkPoints(model, arg);
  const batch = Number(arg('--batch', 4));
  const size = spec.size ?? [Number(arg('--size', 16)), Number(arg('--size', 16))];
  const group = model.group;
  const order = group instanceof eq.groups.GridGroup ? group.pointOrder : group.order;
  const shape = spec.field === 'image' || spec.field === 'r2' ? [batch, spec.channels, ...size]
    : spec.field === 'grid' ? [batch, spec.channels, order, ...size]
      : spec.field === 'regular' ? [batch, spec.channels, order] : [batch, spec.channels];
  const rng = eq.groups.seededRng(Number(arg('--seed', 1)));
  const x = eq.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng() * 2 - 1), shape);
  // On the plane, the elements that map the pixel grid onto itself are exact (quarter turns only
  // on square maps); `--all` adds the others, which resample the image, as approximate only.
  let elements = 'all', others = [];
  if (spec.field === 'r2') {
    const gs = model.inType.gspace, G = gs.fibreGroup;
    elements = gs.gridElements().filter((g) => size[0] === size[1] || Math.abs(Math.sin(g.angle)) < 1e-9);
    if (args.includes('--all')) others = (G.finite ? gs.elements() : gs.randomElements(8, Number(arg('--seed', 1)))).filter((g) => !elements.some((e) => e.flip === g.flip && Math.abs(Math.cos(e.angle - g.angle) - 1) < 1e-12));
  }
  const report = eq.checkEquivariance(model, { input: x, elements, tolerance: Number(arg('--tolerance', 1e-5)) });
  console.log(`${model.name}: input [${shape.join(', ')}], field types ${model.inType.describe()} -> ${model.outType.describe()}\n`);
  for (const r of report.perElement) console.log(`  ${r.label.padEnd(8)} abs ${r.absError.toExponential(2)}  rel ${r.relError.toExponential(2)}  ${r.ok ? 'ok' : 'FAIL'}`);
  console.log(`\n${report.summary}`);
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
function checkPoints(model, arg) {
  const [lift, ...rest] = model.network.layers;
  const G = model.group;
  const batch = Number(arg('--batch', 4)), P = Number(arg('--points', 8)), count = Number(arg('--elements', 8));
  const tolerance = Number(arg('--tolerance', 1e-4));
  const rng = eq.groups.seededRng(Number(arg('--seed', 1)));
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
  console.log(`${model.name}: ${batch} random clouds of ${P} points in R^${d}, ${count} random elements of ${G.name}\n`);
  console.log('  element   whole model (lift draws anew)   after the lift (elements moved along)');
  let worst = 0;
  for (let i = 0; i < count; i++) {
    const u = G.random(rng);
    const moved = eq.tidy(() => model.run({ points: G.act(u, x.points), features: x.features }).toArray());
    const field = eq.liftedField(G, G.actLifted(u, lifted.lifted), lifted.features);
    const after = relErr(runRest(field), restBase);
    worst = Math.max(worst, after);
    console.log(`  u${String(i).padEnd(8)} rel ${relErr(moved, base).toExponential(2).padEnd(28)} rel ${after.toExponential(2)}  ${after <= tolerance ? 'ok' : 'FAIL'}`);
  }
  const ok = worst <= tolerance;
  console.log(`\n${model.name}: ${ok ? `the layers after the lift are invariant over ${count} elements: max relative error ${worst.toExponential(2)} <= ${tolerance}` : `NOT invariant after the lift: max relative error ${worst.toExponential(2)} > ${tolerance}`} (the lift itself is equivariant in distribution: its samples are drawn anew)`);
  if (!ok) process.exitCode = 1;
  lifted.dispose();
  x.points.dispose();
  x.features.dispose();
  model.dispose();
}
