// Loading models: every source kind, the strict safetensors parser, and bad input of every kind
// giving typed errors that name the layer and tensor, with the model still usable afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import * as eq from '../ts/index.js';
import { serve } from '../tools/serve.mjs';
import { random } from './helpers.js';

const fx = new URL('./fixtures/', import.meta.url).pathname;
const config = () => JSON.parse(readFileSync(`${fx}p4cnn.json`, 'utf8'));
const weightBytes = () => new Uint8Array(readFileSync(`${fx}p4cnn.safetensors`));
const weights = () => eq.parseSafetensors(weightBytes()).tensors;

beforeAll(() => eq.init());
afterAll(() => eq.clearCaches());

/** Rewrites one tensor's header entry of a safetensors file (keeping the data). */
function editHeader(bytes: Uint8Array, edit: (h: Record<string, any>) => void): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  edit(header);
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(bytes.subarray(8 + n), 8 + text.length);
  return out;
}

describe('loadModel sources', () => {
  it('loads from objects, bytes, paths, file URLs and http URLs with the same result', async () => {
    const x = random(2 * 784, 3);
    const outputs: Float32Array[] = [];
    const server = await serve(new URL('..', import.meta.url).pathname);
    try {
      const sources = [
        { config: config(), weights: Object.fromEntries(weights()) },
        { config: new TextEncoder().encode(JSON.stringify(config())), weights: weightBytes().buffer.slice(0) as ArrayBuffer },
        { config: JSON.stringify(config()), weights: weightBytes() },
        { config: `${fx}p4cnn.json`, weights: `${fx}p4cnn.safetensors` },
        { config: pathToFileURL(`${fx}p4cnn.json`), weights: pathToFileURL(`${fx}p4cnn.safetensors`) },
        { config: `${server.url}/test/fixtures/p4cnn.json`, weights: `${server.url}/test/fixtures/p4cnn.safetensors` },
      ];
      for (const s of sources) {
        const m = await eq.loadModel(s as never);
        outputs.push(eq.tidy(() => m.run(eq.tensor(x, [2, 1, 28, 28])).toArray()));
        m.dispose();
      }
      await expect(eq.loadModel({ config: `${server.url}/nope.json`, weights: weightBytes() })).rejects.toThrow('404');
    } finally {
      await server.close();
    }
    for (const o of outputs) expect(o).toEqual(outputs[0]);
    expect(eq.memory()).toMatchObject({ tensors: 0, allocations: 0 });
  });

  it('exposes its field types, parameters and config', async () => {
    const m = await eq.loadModel({ config: config(), weights: weightBytes() });
    expect(m.inType.describe()).toContain('[N, 1, H, W]');
    expect(m.outType.describe()).toContain('10 invariant features');
    expect(Object.keys(m.parameters())).toContain('conv7.bias');
    expect(m.network.config().layers).toHaveLength(config().layers.length);
    m.dispose();
  });
});

describe('safetensors', () => {
  it('round-trips and converts F16, BF16 and F64', () => {
    const bytes = eq.encodeSafetensors({ b: { shape: [2], data: Float32Array.from([1.5, -2]) }, a: { shape: [1, 1], data: Float32Array.from([3]) } }, { note: 'x' });
    const { tensors, metadata } = eq.parseSafetensors(bytes);
    expect(metadata).toEqual({ note: 'x' });
    expect(Array.from(tensors.get('b')!.data)).toEqual([1.5, -2]);
    const f16 = editHeader(eq.encodeSafetensors({ h: { shape: [2], data: new Float32Array(2) } }), (h) => { h.h.dtype = 'F16'; h.h.shape = [4]; });
    const half = new Uint16Array([0x3c00, 0xc000, 0x0000, 0x7c00]); // 1, -2, 0, +inf
    f16.set(new Uint8Array(half.buffer), f16.length - 8);
    expect(Array.from(eq.parseSafetensors(f16).tensors.get('h')!.data)).toEqual([1, -2, 0, Infinity]);
  });

  it('refuses malformed files with WeightsError saying what is wrong', () => {
    const good = weightBytes();
    const cases: [Uint8Array, string][] = [
      [good.subarray(0, 5), 'must start with an 8-byte header length'],
      [good.subarray(0, good.length - 100), 'truncated'],
      [(() => { const b = good.slice(); new DataView(b.buffer).setBigUint64(0, 10n ** 12n, true); return b; })(), 'implausible'],
      [(() => { const b = good.slice(); b[9] = 0x7b; b[10] = 0x7b; return b; })(), 'not valid UTF-8 JSON'],
      [editHeader(good, (h) => { h['conv1.weight'].dtype = 'I32'; }), "tensor 'conv1.weight' has dtype \"I32\""],
      [editHeader(good, (h) => { h['conv1.weight'].shape = [10, 1, 3]; }), "tensor 'conv1.weight' of shape [10, 1, 3]"],
      [editHeader(good, (h) => { h['bn1.bias'].data_offsets = h['bn1.weight'].data_offsets; }), 'overlaps'],
      [editHeader(good, (h) => { delete h['bn1.bias']; }), 'belong to no tensor'],
      [editHeader(good, (h) => { h['conv1.weight'].data_offsets = [5, 2]; }), 'begin <= end'],
      [editHeader(good, (h) => { h['x'] = 3; }), "tensor 'x': entry must be an object"],
    ];
    for (const [bytes, msg] of cases) {
      expect(() => eq.parseSafetensors(bytes)).toThrow(eq.WeightsError);
      expect(() => eq.parseSafetensors(bytes)).toThrow(msg);
    }
  });
});

describe('bad models and inputs', () => {
  it('names the tensor and layer for missing, extra, misshapen and mistyped weights', async () => {
    const w = Object.fromEntries(weights());
    const { ['conv3.weight']: _gone, ...missing } = w;
    void _gone;
    await expect(eq.loadModel({ config: config(), weights: missing })).rejects.toThrow("tensor 'conv3.weight' (layer 'conv3', shape [10, 10, 4, 3, 3]) is missing");
    await expect(eq.loadModel({ config: config(), weights: { ...w, 'conv9.weight': w['conv1.weight'] } })).rejects.toThrow("'conv9.weight' belong to no layer");
    await expect(eq.loadModel({ config: config(), weights: { ...w, 'bn2.weight': { shape: [11], data: new Float32Array(11) } } })).rejects.toThrow("tensor 'bn2.weight' of layer 'bn2' must be [10], got [11]");
    await expect(eq.loadModel({ config: config(), weights: editHeader(weightBytes(), (h) => { h['conv1.weight'].dtype = 'I8'; }) })).rejects.toThrow(eq.WeightsError);
    await expect(eq.loadModel({ config: config(), weights: weightBytes().subarray(0, 1000) })).rejects.toThrow('truncated');
    await expect(eq.loadModel({ config: config(), weights: { 'conv1.weight': 3 } as never })).rejects.toThrow(eq.WeightsError);
    expect(eq.memory()).toMatchObject({ tensors: 0, allocations: 0 });
  });

  it('names the layer for an unknown type, an unknown option, inconsistent channels, or a bad group', async () => {
    const w = weightBytes();
    const withLayer = (i: number, patch: Record<string, unknown>) => {
      const c = config();
      c.layers[i] = { ...c.layers[i], ...patch };
      return c;
    };
    const cases: [unknown, string][] = [
      [withLayer(2, { type: 'gelu' }), "layer 2 'layers.2' has unknown type 'gelu'"],
      [withLayer(0, { dilation: 2 }), "layer 0 'conv1' (liftingConv) has unknown option(s) dilation"],
      [withLayer(3, { in: 12 }), "layer 3 'conv2' (groupConv) takes 12 input channels, but the layers before it give 10"],
      [withLayer(1, { channels: 7 }), "layer 1 'bn1' (batchNorm) takes 7 input channels, but the layers before it give 10"],
      [withLayer(3, { group: 'p4m' }), "layer 3 'conv2' is on group p4m but the model's group is p4"],
      [withLayer(3, { kernel: 0 }), "layer 3 'conv2' (groupConv): kernel must be an integer in 1..65536, got 0"],
      [{ ...config(), group: 'q7' }, "unknown group 'q7'"],
      [{ ...config(), format: 'other' }, "format must be 'equivariant.model'"],
      [{ ...config(), version: 2 }, 'version 2 is not supported'],
      [{ ...config(), input: { field: 'regular', channels: 1 } }, "input.field 'regular' needs a finite group"],
      [{ ...config(), layers: [] }, 'layers must be a non-empty array'],
      ['{"format": ', 'not valid JSON'],
    ];
    for (const [cfg, msg] of cases) {
      const p = eq.loadModel({ config: cfg as never, weights: w });
      await expect(p, msg).rejects.toThrow(eq.ConfigError);
      await expect(eq.loadModel({ config: cfg as never, weights: w })).rejects.toThrow(msg);
    }
    expect(eq.memory()).toMatchObject({ tensors: 0, allocations: 0 });
  });

  it('refuses inputs of the wrong channels, size or rank, and stays usable', async () => {
    const m = await eq.loadModel({ config: config(), weights: weightBytes() });
    const x = random(784, 5);
    const before = eq.tidy(() => m.run(eq.tensor(x, [1, 1, 28, 28])).toArray());
    eq.tidy(() => {
      expect(() => m.run(eq.zeros([1, 3, 28, 28]))).toThrow('P4CNN.run: input: has 3 channels, expected 1');
      expect(() => m.run(eq.zeros([1, 1, 32, 32]))).toThrow('P4CNN.run: input must be 28 x 28, got [1, 1, 32, 32]');
      expect(() => m.run(eq.zeros([1, 1, 28, 30]))).toThrow(eq.ShapeError);
      expect(() => m.run(eq.zeros([1, 28, 28]))).toThrow('expected [N, 1, H, W]');
      const gone = eq.zeros([1, 1, 28, 28]);
      gone.dispose();
      expect(() => m.run(gone)).toThrow(eq.DisposedError);
    });
    const after = eq.tidy(() => m.run(eq.tensor(x, [1, 1, 28, 28])).toArray());
    expect(after).toEqual(before);
    m.dispose();
    expect(eq.memory()).toMatchObject({ tensors: 0, allocations: 0 });
  });

  it('a layer refuses misshapen parameters without changing the ones it has', () => {
    const conv = eq.nn.groupConv({ group: eq.groups.p4(), in: 2, out: 3 });
    const before = conv.parameters().weight.toArray();
    expect(() => conv.setParameters({ weight: new Float32Array(5) })).toThrow("groupConv: parameter 'weight' must hold 216 values ([3, 2, 4, 3, 3]), got 5");
    expect(() => conv.setParameters({ bias: new Float32Array(3), gain: [1] })).toThrow("unknown parameter 'gain'");
    expect(conv.parameters().weight.toArray()).toEqual(before);
    expect(() => eq.nn.groupConv({ group: eq.groups.p4(), in: 0, out: 3 })).toThrow('in must be an integer in 1..65536, got 0');
    expect(() => eq.nn.liftingConv({ group: eq.groups.dihedral(4), in: 1, out: 3 })).toThrow('needs a domain');
    conv.dispose();
  });
});
