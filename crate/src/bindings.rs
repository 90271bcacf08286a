//! The boundary to JavaScript (wasm-bindgen), kept narrow: numbers in, a status code out.
//!
//! Tensors already live in this module's memory; JavaScript passes their **handles** (issued by
//! [`crate::memory`], never raw addresses) and sizes. Every handle is resolved here, before any
//! kernel runs: it must name a live allocation long enough for what the kernel will touch, and an
//! output's byte range must not overlap any input's. A refused call returns a non-zero status
//! and leaves the reason in [`last_error`]; nothing is written. The TypeScript facade validates
//! shapes first, so a refusal here means a bug in the facade, reported rather than trusted.
//!
//! New bindings follow the same pattern: `arg(name, handle, len)` (or `opt_arg`) for each
//! operand, `distinct(&out, &[&inputs...])`, then `slice`/`slice_mut` and the kernel; errors
//! through `fail`.

use crate::attention;
use crate::conv::{self, ConvShape};
use crate::pointwise::{self, Reduce};
use crate::winograd;
use crate::{gather as gather_kernel, gemm, memory, peak as peak_kernel};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

/// Status codes returned by every kernel entry point.
pub const OK: u32 = 0;
pub const INVALID: u32 = 1;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn fail(msg: String) -> u32 {
    LAST_ERROR.with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            *e = msg;
        }
    });
    INVALID
}

/// The reason the last refused call gave.
#[wasm_bindgen]
pub fn last_error() -> String {
    LAST_ERROR.with(|e| e.try_borrow().map(|s| s.clone()).unwrap_or_default())
}

fn memory_bytes() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size(0) * 65536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        usize::MAX
    }
}

/// A checked operand: `ptr` is the address of a live allocation holding at least `len` f32
/// (resolved from the handle JavaScript passed).
struct Arg {
    ptr: usize,
    len: usize,
}

/// Resolves the handle `ptr` of an operand of `len` f32 (u32 tables count the same).
fn arg(name: &str, ptr: u32, len: Option<usize>) -> Result<Arg, String> {
    let len = len.ok_or_else(|| format!("{name}: size overflows the 32-bit address space"))?;
    let need = len.checked_mul(4).ok_or_else(|| format!("{name}: size overflows"))?;
    let addr = memory::check(ptr, need).map_err(|e| format!("{name}: {e}"))?;
    // Defence in depth: the table only holds blocks the allocator gave out, inside memory.
    if addr % 16 != 0 || addr.checked_add(need).is_none_or(|end| end > memory_bytes()) {
        return Err(format!("{name}: allocation {ptr} at {addr} with {need} bytes lies outside memory"));
    }
    Ok(Arg { ptr: addr, len })
}

/// The byte range `[start, end)` an operand covers.
fn range(a: &Arg) -> (usize, usize) {
    (a.ptr, a.ptr + a.len * 4)
}

/// Refuses an output whose bytes overlap any input's (the same allocation, or any overlap).
fn distinct(out: &Arg, inputs: &[&Arg]) -> Result<(), String> {
    let (os, oe) = range(out);
    for i in inputs {
        let (is, ie) = range(i);
        // Empty ranges overlap nothing.
        if os < oe && is < ie && os < ie && is < oe {
            return Err(format!("the output (bytes {os}..{oe}) must not overlap an input (bytes {is}..{ie})"));
        }
    }
    Ok(())
}

/// SAFETY (both): `a` was checked by [`arg`] to be a live allocation of `a.len` f32, and
/// [`distinct`] keeps a mutable operand apart from every shared one.
unsafe fn slice<'a>(a: &Arg) -> &'a [f32] {
    core::slice::from_raw_parts(a.ptr as *const f32, a.len)
}
unsafe fn slice_mut<'a>(a: &Arg) -> &'a mut [f32] {
    core::slice::from_raw_parts_mut(a.ptr as *mut f32, a.len)
}

fn mul(a: u32, b: u32) -> Option<usize> {
    (a as usize).checked_mul(b as usize)
}

/// Allocates `bytes` bytes, 16-byte aligned, zero-filled when `zeroed`; returns its handle, or
/// 0 when the size is over [`max_alloc_bytes`] or memory cannot grow.
#[wasm_bindgen]
pub fn tensor_alloc(bytes: u32, zeroed: bool) -> u32 {
    memory::allocate_with(bytes as usize, zeroed).unwrap_or(0)
}

/// The address of allocation `handle` (for JavaScript views), or 0 when it is not live.
#[wasm_bindgen]
pub fn tensor_address(handle: u32) -> u32 {
    memory::resolve(handle).map_or(0, |(addr, _)| addr as u32)
}

/// The largest single allocation in bytes.
#[wasm_bindgen]
pub fn max_alloc_bytes() -> u32 {
    memory::MAX_BYTES.min(u32::MAX as usize) as u32
}

/// Frees the allocation `handle` made by [`tensor_alloc`].
#[wasm_bindgen]
pub fn tensor_free(handle: u32) -> u32 {
    match memory::release(handle) {
        Ok(()) => OK,
        Err(e) => fail(format!("free: {e}")),
    }
}

/// Bytes held by live allocations.
#[wasm_bindgen]
pub fn live_bytes() -> u32 {
    memory::live_bytes() as u32
}

/// Number of live allocations.
#[wasm_bindgen]
pub fn live_allocations() -> u32 {
    memory::live_count() as u32
}

/// `f32` needed to hold a `k x n` matrix packed by [`pack_b`].
#[wasm_bindgen]
pub fn packed_b_len(k: u32, n: u32) -> u32 {
    gemm::packed_len(k as usize, n as usize) as u32
}

/// Packs row-major `b` (`k x n`) into `out` (`packed_b_len(k, n)` f32).
#[wasm_bindgen]
pub fn pack_b(b: u32, k: u32, n: u32, out: u32) -> u32 {
    let run = || -> Result<(), String> {
        let b = arg("pack_b: B", b, mul(k, n))?;
        let o = arg("pack_b: out", out, Some(gemm::packed_len(k as usize, n as usize)))?;
        distinct(&o, &[&b])?;
        gemm::pack_b(unsafe { slice(&b) }, k as usize, n as usize, n as usize, unsafe {
            slice_mut(&o)
        });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// The checked operands of a GEMM call: A, B (packed or not), bias, C.
fn gemm_args(op: &str, m: u32, n: u32, k: u32, a: u32, b: u32, b_len: usize, bias: u32, c: u32) -> Result<(Arg, Arg, Option<Arg>, Arg), String> {
    let a_ = arg(&format!("{op}: A"), a, mul(m, k))?;
    let b_ = arg(&format!("{op}: B"), b, Some(b_len))?;
    let c_ = arg(&format!("{op}: C"), c, mul(m, n))?;
    let bias_ = opt_arg(&format!("{op}: bias"), bias, n as usize)?;
    distinct(&c_, &[&a_, &b_])?;
    if let Some(bb) = &bias_ {
        distinct(&c_, &[bb])?;
    }
    Ok((a_, b_, bias_, c_))
}

/// `c (m x n) = relu?(a (m x k) . B + bias)` with B packed by [`pack_b`]; `bias` is 0 for none.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn gemm(m: u32, n: u32, k: u32, a: u32, b_packed: u32, bias: u32, c: u32, relu: bool) -> u32 {
    match gemm_args("gemm", m, n, k, a, b_packed, gemm::packed_len(k as usize, n as usize), bias, c) {
        Ok((a_, b_, bias_, c_)) => {
            let ep = gemm::Epilogue::columns(bias_.as_ref().map(|b| unsafe { slice(b) }), relu);
            let (m, n, k) = (m as usize, n as usize, k as usize);
            gemm::gemm(m, n, k, unsafe { slice(&a_) }, k, unsafe { slice(&b_) }, ep, unsafe { slice_mut(&c_) }, n);
            OK
        }
        Err(e) => fail(e),
    }
}

/// The plain-loop reference of [`gemm`], on unpacked row-major `b` (`k x n`). Test builds only
/// (`--features testing`): the production module does not export it.
#[cfg(feature = "testing")]
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn gemm_reference(m: u32, n: u32, k: u32, a: u32, b: u32, bias: u32, c: u32, relu: bool) -> u32 {
    let Some(b_len) = mul(k, n) else { return fail("gemm_reference: B: size overflows".into()) };
    match gemm_args("gemm_reference", m, n, k, a, b, b_len, bias, c) {
        Ok((a_, b_, bias_, c_)) => {
            let ep = gemm::Epilogue::columns(bias_.as_ref().map(|b| unsafe { slice(b) }), relu);
            let (m, n, k) = (m as usize, n as usize, k as usize);
            gemm::gemm_reference(m, n, k, unsafe { slice(&a_) }, k, unsafe { slice(&b_) }, n, ep, unsafe { slice_mut(&c_) }, n);
            OK
        }
        Err(e) => fail(e),
    }
}

/// `dst[o, i] = src[o, table[i]]` for `o < outer`, `i < len` (`table`: `len` u32 indices into
/// source blocks of `src_block` values).
#[wasm_bindgen]
pub fn gather(src: u32, src_block: u32, table: u32, dst: u32, outer: u32, len: u32) -> u32 {
    let run = || -> Result<(), String> {
        let s = arg("gather: src", src, mul(outer, src_block))?;
        let t = arg("gather: table", table, Some(len as usize))?;
        let d = arg("gather: dst", dst, mul(outer, len))?;
        distinct(&d, &[&s, &t])?;
        // SAFETY: checked like an f32 operand; u32 has the same size and alignment.
        let tab = unsafe { core::slice::from_raw_parts(t.ptr as *const u32, t.len) };
        gather_kernel::gather(unsafe { slice(&s) }, src_block as usize, tab, unsafe { slice_mut(&d) }, outer as usize)
            .map_err(|(i, v)| format!("gather: table[{i}] = {v} is out of range (source block {src_block})"))
    };
    run().map_or_else(fail, |()| OK)
}

fn opt_arg(name: &str, ptr: u32, len: usize) -> Result<Option<Arg>, String> {
    if ptr == 0 {
        Ok(None)
    } else {
        arg(name, ptr, Some(len)).map(Some)
    }
}

/// The checked operands of a convolution call: shape, input, weights, bias, output.
type ConvArgs = (ConvShape, Arg, Arg, Option<Arg>, Arg);

#[allow(clippy::too_many_arguments)]
fn conv_args(
    op: &str, x: u32, w: u32, bias: u32, out: u32, n: u32, cin: u32, h: u32, width: u32, cout: u32, kh: u32,
    kw: u32, stride: u32, pad_top: u32, pad_left: u32, ho: u32, wo: u32,
) -> Result<ConvArgs, String> {
    let u = |v: u32| v as usize;
    let s = ConvShape {
        n: u(n), cin: u(cin), h: u(h), w: u(width), cout: u(cout), kh: u(kh), kw: u(kw),
        stride: u(stride), pad_top: u(pad_top), pad_left: u(pad_left), ho: u(ho), wo: u(wo),
    };
    s.valid().map_err(|e| format!("{op}: {e}"))?;
    let prod = |v: &[usize]| v.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
    let xin = arg(&format!("{op}: x"), x, prod(&[s.n, s.cin, s.h, s.w]))?;
    let wt = arg(&format!("{op}: weights"), w, prod(&[s.cout, s.cin, s.kh, s.kw]))?;
    let o = arg(&format!("{op}: out"), out, prod(&[s.n, s.cout, s.ho, s.wo]))?;
    let b = opt_arg(&format!("{op}: bias"), bias, s.cout)?;
    distinct(&o, &[&xin, &wt])?;
    if let Some(b) = &b {
        distinct(&o, &[b])?;
    }
    Ok((s, xin, wt, b, o))
}

/// 2-D convolution, NCHW (see [`crate::conv`]): `w` is `cout x (cin*kh*kw)`, `bias` (0 for none)
/// per output channel; `out` is `n x cout x ho x wo`.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    x: u32, w: u32, bias: u32, out: u32, n: u32, cin: u32, h: u32, width: u32, cout: u32, kh: u32, kw: u32,
    stride: u32, pad_top: u32, pad_left: u32, ho: u32, wo: u32, relu: bool,
) -> u32 {
    match conv_args("conv2d", x, w, bias, out, n, cin, h, width, cout, kh, kw, stride, pad_top, pad_left, ho, wo) {
        Ok((s, xin, wt, b, o)) => {
            conv::conv2d(&s, unsafe { slice(&xin) }, unsafe { slice(&wt) }, b.as_ref().map(|b| unsafe { slice(b) }), relu, unsafe { slice_mut(&o) });
            OK
        }
        Err(e) => fail(e),
    }
}

/// The plain-loop reference of [`conv2d`] (same arguments). Test builds only.
#[cfg(feature = "testing")]
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_reference(
    x: u32, w: u32, bias: u32, out: u32, n: u32, cin: u32, h: u32, width: u32, cout: u32, kh: u32, kw: u32,
    stride: u32, pad_top: u32, pad_left: u32, ho: u32, wo: u32, relu: bool,
) -> u32 {
    match conv_args("conv2d_reference", x, w, bias, out, n, cin, h, width, cout, kh, kw, stride, pad_top, pad_left, ho, wo) {
        Ok((s, xin, wt, b, o)) => {
            conv::conv2d_reference(&s, unsafe { slice(&xin) }, unsafe { slice(&wt) }, b.as_ref().map(|b| unsafe { slice(b) }), relu, unsafe { slice_mut(&o) });
            OK
        }
        Err(e) => fail(e),
    }
}

/// Winograd F(2x2, 3x3) filter transform: `w` `[cout, cin, 3, 3]` into `u` `[16, cout, cin]`.
#[wasm_bindgen]
pub fn winograd_weights(w: u32, cout: u32, cin: u32, u: u32) -> u32 {
    let run = || -> Result<(), String> {
        let cc = mul(cout, cin);
        let wt = arg("winograd_weights: w", w, cc.and_then(|v| v.checked_mul(9)))?;
        let ut = arg("winograd_weights: u", u, cc.and_then(|v| v.checked_mul(16)))?;
        distinct(&ut, &[&wt])?;
        winograd::transform_weights(unsafe { slice(&wt) }, cout as usize, cin as usize, unsafe { slice_mut(&ut) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// 3x3 stride-1 convolution by Winograd F(2x2, 3x3) with padding `pad` (0 or 1), `u` from
/// [`winograd_weights`], `bias` (0 for none) per output channel; `out` `[n, cout, ho, wo]`.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn conv3x3_winograd(x: u32, u: u32, bias: u32, out: u32, n: u32, cin: u32, h: u32, width: u32, cout: u32, pad: u32, relu: bool) -> u32 {
    let run = || -> Result<(), String> {
        if pad > 1 {
            return Err(format!("conv3x3_winograd: padding must be 0 or 1, got {pad}"));
        }
        let s = winograd::Shape { n: n as usize, cin: cin as usize, h: h as usize, w: width as usize, cout: cout as usize, pad: pad as usize };
        let xin = arg("conv3x3_winograd: x", x, mul(n, cin).and_then(|v| v.checked_mul(s.h * s.w)))?;
        let ut = arg("conv3x3_winograd: u", u, mul(cout, cin).and_then(|v| v.checked_mul(16)))?;
        let o = arg("conv3x3_winograd: out", out, mul(n, cout).and_then(|v| v.checked_mul(s.ho() * s.wo())))?;
        let b = opt_arg("conv3x3_winograd: bias", bias, s.cout)?;
        distinct(&o, &[&xin, &ut])?;
        if let Some(b) = &b {
            distinct(&o, &[b])?;
        }
        winograd::conv3x3(&s, unsafe { slice(&xin) }, unsafe { slice(&ut) }, b.as_ref().map(|b| unsafe { slice(b) }), relu, unsafe { slice_mut(&o) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// Self-attention over a finite group of `order` elements ([`crate::attention`]): `q`, `k`
/// `[n, heads, d, order]`, `v` and `out` `[n, heads, dv, order]`, `rel` `order^2` u32 indices
/// into the per-head table `bias` `[heads, order]`.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn group_attention(q: u32, k: u32, v: u32, rel: u32, bias: u32, out: u32, n: u32, heads: u32, d: u32, dv: u32, order: u32, content: bool) -> u32 {
    let run = || -> Result<(), String> {
        let prod = |xs: &[u32]| xs.iter().try_fold(1usize, |a, &b| a.checked_mul(b as usize));
        let qa = arg("group_attention: q", q, prod(&[n, heads, d, order]))?;
        let ka = arg("group_attention: k", k, prod(&[n, heads, d, order]))?;
        let va = arg("group_attention: v", v, prod(&[n, heads, dv, order]))?;
        let ra = arg("group_attention: rel", rel, prod(&[order, order]))?;
        let ba = arg("group_attention: bias", bias, prod(&[heads, order]))?;
        let oa = arg("group_attention: out", out, prod(&[n, heads, dv, order]))?;
        distinct(&oa, &[&qa, &ka, &va, &ra, &ba])?;
        // SAFETY: checked like an f32 operand; u32 has the same size and alignment.
        let relv = unsafe { core::slice::from_raw_parts(ra.ptr as *const u32, ra.len) };
        if let Some((i, &r)) = relv.iter().enumerate().find(|(_, &r)| r >= order) {
            return Err(format!("group_attention: rel[{i}] = {r} is not an element index (order {order})"));
        }
        let s = attention::Shape { n: n as usize, heads: heads as usize, d: d as usize, dv: dv as usize, order: order as usize };
        attention::attention(&s, unsafe { slice(&qa) }, unsafe { slice(&ka) }, unsafe { slice(&va) }, relv, unsafe { slice(&ba) }, content, unsafe { slice_mut(&oa) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

fn reduce_op(code: u32) -> Result<Reduce, String> {
    Reduce::from_code(code).ok_or_else(|| format!("unknown reduction {code} (0 = max, 1 = mean)"))
}

/// `x` as `[outer, len, inner]` reduced over the middle axis into `out` `[outer, inner]`;
/// `op`: 0 max, 1 mean.
#[wasm_bindgen]
pub fn reduce_axis(x: u32, out: u32, outer: u32, len: u32, inner: u32, op: u32) -> u32 {
    let run = || -> Result<(), String> {
        let op = reduce_op(op)?;
        if len == 0 {
            return Err("reduce_axis: cannot reduce an empty axis".into());
        }
        let xin = arg("reduce_axis: x", x, mul(outer, len).and_then(|v| v.checked_mul(inner as usize)))?;
        let o = arg("reduce_axis: out", out, mul(outer, inner))?;
        distinct(&o, &[&xin])?;
        pointwise::reduce_axis(unsafe { slice(&xin) }, outer as usize, len as usize, inner as usize, op, unsafe { slice_mut(&o) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// Pooling of `planes` planes `h x w` with window `k` and stride `s`; `op`: 0 max, 1 mean.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn pool2d(x: u32, out: u32, planes: u32, h: u32, w: u32, k: u32, s: u32, op: u32) -> u32 {
    let run = || -> Result<(), String> {
        let op = reduce_op(op)?;
        if k == 0 || s == 0 || k > h || k > w {
            return Err(format!("pool2d: window {k} with stride {s} does not fit a {h}x{w} plane"));
        }
        let (ho, wo) = ((h - k) / s + 1, (w - k) / s + 1);
        let xin = arg("pool2d: x", x, mul(planes, h).and_then(|v| v.checked_mul(w as usize)))?;
        let o = arg("pool2d: out", out, mul(planes, ho).and_then(|v| v.checked_mul(wo as usize)))?;
        distinct(&o, &[&xin])?;
        pointwise::pool2d(unsafe { slice(&xin) }, planes as usize, h as usize, w as usize, k as usize, s as usize, op, unsafe { slice_mut(&o) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// `out[b, c, i] = relu?(x[b, c, i] * scale[c] + shift[c])` over `[n, c, inner]`.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn channel_affine(x: u32, scale: u32, shift: u32, out: u32, n: u32, c: u32, inner: u32, relu: bool) -> u32 {
    let run = || -> Result<(), String> {
        let len = mul(n, c).and_then(|v| v.checked_mul(inner as usize));
        let xin = arg("channel_affine: x", x, len)?;
        let sc = arg("channel_affine: scale", scale, Some(c as usize))?;
        let sh = arg("channel_affine: shift", shift, Some(c as usize))?;
        let o = arg("channel_affine: out", out, len)?;
        distinct(&o, &[&xin, &sc, &sh])?;
        pointwise::channel_affine(unsafe { slice(&xin) }, n as usize, c as usize, inner as usize, unsafe { slice(&sc) }, unsafe { slice(&sh) }, relu, unsafe { slice_mut(&o) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// `out = relu(x)` over `len` values.
#[wasm_bindgen]
pub fn relu(x: u32, out: u32, len: u32) -> u32 {
    let run = || -> Result<(), String> {
        let xin = arg("relu: x", x, Some(len as usize))?;
        let o = arg("relu: out", out, Some(len as usize))?;
        distinct(&o, &[&xin])?;
        pointwise::relu_all(unsafe { slice(&xin) }, unsafe { slice_mut(&o) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// The multiply + add peak kernel ([`crate::peak`]) on `chains` accumulator chains.
#[wasm_bindgen]
pub fn peak(iters: u32, seed: f32, chains: u32) -> f32 {
    peak_kernel::peak(iters, seed, chains)
}

/// FLOPs of one [`peak`] call.
#[wasm_bindgen]
pub fn peak_flops(iters: u32, chains: u32) -> f64 {
    peak_kernel::peak_flops(iters, chains)
}

/// Deliberately traps (a Rust panic, which aborts): lets tests prove that the facade turns a
/// trap into a typed error and that the instance stays usable afterwards. Test builds only.
#[cfg(feature = "testing")]
#[wasm_bindgen]
pub fn trap_for_test(depth: u32) -> u32 {
    // Recurse first so the trap happens with stack frames in use, as a real one would.
    if depth > 0 {
        let mut frame = [depth; 64];
        frame[0] = trap_for_test(depth - 1);
        return frame.iter().copied().fold(0, u32::wrapping_add);
    }
    panic!("trap_for_test: deliberate trap");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(values: &[f32]) -> u32 {
        let h = tensor_alloc((values.len() * 4) as u32, false);
        let (addr, _) = memory::resolve(h).unwrap();
        unsafe { core::slice::from_raw_parts_mut(addr as *mut f32, values.len()) }.copy_from_slice(values);
        h
    }

    fn read(h: u32, n: usize) -> Vec<f32> {
        let (addr, _) = memory::resolve(h).unwrap();
        unsafe { core::slice::from_raw_parts(addr as *const f32, n) }.to_vec()
    }

    #[test]
    fn kernels_take_handles_and_refuse_stale_short_or_overlapping_ones() {
        let x = filled(&[-1.0, 2.0, -3.0, 4.0]);
        let out = tensor_alloc(16, true);
        assert_eq!(relu(x, out, 4), OK);
        assert_eq!(read(out, 4), vec![0.0, 2.0, 0.0, 4.0]);
        // The output may not be an input.
        assert_eq!(relu(x, x, 4), INVALID);
        assert!(last_error().contains("must not overlap"));
        assert_eq!(read(x, 4), vec![-1.0, 2.0, -3.0, 4.0]);
        // Longer than the allocation.
        assert_eq!(relu(x, out, 5), INVALID);
        assert!(last_error().contains("holds 16 bytes, the kernel needs 20"));
        // A freed handle, and an address in place of a handle.
        let (addr, _) = memory::resolve(x).unwrap();
        assert_eq!(tensor_free(x), OK);
        assert_eq!(relu(x, out, 4), INVALID);
        assert!(last_error().contains("not a live allocation"));
        assert_eq!(relu(addr as u32, out, 4), INVALID);
        assert_eq!(tensor_free(x), INVALID);
        assert_eq!(tensor_address(x), 0);
        assert_eq!(tensor_free(out), OK);
    }

    #[test]
    fn distinct_refuses_any_overlap() {
        let a = Arg { ptr: 1024, len: 8 };
        let inside = Arg { ptr: 1040, len: 2 };
        let after = Arg { ptr: 1056, len: 4 };
        let empty = Arg { ptr: 1040, len: 0 };
        assert!(distinct(&a, &[&inside]).is_err());
        assert!(distinct(&inside, &[&a]).is_err());
        assert!(distinct(&a, &[&after]).is_ok());
        assert!(distinct(&empty, &[&a]).is_ok());
    }
}
