// `npx equivariant basis <group> <repIn> <repOut>`: the space of equivariant linear maps repIn ->
// repOut (eq.space.hom): its dimension (from the solver and from the character formula), the
// time, and a summary of the basis; --json FILE writes it all, the basis as a sparse list.
import { writeFileSync } from 'node:fs';
import * as eq from '../dist/index.js';

const GROUPS = [
  ['C<n>', 'cyclic group of order n (n <= 1024)'],
  ['D<n>', 'dihedral group of order 2n'],
  ['S<n>', 'symmetric group on n points (n <= 6)'],
  ['p4, p4m', 'the wallpaper groups on grids (their point groups C4, D4 act)'],
  ['SO(2), SO(3)', 'rotations (also so2, so3)'],
  ['O(3)', 'rotations and reflections: SO(3) x {I, -I} (also o3)'],
  ['SE(2), SE(3), T(2), T(3)', 'on representations of their rotation part'],
];

const REPS = [
  ['trivial, S, 1', 'every element acts as 1; an integer n alone is n copies'],
  ['regular', "the group permuting itself (finite groups)"],
  ['perm', 'S_n permuting n points'],
  ['sign, standard', 'S_n: the sign, and perm on sum-zero vectors (dim n - 1)'],
  ['irrep:<k>', 'the k-th real irrep of C_n, D_n, p4, p4m; frequency k of SO(2)'],
  ['defining, V', 'the matrices themselves (SO(d), O(3), SE(d): the rotation)'],
  ['det, P', "O(3)'s determinant (pseudoscalars)"],
];

export const USAGE = `usage: equivariant basis <group> <repIn> <repOut> [options]

  The space of equivariant linear maps repIn -> repOut: its dimension (solved, and from the
  character formula or the Haar integral of the character), the time, and a summary of the basis.

  options:
    --method auto|orbits|projector|constraints   how to solve (default auto: orbits for
                       permutation-like representations, else the exact projector)
    --seed N           seed of the projector's random vectors (default 1)
    --json FILE        write the result as JSON, the basis as a sparse list (index = o * d_in + i)
    --print            print the basis matrices (the first 20, when small)
    --help             this text

  groups:
${GROUPS.map(([n, d]) => `    ${n.padEnd(26)}${d}`).join('\n')}

  representations (combine with + for direct sums, * for tensor products, ^ for powers,
  parentheses; n * X is n copies of X):
${REPS.map(([n, d]) => `    ${n.padEnd(26)}${d}`).join('\n')}

  examples:
    equivariant basis S4 perm*perm*perm perm*perm*perm     # 187 (4,096 unknowns)
    equivariant basis S4 perm^4 perm^4 --json s4.json      # 2,795 (65,536 unknowns)
    equivariant basis "SO(3)" "V^4" "V^4"                   # 91
    equivariant basis "O(3)" "5*V" "1 + V^2"                # 0: parity
`;

function option(args, name) {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new eq.ArgumentError(`basis: ${name} needs a value`);
  return v;
}

const fmt = (n) => n.toLocaleString('en-US');

export async function main(args = []) {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const known = new Set(['--method', '--seed', '--json', '--print']);
  const positional = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith('--')) {
      if (!known.has(args[i])) throw new eq.ArgumentError(`basis: unknown option ${args[i]} (see equivariant basis --help)`);
      if (args[i] !== '--print') i++;
    } else positional.push(args[i]);
  }
  const [g, a, b] = positional;
  if (!g || !a || !b || positional.length > 3) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const method = option(args, '--method') ?? 'auto';
  const seedText = option(args, '--seed');
  const seed = seedText === undefined ? 1 : Number(seedText);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new eq.ArgumentError(`basis: --seed must be a non-negative integer, got ${seedText}`);
  const json = option(args, '--json');
  await eq.init();
  const G = eq.groups.byName(g);
  const rin = eq.space.rep(G, a), rout = eq.space.rep(G, b);
  const t0 = performance.now();
  const h = eq.space.hom(G, rin, rout, { method, seed });
  const ms = performance.now() - t0;
  const s = h.summary();
  const blocks = h.blocks.map((x) => x.block);
  const distinct = [...new Set(blocks)];
  const nnz = new Int32Array(h.dimension);
  const { index, element, value } = h.entries();
  for (const e of element) nnz[e]++;
  const solvedBy = Object.entries(s.solved).filter(([, c]) => c > 0).map(([m, c]) => `${m} ${c}`).join(', ');
  console.log(`Hom_${G.name}(${a} [dim ${fmt(rin.dim)}], ${b} [dim ${fmt(rout.dim)}]): ${fmt(s.unknowns)} unknowns`);
  console.log(`dimension: ${fmt(h.dimension)} (${G instanceof eq.groups.LieGroup ? 'Haar integral of the character' : 'character formula'}: ${fmt(h.characterDimension)})`);
  console.log(`time: ${ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`}`);
  const kinds = Object.values(s.solved).reduce((x, y) => x + y, 0);
  console.log(`blocks: ${fmt(s.blocks)} pair${s.blocks === 1 ? '' : 's'} of terms, ${kinds} kind${kinds === 1 ? '' : 's'} of block (${solvedBy}), the largest ${fmt(s.largestBlock)} unknowns; residual max |rho_out(g) W - W rho_in(g)| = ${s.residual.toExponential(1)}`);
  if (h.dimension) {
    let lo = Infinity, hi = 0;
    for (const c of nnz) {
      lo = Math.min(lo, c);
      hi = Math.max(hi, c);
    }
    const solvedBlocks = distinct.filter((x) => x.dimension > 0);
    const sparse = solvedBlocks.every((x) => x.method === 'orbits');
    console.log(`basis: ${fmt(h.dimension)} orthonormal ${fmt(rout.dim)} x ${fmt(rin.dim)} matrices, ${fmt(index.length)} nonzero entries in all (${fmt(lo)} to ${fmt(hi)} per matrix)${sparse ? '; each is a signed orbit indicator' : ''}`);
    const gaps = solvedBlocks.filter((x) => x.gap);
    if (gaps.length) {
      const kept = Math.min(...gaps.map((x) => x.gap.lastKept)), dropped = Math.max(...gaps.map((x) => x.gap.firstDropped));
      console.log(`rank gap (projector): smallest pivot kept ${kept.toExponential(1)}, largest dropped ${dropped.toExponential(1)} (relative)`);
    }
    if (sparse) {
      const sizes = new Map();
      for (const c of nnz) sizes.set(c, (sizes.get(c) ?? 0) + 1);
      console.log(`orbit sizes: ${[...sizes].sort((x, y) => x[0] - y[0]).map(([k, c]) => `${fmt(c)} of ${fmt(k)}`).join(', ')}`);
    }
  }
  if (args.includes('--print')) {
    const count = Math.min(h.dimension, 20);
    if (rin.dim * rout.dim > 4096) console.log(`\n(--print shows matrices of at most 4,096 entries; these have ${fmt(rin.dim * rout.dim)})`);
    else for (let i = 0; i < count; i++) {
      const w = h.element(i);
      console.log(`\nbasis element ${i + 1} (${rout.dim} x ${rin.dim}):`);
      for (let r = 0; r < rout.dim; r++) console.log('  ' + Array.from(w.subarray(r * rin.dim, (r + 1) * rin.dim), (v) => v.toFixed(3).padStart(7)).join(' '));
    }
  }
  if (json) {
    const out = {
      group: G.name, in: { spec: a, dim: rin.dim }, out: { spec: b, dim: rout.dim }, unknowns: s.unknowns,
      dimension: h.dimension, characterDimension: h.characterDimension, ms: Number(ms.toFixed(3)), method,
      blocks: s.blocks, solved: s.solved, largestBlock: s.largestBlock, residual: s.residual,
      basis: { format: 'coo', note: 'entry k of basis matrix element[k] at row-major index index[k] = o * d_in + i', index: Array.from(index), element: Array.from(element), value: Array.from(value) },
    };
    writeFileSync(json, JSON.stringify(out));
    console.log(`wrote ${json}`);
  }
}
