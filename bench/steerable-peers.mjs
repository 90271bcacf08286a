// A steerable model on the plane as the plain network general-purpose engines run: every r2conv
// becomes an ordinary convolution over its expanded filter bank (a following batch norm folded
// in, ReLU fused), the mask a multiplication, anti-aliased pooling a depthwise Gaussian
// convolution, group pooling a reshape and a max, then the dense head. The same ops run in
// tfjs-backend-wasm and onnxruntime-web (one thread each).
import { createRequire } from 'node:module';
import * as eq from '../dist/index.js';
import { onnx } from './onnx.mjs';

const require = createRequire(import.meta.url);

/** The plain ops of a loaded model on the plane, with the shapes they see for `[n, c, h, w]` inputs. */
export function steerableOps(model, [c, h, w]) {
  const L = model.network.layers;
  const ops = [];
  let shape = [c, h, w];
  const out = (s) => {
    shape = s;
  };
  for (let i = 0; i < L.length; i++) {
    const l = L[i];
    if (l instanceof eq.nn.R2Conv) {
      const next = L[i + 1];
      const bn = next && typeof next.channelAffine === 'function' ? next : undefined;
      const reluAt = i + (bn ? 2 : 1);
      const relu = L[reluAt] instanceof eq.nn.Relu;
      const { weight, shape: ws, bias } = l.expandedFilters(bn?.channelAffine());
      const k = ws[2], p = l.padding === 'same' ? (k - 1) / 2 : l.padding === 'valid' ? 0 : l.padding;
      ops.push({ op: 'conv', weight, shape: ws, bias, pad: [p, p], stride: l.stride, relu, group: 1, winograd5: l.usesWinograd && k === 5, winograd3: l.usesWinograd && k === 3, inShape: shape });
      out([ws[0], Math.floor((shape[1] + 2 * p - k) / l.stride) + 1, Math.floor((shape[2] + 2 * p - k) / l.stride) + 1]);
      i = relu ? reluAt : bn ? i + 1 : i;
    } else if (l instanceof eq.nn.Relu) ops.push({ op: 'relu' });
    else if (l instanceof eq.nn.Pointwise && l.fn === 'elu') ops.push({ op: 'elu', alpha: l.alpha });
    else if (l instanceof eq.nn.Mask) ops.push({ op: 'mul', values: l.values(), shape: [1, 1, l.size, l.size] });
    else if (l instanceof eq.nn.AntialiasedPool) {
      const f = l.filterSize, s2 = l.sigma, c0 = (f - 1) / 2;
      const g = Float32Array.from({ length: f * f }, (_, t) => Math.exp(-(((Math.floor(t / f) - c0) ** 2) + ((t % f) - c0) ** 2) / (2 * s2 * s2)));
      const z = g.reduce((a, b) => a + b, 0);
      let [ch, hh, ww] = shape;
      if (l.type === 'maxPoolAntialiased') {
        ops.push({ op: 'maxpool', size: l.size, stride: 1 });
        hh -= l.size - 1;
        ww -= l.size - 1;
      }
      const p = l.blurPadding;
      ops.push({ op: 'blur', weight: g.map((v) => v / z), size: f, channels: ch, pad: p, stride: l.stride });
      out([ch, Math.floor((hh + 2 * p - f) / l.stride) + 1, Math.floor((ww + 2 * p - f) / l.stride) + 1]);
    } else if (l instanceof eq.nn.Pool2d) {
      ops.push({ op: l.type === 'maxPool2d' ? 'maxpool' : 'avgpool', size: l.size, stride: l.stride });
      out([shape[0], Math.floor((shape[1] - l.size) / l.stride) + 1, Math.floor((shape[2] - l.size) / l.stride) + 1]);
    } else if (l instanceof eq.nn.GroupPooling) {
      const size = l.inType.representations[0].size;
      if (!l.inType.representations.every((r) => r.size === size)) throw new Error('steerableOps: group pooling over fields of different sizes');
      ops.push({ op: 'groupmax', fields: l.inType.length, size, h: shape[1], w: shape[2] });
      out([l.inType.length, shape[1], shape[2]]);
    } else if (l instanceof eq.nn.GlobalPool) {
      ops.push({ op: l.reduce === 'mean' ? 'globalavg' : 'globalmax' });
      out([shape[0]]);
    } else if (l instanceof eq.nn.Linear) {
      const p = l.parameters();
      ops.push({ op: 'linear', weight: p.weight.toArray(), bias: p.bias?.toArray() ?? new Float32Array(l.out), in: l.in, out: l.out });
      out([l.out]);
    } else if (l instanceof eq.nn.BatchNorm) {
      const a = l.affine();
      ops.push({ op: 'affine', scale: a.scale, shift: a.shift });
    } else throw new Error(`steerableOps: no plain equivalent for ${l.label()}`);
  }
  return ops;
}

/** FLOPs of the convolutions as direct convolutions, and as executed here (Winograd counted as run), for `n` images. */
export function steerableFlops(ops, n) {
  let direct = 0, executed = 0;
  for (const o of ops) {
    if (o.op !== 'conv') continue;
    const [co, ci, k] = o.shape;
    const [, h, w] = o.inShape;
    const ho = Math.floor((h + 2 * o.pad[0] - k) / o.stride) + 1, wo = Math.floor((w + 2 * o.pad[0] - k) / o.stride) + 1;
    const d = 2 * n * co * ci * k * k * ho * wo;
    direct += d;
    const tiles = n * Math.ceil(ho / 2) * Math.ceil(wo / 2);
    // Winograd: the products, and the transforms (counted from the kernels' arithmetic: about
    // 264 (5x5) or 32 (3x3) FLOPs per tile and input channel, 76 or 24 per tile and output channel).
    if (o.winograd5) executed += 2 * 36 * ci * co * tiles + tiles * (264 * ci + 76 * co);
    else if (o.winograd3) executed += 2 * 16 * ci * co * tiles + tiles * (32 * ci + 24 * co);
    else executed += d;
  }
  return { direct, executed };
}

/** tfjs-backend-wasm running the ops (NHWC, fused conv + bias + ReLU). */
export async function tfjsSteerable(ops, input, [n, c, h, w]) {
  const tf = await import('@tensorflow/tfjs-core');
  const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
  setWasmPaths(require.resolve('@tensorflow/tfjs-backend-wasm').replace(/[^/]*$/, ''));
  await tf.setBackend('wasm');
  await tf.ready();
  const params = ops.map((o) => {
    if (o.op === 'conv') return { filter: tf.tidy(() => tf.transpose(tf.tensor4d(o.weight, o.shape), [2, 3, 1, 0])), bias: tf.tensor1d(o.bias) };
    if (o.op === 'blur') return { filter: tf.tidy(() => tf.tile(tf.tensor4d(o.weight, [o.size, o.size, 1, 1]), [1, 1, o.channels, 1])) };
    if (o.op === 'mul') return { m: tf.tensor4d(o.values, [1, o.shape[2], o.shape[3], 1]) };
    if (o.op === 'linear') return { w: tf.tidy(() => tf.transpose(tf.tensor2d(o.weight, [o.out, o.in]))), b: tf.tensor1d(o.bias) };
    if (o.op === 'affine') return { s: tf.tensor1d(o.scale), t: tf.tensor1d(o.shift) };
    return null;
  });
  const x = tf.tidy(() => tf.transpose(tf.tensor4d(input, [n, c, h, w]), [0, 2, 3, 1]));
  const pad = (p) => (p === 0 ? 'valid' : [[0, 0], [p, p], [p, p], [0, 0]]);
  const run = () => {
    const y = tf.tidy(() => {
      let t = x;
      ops.forEach((o, i) => {
        const P = params[i];
        if (o.op === 'conv') t = tf.fused.conv2d({ x: t, filter: P.filter, strides: o.stride, pad: pad(o.pad[0]), bias: P.bias, activation: o.relu ? 'relu' : 'linear' });
        else if (o.op === 'relu') t = tf.relu(t);
        else if (o.op === 'elu') t = tf.elu(t);
        else if (o.op === 'mul') t = tf.mul(t, P.m);
        else if (o.op === 'blur') t = tf.depthwiseConv2d(t, P.filter, o.stride, pad(o.pad));
        else if (o.op === 'maxpool') t = tf.maxPool(t, o.size, o.stride, 'valid');
        else if (o.op === 'avgpool') t = tf.avgPool(t, o.size, o.stride, 'valid');
        else if (o.op === 'groupmax') t = tf.max(tf.reshape(t, [t.shape[0], t.shape[1], t.shape[2], o.fields, o.size]), 4);
        else if (o.op === 'globalavg') t = tf.mean(t, [1, 2]);
        else if (o.op === 'globalmax') t = tf.max(t, [1, 2]);
        else if (o.op === 'linear') t = tf.add(tf.matMul(t, P.w), P.b);
        else if (o.op === 'affine') t = tf.add(tf.mul(t, P.s), P.t);
      });
      return t;
    });
    const data = y.dataSync();
    shape = y.shape;
    y.dispose();
    return data;
  };
  let shape = [];
  const nchw = (d) => {
    if (shape.length !== 4) return d;
    const [N, H, W, C] = shape;
    const o = new Float32Array(d.length);
    for (let b = 0; b < N; b++) for (let yy = 0; yy < H; yy++) for (let xx = 0; xx < W; xx++) for (let ch = 0; ch < C; ch++) o[((b * C + ch) * H + yy) * W + xx] = d[((b * H + yy) * W + xx) * C + ch];
    return o;
  };
  return { name: `tfjs-backend-wasm ${tf.version_core}`, run, nchw, dispose: () => { x.dispose(); for (const p of params) if (p) for (const t of Object.values(p)) t.dispose(); } };
}

/** The ops as an ONNX graph on input `[N, c, h, w]`. */
export function steerableOnnx(ops, [c, h, w]) {
  const { concat, int, str, msg, tensorProto, attrInts, attrInt, node, valueInfo } = onnx;
  const nodes = [], inits = [];
  let cur = 'input', i = 0;
  const next = () => `t${i++}`;
  const init = (name, dims, data, type = 1) => inits.push(msg(5, tensorProto(name, dims, data, type)));
  for (const o of ops) {
    const out = next();
    if (o.op === 'conv') {
      init(`w${i}`, o.shape, o.weight);
      init(`b${i}`, [o.shape[0]], o.bias);
      nodes.push(node('Conv', [cur, `w${i}`, `b${i}`], [out], [attrInts('kernel_shape', o.shape.slice(2)), attrInts('pads', [o.pad[0], o.pad[0], o.pad[1], o.pad[1]]), attrInts('strides', [o.stride, o.stride])]));
      cur = out;
      if (o.relu) { nodes.push(node('Relu', [cur], [`${out}r`])); cur = `${out}r`; }
      continue;
    }
    if (o.op === 'relu') nodes.push(node('Relu', [cur], [out]));
    else if (o.op === 'elu') nodes.push(node('Elu', [cur], [out]));
    else if (o.op === 'mul') { init(`m${i}`, o.shape, o.values); nodes.push(node('Mul', [cur, `m${i}`], [out])); }
    else if (o.op === 'blur') {
      init(`g${i}`, [o.channels, 1, o.size, o.size], Array.from({ length: o.channels }, () => Array.from(o.weight)).flat());
      nodes.push(node('Conv', [cur, `g${i}`], [out], [attrInts('kernel_shape', [o.size, o.size]), attrInts('pads', [o.pad, o.pad, o.pad, o.pad]), attrInts('strides', [o.stride, o.stride]), attrInt('group', o.channels)]));
    } else if (o.op === 'maxpool' || o.op === 'avgpool') nodes.push(node(o.op === 'maxpool' ? 'MaxPool' : 'AveragePool', [cur], [out], [attrInts('kernel_shape', [o.size, o.size]), attrInts('strides', [o.stride, o.stride])]));
    else if (o.op === 'groupmax') {
      init(`s${i}`, [5], [0, o.fields, o.size, o.h, o.w], 7);
      nodes.push(node('Reshape', [cur, `s${i}`], [`${out}s`]));
      nodes.push(node('ReduceMax', [`${out}s`], [out], [attrInts('axes', [2]), attrInt('keepdims', 0)]));
    } else if (o.op === 'globalavg' || o.op === 'globalmax') nodes.push(node(o.op === 'globalavg' ? 'ReduceMean' : 'ReduceMax', [cur], [out], [attrInts('axes', [2, 3]), attrInt('keepdims', 0)]));
    else if (o.op === 'linear') { init(`w${i}`, [o.out, o.in], o.weight); init(`b${i}`, [o.out], o.bias); nodes.push(node('Gemm', [cur, `w${i}`, `b${i}`], [out], [attrInt('transB', 1)])); }
    else if (o.op === 'affine') { init(`a${i}`, [o.scale.length], o.scale); init(`c${i}`, [o.shift.length], o.shift); nodes.push(node('Mul', [cur, `a${i}`], [`${out}m`])); nodes.push(node('Add', [`${out}m`, `c${i}`], [out])); }
    else throw new Error(`steerableOnnx: ${o.op}`);
    cur = out;
  }
  const graph = [...nodes, str(2, 'steerable'), ...inits, valueInfo(11, 'input', ['N', c, h, w])];
  graph.push(msg(12, [str(1, cur), msg(2, [msg(1, [int(1, 1)])])]));
  return concat([int(1, 8), str(2, 'equivariant-bench'), msg(7, graph), msg(8, [str(1, ''), int(2, 13)])]);
}

/** onnxruntime-web running the ops, one thread. */
export async function ortSteerable(ops, input, [n, c, h, w]) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const session = await ort.InferenceSession.create(steerableOnnx(ops, [c, h, w]), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds = { input: new ort.Tensor('float32', input, [n, c, h, w]) };
  const out = session.outputNames[0];
  return { name: `onnxruntime-web ${ort.env.versions.web} (1 thread)`, run: async () => (await session.run(feeds))[out].data, dispose: () => session.release() };
}
