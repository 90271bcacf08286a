//! Per-row kernels of the equivariant MLP layers (features `[N, width]` in a representation):
//! the gated nonlinearity and the tensor square. Both act on each row independently, in a fixed
//! order, with the crate's own `exp` (bit-identical everywhere).

use crate::vmath::{sigmoid, silu};

/// One block of a gated nonlinearity: output entries `start..start + len`; `gate == u32::MAX`
/// for a scalar (trivial) block, which gets SiLU entry by entry, else the index of the input
/// column whose sigmoid scales the block.
#[derive(Clone, Copy, Debug)]
pub struct Block {
    pub start: u32,
    pub len: u32,
    pub gate: u32,
}

/// Checks blocks against the widths: each inside `0..width_out`, gates inside
/// `width_out..width_in`.
pub fn check_blocks(blocks: &[Block], width_in: usize, width_out: usize) -> Result<(), String> {
    for (i, b) in blocks.iter().enumerate() {
        let end = b.start as usize + b.len as usize;
        if end > width_out {
            return Err(format!("block {i} ends at {end}, past the output width {width_out}"));
        }
        if b.gate != u32::MAX && (b.gate as usize) < width_out || b.gate != u32::MAX && b.gate as usize >= width_in {
            return Err(format!("block {i}: gate column {} is not in {width_out}..{width_in}", b.gate));
        }
    }
    Ok(())
}

/// `out[r, block] = silu(x[r, block])` (scalar blocks) or `sigmoid(x[r, gate]) x[r, block]`;
/// entries no block covers are copied.
pub fn gated(x: &[f32], rows: usize, width_in: usize, width_out: usize, blocks: &[Block], out: &mut [f32]) {
    for r in 0..rows {
        let xi = &x[r * width_in..(r + 1) * width_in];
        let o = &mut out[r * width_out..(r + 1) * width_out];
        o.copy_from_slice(&xi[..width_out]);
        for b in blocks {
            let (s, e) = (b.start as usize, b.start as usize + b.len as usize);
            if b.gate == u32::MAX {
                for j in s..e {
                    o[j] = silu(xi[j]);
                }
            } else {
                let g = sigmoid(xi[b.gate as usize]);
                for j in s..e {
                    o[j] = g * xi[j];
                }
            }
        }
    }
}

/// `out[r] = [x[r], x[r] (x) x[r]]`: the features and all their pairwise products
/// (`x_i x_j` at `d + i d + j`).
pub fn tensor_square(x: &[f32], rows: usize, d: usize, out: &mut [f32]) {
    let w = d + d * d;
    for r in 0..rows {
        let xi = &x[r * d..(r + 1) * d];
        let o = &mut out[r * w..(r + 1) * w];
        o[..d].copy_from_slice(xi);
        for i in 0..d {
            let a = xi[i];
            let row = &mut o[d + i * d..d + (i + 1) * d];
            for j in 0..d {
                row[j] = a * xi[j];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_scale_blocks_and_scalars_get_silu() {
        // width_out 4: a scalar block [0], a 3-vector block [1..4] gated by column 4.
        let x = [2.0f32, 1.0, -2.0, 3.0, 0.5, -1.0, 0.0, 1.0, 2.0, -3.0];
        let blocks = [Block { start: 0, len: 1, gate: u32::MAX }, Block { start: 1, len: 3, gate: 4 }];
        check_blocks(&blocks, 5, 4).unwrap();
        assert!(check_blocks(&[Block { start: 1, len: 3, gate: 2 }], 5, 4).is_err());
        let mut out = [0.0f32; 8];
        gated(&x, 2, 5, 4, &blocks, &mut out);
        let sg = |v: f32| 1.0 / (1.0 + (-v as f64).exp()) as f32;
        assert!((out[0] - 2.0 * sg(2.0)).abs() < 1e-6);
        for j in 1..4 {
            assert!((out[j] - x[j] * sg(0.5)).abs() < 1e-6);
            assert!((out[4 + j] - x[5 + j] * sg(-3.0)).abs() < 1e-6);
        }
    }

    #[test]
    fn tensor_square_lists_every_product() {
        let x = [1.0f32, 2.0, 3.0];
        let mut out = [0.0f32; 12];
        tensor_square(&x, 1, 3, &mut out);
        assert_eq!(out, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 3.0, 6.0, 9.0]);
    }
}
