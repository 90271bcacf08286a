// Operators of Phi_omega as matrices (ts/space/operators.ts): ranks of known operators, omegas
// that give one operator, spans of families, and the worked examples of docs/operator-space.md,
// each run as printed (against the built package) with its output compared.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';
import { random } from './helpers.js';

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());

const { cyclic, dihedral, symmetric, p4m } = eq.groups;

function kernelConv(G: eq.groups.FiniteGroup, kappa: Float32Array, cin = 1, cout = 1, support?: number[]) {
  const layer = eq.nn.phi({ group: G, omega: eq.omega.kernel({ in: cin, out: cout, bias: false }), neighbours: support ? { support } : undefined });
  layer.setParameters({ weight: kappa });
  return layer;
}

describe('operatorMatrix and rank', () => {
  it('materialises Phi with the engine; M f + Phi(0) reproduces the layer, bias included', () => {
    const G = dihedral(3);
    const layer = eq.nn.phi({ group: G, omega: eq.omega.kernel({ in: 2, out: 3 }), path: 'general', seed: 4 });
    layer.setParameters({ bias: [0.5, -1, 2] });
    const m = eq.space.operatorMatrix(layer);
    expect([m.rows, m.cols, m.inShape, m.outShape]).toEqual([18, 12, [2, 6], [3, 6]]);
    expect(m.linearityError).toBeLessThan(1e-6);
    eq.tidy(() => {
      const x = random(12, 3), y = layer.run(eq.tensor(x, [1, 2, 6])).toArray();
      for (let r = 0; r < 18; r++) {
        let s = m.offset[r];
        for (let c = 0; c < 12; c++) s += m.matrix[r * 12 + c] * x[c];
        expect(s).toBeCloseTo(y[r], 5);
      }
    });
  });

  it('the rank of a convolution with a subgroup\'s indicator is the index; by characters, the rank of a generic G-CNN is |G| C', () => {
    const D4 = dihedral(4);
    const ind = (els: number[]) => Float32Array.from({ length: 8 }, (_, i) => (els.includes(i) ? 1 : 0));
    expect(eq.space.rank(kernelConv(D4, ind([0]))).rank).toBe(8);
    expect(eq.space.rank(kernelConv(D4, ind([0, 1, 2, 3]))).rank).toBe(2);
    expect(eq.space.rank(kernelConv(D4, ind([0, 2]))).rank).toBe(4);
    expect(eq.space.rank(kernelConv(D4, ind([0, 1, 2, 3, 4, 5, 6, 7]))).rank).toBe(1);
    const S3 = symmetric(3);
    const r = eq.space.rank(kernelConv(S3, random(2 * 2 * 6, 7), 2, 2));
    expect(r.rank).toBe(12);
    expect(r.smallestKept).toBeGreaterThan(1e-3);
  });

  it('refuses nonlinear omegas and wrong input', () => {
    const G = cyclic(4);
    const withContent = eq.nn.groupAttention({ group: G, in: 2, out: 2, dim: 2 });
    expect(() => eq.space.operatorMatrix(withContent)).toThrow(/not linear in the features/);
    const grid = eq.nn.groupConv({ group: eq.groups.p4(), in: 1, out: 1, kernel: 3 });
    expect(() => eq.space.operatorMatrix(grid)).toThrow(/give options.shape/);
    expect(() => eq.space.operatorMatrix(grid, { shape: [1, 4, 0, 3] })).toThrow(eq.ArgumentError);
    expect(() => eq.space.operatorMatrix({} as never)).toThrow(eq.ArgumentError);
    expect(() => eq.space.span([])).toThrow(eq.ArgumentError);
    const big = eq.nn.groupConv({ group: eq.groups.p4(), in: 1, out: 1, kernel: 3, padding: 'same' });
    const before = eq.setLimits({ maxBasisBytes: 2 ** 16 });
    try {
      expect(() => eq.space.operatorMatrix(big, { shape: [1, 4, 8, 8] })).toThrow(/limits.maxBasisBytes/);
    } finally {
      eq.setLimits(before);
    }
  });
});

describe('omega-equivalence and spans', () => {
  it('kernels that differ off the support give one operator; on it, not', () => {
    const C = cyclic(8), S = [0, 1, 7];
    const k = random(8, 1);
    const off = k.map((v, i) => (S.includes(i) ? v : v + 3)), on = k.map((v, i) => (i === 1 ? v + 3 : v));
    expect(eq.space.sameOperator(kernelConv(C, k, 1, 1, S), kernelConv(C, off, 1, 1, S)).same).toBe(true);
    expect(eq.space.sameOperator(kernelConv(C, k, 1, 1, S), kernelConv(C, on, 1, 1, S)).same).toBe(false);
    // The general path and the fast path of one omega: one operator.
    const a = eq.nn.phi({ group: C, omega: eq.omega.kernel({ in: 2, out: 2 }), seed: 9 });
    const b = eq.nn.phi({ group: C, omega: eq.omega.kernel({ in: 2, out: 2 }), seed: 9, path: 'general' });
    expect(eq.space.sameOperator(a, b).same).toBe(true);
  });

  it('the G-CNNs of a support span |S| C_out C_in dimensions; attention without content lies inside', () => {
    const G = dihedral(4), S = [0, 1, 4];
    const gcnn = Array.from({ length: 2 * 3 * 8 }, (_, j) => kernelConv(G, Float32Array.from({ length: 48 }, (_, i) => (i === j ? 1 : 0)), 3, 2, S));
    const span = eq.space.span(gcnn);
    expect(span.dimension).toBe(S.length * 2 * 3);
    const att = Array.from({ length: 30 }, (_, i) => eq.nn.groupAttention({ group: G, in: 3, out: 2, heads: 2, dim: 2, content: false, neighbours: { support: S }, seed: 100 + i }));
    const c = eq.space.compareSpans(att, span);
    expect(c).toMatchObject({ aInB: true, equal: true, b: 18 });
    // Without the support: the full G-CNN space is larger, and the attention family is a proper subspace of it.
    const full = Array.from({ length: 2 * 3 * 8 }, (_, j) => kernelConv(G, Float32Array.from({ length: 48 }, (_, i) => (i === j ? 1 : 0)), 3, 2));
    expect(eq.space.compareSpans(att, full)).toMatchObject({ a: 18, b: 48, aInB: true, bInA: false, intersection: 18 });
  });

  it('steerable bases from the solver span exactly the p4m group convolutions of their support', () => {
    const G = p4m(), P = G.pointGroup, k = 3, n = P.order;
    const window = eq.reps.permutation(P, (g, i) => G.pixelTable(P.inverse(g), k, k)[i], k * k);
    const rho = eq.reps.regular(P);
    const kernels = eq.space.hom(P, eq.reps.tensorProduct(rho, window), rho);
    expect(kernels.dimension).toBe(n * k * k);
    const plain = (w: ArrayLike<number>) => {
      const l = eq.nn.groupConv({ group: eq.groups.z2(), in: n, out: n, kernel: k, padding: 'same', bias: false });
      l.setParameters({ weight: Float32Array.from(w) });
      return l;
    };
    const steer = Array.from({ length: kernels.dimension }, (_, i) => plain(kernels.element(i)));
    const gcnn = Array.from({ length: n * k * k }, (_, j) => {
      const l = eq.nn.groupConv({ group: G, in: 1, out: 1, kernel: k, padding: 'same', bias: false });
      l.setParameters({ weight: Float32Array.from({ length: n * k * k }, (_, i) => (i === j ? 1 : 0)) });
      return l;
    });
    const gSpan = eq.space.span(gcnn, { shape: [1, n, 4, 4] });
    const c = eq.space.compareSpans(eq.space.span(steer, { shape: [n, 1, 4, 4] }), gSpan);
    expect(c).toMatchObject({ a: 72, b: 72, equal: true });
    // A generic plain convolution is not in that span (it does not commute with p4m).
    const generic = plain(random(n * n * k * k, 3));
    expect(eq.space.compareSpans(eq.space.span([generic], { shape: [n, 1, 4, 4] }), gSpan).aInB).toBe(false);
  });
});

describe('docs/operator-space.md', () => {
  const root = new URL('..', import.meta.url).pathname;
  const dist = new URL('../dist/index.js', import.meta.url).href;
  const text = readFileSync(join(root, 'docs', 'operator-space.md'), 'utf8');
  const list: { title: string; code: string; output: string }[] = [];
  const re = /```js example\n([\s\S]*?)```\s*```text output\n([\s\S]*?)```/g;
  for (let m; (m = re.exec(text)); ) {
    const before = text.slice(0, m.index);
    const title = before.slice(before.lastIndexOf('\n#') + 1).split('\n')[0].replace(/^#+ /, '');
    list.push({ title: `${list.length + 1}. ${title}`, code: m[1], output: m[2].trim() });
  }
  it('has the worked examples', () => expect(list.length).toBeGreaterThanOrEqual(7));
  const dir = mkdtempSync(join(tmpdir(), 'eq-opspace-'));
  for (const ex of list) {
    it(`prints what it says: ${ex.title}`, () => {
      const file = join(dir, `${ex.title.replace(/\W+/g, '-')}.mjs`);
      writeFileSync(file, ex.code.replace(/from 'equivariant'/g, `from '${dist}'`));
      const printed = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 120_000 }).trim();
      expect(printed).toBe(ex.output);
    });
  }
  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
  it('points nowhere outside the repository', () => expect(text).not.toMatch(/\.\.\/shared/));
});

describe('operator-space options', () => {
  it('rank, sameOperator, span, operatorMatrix and compareSpans check their options by name and kind', () => {
    const D4 = eq.groups.dihedral(4);
    const a = eq.nn.groupConv({ group: D4, in: 2, out: 2 }), b = eq.nn.groupConv({ group: D4, in: 2, out: 2, seed: 5 });
    for (const [fn, message] of [
      [() => eq.space.rank(a, { tolerance: -1 }), 'space.rank: tolerance must be a finite non-negative number, got -1'],
      [() => eq.space.rank(a, { tolerance: '0.5' } as never), 'got "0.5"'],
      [() => eq.space.rank(a, { tolerence: 1e-3 } as never), "space.rank: unknown option 'tolerence'"],
      [() => eq.space.sameOperator(a, b, { tolerance: '1' } as never), 'space.sameOperator: tolerance'],
      [() => eq.space.operatorMatrix(a, { tolerance: 1 } as never), "space.operatorMatrix: unknown option 'tolerance'"],
      [() => eq.space.span([a, b], { tolerance: NaN }), 'space.span: tolerance'],
      [() => eq.space.compareSpans(null as never, [a]), 'the first must be a family of operators'],
      [() => eq.space.compareSpans([a], {} as never), 'the second must be a family of operators'],
    ] as const) {
      expect(fn, message).toThrow(eq.ArgumentError);
      expect(fn, message).toThrow(message);
    }
    expect(eq.space.rank(a, { tolerance: 1e-4 }).rank).toBeGreaterThan(0);
    expect(eq.space.compareSpans([a], [a, b]).aInB).toBe(true);
    a.dispose();
    b.dispose();
  });
});
