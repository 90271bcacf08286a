//! A four-lane `f32` vector, the only SIMD type the kernels use.
//!
//! On wasm32 with `simd128` it is a `v128`; elsewhere an array with the same lane-wise IEEE
//! semantics (a multiply, then a separately rounded add: never a fused multiply-add), so host
//! tests exercise exactly the arithmetic the wasm build performs.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    #[repr(transparent)]
    pub struct F4(v128);

    impl F4 {
        #[inline(always)]
        pub fn zero() -> Self {
            F4(f32x4_splat(0.0))
        }
        #[inline(always)]
        pub fn splat(x: f32) -> Self {
            F4(f32x4_splat(x))
        }
        /// `*p` in every lane, read by one `v128.load32_splat`.
        /// # Safety
        /// `p` must be valid for reading one `f32`.
        #[inline(always)]
        pub unsafe fn load_splat(p: *const f32) -> Self {
            F4(v128_load32_splat(p as *const u32))
        }
        /// # Safety
        /// `p` must be valid for reading four `f32` (any alignment).
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            F4(v128_load(p as *const v128))
        }
        /// The first `w` lanes (`w <= 4`) from `p`, zeros after: lane loads, no copy through
        /// memory (a short `memcpy` becomes `memory.copy`, which V8 runs as a call).
        /// # Safety
        /// `p` must be valid for reading `min(w, 4)` `f32`.
        #[inline(always)]
        pub unsafe fn load_first(p: *const f32, w: usize) -> Self {
            match w {
                0 => Self::zero(),
                1 => F4(v128_load32_zero(p as *const u32)),
                2 => F4(v128_load64_zero(p as *const u64)),
                3 => F4(f32x4_replace_lane::<2>(v128_load64_zero(p as *const u64), *p.add(2))),
                _ => Self::load(p),
            }
        }
        /// Stores the first `w` lanes (`w <= 4`) at `p`, by lane stores.
        /// # Safety
        /// `p` must be valid for writing `min(w, 4)` `f32`.
        #[inline(always)]
        pub unsafe fn store_first(self, p: *mut f32, w: usize) {
            match w {
                0 => {}
                1 => v128_store32_lane::<0>(self.0, p as *mut u32),
                2 => v128_store64_lane::<0>(self.0, p as *mut u64),
                3 => {
                    v128_store64_lane::<0>(self.0, p as *mut u64);
                    v128_store32_lane::<2>(self.0, p.add(2) as *mut u32);
                }
                _ => self.store(p),
            }
        }
        /// # Safety
        /// `p` must be valid for writing four `f32` (any alignment).
        #[inline(always)]
        pub unsafe fn store(self, p: *mut f32) {
            v128_store(p as *mut v128, self.0)
        }
        #[inline(always)]
        pub fn add(self, o: Self) -> Self {
            F4(f32x4_add(self.0, o.0))
        }
        #[inline(always)]
        pub fn mul(self, o: Self) -> Self {
            F4(f32x4_mul(self.0, o.0))
        }
        #[inline(always)]
        pub fn sub(self, o: Self) -> Self {
            F4(f32x4_sub(self.0, o.0))
        }
        /// `[a0, b0, a1, b1]`.
        #[inline(always)]
        pub fn zip_lo(self, b: Self) -> Self {
            F4(i32x4_shuffle::<0, 4, 1, 5>(self.0, b.0))
        }
        /// `[sum a, sum b, sum c, sum d]`, each as `(x0 + x2) + (x1 + x3)`.
        #[inline(always)]
        pub fn hsum4(a: Self, b: Self, c: Self, d: Self) -> Self {
            let s1 = f32x4_add(i32x4_shuffle::<0, 4, 1, 5>(a.0, b.0), i32x4_shuffle::<2, 6, 3, 7>(a.0, b.0));
            let s2 = f32x4_add(i32x4_shuffle::<0, 4, 1, 5>(c.0, d.0), i32x4_shuffle::<2, 6, 3, 7>(c.0, d.0));
            F4(f32x4_add(i32x4_shuffle::<0, 1, 4, 5>(s1, s2), i32x4_shuffle::<2, 3, 6, 7>(s1, s2)))
        }
        /// `[a2, b2, a3, b3]`.
        #[inline(always)]
        pub fn zip_hi(self, b: Self) -> Self {
            F4(i32x4_shuffle::<2, 6, 3, 7>(self.0, b.0))
        }
        /// Transposes four rows in place (row `i` lane `j` becomes row `j` lane `i`).
        #[inline(always)]
        pub fn transpose(r: &mut [F4; 4]) {
            let t0 = i32x4_shuffle::<0, 4, 1, 5>(r[0].0, r[1].0);
            let t1 = i32x4_shuffle::<2, 6, 3, 7>(r[0].0, r[1].0);
            let t2 = i32x4_shuffle::<0, 4, 1, 5>(r[2].0, r[3].0);
            let t3 = i32x4_shuffle::<2, 6, 3, 7>(r[2].0, r[3].0);
            r[0] = F4(i32x4_shuffle::<0, 1, 4, 5>(t0, t2));
            r[1] = F4(i32x4_shuffle::<2, 3, 6, 7>(t0, t2));
            r[2] = F4(i32x4_shuffle::<0, 1, 4, 5>(t1, t3));
            r[3] = F4(i32x4_shuffle::<2, 3, 6, 7>(t1, t3));
        }
        /// `[a0, a2, b0, b2]`.
        #[inline(always)]
        pub fn even(self, b: Self) -> Self {
            F4(i32x4_shuffle::<0, 2, 4, 6>(self.0, b.0))
        }
        /// `[a1, a3, b1, b3]`.
        #[inline(always)]
        pub fn odd(self, b: Self) -> Self {
            F4(i32x4_shuffle::<1, 3, 5, 7>(self.0, b.0))
        }
        /// Lane-wise `max_nan(self, v)`: `v` where `v > self` or `v` is NaN, unless `self` is NaN.
        #[inline(always)]
        pub fn max_nan(self, v: Self) -> Self {
            let take = v128_and(v128_or(f32x4_gt(v.0, self.0), f32x4_ne(v.0, v.0)), f32x4_eq(self.0, self.0));
            F4(v128_bitselect(v.0, self.0, take))
        }
        /// All ones in the lanes holding NaN, zeros elsewhere.
        #[inline(always)]
        pub fn nan_mask(self) -> Self {
            F4(f32x4_ne(self.0, self.0))
        }
        /// Bitwise or.
        #[inline(always)]
        pub fn or(self, o: Self) -> Self {
            F4(v128_or(self.0, o.0))
        }
        /// Whether any bit is set.
        #[inline(always)]
        pub fn any_bit(self) -> bool {
            v128_any_true(self.0)
        }
        /// Lane-wise `a / b` (IEEE, correctly rounded).
        #[inline(always)]
        pub fn div(self, o: Self) -> Self {
            F4(f32x4_div(self.0, o.0))
        }
        /// Rounds to the nearest integer, ties to even.
        #[inline(always)]
        pub fn nearest(self) -> Self {
            F4(f32x4_nearest(self.0))
        }
        /// Rounds toward zero.
        #[inline(always)]
        pub fn trunc(self) -> Self {
            F4(f32x4_trunc(self.0))
        }
        /// Lane-wise `o < self ? o : self` (the NaN-keeping order of `f32x4.pmin`).
        #[inline(always)]
        pub fn pmin(self, o: Self) -> Self {
            F4(f32x4_pmin(self.0, o.0))
        }
        /// Lane-wise `self < o ? o : self`.
        #[inline(always)]
        pub fn pmax(self, o: Self) -> Self {
            F4(f32x4_pmax(self.0, o.0))
        }
        /// `2^n` for lanes holding integers `n` in `-126..=127`, built from the exponent bits.
        /// `n + 1.5 * 2^23` holds `n` in its low mantissa bits, so a shift moves it into the
        /// exponent field with no float-to-integer conversion (which costs about seven
        /// instructions on x86); the same bits as `(n as i32 + 127) << 23`.
        #[inline(always)]
        pub fn pow2i(self) -> Self {
            self.pow2i_biased::<127>()
        }
        /// `2^(n - 1)` for lanes holding integers `n` in `-125..=128`: [`Self::pow2i`] with the
        /// exponent bias one lower, so the `- 1` costs nothing.
        #[inline(always)]
        pub fn pow2i_half(self) -> Self {
            self.pow2i_biased::<126>()
        }
        /// `2^(n + B - 127)` from the exponent bits (see [`Self::pow2i`]).
        #[inline(always)]
        fn pow2i_biased<const B: i32>(self) -> Self {
            let m = f32x4_add(self.0, f32x4_splat(12_582_912.0));
            F4(i32x4_add(i32x4_shl(m, 23), i32x4_splat(B << 23)))
        }
        /// `self` where `self` is not NaN, `nan_src` where it is.
        #[inline(always)]
        pub fn keep_nan_of(self, nan_src: Self) -> Self {
            F4(v128_bitselect(nan_src.0, self.0, f32x4_ne(nan_src.0, nan_src.0)))
        }
        /// Lane `i`.
        #[inline(always)]
        pub fn get(self, i: usize) -> f32 {
            match i {
                0 => f32x4_extract_lane::<0>(self.0),
                1 => f32x4_extract_lane::<1>(self.0),
                2 => f32x4_extract_lane::<2>(self.0),
                _ => f32x4_extract_lane::<3>(self.0),
            }
        }
        /// `x > 0 || x is NaN ? x : +0`, lane-wise: ReLU that keeps NaN (as PyTorch does) and
        /// is bit-exact everywhere (no NaN canonicalisation by `f32x4.max`).
        #[inline(always)]
        pub fn relu(self) -> Self {
            let keep = v128_or(f32x4_gt(self.0, f32x4_splat(0.0)), f32x4_ne(self.0, self.0));
            F4(v128_and(self.0, keep))
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    #[derive(Clone, Copy)]
    pub struct F4([f32; 4]);

    impl F4 {
        #[inline(always)]
        pub fn zero() -> Self {
            F4([0.0; 4])
        }
        #[inline(always)]
        pub fn splat(x: f32) -> Self {
            F4([x; 4])
        }
        /// # Safety
        /// `p` must be valid for reading one `f32`.
        #[inline(always)]
        pub unsafe fn load_splat(p: *const f32) -> Self {
            F4([*p; 4])
        }
        /// # Safety
        /// `p` must be valid for reading four `f32`.
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            F4(core::ptr::read_unaligned(p as *const [f32; 4]))
        }
        /// # Safety
        /// `p` must be valid for writing four `f32`.
        #[inline(always)]
        pub unsafe fn store(self, p: *mut f32) {
            core::ptr::write_unaligned(p as *mut [f32; 4], self.0)
        }
        #[inline(always)]
        pub fn add(self, o: Self) -> Self {
            F4(core::array::from_fn(|i| self.0[i] + o.0[i]))
        }
        #[inline(always)]
        pub fn mul(self, o: Self) -> Self {
            F4(core::array::from_fn(|i| self.0[i] * o.0[i]))
        }
        #[inline(always)]
        pub fn sub(self, o: Self) -> Self {
            F4(core::array::from_fn(|i| self.0[i] - o.0[i]))
        }
        #[inline(always)]
        pub fn zip_lo(self, b: Self) -> Self {
            F4([self.0[0], b.0[0], self.0[1], b.0[1]])
        }
        #[inline(always)]
        pub fn hsum4(a: Self, b: Self, c: Self, d: Self) -> Self {
            let h = |x: Self| (x.0[0] + x.0[2]) + (x.0[1] + x.0[3]);
            F4([h(a), h(b), h(c), h(d)])
        }
        #[inline(always)]
        pub fn zip_hi(self, b: Self) -> Self {
            F4([self.0[2], b.0[2], self.0[3], b.0[3]])
        }
        #[inline(always)]
        pub fn transpose(r: &mut [F4; 4]) {
            let m = *r;
            for (i, row) in r.iter_mut().enumerate() {
                *row = F4(core::array::from_fn(|j| m[j].0[i]));
            }
        }
        #[inline(always)]
        pub fn even(self, b: Self) -> Self {
            F4([self.0[0], self.0[2], b.0[0], b.0[2]])
        }
        #[inline(always)]
        pub fn odd(self, b: Self) -> Self {
            F4([self.0[1], self.0[3], b.0[1], b.0[3]])
        }
        #[inline(always)]
        pub fn max_nan(self, v: Self) -> Self {
            F4(core::array::from_fn(|i| super::max_nan(self.0[i], v.0[i])))
        }
        #[inline(always)]
        pub fn nan_mask(self) -> Self {
            F4(self.0.map(|v| if v.is_nan() { f32::from_bits(u32::MAX) } else { 0.0 }))
        }
        #[inline(always)]
        pub fn or(self, o: Self) -> Self {
            F4(core::array::from_fn(|i| f32::from_bits(self.0[i].to_bits() | o.0[i].to_bits())))
        }
        #[inline(always)]
        pub fn any_bit(self) -> bool {
            self.0.iter().any(|v| v.to_bits() != 0)
        }
        #[inline(always)]
        pub fn div(self, o: Self) -> Self {
            F4(core::array::from_fn(|i| self.0[i] / o.0[i]))
        }
        #[inline(always)]
        pub fn nearest(self) -> Self {
            F4(self.0.map(f32::round_ties_even))
        }
        #[inline(always)]
        pub fn trunc(self) -> Self {
            F4(self.0.map(f32::trunc))
        }
        #[inline(always)]
        pub fn pmin(self, o: Self) -> Self {
            F4(core::array::from_fn(|i| if o.0[i] < self.0[i] { o.0[i] } else { self.0[i] }))
        }
        #[inline(always)]
        pub fn pmax(self, o: Self) -> Self {
            F4(core::array::from_fn(|i| if self.0[i] < o.0[i] { o.0[i] } else { self.0[i] }))
        }
        #[inline(always)]
        pub fn pow2i(self) -> Self {
            F4(self.0.map(super::pow2i))
        }
        #[inline(always)]
        pub fn pow2i_half(self) -> Self {
            F4(self.0.map(|n| f32::from_bits(((n as i32 + 126) << 23) as u32)))
        }
        #[inline(always)]
        pub fn keep_nan_of(self, nan_src: Self) -> Self {
            F4(core::array::from_fn(|i| if nan_src.0[i].is_nan() { nan_src.0[i] } else { self.0[i] }))
        }
        #[inline(always)]
        pub fn get(self, i: usize) -> f32 {
            self.0[i]
        }
        /// # Safety
        /// `p` must be valid for reading `min(w, 4)` `f32`.
        #[inline(always)]
        pub unsafe fn load_first(p: *const f32, w: usize) -> Self {
            F4(core::array::from_fn(|i| if i < w { *p.add(i) } else { 0.0 }))
        }
        /// # Safety
        /// `p` must be valid for writing `min(w, 4)` `f32`.
        #[inline(always)]
        pub unsafe fn store_first(self, p: *mut f32, w: usize) {
            for i in 0..w.min(4) {
                *p.add(i) = self.0[i];
            }
        }
        #[inline(always)]
        pub fn relu(self) -> Self {
            F4(self.0.map(super::relu))
        }
    }
}

pub use imp::F4;

/// `v` where `v > m` or `v` is NaN, unless `m` is already NaN: a max that keeps the first NaN
/// (as PyTorch's max propagates NaN) and the earlier of equal values.
#[inline(always)]
pub fn max_nan(m: f32, v: f32) -> f32 {
    if !m.is_nan() && (v > m || v.is_nan()) {
        v
    } else {
        m
    }
}

/// `2^n` for an integer-valued `n` in `-126..=127`, from the exponent bits (as [`F4::pow2i`]).
#[inline(always)]
pub fn pow2i(n: f32) -> f32 {
    f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// Scalar ReLU with the same bits as [`F4::relu`]: keeps positive values and NaN, else `+0`.
#[inline(always)]
pub fn relu(x: f32) -> f32 {
    if x > 0.0 || x.is_nan() {
        x
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::F4;

    fn lanes(v: F4) -> [f32; 4] {
        [v.get(0), v.get(1), v.get(2), v.get(3)]
    }

    #[test]
    fn shuffles() {
        let a = unsafe { F4::load([0.0, 1.0, 2.0, 3.0].as_ptr()) };
        let b = unsafe { F4::load([4.0, 5.0, 6.0, 7.0].as_ptr()) };
        assert_eq!(lanes(a.zip_lo(b)), [0.0, 4.0, 1.0, 5.0]);
        assert_eq!(lanes(a.zip_hi(b)), [2.0, 6.0, 3.0, 7.0]);
        assert_eq!(lanes(b.sub(a)), [4.0; 4]);
        let mut m = [0, 4, 8, 12].map(|o| unsafe { F4::load([o as f32, o as f32 + 1.0, o as f32 + 2.0, o as f32 + 3.0].as_ptr()) });
        F4::transpose(&mut m);
        assert_eq!(lanes(m[0]), [0.0, 4.0, 8.0, 12.0]);
        assert_eq!(lanes(m[3]), [3.0, 7.0, 11.0, 15.0]);
    }
}
