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
        /// # Safety
        /// `p` must be valid for reading four `f32` (any alignment).
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            F4(v128_load(p as *const v128))
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
        /// Broadcast lane `L` to all four lanes.
        #[inline(always)]
        pub fn lane<const L: usize>(self) -> Self {
            // i32x4_shuffle needs literal indices; L is one of 0..4.
            match L {
                0 => F4(i32x4_shuffle::<0, 0, 0, 0>(self.0, self.0)),
                1 => F4(i32x4_shuffle::<1, 1, 1, 1>(self.0, self.0)),
                2 => F4(i32x4_shuffle::<2, 2, 2, 2>(self.0, self.0)),
                _ => F4(i32x4_shuffle::<3, 3, 3, 3>(self.0, self.0)),
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
        pub fn lane<const L: usize>(self) -> Self {
            F4([self.0[L]; 4])
        }
        #[inline(always)]
        pub fn relu(self) -> Self {
            F4(self.0.map(super::relu))
        }
    }
}

pub use imp::F4;

/// Scalar ReLU with the same bits as [`F4::relu`]: keeps positive values and NaN, else `+0`.
#[inline(always)]
pub fn relu(x: f32) -> f32 {
    if x > 0.0 || x.is_nan() {
        x
    } else {
        0.0
    }
}
