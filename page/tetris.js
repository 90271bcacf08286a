// The Tetris panel: a 3D shape the user rotates by dragging, three models' predictions for it
// (run in this page), and the A1 attention benchmark in this browser.
import * as eq from '../dist/index.js';
import { LABELS, SHAPES, place, randomPose, rng } from './tetris-shapes.js';

const $ = (id) => document.getElementById(id);
const MODELS = [['lietransformer', 'SE(3) LieTransformer'], ['lieconv', 'SE(3) LieConv'], ['plain', 'plain point transformer']];
const state = { shape: 0, R: [1, 0, 0, 0, 1, 0, 0, 0, 1], t: [0, 0, 0] };
let models = {};

const mul = (a, b) => Array.from({ length: 9 }, (_, k) => a[3 * Math.floor(k / 3)] * b[k % 3] + a[3 * Math.floor(k / 3) + 1] * b[3 + (k % 3)] + a[3 * Math.floor(k / 3) + 2] * b[6 + (k % 3)]);
const rotX = (a) => [1, 0, 0, 0, Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a)];
const rotY = (a) => [Math.cos(a), 0, Math.sin(a), 0, 1, 0, -Math.sin(a), 0, Math.cos(a)];

/** The shape as the models see it (rotated, translated), and drawn: cubes as shaded discs, back to front. */
function draw() {
  const pts = place(SHAPES[state.shape], state);
  const c = [0, 1, 2].map((i) => pts.reduce((s, p) => s + p[i], 0) / pts.length);
  const cv = $('tetris-view'), ctx = cv.getContext('2d'), s = 52, w = cv.width, h = cv.height;
  ctx.clearRect(0, 0, w, h);
  const proj = pts.map((p) => ({ x: w / 2 + s * (p[0] - c[0]), y: h / 2 - s * (p[1] - c[1]), z: p[2] - c[2] }));
  ctx.strokeStyle = '#888';
  ctx.lineWidth = 3;
  for (let i = 0; i < pts.length; i++) for (let j = i + 1; j < pts.length; j++) {
    if (Math.abs(Math.hypot(...[0, 1, 2].map((k) => pts[i][k] - pts[j][k])) - 1) < 1e-6) {
      ctx.beginPath(); ctx.moveTo(proj[i].x, proj[i].y); ctx.lineTo(proj[j].x, proj[j].y); ctx.stroke();
    }
  }
  for (const p of [...proj].sort((a, b) => a.z - b.z)) {
    const g = ctx.createRadialGradient(p.x - 8, p.y - 8, 2, p.x, p.y, 22);
    const light = Math.round(120 + 60 * Math.tanh(p.z));
    g.addColorStop(0, `rgb(${light + 60}, ${light + 80}, 255)`);
    g.addColorStop(1, `rgb(20, 60, ${light})`);
    ctx.fillStyle = g;
    ctx.beginPath(); ctx.arc(p.x, p.y, 20, 0, 2 * Math.PI); ctx.fill();
  }
  return pts;
}

function predict(pts) {
  const rows = [];
  const out = {};
  eq.tidy(() => {
    const x = { points: eq.tensor(Float32Array.from(pts.flat()), [1, 4, 3]), features: eq.tensor(new Float32Array(4).fill(1), [1, 4, 1]) };
    for (const [key, name] of MODELS) {
      const z = Array.from(models[key].run(x).toArray());
      const m = Math.max(...z), e = z.map((v) => Math.exp(v - m)), sum = e.reduce((a, b) => a + b, 0);
      const best = z.indexOf(m);
      out[key] = LABELS[best];
      rows.push(`<tr><td>${name}</td><td class="${LABELS[best] === LABELS[state.shape] ? 'ok' : 'wrong'}">${LABELS[best]}</td><td>${(100 * e[best] / sum).toFixed(1)}%</td></tr>`);
    }
  });
  $('tetris-preds').innerHTML = `<tr><th>model</th><th>prediction</th><th>confidence</th></tr>${rows.join('')}`;
  window.lastTetris = { shape: LABELS[state.shape], R: [...state.R], predictions: out };
}

let pending = false;
function update() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    predict(draw());
  });
}

/** A1 in this browser: our attention layer (local and global) against plain JS loops. */
async function benchmarkA1() {
  const N = 1024, C = 64, H = 8, dh = 8;
  const u = rng(11);
  const G = eq.groups.t3();
  const lifted = G.lift(Float64Array.from({ length: N * 3 }, () => (u() * 2 - 1) * 5));
  const X = Float32Array.from({ length: N * C }, () => u() * 2 - 1);
  const x = eq.liftedField(G, lifted, eq.tensor(X, [N, C]));
  const rows = [];
  const timeIt = async (fn, min = 300) => {
    fn();
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < min) { fn(); n++; await new Promise((r) => setTimeout(r, 0)); }
    return (performance.now() - t0) / n;
  };
  for (const [label, neighbours, k] of [['A1-local (k = 32)', { k: 32 }, 32], ['A1-global', 'global', N]]) {
    $('a1-status').textContent = `running ${label} ...`;
    const layer = eq.nn.phi({ group: G, omega: eq.omega.attention({ in: C, out: C, heads: H, dim: dh, location: 'none' }), neighbours, seed: 1 });
    const ours = await timeIt(() => { const y = layer.run(x); y.features.toArray(); y.dispose(); });
    const p = Object.fromEntries(Object.entries(layer.parameters()).map(([n, t]) => [n, t.toArray()]));
    const idx = k < N ? neighbourIndices(lifted, neighbours, k) : null;
    const plain = await timeIt(() => plainAttention(X, p, idx, N, C, H, dh, k), 200);
    const flops = 3 * 2 * N * C * C + 4 * N * k * C;
    rows.push([label, ours.toFixed(2), (flops / ours / 1e6).toFixed(2), plain.toFixed(1), (plain / ours).toFixed(1)]);
    layer.dispose();
  }
  x.dispose();
  $('a1-table').innerHTML = `<tr><th>workload</th><th>equivariant (ms)</th><th>GFLOP/s</th><th>plain JS (ms)</th><th>speed-up</th></tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}`;
  $('a1-status').textContent = `one thread of this browser, ${navigator.userAgent.match(/(Chrome|Firefox|Safari)\/[\d.]+/)?.[0] ?? ''}`;
  window.a1Results = rows;
}

function neighbourIndices(lifted, spec, k) {
  const nb = new eq.domains.LiftedDomain(lifted).build(spec);
  try {
    return Int32Array.from(nb.indices.toArray().subarray(0, lifted.count * k));
  } finally {
    nb.dispose();
  }
}

function plainAttention(X, p, idx, N, C, H, dh, k) {
  const proj = (W, rows) => {
    const out = new Float32Array(N * rows);
    for (let n = 0; n < N; n++) for (let r = 0; r < rows; r++) { let s = 0; for (let i = 0; i < C; i++) s += W[r * C + i] * X[n * C + i]; out[n * rows + r] = s; }
    return out;
  };
  const q = proj(p.query, H * dh), kk = proj(p.key, H * dh), v = proj(p.value, C), dv = C / H, out = new Float32Array(N * C), l = new Float32Array(k);
  for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) {
    let mx = -Infinity;
    for (let j = 0; j < k; j++) { const m = idx ? idx[n * k + j] : j; let s = 0; for (let t = 0; t < dh; t++) s += q[n * H * dh + h * dh + t] * kk[m * H * dh + h * dh + t]; l[j] = s / Math.sqrt(dh); mx = Math.max(mx, l[j]); }
    let z = 0;
    for (let j = 0; j < k; j++) z += (l[j] = Math.exp(l[j] - mx));
    for (let j = 0; j < k; j++) { const m = idx ? idx[n * k + j] : j; for (let t = 0; t < dv; t++) out[n * C + h * dv + t] += (l[j] / z) * v[m * C + h * dv + t]; }
  }
  return out;
}

async function start() {
  await eq.init();
  for (const [key] of MODELS) models[key] = await eq.loadModel({ config: `../models/tetris-${key}.json`, weights: `../models/tetris-${key}.safetensors` });
  $('tetris-shape').innerHTML = LABELS.map((l, i) => `<option value="${i}">${l}</option>`).join('');
  $('tetris-shape').onchange = () => { state.shape = Number($('tetris-shape').value); update(); };
  const u = rng(Date.now() >>> 0);
  $('tetris-random').onclick = () => { Object.assign(state, randomPose(u)); update(); };
  $('tetris-reset').onclick = () => { state.R = [1, 0, 0, 0, 1, 0, 0, 0, 1]; state.t = [0, 0, 0]; update(); };
  const cv = $('tetris-view');
  let drag = null;
  cv.addEventListener('pointerdown', (e) => { drag = { x: e.clientX, y: e.clientY }; cv.setPointerCapture?.(e.pointerId); });
  cv.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    drag = { x: e.clientX, y: e.clientY };
    state.R = mul(mul(rotY(dx * 0.01), rotX(dy * 0.01)), state.R);
    update();
  });
  cv.addEventListener('pointerup', () => { drag = null; });
  $('run-a1').onclick = () => benchmarkA1().catch((e) => { $('a1-status').textContent = `failed: ${e.message}`; window.a1Error = String(e); });
  predict(draw());
  window.tetrisReady = true;
}

start().catch((e) => {
  window.tetrisError = String(e.stack ?? e);
  window.tetrisReady = false;
  $('tetris-preds').textContent = `could not start: ${e.message}`;
});
