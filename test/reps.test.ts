import { beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';

// Lie groups compute exp, log and lifts in wasm.
beforeAll(() => eq.init());

const { cyclic, dihedral, symmetric, p4m, so2, so3, se2, seededRng } = eq.groups;
const R = eq.reps;

function mul(a: Float64Array, b: Float64Array, d: number) {
  const c = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) for (let j = 0; j < d; j++) c[i * d + j] += a[i * d + k] * b[k * d + j];
  return c;
}
const maxDiff = (a: Float64Array, b: Float64Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

/** max |rho(gh) - rho(g) rho(h)| over every pair. */
function homomorphismError(rho: eq.Representation<number>, G: eq.groups.FiniteGroup) {
  let worst = 0;
  for (const g of G.elements()) for (const h of G.elements()) {
    worst = Math.max(worst, maxDiff(rho.matrix(G.compose(g, h)), mul(rho.matrix(g), rho.matrix(h), rho.dim)));
  }
  return worst;
}
const inner = (a: eq.Representation<number>, b: eq.Representation<number>, G: eq.groups.FiniteGroup) =>
  G.elements().reduce((s, g) => s + a.character(g) * b.character(g), 0) / G.order;

describe('representations of finite groups', () => {
  const S4 = symmetric(4), S5 = symmetric(5), D4 = dihedral(4);
  const cases: [string, eq.Representation<number>, eq.groups.FiniteGroup][] = [
    ['trivial D4', R.trivial(D4), D4],
    ['regular D4', R.regular(D4), D4],
    ['regular S4', R.regular(S4), S4],
    ['permutation S4 on 4 points', R.permutation(S4, (g, i) => S4.permutation(g)[i], 4), S4],
    ['sign S5', R.sign(S5), S5],
    ['standard S4', R.standard(S4), S4],
    ['standard S5', R.standard(S5), S5],
    ['direct sum', R.directSum(R.standard(S4), R.sign(S4), R.trivial(S4)), S4],
    ['tensor product', R.tensorProduct(R.standard(S4), R.sign(S4)), S4],
    ['p4m point group regular', R.regular(p4m()), p4m().pointGroup],
  ];
  for (let n = 1; n <= 8; n++) {
    R.irreps(cyclic(n)).forEach((r, k) => cases.push([`C${n} irrep ${k}`, r, r.group as eq.groups.FiniteGroup]));
    R.irreps(dihedral(n)).forEach((r, k) => cases.push([`D${n} irrep ${k}`, r, r.group as eq.groups.FiniteGroup]));
  }

  it('are homomorphisms: rho(gh) = rho(g) rho(h) for every pair', () => {
    for (const [name, rho, G] of cases) expect(homomorphismError(rho, G), name).toBeLessThan(1e-12);
  });

  it('irreducible characters are orthogonal; real irreps of complex type have norm 2; they are complete', () => {
    for (const G of [...[1, 2, 3, 4, 5, 6, 7, 8].map(cyclic), ...[1, 2, 3, 4, 5, 6, 7, 8].map(dihedral)]) {
      const irr = R.irreps(G);
      let total = 0;
      irr.forEach((a, i) => irr.forEach((b, j) => {
        const ip = inner(a, b, G);
        if (i !== j) expect(Math.abs(ip), `${G.name} <chi_${i}, chi_${j}>`).toBeLessThan(1e-12);
      }));
      for (const a of irr) {
        const norm = inner(a, a, G);
        const complexType = G.family!.kind === 'cyclic' && a.dim === 2;
        expect(norm, `${G.name} ${a.name}`).toBeCloseTo(complexType ? 2 : 1, 12);
        total += (a.dim * a.dim) / norm; // each complex-type real irrep holds two complex irreps
      }
      expect(total, `${G.name}: sum of squared complex dimensions`).toBeCloseTo(G.order, 12);
    }
    for (const S of [symmetric(3), symmetric(4), symmetric(5)]) {
      const irr = [R.trivial(S), R.sign(S), R.standard(S)];
      irr.forEach((a, i) => irr.forEach((b, j) => expect(inner(a, b, S)).toBeCloseTo(i === j ? 1 : 0, 12)));
    }
  });

  it('the regular character is |G| at the identity and 0 elsewhere', () => {
    for (const G of [cyclic(6), dihedral(5), symmetric(4)]) {
      const reg = R.regular(G);
      expect(G.elements().map((g) => reg.character(g))).toEqual(G.elements().map((g) => (g === 0 ? G.order : 0)));
    }
  });

  it('directSum and tensorProduct have the characters of sum and product', () => {
    const S = symmetric(4);
    const a = R.standard(S), b = R.sign(S);
    for (const g of S.elements()) {
      expect(R.directSum(a, b).character(g)).toBeCloseTo(a.character(g) + b.character(g), 12);
      expect(R.tensorProduct(a, a).character(g)).toBeCloseTo(a.character(g) ** 2, 12);
    }
  });

  it('rejects what is not a representation with typed errors', () => {
    const S3 = symmetric(3);
    expect(() => R.permutation(S3, () => 0, 3)).toThrow('does not permute');
    expect(() => R.permutation(S3, (g, i) => (g === 1 ? [1, 0, 2][i] : i), 3)).toThrow('not an action');
    expect(() => R.irrep(cyclic(4), 3)).toThrow('C4 has 3 real irreps, numbered 0..2; got 3');
    expect(() => R.irreps(S3)).toThrow(eq.ArgumentError);
    expect(() => R.sign(cyclic(3) as never)).toThrow('needs a symmetric group');
    expect(() => R.directSum(R.trivial(S3), R.trivial(cyclic(2)) as never)).toThrow('different groups');
    expect(() => R.regular(so2() as never)).toThrow('needs a finite group');
  });
});

describe('representations of Lie groups', () => {
  it('defining and frequency-k representations are homomorphisms (1,000 random pairs)', () => {
    const cases: [eq.groups.LieGroup, eq.Representation<eq.groups.LieElement>][] = [
      [so2(), R.defining(so2())],
      [so2(), R.irrep(so2(), 3) as eq.Representation<eq.groups.LieElement>],
      [so3(), R.defining(so3())],
      [se2(), R.defining(se2())],
      [so3(), R.tensorProduct(R.defining(so3()), R.defining(so3()))],
    ];
    for (const [G, rho] of cases) {
      const rng = seededRng(21);
      let worst = 0;
      for (let i = 0; i < 1000; i++) {
        const g = G.random(rng), h = G.random(rng);
        worst = Math.max(worst, maxDiff(rho.matrix(G.compose(g, h)), mul(rho.matrix(g), rho.matrix(h), rho.dim)));
      }
      expect(worst, `${G.name} ${rho.name}`).toBeLessThan(1e-9);
    }
    expect(R.defining(so3()).character(so3().identity)).toBe(3);
  });
});

describe('representations from user code', () => {
  it('a Representation checks its dimension, name and matrices before anything uses it; sizes are bounded before any work', () => {
    const C4 = eq.groups.cyclic(4);
    const one = () => Float64Array.from([1]);
    expect(() => new eq.reps.Representation(C4, '1' as never, 'x', one)).toThrow('dim must be an integer in 1..16777216');
    expect(() => new eq.reps.Representation(C4, 1e9, 'x', one)).toThrow(eq.ArgumentError);
    expect(() => new eq.reps.Representation(C4, 1, 'x', undefined as never)).toThrow('give its matrices as a function');
    expect(() => new eq.reps.Representation(C4, 1, 3 as never, one)).toThrow('name must be a string');
    expect(() => eq.reps.permutation(C4, (g, i) => i, 2e8)).toThrow(eq.ArgumentError);
    const big = new eq.reps.Representation(C4, 5000, 'big', () => new Float64Array(0));
    expect(() => eq.reps.tensorProduct(big, big)).toThrow('dim must be an integer in 1..16777216');
    const h = eq.space.hom(C4, eq.reps.regular(C4), eq.reps.regular(C4));
    expect(() => h.combine(['1', '1', '1', '1'] as never)).toThrow('coefficient 0 is "1", not a number');
  });
});
