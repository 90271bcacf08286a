// Fashion-MNIST for the demo: the Debian package's IDX files when installed
// (/usr/share/datasets/fashion-mnist), else the first 1,000 test images shipped in
// models/fashion-sample.bin.gz. Pixels are scaled to [0, 1], as in training.
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export const DATASET_DIR = '/usr/share/datasets/fashion-mnist';
export const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const SAMPLE = new URL('../models/fashion-sample.bin.gz', import.meta.url);

function readIdx(path) {
  const raw = gunzipSync(readFileSync(path));
  const ndim = raw[3];
  const dims = Array.from({ length: ndim }, (_, i) => raw.readUInt32BE(4 + 4 * i));
  return { dims, data: raw.subarray(4 + 4 * ndim) };
}

/** The test set: `{ images: Float32Array [n, 1, 28, 28], labels: Uint8Array, n, source }`. */
export function loadTestSet(dir = DATASET_DIR) {
  if (existsSync(`${dir}/t10k-images-idx3-ubyte.gz`)) {
    const img = readIdx(`${dir}/t10k-images-idx3-ubyte.gz`);
    const lab = readIdx(`${dir}/t10k-labels-idx1-ubyte.gz`);
    return { images: Float32Array.from(img.data, (v) => v / 255), labels: Uint8Array.from(lab.data), n: img.dims[0], source: `the full Fashion-MNIST test set (${dir})` };
  }
  // Sample format: u32 count, then count * 784 pixel bytes, then count label bytes.
  const raw = gunzipSync(readFileSync(SAMPLE));
  const n = raw.readUInt32LE(0);
  const pixels = raw.subarray(4, 4 + n * 784);
  return { images: Float32Array.from(pixels, (v) => v / 255), labels: Uint8Array.from(raw.subarray(4 + n * 784, 4 + n * 785)), n, source: `a sample of ${n} test images shipped with the package (install Debian's dataset-fashion-mnist for all 10,000)` };
}

/**
 * Rotates `n` images of 28 x 28 (Float32Array [n, 1, 28, 28]) counter-clockwise by `angle`
 * degrees about the centre, by bilinear resampling with zeros outside (the formula of
 * tools/pytorch/train.py's rotate()). Multiples of 90 degrees are left to the caller, which does
 * them exactly (p4's own action).
 */
export function rotateBilinear(images, n, angle, size = 28) {
  const out = new Float32Array(images.length);
  const c = (size - 1) / 2, t = (angle * Math.PI) / 180;
  const co = Math.cos(t), si = Math.sin(t);
  // The four taps and weights of every output pixel, computed once for all images.
  const taps = new Int32Array(size * size * 4), weights = new Float64Array(size * size * 4);
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) {
    const x = j - c, y = c - i;
    const js = co * x + si * y + c, is = c - (-si * x + co * y);
    const i0 = Math.floor(is), j0 = Math.floor(js), fi = is - i0, fj = js - j0;
    const k = (i * size + j) * 4;
    [[i0, j0, (1 - fi) * (1 - fj)], [i0, j0 + 1, (1 - fi) * fj], [i0 + 1, j0, fi * (1 - fj)], [i0 + 1, j0 + 1, fi * fj]].forEach(([ii, jj, w], q) => {
      const inside = ii >= 0 && ii < size && jj >= 0 && jj < size;
      taps[k + q] = inside ? ii * size + jj : -1;
      weights[k + q] = inside ? w : 0;
    });
  }
  for (let b = 0; b < n; b++) {
    const base = b * size * size;
    for (let p = 0; p < size * size; p++) {
      let v = 0;
      for (let q = 0; q < 4; q++) {
        const t4 = taps[p * 4 + q];
        if (t4 >= 0) v += images[base + t4] * weights[p * 4 + q];
      }
      out[base + p] = v;
    }
  }
  return out;
}
