#!/usr/bin/env node
// The operator-space solver (eq.space.hom, crate/src/nullspace.rs): the time to a basis of
// Hom_G(rho_in, rho_out), cold (the cache of solved blocks cleared before every solve), by method,
// from 256 to 65,536 unknowns. Medians and ranges over passes; the machine's load average is
// printed before and after (shared machines are noisy).
//
//   node bench/space.mjs [--passes 3] [--only NAME,...] [--large] [--json FILE]
//
// --large adds SO(3) on (R^3)^(x5) -> (R^3)^(x5) (59,049 unknowns; about a minute per pass).
import { loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import * as eq from '../dist/index.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const passes = Number(opt('--passes', 3));
const only = opt('--only')?.split(',');

const S4 = eq.groups.symmetric(4), SO3 = eq.groups.so3(), O3 = eq.groups.o3();
const problems = [
  ['S4 perm^3 -> perm^3', S4, 'perm^3', 'perm^3', 'orbits'],
  ['S4 perm^3 -> perm^3', S4, 'perm^3', 'perm^3', 'projector'],
  ['S4 perm^4 -> perm^3', S4, 'perm^4', 'perm^3', 'orbits'],
  ['S4 perm^4 -> perm^3', S4, 'perm^4', 'perm^3', 'projector'],
  ['S4 perm^4 -> perm^4', S4, 'perm^4', 'perm^4', 'orbits'],
  ['S4 standard^3 -> standard^3', S4, 'standard^3', 'standard^3', 'projector'],
  ['S4 standard^4 -> standard^4', S4, 'standard^4', 'standard^4', 'projector'],
  ['S4 perm^2 -> perm^2', S4, 'perm^2', 'perm^2', 'constraints'],
  ['SO(3) V^3 -> V^3', SO3, 'V^3', 'V^3', 'constraints'],
  ['SO(3) V^3 -> V^3', SO3, 'V^3', 'V^3', 'projector'],
  ['SO(3) V^4 -> V^4', SO3, 'V^4', 'V^4', 'projector'],
  ['O(3) V^4 -> V^4', O3, 'V^4', 'V^4', 'projector'],
  ['SO(3) V^5 -> V^4', SO3, 'V^5', 'V^4', 'projector'],
  ['O(3) (5V+V^2)^2 -> 8V+4V^2', O3, '(5*V + V^2)^2', '8*V + 4*V^2', 'auto'],
];
if (args.includes('--large')) problems.push(['SO(3) V^5 -> V^5', SO3, 'V^5', 'V^5', 'projector']);

await eq.init();
eq.setLimits({ maxBasisBytes: 2 ** 30 });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const load = () => loadavg().map((v) => v.toFixed(2)).join(' ');
console.log(`node ${process.version}; ${passes} passes, cold solves (block cache cleared each time); load average before: ${load()}\n`);
console.log('| problem                        | method      | unknowns | dimension | = formula | ms (median) | ms (range)        | residual |');
console.log('| ------------------------------ | ----------- | -------- | --------- | --------- | ----------- | ----------------- | -------- |');
const rows = [];
for (const [name, G, a, b, method] of problems) {
  if (only && !only.some((o) => name.includes(o))) continue;
  const ri = eq.space.rep(G, a), ro = eq.space.rep(G, b);
  const times = [];
  let s;
  for (let p = 0; p < passes; p++) {
    eq.space.clearCache();
    const t0 = performance.now();
    const h = eq.space.hom(G, ri, ro, { method });
    times.push(performance.now() - t0);
    s = h.summary();
  }
  const row = { name, method, unknowns: s.unknowns, dimension: s.dimension, characterDimension: s.characterDimension, median: median(times), min: Math.min(...times), max: Math.max(...times), residual: s.residual, solved: s.solved };
  rows.push(row);
  const ms = (v) => (v < 10 ? v.toFixed(2) : v < 1000 ? v.toFixed(1) : v.toFixed(0));
  console.log(`| ${name.padEnd(30)} | ${method.padEnd(11)} | ${String(s.unknowns).padStart(8)} | ${String(s.dimension).padStart(9)} | ${String(s.characterDimension === s.dimension).padStart(9)} | ${ms(row.median).padStart(11)} | ${`${ms(row.min)}-${ms(row.max)}`.padStart(17)} | ${s.residual.toExponential(0).padStart(8)} |`);
}
console.log(`\nload average after: ${load()}`);
const json = opt('--json');
if (json) writeFileSync(json, JSON.stringify({ node: process.version, passes, rows }, null, 1));
