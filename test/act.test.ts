import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';
import { firstBitDifference, random } from './helpers.js';

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());
const { p4, p4m, cyclic, dihedral, symmetric, se2, se3, so3, seededRng } = eq.groups;

/** torch.rot90(x, 1, (-2, -1)) on one n x n plane, in plain loops. */
const rot90 = (x: Float32Array, n: number) => Float32Array.from({ length: n * n }, (_, k) => x[(k % n) * n + (n - 1 - Math.floor(k / n))]);
const flipW = (x: Float32Array, n: number) => Float32Array.from({ length: n * n }, (_, k) => x[Math.floor(k / n) * n + (n - 1 - (k % n))]);
/** The point element u = (m, r) as plain loops: mirror first, then rotate r times. */
function transform(x: Float32Array, n: number, u: number) {
  let y = u >= 4 ? flipW(x, n) : x;
  for (let i = 0; i < u % 4; i++) y = rot90(y, n);
  return y;
}

describe('actions on feature maps (wasm gather, cached tables)', () => {
  it('p4m on images equals rot90/flip in plain loops, odd and even sizes', () => {
    for (const n of [1, 4, 5, 28]) {
      const x = random(2 * 3 * n * n, n);
      eq.tidy(() => {
        const t = eq.tensor(x, [2, 3, n, n]);
        for (const u of p4m().elements()) {
          const got = p4m().act(u, t).toArray();
          for (let plane = 0; plane < 6; plane++) {
            const want = transform(x.subarray(plane * n * n, (plane + 1) * n * n), n, u.point);
            expect(firstBitDifference(got.subarray(plane * n * n, (plane + 1) * n * n), want), `n=${n} u=${u}`).toBe(-1);
          }
        }
      });
    }
  });

  it('p4m on fields over the group: spatial transform and a shift of the group axis', () => {
    const n = 6, G = p4m(), P = G.pointGroup;
    const x = random(2 * 8 * n * n, 3);
    eq.tidy(() => {
      const t = eq.tensor(x, [1, 2, 8, n, n]);
      for (const u of G.elements()) {
        const got = G.act(u, t).toArray();
        for (let c = 0; c < 2; c++) for (let g = 0; g < 8; g++) {
          const src = P.compose(P.inverse(u.point), g);
          const want = transform(x.subarray((c * 8 + src) * n * n, (c * 8 + src + 1) * n * n), n, u.point);
          expect(firstBitDifference(got.subarray((c * 8 + g) * n * n, (c * 8 + g + 1) * n * n), want)).toBe(-1);
        }
      }
    });
  });

  it('is a homomorphism: act(g, act(h, x)) = act(gh, x), exhaustively', () => {
    eq.tidy(() => {
      const cases: [eq.groups.FiniteGroup | eq.groups.GridGroup, eq.Tensor][] = [
        [p4(), eq.tensor(random(2 * 7 * 7, 1), [1, 2, 7, 7])],
        [p4m(), eq.tensor(random(8 * 4 * 4, 2), [1, 1, 8, 4, 4])],
        [p4(), eq.tensor(random(3 * 4 * 5 * 5, 3), [3, 1, 4, 5, 5])],
        [dihedral(5), eq.tensor(random(2 * 3 * 10, 4), [2, 3, 10])],
        [symmetric(4), eq.tensor(random(2 * 24, 5), [1, 2, 24])],
      ];
      for (const [G, x] of cases) {
        const els = G.elements() as unknown[];
        const act = (u: unknown, t: eq.Tensor) => (G.act as (u: unknown, t: eq.Tensor) => eq.Tensor).call(G, u, t);
        const compose = (a: unknown, b: unknown) => (G.compose as (a: unknown, b: unknown) => unknown).call(G, a, b);
        for (const g of els) for (const h of els) eq.tidy(() => {
          const lhs = act(g, act(h, x)).toArray();
          const rhs = act(compose(g, h), x).toArray();
          expect(firstBitDifference(lhs, rhs), `${G.name} g=${g} h=${h}`).toBe(-1);
        });
      }
    });
  });

  it('Lie groups move point clouds, homomorphically (1,000 random pairs)', () => {
    eq.tidy(() => {
      for (const G of [se2(), se3(), so3()]) {
        const rng = seededRng(9);
        const pts = eq.tensor(random(2 * 5 * G.d, 6), [2, 5, G.d]);
        let worst = 0;
        for (let i = 0; i < 1000; i++) eq.tidy(() => {
          const g = G.random(rng), h = G.random(rng);
          const a = G.act(g, G.act(h, pts)).toArray(), b = G.act(G.compose(g, h), pts).toArray();
          for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k] - b[k]));
        });
        expect(worst, G.name).toBeLessThan(2e-5);
        // And agrees with G.apply on one point.
        const g = G.random(rng);
        const moved = G.act(g, pts).toArray();
        const p0 = Array.from(pts.toArray().subarray(0, G.d));
        const want = G.apply(g, p0);
        for (let k = 0; k < G.d; k++) expect(moved[k]).toBeCloseTo(want[k], 5);
      }
    });
  });

  it('caches index tables (outside the user\'s memory count) and can clear them', () => {
    eq.clearCaches();
    const before = eq.memory();
    eq.tidy(() => { p4().act(p4().rotation(1), eq.zeros([1, 1, 9, 9])); });
    const after = eq.memory();
    expect(after.cacheBytes).toBe(81 * 4);
    expect(after.bytes).toBe(before.bytes);
    expect(after.tensors).toBe(before.tensors);
    eq.clearCaches();
    expect(eq.memory().cacheBytes).toBe(0);
  });

  it('keys cached tables by the group object, not its name: two groups named G never share', () => {
    const c4 = new eq.groups.FiniteGroup('G', 4, Int32Array.from({ length: 16 }, (_, i) => ((i >> 2) + (i & 3)) % 4));
    const v4 = new eq.groups.FiniteGroup('G', 4, Int32Array.from({ length: 16 }, (_, i) => (i >> 2) ^ (i & 3)));
    const x = [0, 1, 2, 3];
    eq.tidy(() => {
      for (const G of [c4, v4, c4]) {
        const got = G.act(1, eq.tensor(x, [1, 1, 4])).toArray();
        // (u . f)(g) = f(u^-1 g)
        expect(Array.from(got), G === c4 ? 'C4' : 'V4').toEqual(x.map((g) => x[G.compose(G.inverse(1), g)]));
      }
    });
  });

  it('rejects feature maps of the wrong shape and foreign elements with typed errors', () => {
    eq.tidy(() => {
      const r1 = p4().rotation(1);
      expect(() => p4().act(r1, eq.zeros([1, 1, 4, 5]))).toThrow(eq.ShapeError);
      expect(() => p4().act(r1, eq.zeros([1, 1, 4, 5]))).toThrow('p4 acts on square grids');
      // z2 has no rotations: a plain CNN takes any grid.
      const z2 = eq.groups.byName('z2') as eq.groups.GridGroup;
      const x = eq.tensor(Float32Array.from({ length: 20 }, (_, i) => i), [1, 1, 4, 5]);
      expect(Array.from(z2.act(z2.identity, x).toArray())).toEqual(Array.from(x.toArray()));
      expect(() => eq.field.image(z2, 1).check(x, 'z2 input')).not.toThrow();
      expect(() => p4().act(r1, eq.zeros([1, 1, 8, 4, 4]))).toThrow('expected [N, 1, 4, H, W]');
      expect(() => p4().act(r1, eq.zeros([4, 4]))).toThrow('expected an image [N, C, H, W]');
      expect(() => p4().act({ point: 4, tx: 0, ty: 0 }, eq.zeros([1, 1, 4, 4]))).toThrow('C4: point must be an integer in 0..3, got 4');
      // One element type per group: what elements() returns, compose, inverse and act accept.
      expect(() => p4().act(1 as never, eq.zeros([1, 1, 4, 4]))).toThrow('p4: u is { point, tx, ty }');
      expect(() => p4().act(p4().element(1, 2, 0), eq.zeros([1, 1, 4, 4]))).toThrow('must have no translation');
      for (const g of p4m().elements()) {
        const gi = p4m().inverse(g);
        expect(p4m().compose(g, gi)).toEqual(p4m().identity);
        p4m().act(p4m().compose(g, gi), eq.zeros([1, 1, 2, 2]));
      }
      expect(() => cyclic(5).act(1, eq.zeros([1, 2, 4]))).toThrow('expected a regular field [N, C, 5]');
      expect(() => se2().act(se2().identity, eq.zeros([3, 3]))).toThrow('[P, 2]');
      expect(() => se2().act(new Float64Array(9), eq.zeros([3, 2]))).toThrow(eq.ArgumentError);
    });
    expect(eq.memory().tensors).toBe(0);
  });
});
