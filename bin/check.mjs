// `npx equivariant check --config model.json --weights model.safetensors [--batch N] [--tolerance T]`:
// checks a model's equivariance over every element of its group on a random input. For a model on
// the plane (a gspace), over the elements that map the pixel grid onto itself (exact); `--all`
// adds the others (interpolated, so only approximately equivariant).
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
  const batch = Number(arg('--batch', 4));
  const size = spec.size ?? [Number(arg('--size', 16)), Number(arg('--size', 16))];
  const group = model.group;
  const order = group instanceof eq.groups.GridGroup ? group.pointOrder : group.order;
  const shape = spec.field === 'image' || spec.field === 'r2' ? [batch, spec.channels, ...size]
    : spec.field === 'grid' ? [batch, spec.channels, order, ...size]
      : spec.field === 'regular' ? [batch, spec.channels, order] : [batch, spec.channels];
  const rng = eq.groups.seededRng(Number(arg('--seed', 1)));
  const x = eq.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng() * 2 - 1), shape);
  const elements = spec.field === 'r2' ? (args.includes('--all') && model.inType.gspace.fibreGroup.finite ? model.inType.gspace.elements() : model.inType.gspace.gridElements()) : 'all';
  const report = eq.checkEquivariance(model, { input: x, elements, tolerance: Number(arg('--tolerance', 1e-5)) });
  console.log(`${model.name}: input [${shape.join(', ')}], field types ${model.inType.describe()} -> ${model.outType.describe()}\n`);
  for (const r of report.perElement) console.log(`  ${r.label.padEnd(8)} abs ${r.absError.toExponential(2)}  rel ${r.relError.toExponential(2)}  ${r.ok ? 'ok' : 'FAIL'}`);
  console.log(`\n${report.summary}`);
  if (!report.ok) process.exitCode = 1;
  x.dispose();
  model.dispose();
}
