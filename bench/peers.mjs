// The peer engines, each running the same plain conv net (plain.mjs) on the same input, with
// the output read back inside the timed call.
import { createRequire } from 'node:module';
import { onnxModel } from './onnx.mjs';

const require = createRequire(import.meta.url);

/** @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD; one thread under Node). NHWC, fused conv+bias+relu. */
export async function tfjsRunner(ops, input, [n, c, h, w]) {
  const tf = await import('@tensorflow/tfjs-core');
  const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
  setWasmPaths(require.resolve('@tensorflow/tfjs-backend-wasm').replace(/[^/]*$/, ''));
  await tf.setBackend('wasm');
  await tf.ready();
  const params = ops.map((o) => o.op !== 'conv' ? null : {
    filter: tf.tidy(() => tf.transpose(tf.tensor4d(o.weight, o.shape), [2, 3, 1, 0])),
    bias: tf.tensor1d(o.bias),
  });
  // NCHW -> NHWC once, outside the timed region.
  const x = tf.tidy(() => tf.transpose(tf.tensor4d(input, [n, c, h, w]), [0, 2, 3, 1]));
  const run = () => {
    const y = tf.tidy(() => {
      let t = x, ch = c;
      ops.forEach((o, i) => {
        if (o.op === 'conv') {
          const pad = o.pad[0] === 0 && o.pad[1] === 0 ? 'valid' : [[0, 0], [o.pad[0], o.pad[1]], [o.pad[0], o.pad[1]], [0, 0]];
          t = tf.fused.conv2d({ x: t, filter: params[i].filter, strides: o.stride, pad, bias: params[i].bias, activation: o.relu ? 'relu' : 'linear' });
          ch = o.shape[0];
        } else if (o.op === 'relu') t = tf.relu(t);
        else if (o.op === 'maxpool') t = tf.maxPool(t, o.size, o.stride, 'valid');
        else if (o.op === 'groupmax') {
          const g = ops.slice(0, i).findLast((p) => p.op === 'conv').groupAxis;
          t = tf.max(tf.reshape(t, [t.shape[0], t.shape[1], t.shape[2], ch / g, g]), 4);
          ch /= g;
        } else if (o.op === 'globalmax') t = tf.max(t, [1, 2]);
      });
      return t;
    });
    const data = y.dataSync();
    lastShape = y.shape;
    y.dispose();
    return data;
  };
  let lastShape = [];
  /** The last output in NCHW order (for the agreement check, not timed). */
  const nchw = (d) => {
    if (lastShape.length !== 4) return d;
    const [N, H, W, C] = lastShape;
    const out = new Float32Array(d.length);
    for (let b = 0; b < N; b++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let ch = 0; ch < C; ch++) out[((b * C + ch) * H + y) * W + x] = d[((b * H + y) * W + x) * C + ch];
    return out;
  };
  return { name: `tfjs-backend-wasm ${tf.version_core}`, run, nchw, dispose: () => { x.dispose(); params.forEach((p) => { p?.filter.dispose(); p?.bias.dispose(); }); } };
}

let ortThreads;
/** onnxruntime-web (wasm, SIMD) with `threads` threads (fixed for the process at first use). */
export async function ortRunner(ops, input, [n, c, h, w], threads = 1) {
  const ort = await import('onnxruntime-web');
  if (ortThreads !== undefined && ortThreads !== threads) throw new Error('onnxruntime-web: the thread count is fixed per process');
  ortThreads = threads;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const session = await ort.InferenceSession.create(onnxModel(ops, c, h, w), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds = { input: new ort.Tensor('float32', input, [n, c, h, w]) };
  const out = session.outputNames[0];
  // ORT's run is async; the benchmark awaits it (the work itself is synchronous in the wasm).
  const run = async () => (await session.run(feeds))[out].data;
  return { name: `onnxruntime-web ${ort.env.versions.web} (${threads} thread${threads > 1 ? 's' : ''})`, run, async: true, dispose: () => session.release() };
}
