#!/usr/bin/env node
// Attention on point clouds, one thread, peers in the same process (docs/workloads.md):
//   A1-local   multi-head self-attention over N = 1,024 elements (a cloud in R^3 lifted to T(3)),
//              d = 64 in and out, 8 heads of 8, each element attending to its 32 nearest;
//              query/key/value products included, content logits only (no location term, so
//              every engine computes exactly the same layer); neighbour lists built once
//   A1-global  the same, every element attending to all 1,024 (peers: dense Q K^T, softmax, P V)
//   LT-QM9     one LieTransformer block (pre-norm, content + location MLP [16, 16] per head,
//              softmax, output linear, Swish MLP, residuals) on 32 clouds of 29 points x 4 SE(3)
//              samples (3,712 elements), k = 25, d = 256, 8 heads
//   LT-const   the same block on 32 clouds of 34 points on SE(2) (1 sample), global, d = 512, 8 heads
//   POOL       a LieTransformer model (SE(3), 2 blocks of d = 64) on 256 clouds of 29 points:
//              a pool of 2 workers against 1
// Peers: @tensorflow/tfjs-backend-wasm (gatherND, matMul, softmax), onnxruntime-web (1 thread,
// a hand-written ONNX graph of the same ops), plain JS loops (A1). Every peer gets the same
// weights, neighbour lists and relative logs (computed by this library, not timed) and must
// agree with our output. Each pass measures every workload; tables report medians and ranges.
// Usage: node bench/attention.mjs [--passes N] [--only A1-local,A1-global,LT-QM9,LT-const,POOL] [--json FILE]
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as eq from '../dist/index.js';
import { median, peakGflops, table, time } from './harness.mjs';
import { f, onnxGraph } from './onnx.mjs';

const require = createRequire(import.meta.url);
const rand = (n, seed, scale = 1) => {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => (((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1) * scale);
};
const range = (xs) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;
const relErr = (a, b) => {
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(b[i])); }
  return s > 0 ? d / s : d;
};

// ----------------------------------------------------------------------------- the workloads

/** Our layer on a lifted cloud, and what every peer needs to compute the same thing. */
function makeCase(name) {
  if (name.startsWith('A1')) {
    const N = 1024, C = 64, H = 8, dh = 8, local = name === 'A1-local';
    const G = eq.groups.t3();
    const lifted = G.lift(Float64Array.from(rand(N * 3, 11, 5)));
    const layer = eq.nn.phi({ group: G, omega: eq.omega.attention({ in: C, out: C, heads: H, dim: dh, location: 'none' }), neighbours: local ? { k: 32 } : 'global', seed: 1 });
    const X = rand(N * C, 12);
    const x = eq.liftedField(G, lifted, eq.tensor(X, [N, C]));
    const k = local ? 32 : N;
    const p = Object.fromEntries(Object.entries(layer.parameters()).map(([n, t]) => [n, t.toArray()]));
    const idx = local ? neighbourLists(lifted, { k: 32 }).idx : null;
    const flops = 3 * 2 * N * C * C + 2 * 2 * N * k * C;
    return { name, layer, x, X, M: N, C, H, dh, k, idx, coords: null, a: 0, dense: !local, block: false, params: { query: p.query, key: p.key, value: p.value }, flops, dispose: () => { layer.dispose(); x.dispose(); } };
  }
  const qm9 = name === 'LT-QM9';
  const G = qm9 ? eq.groups.se3() : eq.groups.se2();
  const B = 32, P = qm9 ? 29 : 34, S = qm9 ? 4 : 1, C = qm9 ? 256 : 512, H = 8, spec = qm9 ? { k: 25 } : 'global';
  const points = eq.tensor(rand(B * P * G.d, 21, 3), [B, P, G.d]);
  const lifted = G.liftClouds(points, { samples: S, seed: 5 });
  points.dispose();
  const M = lifted.count;
  const layer = eq.nn.lieTransformerBlock({ group: G, dim: C, heads: H, neighbours: spec, seed: 3 });
  const X = rand(M * C, 22);
  const x = eq.liftedField(G, lifted, eq.tensor(X, [M, C]));
  const { idx, coords, k, a } = neighbourLists(lifted, spec);
  const p = Object.fromEntries(Object.entries(layer.parameters()).map(([n, t]) => [n.replace(/^attention\./, ''), { data: t.toArray(), shape: [...t.shape] }]));
  const dh = C / H, hidden = [16, 16];
  const loc = 2 * (a * H * hidden[0] + H * hidden[0] * hidden[1] + H * hidden[1]);
  const flops = 6 * 2 * M * C * C + 2 * 2 * M * k * C + M * k * loc;
  return { name, layer, x, X, M, C, H, dh, k, idx, coords, a, dense: false, block: true, hidden, params: p, flops, dispose: () => { layer.dispose(); x.dispose(); } };
}

/** Fixed-size neighbour lists `[M, k]` and relative logs `[M k, a]` of a lifted cloud. */
function neighbourLists(lifted, spec) {
  const nb = new eq.domains.LiftedDomain(lifted).build(spec);
  try {
    const off = nb.offsets.toArray(), ind = nb.indices.toArray();
    const M = lifted.count, k = off[1] - off[0];
    for (let i = 0; i < M; i++) if (off[i + 1] - off[i] !== k) throw new Error('bench: neighbour lists of different lengths');
    const a = nb.coords.width;
    return { idx: Int32Array.from(ind.subarray(0, M * k)), coords: nb.coords.buffer.toArray().subarray(0, M * k * a), k, a };
  } finally {
    nb.dispose();
  }
}

const version = JSON.parse(readFileSync(new URL('../package.json', import.meta.url))).version;
const ours = (c) => {
  const run = () => { const y = c.layer.run(c.x); const d = y.features.toArray(); y.dispose(); return d; };
  return { name: `equivariant ${version}`, run, dispose() {} };
};

// ----------------------------------------------------------------------------- plain JS (A1)

function plainRunner(c) {
  const { M: N, C, H, dh, k, idx, X } = c;
  const { query: Wq, key: Wk, value: Wv } = c.params;
  const dv = C / H, scale = 1 / Math.sqrt(dh);
  const proj = (W, rows) => {
    const out = new Float32Array(N * rows);
    for (let n = 0; n < N; n++) for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < C; i++) s += W[r * C + i] * X[n * C + i];
      out[n * rows + r] = s;
    }
    return out;
  };
  const run = () => {
    const q = proj(Wq, H * dh), kk = proj(Wk, H * dh), v = proj(Wv, C);
    const out = new Float32Array(N * C), logit = new Float32Array(k);
    for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) {
      let mx = -Infinity;
      for (let j = 0; j < k; j++) {
        const m = idx ? idx[n * k + j] : j;
        let s = 0;
        for (let t = 0; t < dh; t++) s += q[n * H * dh + h * dh + t] * kk[m * H * dh + h * dh + t];
        logit[j] = s * scale;
        if (logit[j] > mx) mx = logit[j];
      }
      let z = 0;
      for (let j = 0; j < k; j++) z += (logit[j] = Math.exp(logit[j] - mx));
      for (let j = 0; j < k; j++) {
        const w = logit[j] / z, m = idx ? idx[n * k + j] : j;
        for (let t = 0; t < dv; t++) out[n * C + h * dv + t] += w * v[m * C + h * dv + t];
      }
    }
    return out;
  };
  return { name: 'plain JS loops', run, dispose() {} };
}

// ----------------------------------------------------------------------------- tfjs-backend-wasm

let tf;
async function tfjs() {
  if (tf) return tf;
  tf = await import('@tensorflow/tfjs-core');
  const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
  setWasmPaths(require.resolve('@tensorflow/tfjs-backend-wasm').replace(/[^/]*$/, ''));
  await tf.setBackend('wasm');
  await tf.ready();
  return tf;
}

/** Per-head location MLP weights `[H, o, i]` as: the first layer one `[a, H h1]` product, then per-head batched products. */
function locationLayers(c) {
  const L = [];
  const n = c.hidden.length + 1;
  for (let i = 0; i < n; i++) L.push({ w: c.params[`location.${i}.weight`], b: c.params[`location.${i}.bias`] });
  const [H] = L[0].w.shape;
  const first = L[0], h1 = first.w.shape[1], a = first.w.shape[2];
  const w0 = new Float32Array(a * H * h1); // [a, H h1]
  for (let h = 0; h < H; h++) for (let o = 0; o < h1; o++) for (let i = 0; i < a; i++) w0[i * H * h1 + h * h1 + o] = first.w.data[(h * h1 + o) * a + i];
  const rest = L.slice(1).map(({ w, b }) => {
    const [, o, i] = w.shape;
    const t = new Float32Array(H * i * o); // [H, i, o]
    for (let h = 0; h < H; h++) for (let r = 0; r < o; r++) for (let s = 0; s < i; s++) t[(h * i + s) * o + r] = w.data[(h * o + r) * i + s];
    return { w: t, wShape: [H, i, o], b: b.data, bShape: [H, 1, o] };
  });
  return { w0, w0Shape: [a, H * h1], b0: first.b.data, h1, rest };
}

const transposed = (w, rows, cols) => {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let s = 0; s < cols; s++) t[s * rows + r] = w[r * cols + s];
  return t;
};

async function tfjsRunner(c) {
  await tfjs();
  const { M, C, H, dh, k } = c;
  const dv = C / H, scale = 1 / Math.sqrt(dh);
  const P = (n) => c.params[n].data ?? c.params[n];
  const keep = [];
  const T = (data, shape, dtype) => { const t = tf.tensor(data, shape, dtype); keep.push(t); return t; };
  const W = (n, rows, cols) => T(transposed(P(n), rows, cols), [cols, rows]);
  const X = T(c.X, [M, C]);
  const wq = W('query', H * dh, C), wk = W('key', H * dh, C), wv = W('value', C, C);
  const bias = (n) => (c.params[n] ? T(P(n), [P(n).length]) : null);
  const bq = bias('query_bias'), bk = bias('key_bias'), bv = bias('value_bias');
  const idx = c.idx ? T(c.idx, [M, k, 1], 'int32') : null;
  let loc, coords, blk;
  if (c.coords) {
    const l = locationLayers(c);
    loc = { w0: T(l.w0, l.w0Shape), b0: T(l.b0, [l.b0.length]), h1: l.h1, rest: l.rest.map((r) => ({ w: T(r.w, r.wShape), b: T(r.b, r.bShape) })) };
    coords = T(c.coords, [M * k, c.a]);
  }
  if (c.block) {
    const m = P('mlp.0.weight').length / C;
    blk = { ln1w: T(P('ln1.weight'), [C]), ln1b: T(P('ln1.bias'), [C]), ln2w: T(P('ln2.weight'), [C]), ln2b: T(P('ln2.bias'), [C]), wo: W('out.weight', C, C), bo: T(P('out.bias'), [C]), w1: W('mlp.0.weight', m, C), b1: T(P('mlp.0.bias'), [m]), w2: W('mlp.1.weight', C, m), b2: T(P('mlp.1.bias'), [C]) };
  }
  const silu = (t) => tf.mul(t, tf.sigmoid(t));
  const affine = (x, w, b) => (b ? tf.add(tf.matMul(x, w), b) : tf.matMul(x, w));
  const ln = (x, w, b) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), w), b);
  };
  const run = () => {
    const y = tf.tidy(() => {
      const xn = blk ? ln(X, blk.ln1w, blk.ln1b) : X;
      const q = affine(xn, wq, bq), kk = affine(xn, wk, bk), v = affine(xn, wv, bv);
      let a;
      if (c.dense) {
        const heads = (t, d) => tf.transpose(tf.reshape(t, [M, H, d]), [1, 0, 2]);
        const s = tf.mul(tf.matMul(heads(q, dh), heads(kk, dh), false, true), scale);
        a = tf.reshape(tf.transpose(tf.matMul(tf.softmax(s), heads(v, dv)), [1, 0, 2]), [M, C]);
      } else {
        const kg = tf.gatherND(kk, idx), vg = tf.gatherND(v, idx);
        let s = tf.mul(tf.matMul(tf.reshape(q, [M, H, 1, dh]), tf.transpose(tf.reshape(kg, [M, k, H, dh]), [0, 2, 3, 1])), scale);
        if (loc) {
          let l = silu(tf.add(tf.matMul(coords, loc.w0), loc.b0));
          l = tf.transpose(tf.reshape(l, [M * k, H, loc.h1]), [1, 0, 2]);
          for (const r of loc.rest) l = silu(tf.add(tf.matMul(l, r.w), r.b));
          s = tf.add(s, tf.reshape(tf.transpose(tf.reshape(l, [H, M, k]), [1, 0, 2]), [M, H, 1, k]));
        }
        const vh = tf.transpose(tf.reshape(vg, [M, k, H, dv]), [0, 2, 1, 3]);
        a = tf.reshape(tf.matMul(tf.softmax(s), vh), [M, C]);
      }
      if (!blk) return a;
      const h = tf.add(X, affine(a, blk.wo, blk.bo));
      const m = silu(affine(ln(h, blk.ln2w, blk.ln2b), blk.w1, blk.b1));
      return tf.add(h, affine(m, blk.w2, blk.b2));
    });
    const d = y.dataSync();
    y.dispose();
    return d;
  };
  return { name: `tfjs-backend-wasm ${tf.version_core}`, run, dispose: () => keep.forEach((t) => t.dispose()) };
}

// ----------------------------------------------------------------------------- onnxruntime-web

async function ortRunner(c) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const { M, C, H, dh, k } = c;
  const dv = C / H, scale = 1 / Math.sqrt(dh);
  const P = (n) => c.params[n].data ?? c.params[n];
  const init = {};
  const nodes = [];
  let t = 0;
  const tmp = () => `t${t++}`;
  const constant = (data, dims, type = 1) => { const n = `c${t++}`; init[n] = { dims, data, type }; return n; };
  const op = (o, ins, a) => { const out = tmp(); nodes.push([o, ins, [out], a]); return out; };
  const shape = (dims) => constant(dims, [dims.length], 7);
  const W = (n, rows, cols) => constant(transposed(P(n), rows, cols), [cols, rows]);
  const affine = (x, w, b) => (b ? op('Add', [op('MatMul', [x, w]), b]) : op('MatMul', [x, w]));
  const bias = (n) => (c.params[n] ? constant(P(n), [P(n).length]) : null);
  const silu = (x) => op('Mul', [x, op('Sigmoid', [x])]);
  const ln = (x, w, b) => op('LayerNormalization', [x, constant(P(w), [C]), constant(P(b), [C])], { axis: -1, epsilon: f(1e-5) });
  const xn = c.block ? ln('X', 'ln1.weight', 'ln1.bias') : 'X';
  const q = affine(xn, W('query', H * dh, C), bias('query_bias'));
  const kk = affine(xn, W('key', H * dh, C), bias('key_bias'));
  const v = affine(xn, W('value', C, C), bias('value_bias'));
  const sc = constant([scale], [1]);
  let a;
  if (c.dense) {
    const heads = (x, d) => op('Transpose', [op('Reshape', [x, shape([M, H, d])])], { perm: [1, 0, 2] });
    const s = op('Mul', [op('MatMul', [heads(q, dh), op('Transpose', [op('Reshape', [kk, shape([M, H, dh])])], { perm: [1, 2, 0] })]), sc]);
    a = op('Reshape', [op('Transpose', [op('MatMul', [op('Softmax', [s], { axis: -1 }), heads(v, dv)])], { perm: [1, 0, 2] }), shape([M, C])]);
  } else {
    const idx = constant(Array.from(c.idx), [M, k], 7);
    const kg = op('Gather', [kk, idx], { axis: 0 }), vg = op('Gather', [v, idx], { axis: 0 });
    let s = op('Mul', [op('MatMul', [op('Reshape', [q, shape([M, H, 1, dh])]), op('Transpose', [op('Reshape', [kg, shape([M, k, H, dh])])], { perm: [0, 2, 3, 1] })]), sc]);
    if (c.coords) {
      const l0 = locationLayers(c);
      let l = silu(affine(constant(c.coords, [M * k, c.a]), constant(l0.w0, l0.w0Shape), constant(l0.b0, [l0.b0.length])));
      l = op('Transpose', [op('Reshape', [l, shape([M * k, H, l0.h1])])], { perm: [1, 0, 2] });
      for (const r of l0.rest) l = silu(affine(l, constant(r.w, r.wShape), constant(r.b, r.bShape)));
      s = op('Add', [s, op('Reshape', [op('Transpose', [op('Reshape', [l, shape([H, M, k])])], { perm: [1, 0, 2] }), shape([M, H, 1, k])])]);
    }
    const vh = op('Transpose', [op('Reshape', [vg, shape([M, k, H, dv])])], { perm: [0, 2, 1, 3] });
    a = op('Reshape', [op('MatMul', [op('Softmax', [s], { axis: -1 }), vh]), shape([M, C])]);
  }
  let y = a;
  if (c.block) {
    const m = P('mlp.0.weight').length / C;
    const h = op('Add', ['X', affine(a, W('out.weight', C, C), constant(P('out.bias'), [C]))]);
    const hid = silu(affine(ln(h, 'ln2.weight', 'ln2.bias'), W('mlp.0.weight', m, C), constant(P('mlp.0.bias'), [m])));
    y = op('Add', [h, affine(hid, W('mlp.1.weight', C, m), constant(P('mlp.1.bias'), [C]))]);
  }
  const model = onnxGraph({ nodes, initializers: init, inputs: [{ name: 'X', dims: [M, C] }], outputs: [y] });
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds = { X: new ort.Tensor('float32', c.X, [M, C]) };
  const run = async () => (await session.run(feeds))[y].data;
  return { name: `onnxruntime-web ${ort.env.versions.web} (1 thread)`, run, async: true, dispose: () => session.release() };
}

// ----------------------------------------------------------------------------- timing

async function timeAsync(fn, { rounds = 3, minSeconds = 0.3, warmup = 1 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const per = [];
  for (let r = 0; r < rounds; r++) {
    let calls = 0;
    const t0 = performance.now();
    let t1 = t0;
    while (t1 - t0 < minSeconds * 1000) { await fn(); calls++; t1 = performance.now(); }
    per.push((t1 - t0) / 1000 / calls);
  }
  return { median: median(per), all: per };
}

async function poolCase() {
  const G = eq.groups.se3();
  const layers = [
    eq.nn.lift({ group: G, samples: 4, seed: 1 }), eq.nn.linear({ in: 5, out: 64, seed: 1 }),
    eq.nn.lieTransformerBlock({ group: G, dim: 64, heads: 8, neighbours: { k: 25 }, seed: 2 }),
    eq.nn.lieTransformerBlock({ group: G, dim: 64, heads: 8, neighbours: { k: 25 }, seed: 3 }),
    eq.nn.globalPool(), eq.nn.linear({ in: 64, out: 12, seed: 4 }),
  ];
  const net = eq.nn.sequential(layers);
  const config = { format: 'equivariant.model', version: 1, name: 'lt-qm9-like', group: 'SE(3)', input: { field: 'points', channels: 5 }, layers: net.layers.map((l) => l.config()) };
  const src = { config, weights: net.parameters() };
  const B = 256, P = 29;
  const x = { points: eq.tensor(rand(B * P * 3, 31, 3), [B, P, 3]), features: eq.tensor(rand(B * P * 5, 32), [B, P, 5]) };
  const pools = [await eq.createPool({ workers: 1 }), await eq.createPool({ workers: 2 })];
  await Promise.all(pools.map((p) => p.load(src)));
  net.dispose();
  const run = (p) => async () => (await p.run(x)).dispose();
  return { pools, run, dispose: async () => { await Promise.all(pools.map((p) => p.close())); x.points.dispose(); x.features.dispose(); } };
}

export async function runAttention({ passes = 3, only = ['A1-local', 'A1-global', 'LT-QM9', 'LT-const', 'POOL'] } = {}) {
  await eq.init();
  const rows = {};
  const add = (key, v) => (rows[key] ??= []).push(v);
  const cases = [];
  for (const name of only.filter((n) => n !== 'POOL')) {
    const c = makeCase(name);
    const runners = [ours(c), await tfjsRunner(c), await ortRunner(c)];
    if (name.startsWith('A1')) runners.push(plainRunner(c));
    const want = runners[0].run();
    const agree = {};
    for (const r of runners.slice(1)) agree[r.name] = relErr(await r.run(), want);
    cases.push({ c, runners, agree });
    console.log(`${name}: ${(c.flops / 1e9).toFixed(3)} GFLOP per run; agreement with ours (max abs diff / max abs): ${Object.entries(agree).map(([n, e]) => `${n} ${e.toExponential(1)}`).join(', ')}`);
  }
  const pool = only.includes('POOL') ? await poolCase() : null;
  for (let pass = 0; pass < passes; pass++) {
    const peak = peakGflops(3);
    add('peak', peak);
    const line = [`pass ${pass + 1}/${passes}: peak ${peak.toFixed(1)} GFLOP/s`];
    for (const { c, runners } of cases) {
      const ms = [];
      for (const r of runners) {
        const slow = r.name === 'plain JS loops' && c.dense;
        const opts = { rounds: slow ? 1 : 3, minSeconds: slow ? 0.001 : 0.3, warmup: slow ? 0 : 1 };
        const t = r.async ? await timeAsync(r.run, opts) : time(r.run, opts);
        add(`${c.name}|${r.name}`, t.median * 1e3);
        ms.push(t.median * 1e3);
      }
      const fastestPeer = Math.min(...ms.slice(1, 3));
      add(`${c.name}|ratio`, fastestPeer / ms[0]);
      line.push(`${c.name} ${ms.map((m) => m.toFixed(2)).join(' / ')} ms (${(fastestPeer / ms[0]).toFixed(2)}x)`);
    }
    if (pool) {
      const t1 = await timeAsync(pool.run(pool.pools[0]), { rounds: 1, minSeconds: 2, warmup: 1 });
      const t2 = await timeAsync(pool.run(pool.pools[1]), { rounds: 1, minSeconds: 2, warmup: 1 });
      add('pool1', t1.median * 1e3); add('pool2', t2.median * 1e3); add('poolRatio', t1.median / t2.median);
      line.push(`POOL 1 worker ${(t1.median * 1e3).toFixed(0)} ms, 2 workers ${(t2.median * 1e3).toFixed(0)} ms (${(t1.median / t2.median).toFixed(2)}x)`);
    }
    console.log(line.join('; '));
  }
  console.log(`\nnode ${process.version}, one thread per engine, ${passes} passes; SIMD128 mul+add peak: median ${median(rows.peak).toFixed(1)} GFLOP/s (range ${range(rows.peak)})\n`);
  const out = [];
  for (const { c, runners } of cases) {
    for (const r of runners) {
      const ms = rows[`${c.name}|${r.name}`];
      const gf = c.flops / (median(ms) / 1e3) / 1e9;
      // Every engine executes the layer's own arithmetic (no fast algorithm): executed = algorithm-equivalent.
      out.push([c.name, r.name, `${median(ms).toFixed(2)} (${range(ms)})`, gf.toFixed(2), gf.toFixed(2), r === runners[0] ? '-' : (median(ms) / median(rows[`${c.name}|${runners[0].name}`])).toFixed(2)]);
    }
    out.push([c.name, 'fastest wasm peer / ours', `${median(rows[`${c.name}|ratio`]).toFixed(2)}x (${range(rows[`${c.name}|ratio`])})`, '', '', '']);
  }
  if (pool) {
    out.push(['POOL', '1 worker, 256 clouds', `${median(rows.pool1).toFixed(0)} (${range(rows.pool1)})`, '', '', '']);
    out.push(['POOL', '2 workers, 256 clouds', `${median(rows.pool2).toFixed(0)} (${range(rows.pool2)})`, '', '', '']);
    out.push(['POOL', '2 workers / 1 worker', `${median(rows.poolRatio).toFixed(2)}x (${range(rows.poolRatio)})`, '', '', '']);
  }
  console.log(table(['workload', 'engine', 'ms median (range)', 'executed GFLOP/s', 'algorithm GFLOP/s', 'time / ours'], out));
  for (const { c, runners } of cases) { for (const r of runners) r.dispose(); c.dispose(); }
  await pool?.dispose();
  return { rows, agree: Object.fromEntries(cases.map(({ c, agree }) => [c.name, agree])) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
  const res = await runAttention({ passes: Number(opt('--passes', 3)), only: opt('--only', 'A1-local,A1-global,LT-QM9,LT-const,POOL').split(',') });
  const json = opt('--json');
  if (json) {
    mkdirSync(dirname(json), { recursive: true });
    writeFileSync(json, JSON.stringify({ schema: 'equivariant-bench-attention/1', node: process.version, ...res }, null, 2));
  }
  process.exit(0);
}
