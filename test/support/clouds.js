/** A padded batch of B clouds of up to P points in R^3 (cloud b lacks its last b mod 4 points), features 1. */
export function cloudBatch(eq, B, P) {
  const mask = Float32Array.from({ length: B * P }, (_, i) => (i % P < P - (Math.floor(i / P) % 4) ? 1 : 0));
  return {
    points: eq.tensor(Float32Array.from({ length: B * P * 3 }, (_, i) => 2 * Math.sin(i * 1.7 + B)), [B, P, 3]),
    features: eq.tensor(new Float32Array(B * P).fill(1), [B, P, 1]),
    mask: eq.tensor(mask, [B, P]),
  };
}
