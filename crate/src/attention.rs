//! Self-attention over a finite group: for every image, head and output element `g`,
//! `out[g] = sum over g' of softmax_g'( q(g).k(g') / sqrt(d) + b[g^-1 g'] ) v(g')`.
//!
//! The queries, keys and values arrive projected (`[n, heads, d, |G|]`, `[n, heads, dv, |G|]`);
//! the relative position `g^-1 g'` enters through `rel[g * |G| + g']`, an index into the
//! per-head table `b` (`[heads, |G|]`), built by the facade from the Cayley table. With
//! `content` off the logits are the table alone: attention is then a group convolution with the
//! kernel `softmax(b)` (Conclusion 1 of the framework). Sums run in index order; `exp` is
//! computed here, in wasm, so results are identical on every platform.

/// The geometry of one call.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub n: usize,
    pub heads: usize,
    pub d: usize,
    pub dv: usize,
    pub order: usize,
}

#[allow(clippy::too_many_arguments)]
pub fn attention(s: &Shape, q: &[f32], k: &[f32], v: &[f32], rel: &[u32], bias: &[f32], content: bool, out: &mut [f32]) {
    let g_n = s.order;
    assert!(q.len() >= s.n * s.heads * s.d * g_n && k.len() >= q.len().min(s.n * s.heads * s.d * g_n));
    assert!(v.len() >= s.n * s.heads * s.dv * g_n && out.len() >= s.n * s.heads * s.dv * g_n);
    assert!(rel.len() >= g_n * g_n && bias.len() >= s.heads * g_n);
    let scale = 1.0 / (s.d.max(1) as f32).sqrt();
    let mut logits = vec![0.0f32; g_n];
    for img in 0..s.n {
        for h in 0..s.heads {
            let qh = &q[(img * s.heads + h) * s.d * g_n..][..s.d * g_n];
            let kh = &k[(img * s.heads + h) * s.d * g_n..][..s.d * g_n];
            let vh = &v[(img * s.heads + h) * s.dv * g_n..][..s.dv * g_n];
            let bh = &bias[h * g_n..(h + 1) * g_n];
            let oh = &mut out[(img * s.heads + h) * s.dv * g_n..][..s.dv * g_n];
            for g in 0..g_n {
                let mut max = f32::NEG_INFINITY;
                for (gp, l) in logits.iter_mut().enumerate() {
                    let mut dot = 0.0f32;
                    if content {
                        for c in 0..s.d {
                            dot += qh[c * g_n + g] * kh[c * g_n + gp];
                        }
                    }
                    *l = dot * scale + bh[rel[g * g_n + gp] as usize];
                    max = max.max(*l);
                }
                let mut sum = 0.0f32;
                for l in logits.iter_mut() {
                    *l = (*l - max).exp();
                    sum += *l;
                }
                let inv = 1.0 / sum;
                for c in 0..s.dv {
                    let mut acc = 0.0f32;
                    for (gp, l) in logits.iter().enumerate() {
                        acc += l * inv * vh[c * g_n + gp];
                    }
                    oh[c * g_n + g] = acc;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::tests::random;

    #[test]
    fn rows_of_attention_sum_to_one_and_a_constant_value_passes_through() {
        // C3, one head; v constant 2.5 -> out 2.5 whatever the weights.
        let g_n = 3;
        let rel: Vec<u32> = (0..9).map(|i| ((i % 3 + 3 - i / 3) % 3) as u32).collect();
        let s = Shape { n: 2, heads: 1, d: 4, dv: 1, order: g_n };
        let q = random(2 * 4 * 3, 1);
        let k = random(2 * 4 * 3, 2);
        let v = vec![2.5f32; 2 * 3];
        let b = random(3, 3);
        let mut out = vec![0.0; 6];
        attention(&s, &q, &k, &v, &rel, &b, true, &mut out);
        for o in out {
            assert!((o - 2.5).abs() < 1e-6);
        }
    }

    #[test]
    fn matches_a_plain_f64_evaluation() {
        let g_n = 4;
        let rel: Vec<u32> = (0..16).map(|i| ((i % 4 + 4 - i / 4) % 4) as u32).collect();
        let s = Shape { n: 1, heads: 2, d: 3, dv: 2, order: g_n };
        let q = random(2 * 3 * 4, 4);
        let k = random(2 * 3 * 4, 5);
        let v = random(2 * 2 * 4, 6);
        let b = random(2 * 4, 7);
        let mut out = vec![0.0; 2 * 2 * 4];
        attention(&s, &q, &k, &v, &rel, &b, true, &mut out);
        for h in 0..2 {
            for g in 0..4 {
                let logits: Vec<f64> = (0..4)
                    .map(|gp| {
                        let dot: f64 = (0..3).map(|c| q[(h * 3 + c) * 4 + g] as f64 * k[(h * 3 + c) * 4 + gp] as f64).sum();
                        dot / 3f64.sqrt() + b[h * 4 + rel[g * 4 + gp] as usize] as f64
                    })
                    .collect();
                let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for c in 0..2 {
                    let want: f64 = (0..4).map(|gp| e[gp] / z * v[(h * 2 + c) * 4 + gp] as f64).sum();
                    assert!((out[(h * 2 + c) * 4 + g] as f64 - want).abs() < 1e-5);
                }
            }
        }
    }
}
