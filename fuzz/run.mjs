#!/usr/bin/env node
// npm run fuzz: every fuzz target for --cases cases (default 10,000) from --seed (default 1),
// then checks that nothing untyped escaped, no case ran past its time limit, no wasm memory
// leaked, and a known-good model gives the same bytes as before. Usage:
//   node fuzz/run.mjs [--cases N] [--seed S] [--targets safetensors,config,constructors,pool]
import * as eq from '../dist/index.js';
import { TARGETS, knownGood, hashOf } from './targets.mjs';

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const cases = Number(arg('--cases', '10000'));
const seed = Number(arg('--seed', '1'));
const names = arg('--targets', Object.keys(TARGETS).join(',')).split(',');

await eq.init();
const { model, hash } = await knownGood(eq);
const start = eq.memory();
let findings = 0;
console.log(`fuzz: ${cases} cases per target, seed ${seed}, node ${process.version}`);
console.log('| target | cases | ran normally | typed errors (by class) | untyped or over time | slowest case (ms) | seconds |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const name of names) {
  const t0 = performance.now();
  const m0 = eq.memory();
  const rep = await TARGETS[name](eq, { seed, cases });
  eq.clearCaches();
  const m1 = eq.memory();
  if (m1.allocations !== m0.allocations || m1.tensors !== m0.tensors) rep.untyped.push(`${name}: ${m1.tensors - m0.tensors} tensors and ${m1.allocations - m0.allocations} allocations left over`);
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  const typed = Object.entries(rep.typed).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`| ${rep.target} | ${rep.cases} | ${rep.ok} | ${typed} | ${rep.untyped.length} | ${rep.slowest.toFixed(0)} | ${s} |`);
  for (const u of rep.untyped.slice(0, 20)) console.log(`  FINDING ${u}`);
  findings += rep.untyped.length;
}
eq.clearCaches();
const end = eq.memory();
const after = await hashOf(eq, model);
console.log(`known-good model output: ${after === hash ? 'unchanged' : 'CHANGED'} (sha256 ${after.slice(0, 16)}...)`);
console.log(`wasm memory: ${end.tensors - start.tensors} tensors and ${end.allocations - start.allocations} allocations left over`);
model.dispose();
if (after !== hash || end.allocations !== start.allocations || end.tensors !== start.tensors) findings++;
console.log(findings ? `fuzz: ${findings} finding(s)` : 'fuzz: no findings');
process.exit(findings ? 1 : 0);
