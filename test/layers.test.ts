// Every layer, the P4CNN and the p4m model: equivariant over all group elements; phi's special
// cases equal to the operator evaluated literally; the conv kernel equal to plain loops.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as eq from '../ts/index.js';
import { Phi } from '../ts/nn/phi.js';
import * as ops from '../ts/core/ops.js';
import { firstBitDifference, random, testWasm } from './helpers.js';

beforeAll(() => eq.init({ wasm: testWasm }));
afterAll(() => eq.clearCaches());

const { p4, p4m, dihedral, symmetric } = eq.groups;
const fixtures = new URL('./fixtures/', import.meta.url).pathname;

function expectEquivariant(report: eq.EquivarianceReport<unknown>, count: number) {
  expect(report.perElement).toHaveLength(count);
  expect(report.ok, report.summary).toBe(true);
  expect(report.maxRelError).toBeLessThanOrEqual(1e-5);
  expect(report.scale).toBeGreaterThan(0);
}

describe('equivariance over every group element', () => {
  it('lifting and group convolutions on p4 and p4m (odd and even kernels, valid/same/stride)', () => {
    for (const G of [p4(), p4m()]) {
      const n = G.pointOrder;
      const cases: [eq.nn.Phi, number[]][] = [
        [eq.nn.liftingConv({ group: G, in: 2, out: 3, kernel: 3, padding: 'same' }), [2, 2, 8, 8]],
        [eq.nn.liftingConv({ group: G, in: 1, out: 2, kernel: 4, padding: 'valid', seed: 2 }), [1, 1, 9, 9]],
        [eq.nn.groupConv({ group: G, in: 2, out: 2, kernel: 3, padding: 'valid' }), [2, 2, n, 7, 7]],
        [eq.nn.groupConv({ group: G, in: 2, out: 3, kernel: 5, padding: 'same', seed: 3 }), [1, 2, n, 6, 6]],
        [eq.nn.groupConv({ group: G, in: 1, out: 2, kernel: 3, padding: 1, stride: 2, seed: 4 }), [1, 1, n, 9, 9]],
      ];
      for (const [layer, shape] of cases) eq.tidy(() => {
        const x = eq.tensor(random(shape.reduce((a, b) => a * b), 7), shape);
        expectEquivariant(eq.checkEquivariance(layer, { input: x, elements: 'all' }), n);
        layer.dispose();
      });
    }
  });

  it('group convolutions on finite groups given by their Cayley tables', () => {
    for (const G of [dihedral(5), symmetric(4), eq.groups.product(eq.groups.cyclic(2), eq.groups.cyclic(3))]) eq.tidy(() => {
      const layer = eq.nn.groupConv({ group: G, in: 3, out: 2 });
      const x = eq.tensor(random(4 * 3 * G.order, 8), [4, 3, G.order]);
      expectEquivariant(eq.checkEquivariance(layer, { input: x }), G.order);
      layer.dispose();
    });
  });

  it('pooling, ReLU, batch norm, linear and flatten, with the field types they take', () => {
    const G = p4m();
    const grid = eq.field.grid(G, 3), image = eq.field.image(G, 3);
    const bn = eq.nn.batchNorm({ channels: 3 });
    bn.setParameters({ weight: [1.5, 0.5, 2], bias: [0.1, -0.2, 0.3], running_mean: [0.2, -0.1, 0], running_var: [0.5, 2, 1] });
    const layers: [eq.nn.Layer, eq.FieldType<unknown>, number[]][] = [
      [eq.nn.relu(), grid, [2, 3, 8, 6, 6]],
      [bn, grid, [2, 3, 8, 6, 6]],
      [eq.nn.maxPool2d({ size: 2 }), grid, [2, 3, 8, 8, 8]],
      [eq.nn.avgPool2d({ size: 2 }), image, [2, 3, 8, 8]],
      [eq.nn.groupPool({ reduce: 'max' }), grid, [2, 3, 8, 5, 5]],
      [eq.nn.groupPool({ reduce: 'mean' }), grid, [2, 3, 8, 5, 5]],
      [eq.nn.globalPool({ reduce: 'max' }), grid, [2, 3, 8, 5, 5]],
      [eq.nn.globalPool({ reduce: 'mean' }), image, [2, 3, 5, 5]],
    ];
    for (const [layer, inType, shape] of layers) eq.tidy(() => {
      const x = eq.tensor(random(shape.reduce((a, b) => a * b), 9), shape);
      const outType = layer.outputType(inType);
      expectEquivariant(eq.checkEquivariance(layer, { input: x, inType, outType }), 8);
    });
    eq.tidy(() => {
      const inv = eq.field.invariant(G, 6);
      const lin = eq.nn.linear({ in: 6, out: 4 });
      expectEquivariant(eq.checkEquivariance(lin, { input: eq.tensor(random(12, 3), [2, 6]), inType: inv, outType: lin.outputType(inv) }), 8);
      const fl = eq.nn.flatten();
      expectEquivariant(eq.checkEquivariance(fl, { input: eq.tensor(random(12, 3), [2, 6, 1, 1]), inType: inv, outType: fl.outputType(inv) }), 8);
      lin.dispose();
    });
    bn.dispose();
  });

  it('the P4CNN and the p4m model (PyTorch weights) are invariant over all elements', async () => {
    for (const [name, count] of [['p4cnn', 4], ['p4mcnn', 8]] as const) {
      const model = await eq.loadModel({ config: `${fixtures}${name}.json`, weights: `${fixtures}${name}.safetensors` });
      eq.tidy(() => {
        const x = eq.tensor(random(3 * 28 * 28, 11).map(Math.abs), [3, 1, 28, 28]);
        expectEquivariant(eq.checkEquivariance(model, { input: x }), count);
      });
      model.dispose();
    }
  });
});

describe('phi: one operator, its special cases', () => {
  it('liftingConv and groupConv are phi with omega.kernel: same outputs from the same weights', () => {
    for (const [G, lift, shape] of [[p4(), true, [2, 2, 7, 7]], [p4m(), false, [1, 2, 8, 6, 6]]] as const) eq.tidy(() => {
      const named = (lift ? eq.nn.liftingConv : eq.nn.groupConv)({ group: G, in: 2, out: 3, kernel: 3, padding: 'same', seed: 5 });
      const general = eq.nn.phi({ group: G, omega: eq.omega.kernel({ in: 2, out: 3, size: 3, padding: 'same', lift }) });
      general.setParameters(named.parameters());
      const x = eq.tensor(random(shape.reduce((a, b) => a * b), 1), [...shape]);
      expect(firstBitDifference(named.run(x).toArray(), general.run(x).toArray())).toBe(-1);
      expect(general.config()).toMatchObject({ type: 'phi', omega: { kind: 'kernel', lift } });
      named.dispose();
      general.dispose();
    });
  });

  it('the fast path equals the operator summed literally, sum over g\' of kappa(g^-1 g\') f(g\')', () => {
    const cases: [eq.nn.Phi, number[]][] = [
      [eq.nn.liftingConv({ group: p4(), in: 2, out: 2, kernel: 3, padding: 'same' }), [2, 2, 7, 7]],
      [eq.nn.liftingConv({ group: p4m(), in: 1, out: 2, kernel: 4, padding: 1, stride: 2 }), [1, 1, 9, 9]],
      [eq.nn.groupConv({ group: p4(), in: 2, out: 3, kernel: 3, padding: 'valid' }), [1, 2, 4, 6, 6]],
      [eq.nn.groupConv({ group: p4m(), in: 2, out: 2, kernel: 4, padding: 'same' }), [1, 2, 8, 5, 5]],
      [eq.nn.groupConv({ group: symmetric(3), in: 2, out: 3 }), [3, 2, 6]],
    ];
    for (const [layer, shape] of cases) eq.tidy(() => {
      const x = eq.tensor(random(shape.reduce((a, b) => a * b), 4), shape);
      const fast = layer.run(x).toArray(), literal = (layer as Phi).reference(x).toArray();
      let err = 0, scale = 0;
      for (let i = 0; i < fast.length; i++) {
        err = Math.max(err, Math.abs(fast[i] - literal[i]));
        scale = Math.max(scale, Math.abs(literal[i]));
      }
      expect(err / scale, layer.label()).toBeLessThan(1e-6);
      layer.dispose();
    });
  });
});

describe('the convolution kernel', () => {
  it('equals the plain-loop reference bit for bit, with bias and ReLU, on awkward geometries', () => {
    for (const [n, cin, h, cout, k, stride, pad] of [[2, 3, 9, 5, 3, 1, 1], [1, 40, 28, 40, 3, 1, 1], [3, 2, 10, 7, 4, 2, 1], [1, 1, 1, 3, 1, 1, 0], [2, 5, 7, 6, 5, 1, 2]]) eq.tidy(() => {
      const { padTop, padLeft, ho, wo } = ops.convGeometry(h, h, k, stride, pad);
      const x = eq.tensor(random(n * cin * h * h, n + k), [n, cin, h, h]);
      const w = eq.tensor(random(cout * cin * k * k, 3), [cout, cin * k * k]);
      const b = eq.tensor(random(cout, 4), [cout]);
      const g = { n, cin, h, w: h, cout, kh: k, kw: k, stride, padTop, padLeft, ho, wo };
      const fast = ops.conv2d(x, w, b, g, true, [n, cout, ho, wo]).toArray();
      const slow = ops.conv2dReference(x, w, b, g, true, [n, cout, ho, wo]).toArray();
      expect(firstBitDifference(fast, slow), `${[n, cin, h, cout, k, stride, pad]}`).toBe(-1);
    });
  });

  it('gives each image the same bits alone as in any batch', async () => {
    const model = await eq.loadModel({ config: `${fixtures}p4cnn.json`, weights: `${fixtures}p4cnn.safetensors` });
    eq.tidy(() => {
      const data = random(5 * 784, 12);
      const whole = model.run(eq.tensor(data, [5, 1, 28, 28])).toArray();
      for (let i = 0; i < 5; i++) {
        const one = model.run(eq.tensor(data.subarray(i * 784, (i + 1) * 784), [1, 1, 28, 28])).toArray();
        expect(firstBitDifference(one, whole.subarray(i * 10, (i + 1) * 10))).toBe(-1);
      }
    });
    model.dispose();
  });
});

describe('convolution algorithms', () => {
  it("'direct' and 'auto' (Winograd) agree, and the choice is validated", async () => {
    const conv = eq.nn.groupConv({ group: p4(), in: 4, out: 5, kernel: 3, padding: 'same', seed: 9 });
    expect(conv.usesWinograd).toBe(true);
    eq.tidy(() => {
      const x = eq.tensor(random(2 * 4 * 4 * 9 * 9, 3), [2, 4, 4, 9, 9]);
      const wino = conv.run(x).toArray();
      conv.algorithm = 'direct';
      expect(conv.usesWinograd).toBe(false);
      const direct = conv.run(x).toArray();
      let err = 0, scale = 0;
      for (let i = 0; i < direct.length; i++) { err = Math.max(err, Math.abs(wino[i] - direct[i])); scale = Math.max(scale, Math.abs(direct[i])); }
      expect(err / scale).toBeLessThan(1e-6);
    });
    expect(() => { conv.algorithm = 'fft' as never; }).toThrow("algorithm must be 'auto' or 'direct'");
    conv.dispose();
    const m = await eq.loadModel({ config: `${fixtures}p4cnn.json`, weights: `${fixtures}p4cnn.safetensors`, algorithm: 'direct' });
    expect(m.network.layers.filter((l) => l instanceof eq.nn.Phi).every((l) => !(l as eq.nn.Phi).usesWinograd)).toBe(true);
    m.dispose();
  });
});
