// The space of equivariant linear maps: dimensions from characters and from the null space
// agree with each other and with the known results in docs/framework.md.
import { describe, expect, it } from 'vitest';
import { beforeAll } from 'vitest';
import * as eq from '../ts/index.js';

beforeAll(() => eq.init());

const { cyclic, dihedral, symmetric, so2, so3, seededRng } = eq.groups;
const R = eq.reps;

function mul(a: Float64Array, b: Float64Array, m: number, k: number, n: number) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * k + p] * b[p * n + j];
  return c;
}

/** Checks the basis: orthonormal, and every element equivariant under every listed element. */
function checkBasis(res: eq.basis.BasisResult, rin: eq.Representation<any>, rout: eq.Representation<any>, elements: unknown[]) {
  const n = rin.dim * rout.dim;
  res.basis.forEach((w, a) => res.basis.forEach((v, b) => {
    let dot = 0;
    for (let p = 0; p < n; p++) dot += w[p] * v[p];
    expect(dot).toBeCloseTo(a === b ? 1 : 0, 8);
  }));
  for (const w of res.basis) for (const g of elements) {
    const lhs = mul(rout.matrix(g), w, rout.dim, rout.dim, rin.dim), rhs = mul(w, rin.matrix(g), rout.dim, rin.dim, rin.dim);
    let err = 0;
    for (let p = 0; p < n; p++) err = Math.max(err, Math.abs(lhs[p] - rhs[p]));
    expect(err).toBeLessThan(1e-8);
  }
}

describe('basis.dimension and basis.solve', () => {
  it('cyclic shifts on R^n: the n circulant matrices (convolution = linearity + translation symmetry)', () => {
    for (const n of [3, 5, 8]) {
      const C = cyclic(n), shift = R.permutation(C, (g, i) => (i + g) % n, n);
      expect(eq.basis.dimension(C, shift, shift)).toBe(n);
      const res = eq.basis.solve(C, shift, shift);
      expect(res.dimension).toBe(n);
      checkBasis(res, shift, shift, C.elements());
    }
  });

  it('S_n on R^n: 2 (a I + b 1 1^T, DeepSets); on R^(n x n), n = 4: 15 (Maron et al.)', () => {
    for (const n of [3, 4, 5]) {
      const S = symmetric(n), perm = R.permutation(S, (g, i) => S.permutation(g)[i], n);
      expect(eq.basis.dimension(S, perm, perm)).toBe(2);
      const res = eq.basis.solve(S, perm, perm);
      expect(res.dimension).toBe(2);
      checkBasis(res, perm, perm, S.elements());
    }
    const S4 = symmetric(4);
    const perm = R.permutation(S4, (g, i) => S4.permutation(g)[i], 4);
    const pairs = R.tensorProduct(perm, perm);
    expect(eq.basis.dimension(S4, pairs, pairs)).toBe(15);
    const res = eq.basis.solve(S4, pairs, pairs);
    expect(res.dimension).toBe(15);
    checkBasis(res, pairs, pairs, S4.generators);
  });

  it('permutation representations: the number of orbits on X_out x X_in; regular -> regular: |G|', () => {
    const D4 = dihedral(4);
    const square = R.permutation(D4, (g, i) => {
      // D4 on the 4 corners of a square, corner i at angle 90 i: r turns, m reflects i -> -i.
      const m = Math.floor(g / 4), r = g % 4;
      return (((m ? -i : i) + r) % 4 + 4) % 4;
    }, 4);
    const reg = R.regular(D4);
    // Orbits of D4 on corners x group elements, counted directly.
    const image = (g: number, i: number) => { const M = square.matrix(g); for (let k = 0; k < 4; k++) if (M[k * 4 + i] === 1) return k; return -1; };
    const seen = new Set<string>();
    let orbits = 0;
    for (let i = 0; i < 4; i++) for (let h = 0; h < 8; h++) {
      if (seen.has(`${i},${h}`)) continue;
      orbits++;
      for (const g of D4.elements()) seen.add(`${image(g, i)},${D4.compose(g, h)}`);
    }
    expect(orbits).toBe(4); // the action on G is free: 4 * 8 / 8
    expect(eq.basis.dimension(D4, reg, square)).toBe(orbits);
    expect(eq.basis.solve(D4, reg, square).dimension).toBe(orbits);
    for (const G of [cyclic(6), dihedral(3), symmetric(3)]) {
      const r = R.regular(G);
      expect(eq.basis.dimension(G, r, r)).toBe(G.order);
      expect(eq.basis.solve(G, r, r).dimension).toBe(G.order);
    }
  });

  it('irreps: Schur (1 for real type, 2 for the complex-type rotations of C_n, 0 between distinct ones)', () => {
    for (const G of [cyclic(5), dihedral(6)]) {
      const irr = R.irreps(G);
      irr.forEach((a, i) => irr.forEach((b, j) => {
        const want = i !== j ? 0 : G.family!.kind === 'cyclic' && a.dim === 2 ? 2 : 1;
        expect(eq.basis.dimension(G, a, b)).toBe(want);
        expect(eq.basis.solve(G, a, b).dimension).toBe(want);
      }));
    }
  });

  it('Lie groups by sampled constraints: SO(2) on R^2 has 2 (rotations and scalings), SO(3) on R^3 has 1', () => {
    const r2 = eq.basis.solve(so2(), R.defining(so2()), R.defining(so2()));
    expect(r2.dimension).toBe(2);
    const rng = seededRng(4);
    checkBasis(r2, R.defining(so2()), R.defining(so2()), Array.from({ length: 20 }, () => so2().random(rng)));
    const d3 = R.defining(so3());
    expect(eq.basis.solve(so3(), d3, d3).dimension).toBe(1);
    // R^3 (x) R^3 -> R: the dot product only.
    expect(eq.basis.solve(so3(), R.tensorProduct(d3, d3), R.trivial(so3())).dimension).toBe(1);
  });

  it('groups compare by identity, and bad input gives typed errors', () => {
    expect(symmetric(5)).toBe(symmetric(5));
    expect(cyclic(4)).toBe(cyclic(4));
    const C = cyclic(3), D = dihedral(3);
    expect(() => eq.basis.dimension(C, R.trivial(C), R.trivial(D))).toThrow('must be of C3');
    // Lie groups have exact dimensions too now (the Haar integral of the character).
    expect(eq.basis.dimension(so2(), R.defining(so2()), R.defining(so2()))).toBe(2);
    // Beyond the solver's limit (docs/operator-space.md): refused before any work.
    const S4 = symmetric(4);
    const p = R.permutation(S4, (g, i) => S4.permutation(g)[i], 4);
    let big = p;
    for (let k = 1; k < 11; k++) big = R.tensorProduct(big, p);
    expect(() => eq.basis.solve(S4, big, p)).toThrow('limits.maxBasisUnknowns');
  });
});
