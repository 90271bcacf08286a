//! Steerable convolutions: writing a filter bank from the products of basis coefficients.
//!
//! An R2Conv's filter bank is, for every pair of an output field `a` and an input field `b` of
//! one pair of representation types, a block `sum over d of w[a, b, d] B_d` (`out x in x k^2`).
//! The facade computes those sums for all field pairs at once as one GEMM, and only at one
//! pixel of each orbit of the grid's exact symmetries (rotations by 90 degrees, the reflection)
//! when the representations are signed permutations there: the rest of the block follows by
//! `kappa(h x) = rho_out(h) kappa(x) rho_in(h)^T`. [`scatter_blocks`] then writes every block
//! into place, each entry a copy (or a negated copy) of one computed value.

/// Flag in a table entry: the value is negated.
pub const NEGATE: u32 = 1 << 31;

/// For every row `r` of `src` (a field pair, `stride` values each) and every entry
/// `(o, i, q)` of an `o_size x i_size x kk` block:
/// `filter[((out_off[r] + o) * cin + in_off[r] + i) * kk + q] = ±src[r * stride + (t & !NEGATE)]`
/// with `t = table[(o * i_size + i) * kk + q]`, negated when `t & NEGATE`.
#[allow(clippy::too_many_arguments)]
pub fn scatter_blocks(src: &[f32], stride: usize, table: &[u32], o_size: usize, i_size: usize, kk: usize, out_off: &[u32], in_off: &[u32], cin: usize, filter: &mut [f32]) {
    let block = o_size * i_size * kk;
    assert!(table.len() >= block && out_off.len() == in_off.len());
    for (r, (&oo, &io)) in out_off.iter().zip(in_off).enumerate() {
        let row = &src[r * stride..(r + 1) * stride];
        for o in 0..o_size {
            let base = ((oo as usize + o) * cin + io as usize) * kk;
            let dst = &mut filter[base..base + i_size * kk];
            let tab = &table[o * i_size * kk..(o + 1) * i_size * kk];
            for (d, &t) in dst.iter_mut().zip(tab) {
                let v = row[(t & !NEGATE) as usize];
                *d = if t & NEGATE != 0 { -v } else { v };
            }
        }
    }
}

/// Checks the arguments of [`scatter_blocks`]: every table entry inside a row, every block
/// inside the filter.
#[allow(clippy::too_many_arguments)]
pub fn check_scatter(stride: usize, table: &[u32], o_size: usize, i_size: usize, kk: usize, out_off: &[u32], in_off: &[u32], cin: usize, cout: usize) -> Result<(), String> {
    if table.len() != o_size * i_size * kk {
        return Err(format!("the table has {} entries, a block {}", table.len(), o_size * i_size * kk));
    }
    if let Some((i, t)) = table.iter().enumerate().find(|(_, &t)| (t & !NEGATE) as usize >= stride) {
        return Err(format!("table[{i}] = {} is outside a row of {stride}", t & !NEGATE));
    }
    for (r, (&oo, &io)) in out_off.iter().zip(in_off).enumerate() {
        if oo as usize + o_size > cout || io as usize + i_size > cin {
            return Err(format!("row {r}: the block at ({oo}, {io}) does not fit a {cout} x {cin} filter"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_each_block_in_place_with_signs() {
        // Two field pairs of 2 x 1 blocks with kk = 2 into a 4 x 2 filter (cin 2).
        let src = [1.0, 2.0, 3.0, 10.0, 20.0, 30.0];
        let table = [0, 1 | NEGATE, 2, 0];
        let mut f = vec![0.0; 4 * 2 * 2];
        scatter_blocks(&src, 3, &table, 2, 1, 2, &[0, 2], &[1, 0], 2, &mut f);
        // Row 0 at out channels 0..2, in channel 1; row 1 at out channels 2..4, in channel 0.
        let want = [0.0, 0.0, 1.0, -2.0, 0.0, 0.0, 3.0, 1.0, 10.0, -20.0, 0.0, 0.0, 30.0, 10.0, 0.0, 0.0];
        assert_eq!(f, want);
        assert!(check_scatter(3, &table, 2, 1, 2, &[0, 2], &[1, 0], 2, 4).is_ok());
        assert!(check_scatter(2, &table, 2, 1, 2, &[0], &[0], 2, 4).is_err());
        assert!(check_scatter(3, &table, 2, 1, 2, &[3], &[0], 2, 4).is_err());
        assert!(check_scatter(3, &table[..3], 2, 1, 2, &[0], &[0], 2, 4).is_err());
    }
}
