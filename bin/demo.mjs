// `npm run demo`: until the Fashion-MNIST models land, a showcase of the kernels: a GEMM checked
// against the scalar reference, its speed against the machine's measured SIMD peak, and a
// leak check.
import * as eq from '../dist/index.js';
import { peakGflops, time } from '../bench/harness.mjs';

export async function main() {
  await eq.init();
  console.log('equivariant: WebAssembly SIMD128 kernels loaded.\n');
  const [m, n, k] = [8 * 32 * 32, 128, 1152];
  console.log(`A ${m} x ${k} times B ${k} x ${n} (the im2col shape of a 128-channel p4 group convolution, batch 8):`);
  const fill = (len, s) => Float32Array.from({ length: len }, (_, i) => Math.sin(i * 0.618 + s));
  eq.tidy(() => {
    const a = eq.tensor(fill(m * k, 1), [m, k]);
    const bT = eq.tensor(fill(k * n, 2), [k, n]);
    const b = eq.packMatrix(bT);
    const bias = eq.tensor(fill(n, 3), [n]);
    const fast = eq.matmul(a, b, { bias, relu: true });
    const slow = eq.diagnostics.matmulReference(a, bT, { bias, relu: true });
    const x = new Uint32Array(fast.toArray().buffer), y = new Uint32Array(slow.toArray().buffer);
    const same = x.every((v, i) => v === y[i]);
    console.log(`  SIMD kernel vs scalar reference: ${same ? 'bit-identical' : 'DIFFERENT'} over ${x.length} outputs`);
    const t = time(() => eq.matmul(a, b, { bias, relu: true }).dispose(), { rounds: 3, minSeconds: 0.3 });
    const gflops = (2 * m * n * k) / t.median / 1e9;
    const peak = peakGflops(3);
    console.log(`  ${(t.median * 1e3).toFixed(1)} ms per call, ${gflops.toFixed(1)} GFLOP/s = ${((100 * gflops) / peak).toFixed(0)}% of this machine's measured SIMD128 peak (${peak.toFixed(1)} GFLOP/s), one thread`);
    if (!same) process.exitCode = 1;
  });
  const mem = eq.memory();
  console.log(`\nlive tensors after the run: ${mem.tensors} (${mem.bytes} bytes)`);
}
