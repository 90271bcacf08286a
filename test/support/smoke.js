// The same small job everywhere (Node, page, workers): init, one GEMM with bias + ReLU on fixed
// data, two operator-space solves (f64), and the output bytes as hex. Equal hex strings mean
// bit-identical numerics.
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
  // The operator-space solver (f64 in wasm): a projector basis of S4 on standard^2 and an SO(3)
  // quadrature solve, as bytes.
  const S4 = eq.groups.symmetric(4), SO3 = eq.groups.so3();
  const st = eq.space.rep(S4, 'standard^2'), v = eq.space.rep(SO3, 'V^2');
  const f64 = [eq.space.hom(S4, st, st, { method: 'projector' }).element(1), eq.space.hom(SO3, v, v).element(2)];
  const space = f64.map((a) => Array.from(new Uint8Array(a.buffer), (x) => x.toString(16).padStart(2, '0')).join('')).join('/');
  return { hex: Array.from(bytes, (x) => x.toString(16).padStart(2, '0')).join(''), space, tensors: eq.memory().tensors };
}
