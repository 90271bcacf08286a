// `npx equivariant basis <group> <repIn> <repOut> [--print]`: the dimension (from characters and
// from the null space) and an orthonormal basis of the equivariant linear maps repIn -> repOut.
// Groups: C<n>, D<n>, S<n>, so2, so3. Representations: trivial, regular, sign, standard,
// perm (S_n on n points), irrep:<k>, defining, and products a*b.
import * as eq from '../dist/index.js';

function group(name) {
  if (name === 'so2') return eq.groups.so2();
  if (name === 'so3') return eq.groups.so3();
  return eq.groups.byName(name);
}

function rep(G, spec) {
  if (spec.includes('*')) return spec.split('*').map((s) => rep(G, s)).reduce((a, b) => eq.reps.tensorProduct(a, b));
  const [kind, k] = spec.split(':');
  switch (kind) {
    case 'trivial': return eq.reps.trivial(G);
    case 'regular': return eq.reps.regular(G);
    case 'sign': return eq.reps.sign(G);
    case 'standard': return eq.reps.standard(G);
    case 'perm': return eq.reps.permutation(G, (g, i) => G.permutation(g)[i], G.degree);
    case 'irrep': return eq.reps.irrep(G, Number(k));
    case 'defining': return eq.reps.defining(G);
    default: throw new eq.ArgumentError(`basis: unknown representation '${spec}' (trivial, regular, sign, standard, perm, irrep:<k>, defining, a*b)`);
  }
}

export async function main(args = []) {
  const [g, a, b] = args.filter((x) => !x.startsWith('--'));
  if (!g || !a || !b) {
    console.error('usage: equivariant basis <group> <repIn> <repOut> [--print]\n  e.g. equivariant basis S4 perm*perm perm*perm');
    process.exitCode = 2;
    return;
  }
  const G = group(g);
  const rin = rep(G, a), rout = rep(G, b);
  const res = eq.basis.solve(G, rin, rout);
  console.log(`Hom_${g}(${rin.name} [dim ${rin.dim}], ${rout.name} [dim ${rout.dim}])`);
  if (res.characterDimension !== undefined) console.log(`dimension from characters: ${res.characterDimension}`);
  console.log(`dimension of the null space of the constraints (${res.constraints} ${res.characterDimension !== undefined ? 'generators' : 'random elements'}): ${res.dimension}`);
  if (args.includes('--print')) {
    res.basis.forEach((w, i) => {
      console.log(`\nbasis element ${i + 1} (${rout.dim} x ${rin.dim}):`);
      for (let r = 0; r < rout.dim; r++) console.log('  ' + Array.from(w.subarray(r * rin.dim, (r + 1) * rin.dim), (v) => v.toFixed(3).padStart(7)).join(' '));
    });
  }
}
