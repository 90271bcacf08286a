// Kernel bases of the H-constraint on the plane: sizes equal escnn's and e2cnn's in every
// recorded setting (test/fixtures/escnn/basis-sizes.json, written by tools/escnn/bases.py from the
// libraries themselves), sampled bases equal theirs element by element, each pair of irreps
// spans exactly the solution space of eq.basis.solve on a sampled ring, and the representations
// are escnn's (homomorphisms; regular and quotient ones permute).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as eq from '../ts/index.js';

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());
const G = eq.gspaces;
const dir = new URL('./fixtures/escnn/', import.meta.url);
const read = (f: string) => JSON.parse(readFileSync(new URL(f, dir), 'utf8'));

const camel = (o: Record<string, unknown> = {}) => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k === 'frequencies_cutoff' ? 'frequenciesCutoff' : k === 'maximum_offset' ? 'maximumOffset' : k] = v;
  return out;
};
function layoutOf(space: string, ins: string[], outs: string[], kernel: number, options: Record<string, unknown>, convention: 'escnn' | 'e2cnn') {
  const gs = G.gspaceByName(space)!;
  const ti = eq.fieldType(gs, ins.map((n) => gs.repByName(n)));
  const to = eq.fieldType(gs, outs.map((n) => gs.repByName(n)));
  return { ti, to, l: G.layout(ti, to, G.basisParams({ kernel, convention, ...camel(options) })) };
}

describe('basis sizes', () => {
  it("equal escnn's and e2cnn's in every recorded setting", () => {
    const { cases } = read('basis-sizes.json');
    expect(cases.length).toBeGreaterThan(80);
    for (const c of cases) for (const lib of ['escnn', 'e2cnn'] as const) {
      if (c[lib] === undefined) continue;
      const { l } = layoutOf(c.space, c.in, c.out, c.kernel, c.options, lib);
      expect(l.dim, `${lib} ${c.space} ${c.in} -> ${c.out} k=${c.kernel} ${JSON.stringify(c.options ?? {})}`).toBe(c[lib]);
    }
  });
});

describe('sampled bases', () => {
  it("equal the libraries' expanded filters, element by element (escnn's D_N and O(2) up to their canonical signs)", () => {
    const { cases } = read('bases.json');
    const st = eq.parseSafetensors(readFileSync(new URL('bases.safetensors', dir))).tensors;
    for (const c of cases) {
      const { ti, to, l } = layoutOf(c.space, c.in, c.out, c.kernel, c.options, c.library);
      const want = st.get(c.name)!;
      const [D, co, ci, k] = want.shape;
      expect(l.dim).toBe(D);
      const n = co * ci * k * k;
      const signed = c.library === 'escnn' && c.space.startsWith('flip');
      let err = 0;
      for (let d = 0; d < D; d++) {
        const w = new Float32Array(D);
        w[d] = 1;
        const got = G.expandReference(l, ti.size, to.size, k * k, w);
        const ref = want.data.subarray(d * n, (d + 1) * n);
        // escnn's numerically found elements: compare with the sign the library gives its own.
        const s = signed ? G.canonicalSign(Float64Array.from(ref)) * G.canonicalSign(got) : 1;
        for (let t = 0; t < n; t++) err = Math.max(err, Math.abs(s * got[t] - ref[t]));
      }
      expect(err, `${c.library} ${c.space} ${c.in} -> ${c.out}`).toBeLessThan(1e-6);
    }
  });

  it('the fast expansion (GEMM at the orbit representatives, scatter kernel) equals the plain loops', () => {
    const gs8 = G.rot2dOnR2(8), d4 = G.flipRot2dOnR2(4), so2 = G.rot2dOnR2(-1, 3);
    const cases: [eq.R2FieldType, eq.R2FieldType, number, number?][] = [
      [eq.fieldType(gs8, [gs8.trivialRepr, gs8.regularRepr]), eq.fieldType(gs8, [gs8.regularRepr, gs8.irrep(1), gs8.regularRepr]), 5],
      [eq.fieldType(d4, [d4.regularRepr, d4.quotientRepr([0, 2])]), eq.fieldType(d4, [d4.irrep(1, 1), d4.regularRepr]), 3],
      [eq.fieldType(so2, [so2.irrep(0), so2.irrep(2)]), eq.fieldType(so2, [so2.irrep(1), so2.irrep(3)]), 7],
      [eq.fieldType(gs8, [gs8.regularRepr]), eq.fieldType(gs8, [gs8.regularRepr, gs8.regularRepr]), 5, 2],
      [eq.fieldType(G.rot2dOnR2(16), [G.rot2dOnR2(16).trivialRepr]), eq.fieldType(G.rot2dOnR2(16), [G.rot2dOnR2(16).trivialRepr]), 9],
      // Enough fields that the products are computed a few out fields at a time.
      [eq.fieldType(gs8, Array(40).fill(gs8.regularRepr)), eq.fieldType(gs8, Array(40).fill(gs8.regularRepr)), 5],
    ];
    let factored = 0;
    for (const [ti, to, kernel, dilation] of cases) {
      const conv = eq.nn.r2conv({ in: ti, out: to, kernel, dilation, seed: 5 });
      for (const b of conv.layout.blocks) {
        const rep = (t: eq.R2FieldType, n: string) => t.representations.find((r) => r.name === n)!;
        const f = G.expandsFactored(b.basis, rep(ti, b.inName), rep(to, b.outName));
        // Factored when both are signed permutations under every element and the out one moves
        // axis 0 onto every axis with sign +1 (regular, quotient, one-dimensional, D4's irrep_1,1).
        const perm = (r: eq.R2Rep) => r.group.finite && r.group.elements().every((g) => {
          const m = r.matrix(g);
          return Array.from({ length: r.size }, (_, j) => Array.from({ length: r.size }, (_, i) => Math.abs(m[i * r.size + j])).filter((v) => v > 1e-9)).every((c) => c.length === 1 && Math.abs(c[0] - 1) < 1e-9);
        });
        const ri = rep(ti, b.inName), ro = rep(to, b.outName);
        const onto = (r: eq.R2Rep) => Array.from({ length: r.size }, (_, a) => r.group.elements().some((g) => Math.abs(r.matrix(g)[a * r.size] - 1) < 1e-9)).every(Boolean);
        expect(f, `${b.inName} -> ${b.outName}`).toBe(perm(ri) && perm(ro) && onto(ro));
        if (f) factored++;
      }
      const w = conv.parameters().weights.toArray();
      const fast = conv.expandedFilters().weight;
      const ref = G.expandReference(conv.layout, ti.size, to.size, kernel * kernel, w);
      const kd = conv.span, d = dilation ?? 1;
      let err = 0, scale = 0;
      for (let co = 0; co < to.size; co++) for (let c = 0; c < ti.size; c++) for (let i = 0; i < kernel; i++) for (let j = 0; j < kernel; j++) {
        const a = fast[((co * ti.size + c) * kd + i * d) * kd + j * d], b = ref[((co * ti.size + c) * kernel + i) * kernel + j];
        err = Math.max(err, Math.abs(a - b));
        scale = Math.max(scale, Math.abs(b));
      }
      expect(err / scale).toBeLessThan(1e-6);
      conv.dispose();
    }
    expect(factored).toBeGreaterThanOrEqual(4);
  });
});

/** A ring of M points at radius r, as a permutation representation of a finite group acting on it. */
function ringRep(F: eq.gspaces.FibreGroup, eqGroup: ReturnType<typeof eq.groups.cyclic>, toElement: (e: number) => eq.gspaces.PlaneElement, M: number) {
  const pts = Array.from({ length: M }, (_, t) => [Math.cos((2 * Math.PI * t) / M), Math.sin((2 * Math.PI * t) / M)]);
  const table = Array.from({ length: eqGroup.order }, (_, e) => pts.map(([x, y]) => {
    const m = F.planeMatrix(toElement(e));
    const a = Math.atan2(m[2] * x + m[3] * y, m[0] * x + m[1] * y);
    return ((Math.round((a * M) / (2 * Math.PI)) % M) + M) % M;
  }));
  return eq.reps.permutation(eqGroup, table);
}

describe('cross-check against the null-space solver on a sampled ring', () => {
  const solutions = new Map<string, ReturnType<typeof eq.basis.solve>>();
  // For each pair of irreps, the kernels the basis spans, sampled on a ring of M points, must be
  // exactly Hom_H(P_ring (x) psi_in, psi_out): every element satisfies the constraint, and with
  // every harmonic the ring can carry, the span has the solver's dimension.
  const check = (F: eq.gspaces.FibreGroup, eqGroup: ReturnType<typeof eq.groups.cyclic>, toElement: (e: number) => eq.gspaces.PlaneElement, M: number, irreps: eq.gspaces.IrrepId[], convention: 'escnn' | 'e2cnn') => {
    const rep = (id: eq.gspaces.IrrepId) => new eq.Representation(eqGroup, F.irrepSize(id), F.irrepName(id), (e: number) => F.irrepMatrix(id, toElement(e)));
    const P = ringRep(F, eqGroup, toElement, M);
    for (const a of irreps) for (const b of irreps) {
      const di = F.irrepSize(a), dO = F.irrepSize(b);
      const key = `${F.name}|${M}|${a}|${b}`;
      let solved = solutions.get(key);
      if (!solved) solutions.set(key, (solved = eq.basis.solve(eqGroup, eq.reps.tensorProduct(P, rep(a)), rep(b))));
      // Our basis on the ring: one ring of radius 1, every harmonic up to M/2.
      const rin = new eq.gspaces.R2Rep(F, F.irrepName(a), [a], Float64Array.from({ length: di * di }, (_, t) => (t % (di + 1) === 0 ? 1 : 0)), false);
      const rout = new eq.gspaces.R2Rep(F, F.irrepName(b), [b], Float64Array.from({ length: dO * dO }, (_, t) => (t % (dO + 1) === 0 ? 1 : 0)), false);
      const pts = new Float64Array(2 * M);
      for (let t = 0; t < M; t++) [pts[2 * t], pts[2 * t + 1]] = [Math.cos((2 * Math.PI * t) / M), Math.sin((2 * Math.PI * t) / M)];
      const params = G.basisParams({ kernel: 3, rings: [1], sigma: 1, frequencies: [Math.floor(M / 2)], convention });
      const B = G.sampleBasis(rin, rout, params, pts);
      // Our elements as vectors indexed like the solver's W[(o), (t, i)]: W[o][t * di + i] = B[o][i][t].
      const ours = Array.from({ length: B.dim }, (_, d) => {
        const v = new Float64Array(dO * M * di);
        for (let o = 0; o < dO; o++) for (let i = 0; i < di; i++) for (let t = 0; t < M; t++) v[o * M * di + t * di + i] = B.data[((d * dO + o) * di + i) * M + t];
        return v;
      });
      // Each lies in the solver's space (residual after projection ~ 0) ...
      let worst = 0;
      for (const v of ours) {
        let res = 0;
        const r = Float64Array.from(v);
        for (const s of solved.basis) {
          let dot = 0;
          for (let t = 0; t < r.length; t++) dot += s[t] * v[t];
          for (let t = 0; t < r.length; t++) r[t] -= dot * s[t];
        }
        for (const x of r) res = Math.max(res, Math.abs(x));
        worst = Math.max(worst, res);
      }
      expect(worst, `${F.name} ${a} -> ${b}`).toBeLessThan(1e-9);
      // ... and together they span it.
      expect(rank(ours), `${F.name} ${F.irrepName(a)} -> ${F.irrepName(b)} on ${M} points`).toBe(solved.dimension);
    }
  };

  it('C_N and D_N, every pair of irreps, both conventions', () => {
    for (const conv of ['escnn', 'e2cnn'] as const) {
      for (const N of [1, 2, 3, 4, 5, 6, 8]) {
        const F = G.rot2dOnR2(N).fibreGroup;
        check(F, eq.groups.cyclic(N), (e) => F.elements()[e], N < 4 ? 8 * N : 2 * N, F.irreps(), conv);
      }
      for (const N of [2, 3, 4, 6]) {
        const F = G.flipRot2dOnR2(N).fibreGroup;
        // eq.groups.dihedral(N): element m*N + r is the rotation r after m mirrors, as the fibre group's.
        check(F, eq.groups.dihedral(N), (e) => F.elements()[e], N < 4 ? 8 * N : 2 * N, F.irreps(), conv);
      }
    }
  });

  it('SO(2) and O(2) on the ring of M points, through their finite subgroups C_M and D_M', () => {
    const M = 16;
    for (const conv of ['escnn', 'e2cnn'] as const) {
      const S = G.rot2dOnR2(-1, 3).fibreGroup;
      check(S, eq.groups.cyclic(M), (e) => ({ flip: 0, angle: (2 * Math.PI * e) / M }), M, S.irreps(3), conv);
      const O = G.flipRot2dOnR2(-1, 3).fibreGroup;
      check(O, eq.groups.dihedral(M), (e) => ({ flip: (e >= M ? 1 : 0) as 0 | 1, angle: (2 * Math.PI * (e % M)) / M }), M, O.irreps(3), conv);
    }
  });
});

/** Rank of a list of vectors (Gram-Schmidt with a relative tolerance). */
function rank(vs: Float64Array[]): number {
  const basis: Float64Array[] = [];
  for (const v of vs) {
    const r = Float64Array.from(v);
    for (let pass = 0; pass < 2; pass++) for (const b of basis) {
      let dot = 0;
      for (let t = 0; t < r.length; t++) dot += b[t] * r[t];
      for (let t = 0; t < r.length; t++) r[t] -= dot * b[t];
    }
    const n = Math.sqrt(r.reduce((s, x) => s + x * x, 0));
    const n0 = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    if (n > 1e-7 * Math.max(1, n0)) basis.push(r.map((x) => x / n));
  }
  return basis.length;
}

describe('representations', () => {
  const spaces = [G.rot2dOnR2(1), G.rot2dOnR2(4), G.rot2dOnR2(6), G.rot2dOnR2(8), G.flipRot2dOnR2(1), G.flipRot2dOnR2(3), G.flipRot2dOnR2(4), G.flipRot2dOnR2(8), G.trivialOnR2()];
  const mul = (A: Float64Array, B: Float64Array, n: number) => Float64Array.from({ length: n * n }, (_, t) => {
    let s = 0;
    for (let k = 0; k < n; k++) s += A[Math.floor(t / n) * n + k] * B[k * n + (t % n)];
    return s;
  });
  it('irreps, regular and quotient representations are homomorphisms; regular ones permute as left multiplication', () => {
    for (const gs of spaces) {
      const F = gs.fibreGroup, els = F.elements();
      const reps = [...gs.irreps, gs.regularRepr];
      for (const r of reps) {
        let worst = 0;
        for (const g of els) for (const h of els) {
          const lhs = r.matrix(F.compose(g, h)), rhs = mul(r.matrix(g), r.matrix(h), r.size);
          for (let t = 0; t < lhs.length; t++) worst = Math.max(worst, Math.abs(lhs[t] - rhs[t]));
        }
        expect(worst, `${gs.name} ${r.name}`).toBeLessThan(1e-9);
      }
      const R = gs.regularRepr, n = els.length;
      for (const g of els) {
        const M = R.matrix(g);
        const viaQ = fromIrreps(R, g);
        for (let t = 0; t < n * n; t++) expect(Math.abs(M[t] - viaQ[t]), gs.name).toBeLessThan(1e-9);
        els.forEach((h, j) => {
          const i = F.index(F.compose(g, h));
          for (let row = 0; row < n; row++) expect(Math.abs(M[row * n + j] - (row === i ? 1 : 0))).toBeLessThan(1e-9);
        });
      }
    }
    const so2 = G.rot2dOnR2(-1, 4), S = so2.fibreGroup;
    const rnd = so2.randomElements(10, 3);
    for (const r of so2.irreps) for (let i = 0; i + 1 < rnd.length; i++) {
      const lhs = r.matrix(S.compose(rnd[i], rnd[i + 1])), rhs = mul(r.matrix(rnd[i]), r.matrix(rnd[i + 1]), r.size);
      for (let t = 0; t < lhs.length; t++) expect(Math.abs(lhs[t] - rhs[t])).toBeLessThan(1e-9);
    }
  });

  it("quotient representations permute the cosets and have escnn's change of basis", () => {
    const { quotients } = read('bases.json');
    const st = eq.parseSafetensors(readFileSync(new URL('bases.safetensors', dir))).tensors;
    for (const [key, irreps] of Object.entries(quotients as Record<string, unknown[]>)) {
      const [, space, name] = /^Q (\S+) (.+)$/.exec(key)!;
      const gs = G.gspaceByName(space)!, r = gs.repByName(name);
      expect(r.irreps.map((i) => (i.length === 1 ? i[0] : [...i])), key).toEqual((irreps as unknown[]).map((i) => (Array.isArray(i) && i.length === 1 ? i[0] : i)));
      const want = st.get(key)!.data, n = r.size;
      // Columns equal escnn's up to sign (its invariant vectors of a reflection are found numerically).
      for (let c = 0; c < n; c++) {
        let sPlus = 0, sMinus = 0;
        for (let row = 0; row < n; row++) {
          sPlus = Math.max(sPlus, Math.abs(r.changeOfBasis[row * n + c] - want[row * n + c]));
          sMinus = Math.max(sMinus, Math.abs(r.changeOfBasis[row * n + c] + want[row * n + c]));
        }
        expect(Math.min(sPlus, sMinus), `${key} column ${c}`).toBeLessThan(1e-6);
        if (!space.startsWith('flip')) expect(sPlus, `${key} column ${c}`).toBeLessThan(1e-6);
      }
      for (const g of gs.elements()) {
        const M = r.matrix(g);
        // The permutation equals Q (psi_1(g) + psi_2(g) + ...) Q^T, the representation escnn defines.
        const viaQ = fromIrreps(r, g);
        for (let t = 0; t < n * n; t++) expect(Math.abs(M[t] - viaQ[t]), key).toBeLessThan(1e-9);
        for (let row = 0; row < n; row++) {
          const vals = Array.from(M.subarray(row * n, (row + 1) * n)).map((v) => Math.round(v * 1e9) / 1e9);
          expect(vals.filter((v) => v === 1).length).toBe(1);
          expect(vals.filter((v) => v !== 0 && v !== 1).length).toBe(0);
        }
      }
    }
  });
});

/** `Q (psi_1(g) + ...) Q^T` computed from the irreps and the change of basis. */
function fromIrreps(r: eq.gspaces.R2Rep, g: eq.gspaces.PlaneElement): Float64Array {
  const n = r.size, D = new Float64Array(n * n), Q = r.changeOfBasis;
  r.irreps.forEach((id, b) => {
    const m = r.group.irrepMatrix(id, g), d = r.group.irrepSize(id), o = r.offsets[b];
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) D[(o + i) * n + o + j] = m[i * d + j];
  });
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) s += Q[i * n + a] * D[a * n + b] * Q[j * n + b];
    out[i * n + j] = s;
  }
  return out;
}

describe('sampled kernels satisfy the constraint exactly where the grid allows', () => {
  it('kappa(h x) = rho_out(h) kappa(x) rho_in(h)^T for rotations by 90 degrees and the reflection', () => {
    for (const gs of [G.rot2dOnR2(8), G.flipRot2dOnR2(4), G.rot2dOnR2(-1, 3), G.flipRot2dOnR2(-1, 3)]) {
      const reps = gs.fibreGroup.finite ? [gs.regularRepr, gs.irreps[1]] : gs.irreps.slice(0, 3);
      for (const ri of reps) for (const ro of reps) {
        const k = 5, B = G.blockBasis(ri, ro, G.basisParams({ kernel: k }));
        let worst = 0;
        for (const h of gs.gridElements()) {
          const Mo = ro.matrix(h), Mi = ri.matrix(h), P = gs.fibreGroup.planeMatrix(h);
          for (let d = 0; d < B.dim; d++) for (let row = 0; row < k; row++) for (let col = 0; col < k; col++) {
            const x = col - 2, y = 2 - row;
            const hx = Math.round(P[0] * x + P[1] * y), hy = Math.round(P[2] * x + P[3] * y);
            const q = row * k + col, hq = (2 - hy) * k + (hx + 2);
            for (let o = 0; o < ro.size; o++) for (let i = 0; i < ri.size; i++) {
              let rhs = 0;
              for (let a = 0; a < ro.size; a++) for (let b = 0; b < ri.size; b++) rhs += Mo[o * ro.size + a] * B.data[((d * ro.size + a) * ri.size + b) * k * k + q] * Mi[i * ri.size + b];
              worst = Math.max(worst, Math.abs(B.data[((d * ro.size + o) * ri.size + i) * k * k + hq] - rhs));
            }
          }
        }
        expect(worst, `${gs.name} ${ri.name} -> ${ro.name}`).toBeLessThan(1e-12);
      }
    }
  });
});
