/** Shared test helpers: seeded random data and plain-loop references. */

/** Deterministic values in [-1, 1) (mulberry32). */
export function random(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * `relu?(a b + bias)` in plain loops with f32 rounding at every step (Math.fround), in the
 * kernel's documented order, so it must agree bit for bit.
 */
export function matmulLoops(a: Float32Array, b: Float32Array, m: number, n: number, k: number, bias?: Float32Array, relu = false): Float32Array {
  const f = Math.fround;
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s = f(s + f(a[i * k + p] * b[p * n + j]));
      if (bias) s = f(s + bias[j]);
      c[i * n + j] = relu ? (s > 0 || Number.isNaN(s) ? s : 0) : s;
    }
  }
  return c;
}

/** Index of the first element whose bits differ, or -1. */
export function firstBitDifference(x: Float32Array, y: Float32Array): number {
  const a = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const b = new Uint32Array(y.buffer, y.byteOffset, y.length);
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** `max |got - want| / max |want|`. */
export function relError(got: Float32Array, want: Float32Array): number {
  let err = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / (scale || 1);
}

/**
 * The test build of the kernels (`node tools/build-wasm.mjs --testing`, run by the test set-up):
 * the production module plus the reference kernels and the deliberate trap.
 */
export const testWasm = new URL('../ts/gen-test/equivariant_bg.wasm', import.meta.url);
