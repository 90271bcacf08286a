// The page: equivariant models (the P4CNN, steerable CNNs over C8, C16, D8; picked in a menu) and
// a plain CNN on Fashion-MNIST in the browser, and the benchmark.
import * as eq from '../dist/index.js';

const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const $ = (id) => document.getElementById(id);
let image = new Float32Array(784);
let models;
/** The equivariant model shown (the menu): 'p4', 'c8', 'c16' or 'd8'. */
let current = 'p4';
const LABELS = { p4: 'P4CNN (p4)', c8: 'C8 steerable CNN', c16: 'C16 steerable CNN', d8: 'D8 steerable CNN' };

/**
 * Feature maps of the selected model's first layer with their size and how many rows to show:
 * up to four fields, each at the rotations by 0, 90, 180, 270 degrees (P4CNN: four channels over
 * p4's rotation axis; steerable models: a regular field's components at those rotations, N/4
 * apart among its first N, the unreflected elements; a field has |G| components).
 */
function firstLayerMaps(t) {
  const m = models[current];
  if (current === 'p4') {
    const [conv, bn, relu] = m.network.layers;
    return { data: relu.run(bn.run(conv.run(t))).toArray(), h: 26, w: 26, rows: 4, index: (c, r) => c * 4 + r };
  }
  const layers = m.network.layers;
  const stop = layers.findIndex((l) => l.type === 'relu');
  let x = t;
  for (const l of layers.slice(0, stop + 1)) x = l.run(x);
  const G = m.inType.gspace.fibreGroup;
  const rows = Math.min(4, x.shape[1] / G.order);
  return { data: x.toArray(), h: x.shape[2], w: x.shape[3], rows, index: (c, r) => c * G.order + (r * G.N) / 4 };
}

async function loadSample() {
  const res = await fetch('../models/fashion-sample.bin.gz');
  const raw = new Uint8Array(await new Response(res.body.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
  const n = new DataView(raw.buffer).getUint32(0, true);
  return { n, pixels: raw.subarray(4, 4 + n * 784), labels: raw.subarray(4 + n * 784) };
}

/** Paints a single-channel 2-D array (values scaled to [0, 1] by the given range) into a canvas. */
function paint(canvas, data, h, w, lo = 0, hi = 1) {
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const ctx = c.getContext('2d');
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const v = Math.max(0, Math.min(255, Math.round((255 * (data[i] - lo)) / (hi - lo || 1))));
    img.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  const out = canvas.getContext('2d');
  out.imageSmoothingEnabled = false;
  out.clearRect(0, 0, canvas.width, canvas.height);
  out.drawImage(c, 0, 0, canvas.width, canvas.height);
}

/** The image rotated counter-clockwise by `angle` degrees (exact for right angles, else bilinear). */
function rotate(img, angle) {
  if (angle % 90 === 0) return eq.tidy(() => eq.groups.p4().act(eq.groups.p4().rotation(angle / 90), eq.tensor(img, [1, 1, 28, 28])).toArray());
  const out = new Float32Array(784), c = 13.5, t = (angle * Math.PI) / 180, co = Math.cos(t), si = Math.sin(t);
  for (let i = 0; i < 28; i++) for (let j = 0; j < 28; j++) {
    const x = j - c, y = c - i, js = co * x + si * y + c, is = c - (-si * x + co * y);
    const i0 = Math.floor(is), j0 = Math.floor(js), fi = is - i0, fj = js - j0;
    let v = 0;
    for (const [ii, jj, wt] of [[i0, j0, (1 - fi) * (1 - fj)], [i0, j0 + 1, (1 - fi) * fj], [i0 + 1, j0, fi * (1 - fj)], [i0 + 1, j0 + 1, fi * fj]]) {
      if (ii >= 0 && ii < 28 && jj >= 0 && jj < 28) v += img[ii * 28 + jj] * wt;
    }
    out[i * 28 + j] = v;
  }
  return out;
}

const softmax = (z) => {
  const m = Math.max(...z), e = z.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

function bars(el, probs) {
  el.innerHTML = CLASSES.map((c, i) => `<div class="bar"><span>${c}</span><div><div class="fill" style="width:${(100 * probs[i]).toFixed(1)}%"></div></div><span>${(100 * probs[i]).toFixed(1)}%</span></div>`).join('');
}

function update() {
  const angle = Number($('angle').value);
  $('angle-value').textContent = `${angle}\u00b0`;
  const x = rotate(image, angle);
  paint($('rotated'), x, 28, 28);
  eq.tidy(() => {
    const t = eq.tensor(x, [1, 1, 28, 28]);
    // The first layer (conv + batch norm + ReLU) of the selected model.
    const { data: maps, h, w, rows, index } = firstLayerMaps(t);
    const hi = Math.max(1e-6, ...maps);
    const canvases = $('fmaps').children;
    for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) {
      canvases[c * 4 + r].hidden = c >= rows;
      if (c < rows) paint(canvases[c * 4 + r], maps.subarray(index(c, r) * h * w, (index(c, r) + 1) * h * w), h, w, 0, hi);
    }
    $('maps-hint').textContent = current === 'p4' ? 'rows: 4 of the 10 channels; columns: the rotation axis r = 0, 1, 2, 3 of p4' : `rows: ${rows === 1 ? 'its regular field' : `${rows} of its regular fields`}; columns: the components at rotations by 0, 90, 180, 270 degrees (of the ${models[current].inType.gspace.fibreGroup.order} in a field)`;
    for (const [key, el] of [[current, 'p4'], ['z2', 'z2']]) {
      const probs = softmax(Array.from(models[key].run(t).toArray()));
      const best = probs.indexOf(Math.max(...probs));
      $(`pred-${el}`).textContent = `${CLASSES[best]} (${(100 * probs[best]).toFixed(1)}%)`;
      bars($(`bars-${el}`), probs);
    }
  });
  window.lastPrediction = { angle, model: current, p4: $('pred-p4').textContent, z2: $('pred-z2').textContent };
}

function setupDrawing() {
  const canvas = $('draw'), ctx = canvas.getContext('2d');
  const redraw = () => paint(canvas, image, 28, 28);
  let down = false;
  const stroke = (e) => {
    const r = canvas.getBoundingClientRect();
    const cx = ((e.clientX - r.left) / r.width) * 28, cy = ((e.clientY - r.top) / r.height) * 28;
    for (let i = 0; i < 28; i++) for (let j = 0; j < 28; j++) {
      const d = Math.hypot(j + 0.5 - cx, i + 0.5 - cy);
      if (d < 1.6) image[i * 28 + j] = Math.min(1, image[i * 28 + j] + (1.6 - d) * 0.8);
    }
    redraw();
    update();
  };
  canvas.addEventListener('pointerdown', (e) => { down = true; stroke(e); });
  canvas.addEventListener('pointermove', (e) => { if (down) stroke(e); });
  window.addEventListener('pointerup', () => { down = false; });
  $('clear').onclick = () => { image = new Float32Array(784); redraw(); update(); };
  void ctx;
  return redraw;
}

async function benchmark() {
  const status = $('bench-status'), tableEl = $('bench-table');
  $('run-bench').disabled = true;
  const rows = [];
  const time = (fn, ms = 800) => { fn(); fn(); let k = 0; const t0 = performance.now(); while (performance.now() - t0 < ms) { fn(); k++; } return (performance.now() - t0) / 1000 / k; };
  status.textContent = 'measuring the SIMD peak...';
  await new Promise((r) => setTimeout(r, 20));
  let peak = 0;
  for (const chains of eq.diagnostics.PEAK_CHAINS) {
    const flops = eq.diagnostics.peak(1e6, chains);
    peak = Math.max(peak, flops / time(() => eq.diagnostics.peak(1e6, chains), 200) / 1e9);
  }
  rows.push(['PEAK (SIMD128 mul+add)', '', peak.toFixed(1), '100%', '']);
  const layer = async (name, c, n, hw) => {
    const conv = eq.nn.groupConv({ group: 'p4', in: c, out: c, kernel: 3, padding: 'same' });
    const x = eq.tensor(new Float32Array(n * c * 4 * hw * hw).map((_, i) => Math.sin(i)), [n, c, 4, hw, hw]);
    const exec = conv.fused(undefined, true);
    const flops = 2 * n * (4 * c) * hw * hw * (4 * c) * 9;
    const t = time(() => exec.run(x).dispose());
    rows.push([name, (t * 1e3).toFixed(1), (flops / t / 1e9).toFixed(1), `${((100 * flops) / t / 1e9 / peak).toFixed(0)}%`, '']);
    exec.dispose(); conv.dispose(); x.dispose();
  };
  for (const [name, c, n, hw] of [['L1', 10, 64, 28], ['L2', 32, 8, 32]]) {
    status.textContent = `running ${name}...`;
    await new Promise((r) => setTimeout(r, 20));
    await layer(name, c, n, hw);
  }
  status.textContent = 'running the P4CNN...';
  await new Promise((r) => setTimeout(r, 20));
  const x = eq.tensor(new Float32Array(64 * 784).map((_, i) => Math.abs(Math.sin(i))), [64, 1, 28, 28]);
  const t = time(() => models.p4.run(x).dispose());
  rows.push(['P4CNN (batch 64)', (t * 1e3).toFixed(1), (1.494e9 / t / 1e9).toFixed(1), `${((100 * 1.494) / t / peak).toFixed(0)}%`, (64 / t).toFixed(0)]);
  x.dispose();
  tableEl.innerHTML = `<tr><th>workload</th><th>ms</th><th>GFLOP/s</th><th>of peak</th><th>images/s</th></tr>` + rows.map((r) => `<tr>${r.map((v, i) => `<td${i === 0 ? ' style="text-align:left"' : ''}>${v}</td>`).join('')}</tr>`).join('');
  status.textContent = `done (one thread, ${navigator.userAgent.match(/(Chrome|Firefox|Safari)\/[\d.]+/)?.[0] ?? 'this browser'}; GFLOP/s count direct-convolution FLOPs; 3x3 layers run by Winograd, so they can exceed the multiply-add peak)`;
  $('run-bench').disabled = false;
  window.benchResults = rows;
}

async function start() {
  await eq.init();
  const load = (name) => eq.loadModel({ config: `../models/${name}-fashion.json`, weights: `../models/${name}-fashion.safetensors` });
  const [p4, z2, c8, c16, d8, sample] = await Promise.all([load('p4cnn'), load('z2cnn'), load('c8'), load('c16'), load('d8'), loadSample()]);
  models = { p4, z2, c8, c16, d8 };
  $('model').onchange = () => {
    current = $('model').value;
    $('model-title').textContent = LABELS[current];
    $('maps-title').textContent = `${LABELS[current]}: first-layer feature maps`;
    update();
  };
  const redraw = setupDrawing();
  // One image of each class from the shipped sample.
  const gallery = $('gallery');
  for (let cls = 0; cls < 10; cls++) {
    const idx = Array.from(sample.labels).indexOf(cls);
    const px = Float32Array.from(sample.pixels.subarray(idx * 784, (idx + 1) * 784), (v) => v / 255);
    const cv = document.createElement('canvas');
    cv.width = cv.height = 56;
    cv.title = CLASSES[cls];
    paint(cv, px, 28, 28);
    cv.onclick = () => {
      image = px.slice();
      for (const el of gallery.children) el.classList.remove('selected');
      cv.classList.add('selected');
      redraw();
      update();
    };
    gallery.appendChild(cv);
  }
  for (let i = 0; i < 16; i++) {
    const cv = document.createElement('canvas');
    cv.width = cv.height = 104;
    $('fmaps').appendChild(cv);
  }
  $('angle').oninput = update;
  $('snap').onclick = () => { $('angle').value = String((Number($('angle').value) + 90) % 360); update(); };
  $('run-bench').onclick = () => benchmark().catch((e) => { $('bench-status').textContent = `failed: ${e.message}`; window.benchError = String(e); });
  gallery.children[0].click();
  window.ready = true;
}

start().catch((e) => {
  document.body.insertAdjacentHTML('afterbegin', `<pre style="color:#b00">${e.stack ?? e}</pre>`);
  window.startError = String(e.stack ?? e);
  window.ready = false;
});
