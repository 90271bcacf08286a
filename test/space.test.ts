// The solver of equivariant linear maps (ts/space/, crate/src/nullspace.rs): dimensions equal the
// character formula on every finite case tried, the three methods find the same space, every
// basis element is equivariant under every element (finite) or random elements (Lie), known
// results, Lie groups integrated exactly, and bad input refused at once with typed errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';

const { cyclic, dihedral, symmetric, product, so2, so3, o3, se3, t2, p4m, seededRng } = eq.groups;
const R = eq.reps;
type Rep = eq.Representation<any>;

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());

function mul(a: Float64Array, b: Float64Array, m: number, k: number, n: number) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) {
    const x = a[i * k + p];
    if (x !== 0) for (let j = 0; j < n; j++) c[i * n + j] += x * b[p * n + j];
  }
  return c;
}

/** max |rho_out(g) W - W rho_in(g)| over the elements and basis elements. */
function equivarianceError(h: eq.space.HomSpace, elements: unknown[], only?: number[]): number {
  const { repIn: ri, repOut: ro } = h;
  let err = 0;
  for (const i of only ?? Array.from({ length: h.dimension }, (_, k) => k)) {
    const w = h.element(i);
    for (const g of elements) {
      const lhs = mul(ro.matrix(g as never), w, ro.dim, ro.dim, ri.dim), rhs = mul(w, ri.matrix(g as never), ro.dim, ri.dim, ri.dim);
      for (let p = 0; p < lhs.length; p++) err = Math.max(err, Math.abs(lhs[p] - rhs[p]));
    }
  }
  return err;
}

/** max |<B_i, B_j> - delta_ij|. */
function orthonormalityError(h: eq.space.HomSpace): number {
  const B = h.dense();
  let err = 0;
  B.forEach((a, i) => B.forEach((b, j) => {
    let d = 0;
    for (let p = 0; p < a.length; p++) d += a[p] * b[p];
    err = Math.max(err, Math.abs(d - (i === j ? 1 : 0)));
  }));
  return err;
}

/** Whether two orthonormal bases span the same space: sum of squared projections equals the dimension. */
function sameSpan(a: Float64Array[], b: Float64Array[]): number {
  if (a.length !== b.length) return Infinity;
  let kept = 0;
  for (const v of b) for (const u of a) {
    let d = 0;
    for (let p = 0; p < u.length; p++) d += u[p] * v[p];
    kept += d * d;
  }
  return Math.abs(kept - b.length);
}

const perm = (S: eq.groups.SymmetricGroup) => eq.space.rep(S, 'perm');

describe('dimensions equal the character formula on every finite case tried', () => {
  const cases: [string, eq.groups.FiniteGroup, string, string][] = [];
  for (const n of [3, 4, 5, 6, 8]) for (const [a, b] of [['regular', 'regular'], ['regular', 'irrep:1'], ['irrep:1', 'irrep:1'], ['regular^2', 'regular'], ['irrep:1^2', 'irrep:1 + 1']]) cases.push([`C${n}`, cyclic(n), a, b]);
  for (const n of [3, 4, 5, 6]) {
    const two = `irrep:${R.irreps(dihedral(n)).length - 1}`; // a 2-dimensional irrep
    for (const [a, b] of [['regular', 'regular'], [two, 'regular'], [`${two}^2`, two], ['regular', 'irrep:1 + irrep:2'], [`(irrep:1 + ${two})^2`, `${two}^2`]]) cases.push([`D${n}`, dihedral(n), a, b]);
  }
  for (const n of [3, 4, 5]) for (const [a, b] of [['perm', 'perm'], ['perm^2', 'perm^2'], ['perm^2', 'perm'], ['standard', 'standard'], ['standard^2', 'standard + 1'], ['perm * sign', 'perm'], ['standard^2', 'perm^2'], ['regular', 'standard'], ['sign^2', '1']]) cases.push([`S${n}`, symmetric(n), a, b]);
  cases.push(['S4', symmetric(4), 'perm^3', 'perm^2'], ['S3', symmetric(3), 'perm^4', 'perm^2'], ['S4', symmetric(4), 'standard^3', 'standard^2']);

  it(`${cases.length} cases: solved dimension = character formula, orthonormal, equivariant under every element`, () => {
    for (const [name, G, a, b] of cases) {
      const ri = eq.space.rep(G, a), ro = eq.space.rep(G, b);
      // The character formula computed here directly from the whole representations' traces.
      let s = 0;
      for (const g of G.elements()) s += ro.character(g) * ri.character(G.inverse(g));
      const chars = Math.round(s / G.order) + 0; // never -0
      expect(Math.abs(s / G.order - chars), `${name} ${a} -> ${b}`).toBeLessThan(1e-9);
      const h = eq.space.hom(G, ri, ro);
      expect(h.dimension, `${name}: ${a} -> ${b}`).toBe(chars);
      expect(eq.basis.dimension(G, ri, ro)).toBe(chars);
      expect(h.characterDimension).toBe(chars);
      if (h.dimension) {
        expect(equivarianceError(h, G.elements()), `${name}: ${a} -> ${b}`).toBeLessThan(1e-10);
        expect(orthonormalityError(h)).toBeLessThan(1e-10);
      }
    }
  });

  it('products of groups and p4m through its point group', () => {
    const G = product(cyclic(3), dihedral(4));
    const r = R.regular(G);
    expect(eq.space.hom(G, r, r).dimension).toBe(24);
    const P = p4m();
    const x = R.irreps(P).at(-1)! as Rep;
    const sq = R.tensorProduct(x, x);
    const h = eq.space.hom(P, sq, sq);
    expect(h.dimension).toBe(eq.basis.dimension(P, sq, sq));
    expect(equivarianceError(h, P.pointGroup.elements())).toBeLessThan(1e-10);
  });
});

describe('known results (docs/framework.md)', () => {
  it('C_n shifts on R^n: the n circulants; regular -> regular: |G| for any finite group', () => {
    for (const n of [3, 5, 8, 12]) {
      const C = cyclic(n), shift = R.permutation(C, (g, i) => (i + g) % n, n);
      const h = eq.space.hom(C, shift, shift);
      expect(h.dimension).toBe(n);
      // Each basis element is constant along the diagonals i - j = const (a circulant).
      for (let k = 0; k < n; k++) {
        const w = h.element(k);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(w[i * n + j]).toBeCloseTo(w[((i + 1) % n) * n + ((j + 1) % n)], 12);
      }
    }
    for (const G of [cyclic(7), dihedral(5), symmetric(4), product(cyclic(2), cyclic(6))]) {
      const r = R.regular(G);
      expect(eq.space.hom(G, r, r).dimension).toBe(G.order);
    }
  });

  it('S_n: DeepSets 2 on R^n; Maron et al. 15 on R^(n x n) for n = 4, 5; 187 on 4 x 4 x 4 (4,096 unknowns)', () => {
    for (const n of [3, 4, 5]) expect(eq.space.hom(symmetric(n), perm(symmetric(n)), perm(symmetric(n))).dimension).toBe(2);
    for (const n of [4, 5]) {
      const S = symmetric(n), sq = eq.space.rep(S, 'perm^2');
      const h = eq.space.hom(S, sq, sq);
      expect(h.dimension).toBe(15);
      expect(equivarianceError(h, S.generators)).toBe(0);
    }
    const S4 = symmetric(4), cube = eq.space.rep(S4, 'perm^3');
    const h = eq.space.hom(S4, cube, cube);
    expect(h.summary()).toMatchObject({ unknowns: 4096, dimension: 187, characterDimension: 187, solved: { orbits: 1 } });
  });

  it('permutation representations: the number of orbits on X_out x X_in, counted by brute force', () => {
    const D4 = dihedral(4);
    const corner = (g: number, i: number) => ((((Math.floor(g / 4) ? -i : i) + (g % 4)) % 4) + 4) % 4;
    const square = R.permutation(D4, corner, 4);
    const edges = R.permutation(D4, (g, i) => { // the 6 unordered pairs of corners
      const pairs = [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]];
      const [a, b] = pairs[i].map((c) => corner(g, c)).sort();
      return pairs.findIndex(([x, y]) => x === a && y === b);
    }, 6);
    for (const [ri, ro] of [[square, square], [edges, square], [edges, edges], [R.regular(D4), edges]] as [Rep, Rep][]) {
      const img = (r: Rep, g: number, i: number) => { const m = r.matrix(g); for (let k = 0; k < r.dim; k++) if (m[k * r.dim + i] === 1) return k; return -1; };
      const seen = new Set<string>();
      let orbits = 0;
      for (let o = 0; o < ro.dim; o++) for (let i = 0; i < ri.dim; i++) {
        if (seen.has(`${o},${i}`)) continue;
        orbits++;
        for (const g of D4.elements()) seen.add(`${img(ro, g, o)},${img(ri, g, i)}`);
      }
      const h = eq.space.hom(D4, ri, ro);
      expect(h.dimension).toBe(orbits);
      expect(h.summary().solved.orbits).toBe(1);
    }
  });

  it("Schur: irreps give 1 (real type), 2 (C_n's complex-type rotations), 0 between distinct ones", () => {
    for (const G of [cyclic(5), cyclic(6), dihedral(6)]) {
      const irr = R.irreps(G) as Rep[];
      irr.forEach((a, i) => irr.forEach((b, j) => {
        const want = i !== j ? 0 : G.family!.kind === 'cyclic' && a.dim === 2 ? 2 : 1;
        expect(eq.space.hom(G, a, b).dimension).toBe(want);
      }));
    }
  });
});

describe('three methods, one space', () => {
  it('orbits, the projector and the stacked constraints agree (finite groups)', () => {
    const S4 = symmetric(4);
    for (const [a, b] of [['perm^2', 'perm^2'], ['perm * sign', 'perm^2'], ['perm^2', 'perm + 1']]) {
      const ri = eq.space.rep(S4, a), ro = eq.space.rep(S4, b);
      const [o, p, c] = (['orbits', 'projector', 'constraints'] as const).map((method) => eq.space.hom(S4, ri, ro, { method }));
      expect(o.summary().solved.orbits + o.summary().solved.zero).toBeGreaterThan(0);
      expect(sameSpan(o.dense(), p.dense())).toBeLessThan(1e-9);
      expect(sameSpan(o.dense(), c.dense())).toBeLessThan(1e-9);
      expect(p.summary().residual).toBeLessThan(1e-12);
    }
    // Not a permutation representation: the projector and the constraints.
    const st = eq.space.rep(S4, 'standard^2');
    const p = eq.space.hom(S4, st, st, { method: 'projector' }), c = eq.space.hom(S4, st, st, { method: 'constraints' });
    expect(p.dimension).toBe(4);
    expect(sameSpan(p.dense(), c.dense())).toBeLessThan(1e-9);
    expect(() => eq.space.hom(S4, st, st, { method: 'orbits' })).toThrow(eq.ArgumentError);
  });

  it('on 4,096 unknowns the projector finds the orbits\' space, its rank gap is rounding, and it is deterministic', () => {
    const S4 = symmetric(4), cube = eq.space.rep(S4, 'perm^3');
    const o = eq.space.hom(S4, cube, cube), p = eq.space.hom(S4, cube, cube, { method: 'projector', seed: 3 });
    expect(p.dimension).toBe(187);
    const b = p.blocks[0].block;
    expect(b.gap!.lastKept).toBeGreaterThan(1e-4);
    expect(b.gap!.firstDropped).toBeLessThan(1e-12);
    // span(p) = span(o): each projector vector is its own projection onto the orbit basis.
    let worst = 0;
    for (let i = 0; i < p.dimension; i++) {
      const v = p.element(i), back = o.combine(o.project(v));
      for (let k = 0; k < v.length; k++) worst = Math.max(worst, Math.abs(back[k] - v[k]));
    }
    expect(worst).toBeLessThan(1e-10);
    const again = eq.space.hom(S4, cube, cube, { method: 'projector', seed: 3 });
    expect(again.element(5)).toEqual(p.element(5));
  });
});

describe('Lie groups: the Haar integral, exactly', () => {
  const riordan = [1, 0, 1, 1, 3, 6, 15, 36, 91, 232];
  const rng = seededRng(5);

  it('SO(3): invariants of (R^3)^(x n) are the Riordan numbers; V^4 -> V^4 has 91 (6,561 unknowns)', () => {
    const G = so3();
    for (const [a, b] of [[1, 1], [2, 0], [2, 1], [2, 2], [3, 0], [3, 2], [3, 3], [4, 4]]) {
      const ri = eq.space.rep(G, b === 0 ? '1' : `V^${a}`), ro = eq.space.rep(G, b === 0 ? `V^${a}` : `V^${b}`);
      const h = eq.space.hom(G, ri, ro);
      const want = riordan[b === 0 ? a : a + b];
      expect(h.dimension, `V^${a} -> V^${b}`).toBe(want);
      expect(eq.basis.dimension(G, ri, ro)).toBe(want);
      const els = Array.from({ length: 6 }, () => G.random(rng));
      const sample = Array.from({ length: Math.min(h.dimension, 12) }, (_, i) => i);
      expect(equivarianceError(h, els, sample)).toBeLessThan(1e-12);
    }
    // Dimensions past 2^32 from characters in the billions: the Haar integral's rounding grows
    // with them, and an absolute tolerance had called the exact value non-integral.
    expect(eq.basis.dimension(G, eq.space.rep(G, 'V^13'), eq.space.rep(G, 'V^13'))).toBe(6_684_761_125);
    expect(eq.basis.dimension(G, eq.space.rep(G, 'V^15'), eq.space.rep(G, 'V^15'))).toBe(439_742_222_071);
    // SO(2): central binomial coefficients, exact while the rounding provably is below 1/2, refused past it.
    const S = so2();
    expect(eq.basis.dimension(S, eq.space.rep(S, 'V^20'), eq.space.rep(S, 'V^20'))).toBe(137_846_528_820);
    expect(eq.basis.dimension(S, eq.space.rep(S, 'V^22'), eq.space.rep(S, 'V^22'))).toBe(2_104_098_963_720);
    expect(() => eq.basis.dimension(S, eq.space.rep(S, 'V^24'), eq.space.rep(S, 'V^24'))).toThrow('too large to give an exact integer in f64');
  });

  it('O(3) = SO(3) x {+-I}: parity separates tensors of odd and even rank; det gives pseudotensors', () => {
    const G = o3();
    const d = (a: string, b: string) => eq.space.hom(G, eq.space.rep(G, a), eq.space.rep(G, b)).dimension;
    expect(d('V^2', 'V')).toBe(0);
    expect(eq.space.hom(so3(), eq.space.rep(so3(), 'V^2'), eq.space.rep(so3(), 'V')).dimension).toBe(1); // the cross product
    expect(d('V^2', 'V * det')).toBe(1); // ... which is a pseudovector
    expect(d('V^3', '1')).toBe(0);
    expect(d('V^3', 'det')).toBe(1); // the triple product
    expect(d('V^2', 'V^2')).toBe(3);
    expect(d('5*V', '1')).toBe(0);
    expect(d('(5*V)^2', '1')).toBe(25); // every dot product x_i . x_j
    const h = eq.space.hom(G, eq.space.rep(G, 'V^2'), eq.space.rep(G, 'V^2'));
    const els = [G.reflection, ...Array.from({ length: 6 }, () => G.random(rng))];
    expect(els.some((g) => G.determinant(g) < 0)).toBe(true);
    expect(equivarianceError(h, els)).toBeLessThan(1e-12);
  });

  it("SO(2): frequencies add; EMLP's constraints (Lie-algebra generators, plus -I for O(3)) give the same spaces", () => {
    const G = so2();
    expect(eq.basis.solve(G, R.defining(G), R.defining(G)).dimension).toBe(2);
    const f = (k: number) => R.irrep(G, k) as Rep;
    expect(eq.space.hom(G, R.tensorProduct(f(1), f(2)), f(3)).dimension).toBe(2);
    expect(eq.space.hom(G, R.tensorProduct(f(1), f(2)), f(1)).dimension).toBe(2);
    expect(eq.space.hom(G, R.tensorProduct(f(2), f(2)), f(1)).dimension).toBe(0);
    for (const [H, a, b] of [[G, 'V^2', 'V^2'], [so3(), 'V^2', 'V^2'], [so3(), 'V^2', 'V'], [o3(), 'V^2 + V', 'V^2 + det']] as [eq.groups.LieGroup, string, string][]) {
      const ri = eq.space.rep(H, a), ro = eq.space.rep(H, b);
      const p = eq.space.hom(H, ri, ro), c = eq.space.hom(H, ri, ro, { method: 'constraints' });
      expect(c.dimension, `${H.name} ${a} -> ${b}`).toBe(p.dimension);
      expect(sameSpan(p.dense(), c.dense())).toBeLessThan(1e-8);
    }
  });

  it('SE(3) and T(2): representations of the rotation part; translations act trivially', () => {
    const G = se3();
    expect(eq.space.hom(G, R.defining(G), R.defining(G)).dimension).toBe(1);
    const T = t2(), v = R.defining(T);
    expect(eq.space.hom(T, v, v).dimension).toBe(4);
  });
});

describe('eq.basis.solve keeps its API', () => {
  it('{ dimension, basis, characterDimension, constraints }', () => {
    const S4 = symmetric(4);
    const p = R.permutation(S4, (g, i) => S4.permutation(g)[i], 4);
    const pairs = R.tensorProduct(p, p);
    const res = eq.basis.solve(S4, pairs, pairs);
    expect(res).toMatchObject({ dimension: 15, characterDimension: 15, constraints: 2 });
    expect(res.basis).toHaveLength(15);
    expect(res.basis[0]).toBeInstanceOf(Float64Array);
    expect(res.basis[0]).toHaveLength(256);
    expect(eq.basis.solve(so3(), R.defining(so3()), R.defining(so3()), { samples: 8, seed: 1 }).dimension).toBe(1);
  });
});

describe('bad input: typed errors, at once', () => {
  it('representations of different groups', () => {
    expect(() => eq.space.hom(cyclic(3), R.trivial(cyclic(3)), R.trivial(dihedral(3)))).toThrow(/representations of different groups/);
    expect(() => eq.basis.dimension(so3(), R.defining(so3()), R.defining(so2()))).toThrow(eq.ArgumentError);
    expect(() => eq.space.hom(cyclic(3), R.trivial(cyclic(3)), {} as Rep)).toThrow(eq.ArgumentError);
  });

  it('maps that are not homomorphisms', () => {
    const C = cyclic(4);
    const notHom = new eq.Representation(C, 1, 'not a homomorphism', (g: number) => new Float64Array([g === 1 ? -1 : 1]));
    expect(() => eq.space.hom(C, notHom, R.trivial(C))).toThrow(/not a representation of C4.*homomorphism/);
    const notId = new eq.Representation(C, 1, 'scaled', () => new Float64Array([2]));
    expect(() => eq.space.dimension(C, notId, notId)).toThrow(/rho\(identity\)/);
    const wrongSize = new eq.Representation(C, 2, 'short', () => new Float64Array(3));
    expect(() => eq.space.hom(C, wrongSize, wrongSize)).toThrow(/must be a 2 x 2 matrix/);
    const G = so3();
    const bent = new eq.Representation(G, 3, 'bent', (g: Float64Array) => Float64Array.from(g, (v, i) => v + (i === 0 ? 0.1 : 0)));
    expect(() => eq.space.hom(G, bent, bent)).toThrow(/not a representation of SO\(3\)/);
    const nan = new eq.Representation(C, 1, 'nan', (g: number) => new Float64Array([g ? NaN : 1]));
    expect(() => eq.space.hom(C, nan, nan)).toThrow(/non-finite/);
  });

  it('problems beyond the documented limits', () => {
    const S4 = symmetric(4);
    const big = eq.space.rep(S4, 'perm^6'), small = eq.space.rep(S4, 'perm^5');
    expect(() => eq.space.hom(S4, big, small)).toThrow(/4194304 unknowns is over the limit of 1048576 \(limits.maxBasisUnknowns/);
    const st = eq.space.rep(S4, 'standard^4');
    expect(() => eq.space.hom(S4, st, st, { method: 'constraints' })).toThrow(/over its 1024/);
    const before = eq.setLimits({ maxBasisBytes: 2 ** 20 });
    try {
      expect(() => eq.space.hom(S4, st, st)).toThrow(/limits.maxBasisBytes/);
      // Orbit bases are sparse: the same limit does not stop S4 on 4 x 4 x 4 x 4 (65,536 unknowns).
      const q = eq.space.rep(S4, 'perm^4');
      expect(eq.space.hom(S4, q, q).dimension).toBe(2795);
    } finally {
      eq.setLimits(before);
    }
    const C = cyclic(4);
    expect(() => eq.space.hom(C, eq.space.rep(C, '1100'), eq.space.rep(C, '1000'))).toThrow(/1100000 blocks .*limits\.maxBasisUnknowns/);
    expect(() => eq.space.rep(S4, 'perm^40')).toThrow(/dimension .* is more than/);
    expect(() => eq.space.rep(S4, 'perm +')).toThrow(eq.ArgumentError);
    expect(() => eq.space.rep(S4, 'bogus')).toThrow(/unknown representation 'bogus'/);
    expect(() => eq.space.hom(S4, small, small, { method: 'fast' as never })).toThrow(eq.ArgumentError);
  });
});
