// Steerable layers on the plane: r2conv is the operator on R^2 with an H-constrained kernel
// (equal to phi on z2 with its expanded filters), equivariant under every element of C_N and
// D_N (exactly at multiples of 90 degrees and the reflection; within the documented
// interpolation error otherwise) and under random rotations of SO(2) and O(2); every other
// layer equals a plain-loop reference and is equivariant; models fold batch norms; bad input
// gets typed errors that name the layer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';
import { random, relError } from './helpers.js';

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());
const G = eq.gspaces;
const input = (shape: number[], seed: number) => eq.tensor(random(shape.reduce((a, b) => a * b, 1), seed), shape);

/** Smooth feature maps: broad Gaussian blobs well inside the image (interpolation then errs little). */
function smooth(n: number, c: number, size: number, seed: number): eq.Tensor {
  const r = random(3 * n * c, seed), ctr = (size - 1) / 2, out = new Float32Array(n * c * size * size);
  for (let b = 0; b < n * c; b++) {
    const cx = 2 * r[3 * b], cy = 2 * r[3 * b + 1], s = 2 + Math.abs(r[3 * b + 2]);
    for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) out[b * size * size + i * size + j] = Math.exp(-((j - ctr - cx) ** 2 + (ctr - i - cy) ** 2) / (2 * s * s)) * (1 + r[3 * b] * 0.5);
  }
  return eq.tensor(out, [n, c, size, size]);
}

/**
 * Interpolated rotations move pixels by bilinear resampling: the tolerance on smooth maps for
 * linear layers; nonlinear ones (a kink at the norm's bias) get twice it.
 */
const INTERPOLATED = 5e-2;

/**
 * Exact elements on random maps; the others on smooth maps. `interpolated: false` for layers that
 * add a constant (a rotated image has zeros in its corners where the constant was: not an
 * error of the layer).
 */
function checkAll(layer: { run(x: eq.Tensor): eq.Tensor; inType?: unknown; outType?: unknown }, gs: eq.gspaces.GSpace, c: number, size: number, extra: eq.gspaces.PlaneElement[] = [], interpolated = true, tolerance = INTERPOLATED) {
  const exact = gs.gridElements();
  const rough = interpolated ? (gs.fibreGroup.finite ? gs.elements() : extra).filter((g) => !gs.fibreGroup.exactOnGrid(g)) : [];
  eq.tidy(() => {
    const a = eq.checkEquivariance(layer as never, { input: input([2, c, size, size], 11), elements: exact, tolerance: 1e-5 });
    expect(a.ok, a.summary).toBe(true);
    if (rough.length) {
      const b = eq.checkEquivariance(layer as never, { input: smooth(2, c, size + 14, 3), elements: rough, tolerance });
      expect(b.ok, b.summary).toBe(true);
    }
  });
}

describe('r2conv', () => {
  it('is equivariant under every element of C4, C8, C16, D4, D8 (exact at multiples of 90 degrees and flips)', () => {
    for (const [gs, k] of [[G.rot2dOnR2(4), 3], [G.rot2dOnR2(8), 5], [G.rot2dOnR2(16), 7], [G.flipRot2dOnR2(4), 5], [G.flipRot2dOnR2(8), 3]] as const) {
      const tin = eq.fieldType(gs, [gs.trivialRepr, gs.regularRepr]);
      const tout = eq.fieldType(gs, [gs.regularRepr, gs.irreps[1], gs.regularRepr]);
      const conv = eq.nn.r2conv({ in: tin, out: tout, kernel: k, padding: (k - 1) / 2, seed: 2 });
      checkAll(conv, gs, tin.size, 15);
      conv.dispose();
    }
  });

  it('is equivariant under random rotations of SO(2) and O(2) (irreducible fields)', () => {
    for (const gs of [G.rot2dOnR2(-1, 3), G.flipRot2dOnR2(-1, 3)]) {
      const irr = gs.irreps;
      const tin = eq.fieldType(gs, [irr[0], irr[1], irr[2]]);
      const tout = eq.fieldType(gs, [irr[0], irr[2], irr[3]]);
      const conv = eq.nn.r2conv({ in: tin, out: tout, kernel: 7, padding: 3, seed: 4 });
      checkAll(conv, gs, tin.size, 15, gs.randomElements(6, 9));
      conv.dispose();
    }
  });

  it('a plain convolution fails the same check (the checks see a broken kernel)', () => {
    const gs = G.rot2dOnR2(8);
    const tin = eq.fieldType(gs, [gs.trivialRepr]), tout = eq.fieldType(gs, [gs.regularRepr]);
    const plain = eq.nn.phi({ group: 'z2', omega: eq.omega.kernel({ in: 1, out: 8, size: 5, padding: 2, lift: true }), seed: 3 });
    const run = (x: eq.Tensor) => eq.tidy(() => {
      const y = plain.run(x);
      return eq.tensor(y.toArray(), [x.shape[0], 8, x.shape[2], x.shape[3]]);
    });
    const r = eq.checkEquivariance(run, { input: smooth(2, 1, 23, 3), inType: tin, outType: tout, elements: gs.elements(), tolerance: INTERPOLATED });
    expect(r.ok).toBe(false);
    expect(r.failing.length).toBeGreaterThan(4);
    plain.dispose();
  });

  it('is phi on the plane with the constrained kernel: equal to phi on z2 (the general engine) with its filter bank', () => {
    const gs = G.flipRot2dOnR2(4);
    const tin = eq.fieldType(gs, [gs.regularRepr]), tout = eq.fieldType(gs, [gs.regularRepr, gs.trivialRepr]);
    const conv = eq.nn.r2conv({ in: tin, out: tout, kernel: 5, padding: 2, seed: 6 });
    const { weight, bias } = conv.expandedFilters();
    const phi = eq.nn.phi({ group: 'z2', omega: eq.omega.kernel({ in: tin.size, out: tout.size, size: 5, padding: 2, lift: true }), path: 'general' });
    phi.setParameters({ weight, bias });
    eq.tidy(() => {
      const x = input([2, tin.size, 9, 9], 5);
      expect(relError(phi.run(x).toArray(), conv.run(x).toArray())).toBeLessThan(1e-6);
    });
    conv.dispose();
    phi.dispose();
  });

  it('runs 3x3 stride-1 layers by Winograd, equal to the direct kernel; strides, dilation and padding as escnn', () => {
    const gs = G.rot2dOnR2(4);
    const tin = eq.fieldType(gs, [gs.regularRepr, gs.regularRepr]), tout = eq.fieldType(gs, [gs.regularRepr]);
    const conv = eq.nn.r2conv({ in: tin, out: tout, kernel: 3, padding: 1, seed: 1 });
    expect(conv.usesWinograd).toBe(true);
    eq.tidy(() => {
      const x = input([2, 8, 10, 10], 2);
      const a = conv.run(x).toArray();
      conv.algorithm = 'direct';
      expect(conv.usesWinograd).toBe(false);
      expect(relError(conv.run(x).toArray(), a)).toBeLessThan(1e-5);
      // Stride 2 and dilation 2 against the expanded filter run as a plain convolution.
      for (const o of [{ stride: 2, padding: 1 }, { dilation: 2, padding: 2 }]) {
        const c2 = eq.nn.r2conv({ in: tin, out: tout, kernel: 3, seed: 3, ...o });
        const { weight, shape, bias } = c2.expandedFilters();
        const plain = eq.nn.phi({ group: 'z2', omega: eq.omega.kernel({ in: 8, out: 4, size: shape[2], padding: o.padding, stride: o.stride ?? 1, lift: true }) });
        plain.setParameters({ weight, bias });
        const y = c2.run(x);
        // Two convolution kernels summing in different orders: float32 rounding.
        expect(relError(plain.run(x).toArray(), y.toArray())).toBeLessThan(3e-6);
        c2.dispose();
        plain.dispose();
      }
    });
    conv.dispose();
  });
});

describe('r2conv on Winograd F(2x2, 5x5)', () => {
  it('writes the transformed weights straight from the coefficients: equal to the direct kernel, with and without a folded norm', () => {
    const so2 = G.rot2dOnR2(-1, 3), d8 = G.flipRot2dOnR2(8), c8 = G.rot2dOnR2(8);
    const cases: [eq.R2FieldType, eq.R2FieldType][] = [
      [eq.fieldType(c8, [c8.regularRepr, c8.regularRepr]), eq.fieldType(c8, [c8.regularRepr, c8.quotientRepr(2), c8.irrep(1)])],
      [eq.fieldType(d8, [d8.regularRepr]), eq.fieldType(d8, [d8.regularRepr, d8.irrep(1, 2)])],
      [eq.fieldType(so2, [so2.irrep(0), so2.irrep(1), so2.irrep(2)]), eq.fieldType(so2, [so2.irrep(1), so2.irrep(3), so2.irrep(0)])],
      // Enough fields that the weights are written a few out fields at a time.
      [eq.fieldType(c8, Array(36).fill(c8.regularRepr)), eq.fieldType(c8, Array(36).fill(c8.regularRepr))],
    ];
    for (const [ti, to] of cases) eq.tidy(() => {
      const conv = eq.nn.r2conv({ in: ti, out: to, kernel: 5, padding: 2, seed: 8 });
      expect(conv.usesWinograd).toBe(true);
      const x = input([2, ti.size, 11, 11], 4);
      const fast = conv.run(x).toArray();
      const scale = Float32Array.from({ length: to.size }, (_, c) => 1 + 0.1 * (to.offsets.findLastIndex((o) => o <= c) % 3));
      const shift = Float32Array.from({ length: to.size }, (_, c) => 0.01 * c);
      const fused = conv.fused({ version: 0, channelAffine: () => ({ scale, shift }) }, true).run(x).toArray();
      conv.algorithm = 'direct';
      expect(conv.usesWinograd).toBe(false);
      const direct = conv.run(x).toArray();
      expect(relError(fast, direct), ti.gspace.name).toBeLessThan(1e-5);
      const want = direct.map((v, i) => Math.max(0, v * scale[Math.floor(i / 121) % to.size] + shift[Math.floor(i / 121) % to.size]));
      expect(relError(fused, want)).toBeLessThan(1e-5);
      conv.dispose();
    });
  });
});

describe('nonlinearities, pooling and norms', () => {
  const so2 = G.rot2dOnR2(-1, 3);
  const irr = so2.irreps;

  it('normNonlinearity and normPool equal plain loops and commute with rotations', () => {
    const t = eq.fieldType(so2, [irr[1], irr[0], irr[2], irr[1]]);
    const nl = eq.nn.normNonlinearity({ in: t, function: 'n_relu' });
    nl.setParameters({ bias: [0.3, 0.1, 0.5, 0.2] });
    const pool = eq.nn.normPool({ in: t });
    eq.tidy(() => {
      const x = input([2, 7, 5, 5], 4), v = x.toArray();
      const y = nl.run(x).toArray(), p = pool.run(x).toArray();
      const sizes = [2, 1, 2, 2], offs = [0, 2, 3, 5], b = [0.3, 0.1, 0.5, 0.2];
      for (let n = 0; n < 2; n++) for (let f = 0; f < 4; f++) for (let q = 0; q < 25; q++) {
        const idx = (a: number) => (n * 7 + offs[f] + a) * 25 + q;
        let ss = 0;
        for (let a = 0; a < sizes[f]; a++) ss += v[idx(a)] ** 2;
        const norm = Math.sqrt(ss), m = Math.max(0, norm - b[f]) / norm;
        for (let a = 0; a < sizes[f]; a++) expect(y[idx(a)]).toBeCloseTo(v[idx(a)] * m, 5);
        expect(p[(n * 4 + f) * 25 + q]).toBeCloseTo(norm, 5);
      }
    });
    checkAll(nl, so2, 7, 9, so2.randomElements(4, 2), true, 2 * INTERPOLATED);
    checkAll({ run: (x: eq.Tensor) => pool.run(x), inType: t, outType: pool.outType }, so2, 7, 9, so2.randomElements(4, 2));
    nl.dispose();
    pool.dispose();
  });

  it("gatedNonlinearity pairs gates with gated fields in escnn's order (by size, then position)", () => {
    // Fields: gated irrep_1 (size 2), gate, gated irrep_0-like? no: gated fields of sizes 2, 2 and a trivial gated one.
    const t = eq.fieldType(so2, [irr[1], irr[0], irr[0], irr[2], irr[0], irr[0]]);
    const gates = ['gated', 'gate', 'gated', 'gated', 'gate', 'gate'] as ('gate' | 'gated')[];
    const gl = eq.nn.gatedNonlinearity({ in: t, gates });
    // Gated fields 0 (size 2), 2 (size 1), 3 (size 2): by size, then position: 2, 0, 3.
    expect(gl.pairs).toEqual([{ gate: 1, field: 2 }, { gate: 4, field: 0 }, { gate: 5, field: 3 }]);
    gl.setParameters({ bias: [0.5, -0.5, 0.25] });
    eq.tidy(() => {
      const x = input([1, 8, 2, 2], 6), v = x.toArray(), y = gl.run(x).toArray();
      expect(y.length).toBe(5 * 4);
      const sig = (z: number) => 1 / (1 + Math.exp(-z));
      // Input channels: f0 0-1, gate f1 2, f2 3, f3 4-5, gate f4 6, gate f5 7. Output: f0 0-1, f2 2, f3 3-4.
      for (let q = 0; q < 4; q++) {
        const g1 = sig(v[2 * 4 + q] - 0.5), g4 = sig(v[6 * 4 + q] + 0.5), g5 = sig(v[7 * 4 + q] - 0.25);
        expect(y[0 * 4 + q]).toBeCloseTo(v[0 * 4 + q] * g4, 6);
        expect(y[1 * 4 + q]).toBeCloseTo(v[1 * 4 + q] * g4, 6);
        expect(y[2 * 4 + q]).toBeCloseTo(v[3 * 4 + q] * g1, 6);
        expect(y[3 * 4 + q]).toBeCloseTo(v[4 * 4 + q] * g5, 6);
        expect(y[4 * 4 + q]).toBeCloseTo(v[5 * 4 + q] * g5, 6);
      }
    });
    checkAll(gl, so2, 8, 9, so2.randomElements(4, 5), true, 2 * INTERPOLATED);
    gl.dispose();
  });

  it('groupPooling takes the max over each regular field and is invariant; pointwise layers refuse irreducible fields', () => {
    const gs = G.rot2dOnR2(8);
    const t = eq.fieldType(gs, [gs.regularRepr, gs.quotientRepr(2), gs.regularRepr]);
    const gp = eq.nn.groupPooling({ in: t });
    eq.tidy(() => {
      const x = input([2, 20, 3, 3], 7), v = x.toArray(), y = gp.run(x).toArray();
      const fields = [[0, 8], [8, 4], [12, 8]];
      for (let n = 0; n < 2; n++) fields.forEach(([o, s], f) => {
        for (let q = 0; q < 9; q++) expect(y[(n * 3 + f) * 9 + q]).toBe(Math.max(...Array.from({ length: s }, (_, a) => v[(n * 20 + o + a) * 9 + q])));
      });
    });
    checkAll({ run: (x: eq.Tensor) => gp.run(x), inType: t, outType: gp.outType }, gs, 20, 9);
    gp.dispose();
    const irreps = eq.fieldType(gs, [gs.irrep(1)]);
    expect(() => eq.nn.groupPooling({ in: irreps })).toThrow(eq.ShapeError);
    expect(() => eq.nn.relu().outputType(irreps)).toThrow(/ReLU is equivariant only on trivial, regular and quotient fields/);
    expect(() => eq.nn.maxPool2d().outputType(irreps)).toThrow(eq.ShapeError);
    expect(eq.nn.avgPool2d().outputType(irreps)).toBe(irreps);
  });

  it('innerBatchNorm and iidBatchNorm apply one affine per field, fold into r2conv, and check the mean lies in the trivial subspace', () => {
    const gs = G.flipRot2dOnR2(4);
    const t0 = eq.fieldType(gs, [gs.trivialRepr]), t = eq.fieldType(gs, [gs.regularRepr, gs.regularRepr]);
    const conv = eq.nn.r2conv({ in: t0, out: t, kernel: 5, padding: 2, seed: 3 });
    const bn = eq.nn.innerBatchNorm({ in: t, name: 'bn' });
    bn.setParameters({ weight: [1.5, -0.5], bias: [0.2, -0.1], running_mean: [0.3, -0.2], running_var: [2, 0.5] });
    const seq = eq.nn.sequential([conv, bn, eq.nn.relu()], { inType: t0 });
    const steps = seq.compile();
    expect(steps).toHaveLength(1);
    eq.tidy(() => {
      const x = input([2, 1, 11, 11], 8);
      const unfused = seq.run(x).toArray();
      expect(relError(steps[0].run(x).toArray(), unfused)).toBeLessThan(1e-6);
      const c = conv.run(x).toArray(), y = bn.run(conv.run(x)).toArray();
      for (let i = 0; i < c.length; i++) {
        const f = Math.floor(i / (11 * 11)) % 16 < 8 ? 0 : 1;
        const w = [1.5, -0.5][f], b = [0.2, -0.1][f], m = [0.3, -0.2][f], v = [2, 0.5][f];
        expect(y[i]).toBeCloseTo((c[i] - m) / Math.sqrt(v + 1e-5) * w + b, 5);
      }
    });
    checkAll(bn, gs, 16, 7, [], false);
    // A compiled plan follows new statistics of the batch norm and new coefficients of the conv.
    bn.setParameters({ weight: [3, 1], running_var: [1, 1] });
    eq.tidy(() => {
      const x = input([1, 1, 11, 11], 9);
      expect(relError(steps[0].run(x).toArray(), seq.run(x).toArray())).toBeLessThan(1e-6);
    });
    conv.setParameters({ weights: random(conv.basisDimension, 10) });
    eq.tidy(() => {
      const x = input([1, 1, 11, 11], 9);
      expect(relError(steps[0].run(x).toArray(), seq.run(x).toArray())).toBeLessThan(1e-6);
    });
    for (const s of steps) s.dispose();
    seq.dispose();
    const so2 = G.rot2dOnR2(-1, 2);
    const ti = eq.fieldType(so2, [so2.irrep(0), so2.irrep(1)]);
    const iid = eq.nn.iidBatchNorm({ in: ti });
    iid.setParameters({ weight: [2, 0.5], running_var: [0.5, 2], running_mean: [0.4, 0, 0], bias: [-0.1, 0, 0] });
    checkAll(iid, so2, 3, 7, [], false);
    // A mean with a component along irrep_1 would break equivariance.
    expect(() => iid.setParameters({ running_mean: [0.4, 0.3, 0] })).toThrow(/not in the field's trivial subspace/);
    expect(iid.parameters().running_mean.toArray()[1]).toBe(0);
    iid.dispose();
  });

  it('anti-aliased pooling equals its plain loops; the mask is escnn\'s', () => {
    const pool = eq.nn.maxPoolAntialiased({ size: 2, stride: 2, sigma: 0.6 });
    expect(pool.filterSize).toBe(5);
    // What the kernel does not support is refused when the layer is made, not at its first run.
    expect(() => eq.nn.maxPoolAntialiased({ size: 3, stride: 2 })).toThrow(/max window is 2x2/);
    expect(() => eq.nn.maxPoolAntialiased({ size: 2, padding: 1 })).toThrow(/padding before the max is not supported/);
    const avg = eq.nn.avgPoolAntialiased({ stride: 2, sigma: 0.66 });
    expect(avg.filterSize).toBe(5);
    eq.tidy(() => {
      const x = input([1, 2, 8, 8], 9), v = x.toArray();
      const y = pool.run(x).toArray(), ya = avg.run(x).toArray();
      const blur = (s: number) => {
        const w = Array.from({ length: 25 }, (_, t) => Math.exp(-((((t / 5) | 0) - 2) ** 2) / (2 * s * s) - (((t % 5) - 2) ** 2) / (2 * s * s)));
        const z = w.reduce((a, b) => a + b, 0);
        return w.map((u) => u / z);
      };
      const conv = (img: (i: number, j: number) => number, h: number, w: number, s: number, i: number, j: number) => {
        const f = blur(s);
        let acc = 0;
        for (let a = 0; a < 5; a++) for (let b = 0; b < 5; b++) {
          const ii = i * 2 - 2 + a, jj = j * 2 - 2 + b;
          if (ii >= 0 && ii < h && jj >= 0 && jj < w) acc += f[a * 5 + b] * img(ii, jj);
        }
        return acc;
      };
      for (let c = 0; c < 2; c++) {
        const mx = (i: number, j: number) => Math.max(v[c * 64 + i * 8 + j], v[c * 64 + i * 8 + j + 1], v[c * 64 + (i + 1) * 8 + j], v[c * 64 + (i + 1) * 8 + j + 1]);
        for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(y[c * 16 + i * 4 + j]).toBeCloseTo(conv(mx, 7, 7, 0.6, i, j), 5);
        for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(ya[c * 16 + i * 4 + j]).toBeCloseTo(conv((a, b) => v[c * 64 + a * 8 + b], 8, 8, 0.66, i, j), 5);
      }
    });
    const m = eq.nn.mask({ size: 9, margin: 10 });
    const vals = m.values();
    expect(vals[4 * 9 + 4]).toBe(1);
    expect(vals[0]).toBeCloseTo(Math.exp(((4 - 0.4) ** 2 - 32) / 4), 6);
    pool.dispose();
    avg.dispose();
    m.dispose();
  });
});

describe('models on the plane and bad input', () => {
  const gs = G.rot2dOnR2(8);
  const cfg = () => ({
    format: 'equivariant.model' as const, version: 1 as const, name: 'tiny C8', group: 'rot2dOnR2(8)',
    input: { field: 'r2' as const, channels: 1, reps: ['trivial'], size: [14, 14] as [number, number] },
    layers: [
      { type: 'r2conv', name: 'conv1', in: ['trivial'], out: [['regular', 2]], kernel: 5, padding: 2 },
      { type: 'innerBatchNorm', name: 'bn1', in: [['regular', 2]] },
      { type: 'relu' },
      { type: 'maxPoolAntialiased', size: 2, stride: 2, sigma: 0.6 },
      { type: 'r2conv', name: 'conv2', in: [['regular', 2]], out: [['regular', 3]], kernel: 3, padding: 1 },
      { type: 'relu' },
      { type: 'groupPooling', in: [['regular', 3]] },
      { type: 'globalPool', reduce: 'mean' },
      { type: 'linear', name: 'fc', in: 3, out: 4 },
    ],
  });

  it('a config builds, runs fused and unfused alike, and its output is invariant', async () => {
    const model = await eq.loadModel({ config: cfg(), weights: weightsFor(cfg()) });
    expect(model.network.layers[0]).toBeInstanceOf(eq.nn.R2Conv);
    eq.tidy(() => {
      const x = input([2, 1, 14, 14], 3);
      expect(relError(model.run(x).toArray(), model.runUnfused(x).toArray())).toBeLessThan(1e-6);
      const t = eq.fieldType(gs, [gs.trivialRepr]);
      const r = eq.checkEquivariance((z: eq.Tensor) => model.run(z), { input: x, inType: t, outType: eq.field.invariant(t.group as never, 4), elements: gs.gridElements(), tolerance: 1e-5 });
      expect(r.ok, r.summary).toBe(true);
    });
    model.dispose();
  });

  it('field types of different spaces, kernels too small for the frequencies, wrong coefficient counts: typed errors naming the layer', async () => {
    const d4 = G.flipRot2dOnR2(4);
    expect(() => eq.nn.r2conv({ in: eq.fieldType(gs, [gs.trivialRepr]), out: eq.fieldType(d4, [d4.regularRepr]), kernel: 3, name: 'mixed' }))
      .toThrow(/r2conv 'mixed': the input's field type is on rot2dOnR2\(8\) and the output's on flipRot2dOnR2\(4\)/);
    expect(() => eq.fieldType(gs, [gs.regularRepr, d4.regularRepr])).toThrow(eq.ArgumentError);
    // Names identify representations (layers and configs look them up by name): a name is one
    // representation, built-in names are not for direct sums, and the same sum is one object.
    const c4 = G.rot2dOnR2(4);
    const mix = c4.directSum([c4.trivialRepr, c4.irrep(1)], 'mix-test');
    expect(c4.directSum([c4.trivialRepr, c4.irrep(1)], 'mix-test')).toBe(mix);
    expect(c4.repByName('mix-test')).toBe(mix);
    expect(() => c4.directSum([c4.irrep(1), c4.irrep(2)], 'mix-test')).toThrow(/a different representation is already named 'mix-test'/);
    // Its change of basis is n x n: a sum of 100,000 fields is refused at once, not a RangeError.
    expect(() => c4.directSum(Array(100_000).fill(c4.regularRepr), 'huge')).toThrow('a direct sum holds at most 4,096');
    expect(() => c4.directSum([c4.trivialRepr, c4.trivialRepr], 'regular')).toThrow(/'regular' is the name of a built-in representation/);
    expect(() => c4.directSum([c4.trivialRepr, c4.trivialRepr], 'irrep_5')).toThrow(eq.ArgumentError);
    expect(c4.regularRepr.size).toBe(4);
    expect(c4.directSum([c4.trivialRepr, c4.irrep(1)])).toBe(c4.directSum([c4.trivialRepr, c4.irrep(1)]));
    // Negative angles are the same elements as their positive equivalents.
    const c8 = G.rot2dOnR2(8).fibreGroup;
    expect(c8.index({ flip: 0, angle: -Math.PI / 4 })).toBe(7);
    expect(c8.label({ flip: 0, angle: -Math.PI / 4 })).toBe('r7');
    expect(() => eq.nn.elu({ alpha: -1 })).toThrow(/^elu: alpha/);
    // A quarter turn does not map a non-square map onto itself: refused, not clipped.
    const tq = eq.fieldType(c4, [c4.regularRepr]);
    eq.tidy(() => {
      const m = input([1, 4, 9, 13], 2);
      expect(() => tq.act({ flip: 0, angle: Math.PI / 2 }, m)).toThrow(/quarter turn maps a 9 x 13 map onto 13 x 9/);
      expect(tq.act({ flip: 0, angle: Math.PI }, m).shape).toEqual([1, 4, 9, 13]);
    });
    const so2 = G.rot2dOnR2(-1, 6);
    // Frequency 5 needs more than a 3x3 kernel's band limit (2).
    expect(() => eq.nn.r2conv({ in: eq.fieldType(so2, [so2.irrep(0)]), out: eq.fieldType(so2, [so2.irrep(5)]), kernel: 3, name: 'small' }))
      .toThrow(/r2conv 'small': no 3x3 kernel with band limit 2 maps irrep_0 to irrep_5 .* too small for the frequencies/);
    // A band limit the ring's pixels cannot carry.
    expect(() => eq.nn.r2conv({ in: eq.fieldType(gs, [gs.regularRepr]), out: eq.fieldType(gs, [gs.regularRepr]), kernel: 3, frequencies: [0, 5], name: 'alias' }))
      .toThrow(/r2conv 'alias': the ring at radius 1 of a 3x3 kernel covers 8 directions, enough for frequencies up to 3, but its band limit is 5/);
    const c = cfg();
    const w = weightsFor(c);
    const short = { ...w, 'conv2.weights': { shape: [10], data: new Float32Array(10) } };
    await expect(eq.loadModel({ config: c, weights: short })).rejects.toThrow(/tensor 'conv2.weights' of layer 'conv2' must be \[288\], got \[10\]/);
    const badRep = cfg();
    (badRep.layers[0] as { out: unknown }).out = [['regulr', 2]];
    await expect(eq.loadModel({ config: badRep, weights: w })).rejects.toThrow(eq.ConfigError);
    await expect(eq.loadModel({ config: badRep, weights: w })).rejects.toThrow(/layer 0 'conv1'.*unknown representation 'regulr'/);
    const irrepsRelu = { ...cfg(), layers: [{ type: 'r2conv', name: 'conv1', in: ['trivial'], out: [['irrep_1', 2]], kernel: 5, padding: 2 }, { type: 'relu', name: 'act' }] };
    const conv1 = eq.nn.r2conv({ in: eq.fieldType(gs, [gs.trivialRepr]), out: eq.fieldType(gs, [gs.irrep(1), gs.irrep(1)]), kernel: 5 });
    await expect(eq.loadModel({ config: irrepsRelu, weights: { 'conv1.weights': conv1.parameters().weights } })).rejects.toThrow(/relu 'act': ReLU is equivariant only on trivial, regular and quotient fields/);
    conv1.dispose();
    // A mask of another size than the maps that reach it: refused at load, not on every run.
    const sized = cfg();
    const badMask = { ...sized, input: { ...sized.input, size: [16, 16] }, layers: [{ type: 'mask', name: 'm', size: 14 }, ...sized.layers] };
    await expect(eq.loadModel({ config: badMask, weights: w })).rejects.toThrow(/for 16x16 inputs \(input.size\), mask 'm': a 14x14 mask, but the maps reaching it are 16x16/);
    const notPlane = { ...cfg(), group: 'C8' };
    await expect(eq.loadModel({ config: notPlane, weights: w })).rejects.toThrow(/needs a gspace/);
    // The library stays usable.
    const ok = await eq.loadModel({ config: cfg(), weights: w });
    expect(() => eq.tidy(() => ok.run(input([1, 2, 14, 14], 1)))).toThrow(eq.ShapeError);
    eq.tidy(() => expect(ok.run(input([1, 1, 14, 14], 1)).shape).toEqual([1, 4]));
    ok.dispose();
    expect(() => ok.run(input([1, 1, 14, 14], 1))).toThrow(eq.DisposedError);
  });
});

/** Weights for a config: the layers' own initial parameters, by building them once. */
function weightsFor(config: ReturnType<typeof Object>): Record<string, { shape: number[]; data: Float32Array }> {
  const gsName = (config as { group: string }).group;
  void gsName;
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  const layers = (config as { layers: { type: string; name?: string; in?: unknown; out?: unknown; kernel?: number; padding?: number }[] }).layers;
  const gs = G.gspaceByName((config as { group: string }).group)!;
  for (const l of layers) {
    if (l.type === 'r2conv') {
      const conv = eq.nn.r2conv({ in: eq.gspaces.fieldTypeFromSpec(gs, l.in, 'in'), out: eq.gspaces.fieldTypeFromSpec(gs, l.out, 'out'), kernel: l.kernel!, padding: l.padding, seed: 3 });
      for (const [k, v] of Object.entries(conv.parameters())) out[`${l.name}.${k}`] = { shape: [...v.shape], data: v.toArray() };
      conv.dispose();
    } else if (l.type === 'innerBatchNorm') {
      const F = eq.gspaces.fieldTypeFromSpec(gs, l.in, 'in').length;
      for (const k of ['weight', 'bias', 'running_mean', 'running_var']) out[`${l.name}.${k}`] = { shape: [F], data: new Float32Array(F).fill(k === 'bias' || k === 'running_mean' ? 0.1 : 1.2) };
    } else if (l.type === 'linear') {
      const L = l as unknown as { in: number; out: number };
      out[`${l.name}.weight`] = { shape: [L.out, L.in], data: random(L.in * L.out, 4) };
      out[`${l.name}.bias`] = { shape: [L.out], data: random(L.out, 5) };
    }
  }
  return out;
}

describe('hostile sizes', () => {
  it('refuses a basis that would take too long to build, before building it, and stays usable', () => {
    const big = G.rot2dOnR2(128);
    const t = eq.fieldType(big, [big.regularRepr]);
    const t0 = performance.now();
    expect(() => eq.nn.r2conv({ in: t, out: t, kernel: 7, name: 'huge' })).toThrow(/r2conv 'huge': kernel basis: regular -> regular \(sizes 128 and 128\) .* over the limit/);
    expect(performance.now() - t0).toBeLessThan(2000);
    const gs = G.rot2dOnR2(4);
    const small = eq.nn.r2conv({ in: eq.fieldType(gs, [gs.trivialRepr]), out: eq.fieldType(gs, [gs.regularRepr]), kernel: 3 });
    expect(small.basisDimension).toBe(6);
    small.dispose();
  });
});
