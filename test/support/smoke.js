// The same small job everywhere (Node, page, workers): init, one GEMM with bias + ReLU on fixed
// data, and the output bytes as hex. Equal hex strings mean bit-identical numerics.
export async function smoke(eq, initOptions) {
  await eq.init(initOptions);
  const m = 33, k = 19, n = 21;
  const a = new Float32Array(m * k), b = new Float32Array(k * n), bias = new Float32Array(n);
  for (let i = 0; i < a.length; i++) a[i] = Math.sin(i * 0.37) * 1.7;
  for (let i = 0; i < b.length; i++) b[i] = Math.cos(i * 0.11) * 0.9;
  for (let i = 0; i < n; i++) bias[i] = (i % 5) * 0.25 - 0.5;
  const out = eq.tidy(() => eq.matmul(eq.tensor(a, [m, k]), eq.tensor(b, [k, n]), { bias: eq.tensor(bias, [n]), relu: true }));
  const bytes = new Uint8Array(out.toArray().buffer);
  out.dispose();
  return { hex: Array.from(bytes, (x) => x.toString(16).padStart(2, '0')).join(''), tensors: eq.memory().tensors };
}
