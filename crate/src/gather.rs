//! Group-indexed gather: `dst[o, i] = src[o, table[i]]` for every outer index `o`.
//!
//! A finite group acts on a feature map by permuting its entries (a rotation of the grid, a
//! shift along the group axis, or both). The facade builds that permutation once per group
//! element and shape as an index table, and this kernel applies it to every image and channel.
//! The same kernel expands a filter bank from `kappa` (blocks of `src_block` values read into
//! larger blocks of `table.len()`), once, when a layer is built.

/// Applies `table` (indices into a source block of `src_block` values) to `outer` blocks.
/// Returns the first out-of-range index, if any, without writing anything.
pub fn gather(src: &[f32], src_block: usize, table: &[u32], dst: &mut [f32], outer: usize) -> Result<(), (usize, u32)> {
    let len = table.len();
    assert!(src.len() >= outer * src_block && dst.len() >= outer * len);
    if let Some((i, &t)) = table.iter().enumerate().find(|(_, &t)| t as usize >= src_block) {
        return Err((i, t));
    }
    for o in 0..outer {
        let s = &src[o * src_block..(o + 1) * src_block];
        let d = &mut dst[o * len..(o + 1) * len];
        for (d, &t) in d.iter_mut().zip(table) {
            // SAFETY: every entry of `table` was checked to be below `len` above.
            *d = unsafe { *s.get_unchecked(t as usize) };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutes_each_block() {
        let src: Vec<f32> = (0..6).map(|x| x as f32).collect();
        let mut dst = vec![0.0; 6];
        gather(&src, 3, &[2, 0, 1], &mut dst, 2).unwrap();
        assert_eq!(dst, [2.0, 0.0, 1.0, 5.0, 3.0, 4.0]);
    }

    #[test]
    fn expands_into_larger_blocks() {
        let src = [1.0, 2.0, 3.0, 4.0];
        let mut dst = vec![0.0; 6];
        gather(&src, 2, &[1, 0, 1], &mut dst, 2).unwrap();
        assert_eq!(dst, [2.0, 1.0, 2.0, 4.0, 3.0, 4.0]);
    }

    #[test]
    fn refuses_out_of_range_indices_without_writing() {
        let src = [1.0f32; 4];
        let mut dst = [7.0f32; 4];
        assert_eq!(gather(&src, 2, &[0, 2], &mut dst, 2), Err((1, 2)));
        assert_eq!(dst, [7.0; 4]);
    }
}
