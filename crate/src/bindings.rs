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

use crate::engine;
use crate::conv::{self, ConvShape};
use crate::pointwise::{self, Reduce};
use crate::winograd;
use crate::{gather as gather_kernel, gemm, lie, memory, peak as peak_kernel};
#[cfg(feature = "testing")]
use crate::vmath;
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
#[derive(Clone, Copy)]
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

/// Bytes the kernels' scratch buffer holds ([`crate::scratch`]).
#[wasm_bindgen]
pub fn scratch_bytes() -> u32 {
    crate::scratch::bytes() as u32
}

/// Frees the kernels' scratch; the facade calls it after a trap, so nothing is left behind.
#[wasm_bindgen]
pub fn scratch_reset() {
    crate::scratch::reset()
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

/// Packs `groups` row-major matrices `[k, n]`, stored one after another at `b`, into `out`
/// (`groups * packed_b_len(k, n)` f32): the block-diagonal layers of per-head MLPs.
#[wasm_bindgen]
pub fn pack_groups(b: u32, k: u32, n: u32, groups: u32, out: u32) -> u32 {
    let run = || -> Result<(), String> {
        let one = gemm::packed_len(k as usize, n as usize);
        let ba = arg("pack_groups: B", b, mul(k, n).and_then(|v| v.checked_mul(groups as usize)))?;
        let oa = arg("pack_groups: out", out, one.checked_mul(groups as usize))?;
        distinct(&oa, &[&ba])?;
        let (src, dst) = unsafe { (slice(&ba), slice_mut(&oa)) };
        let (k, n) = (k as usize, n as usize);
        for g in 0..groups as usize {
            gemm::pack_b(&src[g * k * n..(g + 1) * k * n], k, n, n, &mut dst[g * one..(g + 1) * one]);
        }
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

/// `out = e^x` over `len` values by one of the crate's `exp`s: `kind` 0 the four-lane [`vmath::exp4`]
/// (a remainder of fewer than four in scalar), 1 the scalar [`vmath::exp`], 2 the four-lane
/// [`vmath::exp_nonpos4`], 3 the scalar [`vmath::exp_nonpos`]. Test builds only: it lets the
/// tests compare the SIMD code the browser runs with its scalar twin and with f64.
#[cfg(feature = "testing")]
#[wasm_bindgen]
pub fn exp_reference(x: u32, out: u32, len: u32, kind: u32) -> u32 {
    let run = || -> Result<(), String> {
        let xin = arg("exp_reference: x", x, Some(len as usize))?;
        let o = arg("exp_reference: out", out, Some(len as usize))?;
        distinct(&o, &[&xin])?;
        let (x, o) = unsafe { (slice(&xin), slice_mut(&o)) };
        match kind {
            0 => pointwise::map_lanes(x, o, vmath::exp4, vmath::exp),
            1 => o.iter_mut().zip(x).for_each(|(ov, xv)| *ov = vmath::exp(*xv)),
            2 => pointwise::map_lanes(x, o, vmath::exp_nonpos4, vmath::exp_nonpos),
            3 => o.iter_mut().zip(x).for_each(|(ov, xv)| *ov = vmath::exp_nonpos(*xv)),
            _ => return Err(format!("exp_reference: kind must be 0-3, got {kind}")),
        }
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
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

/// Layer norm over each row of `c` values (`rows x c`), with `gamma`, `beta` (`c`) and `eps`.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn layer_norm(x: u32, gamma: u32, beta: u32, out: u32, rows: u32, c: u32, eps: f32) -> u32 {
    let run = || -> Result<(), String> {
        if c == 0 || !(eps > 0.0) {
            return Err(format!("layer_norm: needs at least one channel and eps > 0, got {c} and {eps}"));
        }
        let xa = arg("layer_norm: x", x, mul(rows, c))?;
        let ga = arg("layer_norm: gamma", gamma, Some(c as usize))?;
        let ba = arg("layer_norm: beta", beta, Some(c as usize))?;
        let o = arg("layer_norm: out", out, mul(rows, c))?;
        distinct(&o, &[&xa, &ga, &ba])?;
        pointwise::layer_norm(unsafe { slice(&xa) }, rows as usize, c as usize, unsafe { slice(&ga) }, unsafe { slice(&ba) }, eps, unsafe { slice_mut(&o) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// `out = silu(x)` over `len` values.
#[wasm_bindgen]
pub fn silu(x: u32, out: u32, len: u32) -> u32 {
    let run = || -> Result<(), String> {
        let xin = arg("silu: x", x, Some(len as usize))?;
        let o = arg("silu: out", out, Some(len as usize))?;
        distinct(&o, &[&xin])?;
        pointwise::silu_all(unsafe { slice(&xin) }, unsafe { slice_mut(&o) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// `c (m x n) = act(a (m x k) . B + bias)` with B packed by [`pack_b`]; `act`: 0 none, 1 ReLU,
/// 2 SiLU, 3 `+ c` (c holds a residual on entry).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn gemm_act(m: u32, n: u32, k: u32, a: u32, b_packed: u32, bias: u32, c: u32, act: u32) -> u32 {
    match gemm_args("gemm_act", m, n, k, a, b_packed, gemm::packed_len(k as usize, n as usize), bias, c) {
        Ok((a_, b_, bias_, c_)) => {
            let mut ep = gemm::Epilogue::columns(bias_.as_ref().map(|b| unsafe { slice(b) }), false);
            match act {
                0 => {}
                1 => ep = ep.then(gemm::Op::Relu),
                2 => ep = ep.then(gemm::Op::Silu),
                // A residual: C already holds it, the product is added to it.
                3 => ep = ep.then(gemm::Op::Accumulate),
                _ => return fail(format!("gemm_act: unknown activation {act} (0 none, 1 relu, 2 silu, 3 + C)")),
            }
            let (m, n, k) = (m as usize, n as usize, k as usize);
            gemm::gemm(m, n, k, unsafe { slice(&a_) }, k, unsafe { slice(&b_) }, ep, unsafe { slice_mut(&c_) }, n);
            OK
        }
        Err(e) => fail(e),
    }
}

/// Rows of `x` (`[m, c]`) reduced per segment id (`seg`, u32; `u32::MAX` skipped) into `out`
/// (`[segments, c]`); `op`: 0 max, 1 mean.
#[wasm_bindgen]
pub fn segment_reduce(x: u32, seg: u32, out: u32, m: u32, c: u32, segments: u32, op: u32) -> u32 {
    let run = || -> Result<(), String> {
        let op = reduce_op(op)?;
        let xa = arg("segment_reduce: x", x, mul(m, c))?;
        let sa = arg("segment_reduce: segments", seg, Some(m as usize))?;
        let o = arg("segment_reduce: out", out, mul(segments, c))?;
        distinct(&o, &[&xa, &sa])?;
        let ids = unsafe { slice_u32(&sa) };
        if let Some((e, &s)) = ids.iter().enumerate().find(|(_, &s)| s != u32::MAX && s >= segments) {
            return Err(format!("segment_reduce: element {e} is in segment {s}, not below {segments}"));
        }
        pointwise::segment_reduce(unsafe { slice(&xa) }, m as usize, c as usize, ids, segments as usize, op, unsafe { slice_mut(&o) });
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
    // Trap while holding kernel scratch, as a kernel would: the facade must free it afterwards.
    crate::scratch::with(1 << 16, true, |_| panic!("trap_for_test: deliberate trap"))
}

// ---------------------------------------------------------------------------------------------
// Lie groups (crate::lie): elements and Lie-algebra vectors are f64; lists are u32.

/// A checked f64 operand of `len` values.
fn arg64(name: &str, ptr: u32, len: Option<usize>) -> Result<Arg, String> {
    let len = len.ok_or_else(|| format!("{name}: size overflows the 32-bit address space"))?;
    let halves = len.checked_mul(2).ok_or_else(|| format!("{name}: size overflows"))?;
    // `len` stays in 4-byte units (what `range` and `distinct` measure); `slice64` halves it.
    let a = arg(name, ptr, Some(halves))?;
    if a.ptr % 8 != 0 {
        return Err(format!("{name}: pointer {} is not 8-byte aligned", a.ptr));
    }
    Ok(a)
}

unsafe fn slice64<'a>(a: &Arg) -> &'a [f64] {
    core::slice::from_raw_parts(a.ptr as *const f64, a.len / 2)
}
unsafe fn slice64_mut<'a>(a: &Arg) -> &'a mut [f64] {
    core::slice::from_raw_parts_mut(a.ptr as *mut f64, a.len / 2)
}
unsafe fn slice_u32<'a>(a: &Arg) -> &'a [u32] {
    core::slice::from_raw_parts(a.ptr as *const u32, a.len)
}
unsafe fn slice_u32_mut<'a>(a: &Arg) -> &'a mut [u32] {
    core::slice::from_raw_parts_mut(a.ptr as *mut u32, a.len)
}

fn lie_kind(code: u32) -> Result<lie::Kind, String> {
    lie::Kind::from_code(code).ok_or_else(|| format!("unknown Lie group code {code}"))
}

fn elements_arg(name: &str, k: lie::Kind, ptr: u32, count: u32) -> Result<Arg, String> {
    arg64(name, ptr, (count as usize).checked_mul(k.n() * k.n()))
}

/// Checks a compressed list: `offsets` (`m + 1`, from 0, non-decreasing, ending at `nnz`) and
/// `indices` (`nnz`, each below `limit`).
fn check_lists(name: &str, offsets: &[u32], indices: &[u32], limit: usize) -> Result<(), String> {
    if offsets.first() != Some(&0) || *offsets.last().unwrap_or(&1) as usize != indices.len() {
        return Err(format!("{name}: offsets must start at 0 and end at {} (the number of pairs)", indices.len()));
    }
    if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
        return Err(format!("{name}: offsets decrease at {i}"));
    }
    if let Some((i, &v)) = indices.iter().enumerate().find(|(_, &v)| v as usize >= limit) {
        return Err(format!("{name}: indices[{i}] = {v} is not below {limit}"));
    }
    Ok(())
}

/// `exp` of `count` Lie-algebra vectors (`a` f64 each) into elements (`n*n` f64 each).
#[wasm_bindgen]
pub fn lie_exp(kind: u32, v: u32, count: u32, out: u32) -> u32 {
    let run = || -> Result<(), String> {
        let k = lie_kind(kind)?;
        let va = arg64("lie_exp: v", v, (count as usize).checked_mul(k.a()))?;
        let o = elements_arg("lie_exp: out", k, out, count)?;
        distinct(&o, &[&va])?;
        let (vs, os) = unsafe { (slice64(&va), slice64_mut(&o)) };
        if let Some(i) = vs.iter().position(|x| !x.is_finite()) {
            return Err(format!("lie_exp: v[{i}] is not finite"));
        }
        let (a, nn) = (k.a(), k.n() * k.n());
        for e in 0..count as usize {
            lie::exp(k, &vs[e * a..(e + 1) * a], &mut os[e * nn..(e + 1) * nn]);
        }
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// `log` of `count` elements into Lie-algebra vectors.
#[wasm_bindgen]
pub fn lie_log(kind: u32, g: u32, count: u32, out: u32) -> u32 {
    let run = || -> Result<(), String> {
        let k = lie_kind(kind)?;
        let ga = elements_arg("lie_log: g", k, g, count)?;
        let o = arg64("lie_log: out", out, (count as usize).checked_mul(k.a()))?;
        distinct(&o, &[&ga])?;
        let (gs, os) = unsafe { (slice64(&ga), slice64_mut(&o)) };
        let (a, nn) = (k.a(), k.n() * k.n());
        for e in 0..count as usize {
            lie::log(k, &gs[e * nn..(e + 1) * nn], &mut os[e * a..(e + 1) * a]);
        }
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// `u g` for each of `count` elements `g`.
#[wasm_bindgen]
pub fn lie_compose_left(kind: u32, u: u32, g: u32, count: u32, out: u32) -> u32 {
    let run = || -> Result<(), String> {
        let k = lie_kind(kind)?;
        let ua = elements_arg("lie_compose_left: u", k, u, 1)?;
        let ga = elements_arg("lie_compose_left: g", k, g, count)?;
        let o = elements_arg("lie_compose_left: out", k, out, count)?;
        distinct(&o, &[&ua, &ga])?;
        lie::compose_left(k, unsafe { slice64(&ua) }, unsafe { slice64(&ga) }, count as usize, unsafe { slice64_mut(&o) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// `log(g_i^-1 g_j)` for every pair of `count` elements: `count^2 * a` f64, row-major.
#[wasm_bindgen]
pub fn lie_pairwise_log(kind: u32, g: u32, count: u32, out: u32) -> u32 {
    let run = || -> Result<(), String> {
        let k = lie_kind(kind)?;
        let m = count as usize;
        let ga = elements_arg("lie_pairwise_log: g", k, g, count)?;
        let o = arg64("lie_pairwise_log: out", out, m.checked_mul(m).and_then(|v| v.checked_mul(k.a())))?;
        distinct(&o, &[&ga])?;
        let (gs, os) = unsafe { (slice64(&ga), slice64_mut(&o)) };
        let (a, nn) = (k.a(), k.n() * k.n());
        for i in 0..m {
            for j in 0..m {
                lie::rel_log(k, &gs[i * nn..(i + 1) * nn], &gs[j * nn..(j + 1) * nn], &mut os[(i * m + j) * a..(i * m + j + 1) * a]);
            }
        }
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// Uniform numbers [`lie_lift`] draws for `count` points of `samples` elements.
#[wasm_bindgen]
pub fn lie_uniforms_needed(kind: u32, count: u32, samples: u32) -> u32 {
    lie::Kind::from_code(kind).map_or(0, |k| lie::uniforms_needed(k, count as usize, samples as usize) as u32)
}

/// Lifts `count` points (`d` f64 each) to `samples` elements each ([`crate::lie::lift`]);
/// randomness from `seed` (mulberry32) when `uniforms` is 0, else from `uniforms_len` numbers
/// there. `orbit` (0 for none; required for SO(d)) receives `|x|` per element.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn lie_lift(kind: u32, points: u32, count: u32, samples: u32, seed: u32, uniforms: u32, uniforms_len: u32, out: u32, orbit: u32) -> u32 {
    let run = || -> Result<(), String> {
        let k = lie_kind(kind)?;
        let m = (count as usize).checked_mul(samples as usize).ok_or("lie_lift: size overflows")?;
        let pa = arg64("lie_lift: points", points, (count as usize).checked_mul(k.d()))?;
        let o = arg64("lie_lift: out", out, m.checked_mul(k.n() * k.n()))?;
        let oa = if k.has_orbit() { Some(arg64("lie_lift: orbit", orbit, Some(m))?) } else { None };
        distinct(&o, &[&pa])?;
        let ua = if uniforms == 0 { None } else { Some(arg64("lie_lift: uniforms", uniforms, Some(uniforms_len as usize))?) };
        let mut src = match &ua {
            None => lie::Uniforms::Seeded(seed),
            Some(a) => lie::Uniforms::Given { values: unsafe { slice64(a) }, at: 0 },
        };
        let mut none: [f64; 0] = [];
        let orb = match &oa {
            Some(a) => unsafe { slice64_mut(a) },
            None => &mut none[..],
        };
        lie::lift(k, unsafe { slice64(&pa) }, count as usize, samples as usize, &mut src, unsafe { slice64_mut(&o) }, orb)
    };
    run().map_or_else(fail, |()| OK)
}

/// Lifts `batch` clouds of `count` points each (`[batch, count, d]` f64) with `samples` elements
/// per point ([`crate::lie::lift_clouds`]): the seeded stream restarts per cloud; `mask`
/// (`[batch, count]` f32 of 1 and 0; 0 for none) leaves absent points out of it.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn lie_lift_clouds(kind: u32, points: u32, batch: u32, count: u32, mask: u32, samples: u32, seed: u32, out: u32, orbit: u32) -> u32 {
    let run = || -> Result<(), String> {
        let k = lie_kind(kind)?;
        let n = mul(batch, count).ok_or("lie_lift_clouds: size overflows")?;
        let m = n.checked_mul(samples as usize).ok_or("lie_lift_clouds: size overflows")?;
        let pa = arg64("lie_lift_clouds: points", points, n.checked_mul(k.d()))?;
        let ma = opt_arg("lie_lift_clouds: mask", mask, n)?;
        let o = arg64("lie_lift_clouds: out", out, m.checked_mul(k.n() * k.n()))?;
        let oa = if k.has_orbit() { Some(arg64("lie_lift_clouds: orbit", orbit, Some(m))?) } else { None };
        distinct(&o, &[&pa])?;
        if let Some(ma) = &ma {
            distinct(&o, &[ma])?;
        }
        let mut none: [f64; 0] = [];
        let orb = match &oa {
            Some(a) => unsafe { slice64_mut(a) },
            None => &mut none[..],
        };
        lie::lift_clouds(k, unsafe { slice64(&pa) }, batch as usize, count as usize, ma.as_ref().map(|a| unsafe { slice(a) }), samples as usize, seed, unsafe { slice64_mut(&o) }, orb)
    };
    run().map_or_else(fail, |()| OK)
}

/// Pairs [`neighbours_global`] writes for these cloud ids.
#[wasm_bindgen]
pub fn neighbours_global_len(cloud: u32, m: u32) -> f64 {
    match arg("neighbours_global_len: cloud", cloud, Some(m as usize)) {
        Ok(c) => lie::global_len(unsafe { slice_u32(&c) }) as f64,
        Err(e) => {
            fail(e);
            -1.0
        }
    }
}

/// Every element of each element's cloud (`cloud[e]`; `u32::MAX` = masked).
#[wasm_bindgen]
pub fn neighbours_global(cloud: u32, m: u32, offsets: u32, indices: u32, nnz: u32) -> u32 {
    let run = || -> Result<(), String> {
        let c = arg("neighbours_global: cloud", cloud, Some(m as usize))?;
        let need = lie::global_len(unsafe { slice_u32(&c) });
        if need != nnz as u64 {
            return Err(format!("neighbours_global: these clouds have {need} pairs, room was made for {nnz}"));
        }
        let o = arg("neighbours_global: offsets", offsets, Some(m as usize + 1))?;
        let i = arg("neighbours_global: indices", indices, Some(need as usize))?;
        distinct(&o, &[&c, &i])?;
        distinct(&i, &[&c])?;
        lie::global(unsafe { slice_u32(&c) }, unsafe { slice_u32_mut(&o) }, unsafe { slice_u32_mut(&i) })
    };
    run().map_or_else(fail, |()| OK)
}

fn cloud_args(op: &str, kind: u32, g: u32, orbit: u32, cloud: u32, m: u32) -> Result<(lie::Kind, Arg, Option<Arg>, Arg), String> {
    let k = lie_kind(kind)?;
    let ga = elements_arg(&format!("{op}: elements"), k, g, m)?;
    let oa = if k.has_orbit() { Some(arg64(&format!("{op}: orbit"), orbit, Some(m as usize))?) } else { None };
    let ca = arg(&format!("{op}: cloud"), cloud, Some(m as usize))?;
    Ok((k, ga, oa, ca))
}

/// The `k` nearest elements of each element's cloud by the distance of [`crate::lie`] (weight
/// `alpha` on the rotation part): `offsets` (`m + 1`), `indices` (room for `m * k`), and, when
/// `coords` is not 0, the pairs' relative coordinates (room for `m * k * pair_coords_width`).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn neighbours_knn(kind: u32, g: u32, orbit: u32, cloud: u32, m: u32, k: u32, alpha: f64, offsets: u32, indices: u32, coords: u32) -> u32 {
    let run = || -> Result<(), String> {
        let (kd, ga, oa, ca) = cloud_args("neighbours_knn", kind, g, orbit, cloud, m)?;
        let o = arg("neighbours_knn: offsets", offsets, Some(m as usize + 1))?;
        let i = arg("neighbours_knn: indices", indices, (m as usize).checked_mul(k as usize))?;
        distinct(&o, &[&ca, &i])?;
        distinct(&i, &[&ca])?;
        if !(0.0..=1.0).contains(&alpha) {
            return Err(format!("neighbours_knn: alpha must be in [0, 1], got {alpha}"));
        }
        let co = if coords == 0 { None } else { Some(arg("neighbours_knn: coords", coords, (m as usize).checked_mul(k as usize).and_then(|v| v.checked_mul(lie::coords_width(kd))))?) };
        if let Some(co) = &co {
            distinct(co, &[&o, &i, &ca, &ga])?;
        }
        let c = lie::Cloud { kind: kd, elements: unsafe { slice64(&ga) }, orbit: oa.as_ref().map(|a| unsafe { slice64(a) }), cloud: unsafe { slice_u32(&ca) }, alpha };
        lie::knn(&c, k as usize, unsafe { slice_u32_mut(&o) }, unsafe { slice_u32_mut(&i) }, co.as_ref().map(|a| unsafe { slice_mut(a) }))
    };
    run().map_or_else(fail, |()| OK)
}

/// The elements of each element's cloud within `radius`; returns the number of pairs (written
/// only when `capacity` holds them all), a count over `limit` when there are more than `limit`
/// (counting stops there), or `u32::MAX` on a refused call.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn neighbours_within(kind: u32, g: u32, orbit: u32, cloud: u32, m: u32, radius: f64, alpha: f64, offsets: u32, indices: u32, capacity: u32, limit: u32) -> u32 {
    let run = || -> Result<u32, String> {
        let (kd, ga, oa, ca) = cloud_args("neighbours_within", kind, g, orbit, cloud, m)?;
        let o = arg("neighbours_within: offsets", offsets, Some(m as usize + 1))?;
        let i = if capacity == 0 { None } else { Some(arg("neighbours_within: indices", indices, Some(capacity as usize))?) };
        distinct(&o, &[&ca])?;
        if let Some(i) = &i {
            distinct(i, &[&ca, &o])?;
        }
        if !(0.0..=1.0).contains(&alpha) || !(radius >= 0.0) {
            return Err(format!("neighbours_within: alpha must be in [0, 1] and radius non-negative, got {alpha} and {radius}"));
        }
        let c = lie::Cloud { kind: kd, elements: unsafe { slice64(&ga) }, orbit: oa.as_ref().map(|a| unsafe { slice64(a) }), cloud: unsafe { slice_u32(&ca) }, alpha };
        let mut empty: [u32; 0] = [];
        let out = match &i {
            Some(a) => unsafe { slice_u32_mut(a) },
            None => &mut empty[..],
        };
        let n = lie::within(&c, radius, unsafe { slice_u32_mut(&o) }, out, limit as usize);
        // Past u32, still a count over any limit (u32::MAX itself means refused).
        Ok(n.min(u32::MAX as usize - 1) as u32)
    };
    run().unwrap_or_else(|e| {
        fail(e);
        u32::MAX
    })
}

/// Values per pair [`pair_coords`] writes (`a`, plus the two orbits for SO(d)).
#[wasm_bindgen]
pub fn pair_coords_width(kind: u32) -> u32 {
    lie::Kind::from_code(kind).map_or(0, |k| lie::coords_width(k) as u32)
}

/// `[log(g^-1 g'), q, q']` as f32 for every pair of a compressed list over `m` elements.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn pair_coords(kind: u32, g: u32, orbit: u32, m: u32, offsets: u32, indices: u32, nnz: u32, out: u32) -> u32 {
    let run = || -> Result<(), String> {
        let k = lie_kind(kind)?;
        let ga = elements_arg("pair_coords: elements", k, g, m)?;
        let oa = if k.has_orbit() { Some(arg64("pair_coords: orbit", orbit, Some(m as usize))?) } else { None };
        let off = arg("pair_coords: offsets", offsets, Some(m as usize + 1))?;
        let idx = arg("pair_coords: indices", indices, Some(nnz as usize))?;
        let o = arg("pair_coords: out", out, (nnz as usize).checked_mul(lie::coords_width(k)))?;
        distinct(&o, &[&ga, &off, &idx])?;
        let (offs, ids) = unsafe { (slice_u32(&off), slice_u32(&idx)) };
        check_lists("pair_coords", offs, ids, m as usize)?;
        let cloud = vec![0u32; 0];
        let c = lie::Cloud { kind: k, elements: unsafe { slice64(&ga) }, orbit: oa.as_ref().map(|a| unsafe { slice64(a) }), cloud: &cloud, alpha: 0.0 };
        lie::pair_coords(&c, offs, ids, unsafe { slice_mut(&o) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

// ---------------------------------------------------------------------------------------------
// The Phi engine (crate::engine), driven by a plan of u32 words written by ts/omega/engine.ts.

/// Version word of the plan layout (ASCII "PHI1").
pub const PLAN_VERSION: u32 = 0x5048_4931;
/// Words before the layers, and per layer.
pub const PLAN_HEADER: usize = 40;
pub const PLAN_LAYER: usize = 6;

struct Words<'a>(&'a [u32]);

impl Words<'_> {
    fn at(&self, i: usize) -> usize {
        self.0[i] as usize
    }
}

fn product(xs: &[usize]) -> Option<usize> {
    xs.iter().try_fold(1usize, |a, &b| a.checked_mul(b))
}

/// Reads the layers `first..first+count` of the plan into an MLP (their operands go to `seen`).
fn plan_mlp<'a>(w: &Words, first: usize, count: usize, flags: usize, seen: &mut Vec<Arg>) -> Result<engine::Mlp<'a>, String> {
    let mut layers = Vec::with_capacity(count);
    for i in 0..count {
        let at = PLAN_HEADER + (first + i) * PLAN_LAYER;
        let (inp, out, groups, act) = (w.at(at), w.at(at + 1), w.at(at + 2), w.at(at + 3));
        if groups == 0 || inp % groups != 0 || out % groups != 0 || inp == 0 || out == 0 {
            return Err(format!("phi_engine: MLP layer {i} ({inp} -> {out} in {groups} groups) is malformed"));
        }
        let act = engine::Act::from_code(act as u32).ok_or_else(|| format!("phi_engine: MLP layer {i}: unknown activation {act}"))?;
        let wa = arg(&format!("phi_engine: MLP layer {i} weights"), w.0[at + 4], Some(engine::Dense::packed_len(inp, out, groups)))?;
        let ba = opt_arg(&format!("phi_engine: MLP layer {i} bias"), w.0[at + 5], out)?;
        seen.push(wa);
        seen.extend(ba);
        layers.push(engine::Dense { inp, out, groups, w: unsafe { slice(&wa) }, bias: ba.as_ref().map(|b| unsafe { slice(b) }), act });
    }
    Ok(engine::Mlp { layers, uses_rel: flags & 1 != 0, uses_fg: flags & 2 != 0, uses_fgp: flags & 4 != 0 })
}

/// Runs the engine on the plan of `words` u32 at `plan` (layout in ts/omega/engine.ts; every
/// pointer and size is checked here before anything runs).
#[wasm_bindgen]
pub fn phi_engine(plan: u32, words: u32) -> u32 {
    let run = || -> Result<(), String> {
        let pa = arg("phi_engine: plan", plan, Some(words as usize))?;
        let w = Words(unsafe { slice_u32(&pa) });
        if w.0.len() < PLAN_HEADER || w.0[0] != PLAN_VERSION {
            return Err("phi_engine: not a plan of this version".into());
        }
        let (mode, batch, m_out, m_in, c_in, c_out) = (w.at(1), w.at(2), w.at(3), w.at(4), w.at(5), w.at(6));
        let layers = w.at(25);
        if w.0.len() != PLAN_HEADER + layers * PLAN_LAYER {
            return Err(format!("phi_engine: a plan with {layers} MLP layers has {} words, got {}", PLAN_HEADER + layers * PLAN_LAYER, w.0.len()));
        }
        let fs = engine::Strides { batch: w.at(8), elem: w.at(9), chan: w.at(10) };
        let os = engine::Strides { batch: w.at(12), elem: w.at(13), chan: w.at(14) };
        let f_len = fs.extent(batch, m_in, c_in).ok_or("phi_engine: feature strides overflow")?;
        let o_len = os.extent(batch, m_out, c_out).ok_or("phi_engine: output strides overflow")?;
        let fa = arg("phi_engine: features", w.0[7], Some(f_len))?;
        let oa = arg("phi_engine: out", w.0[11], Some(o_len))?;
        let nnz = w.at(17);
        let off = arg("phi_engine: offsets", w.0[15], Some(m_out + 1))?;
        let idx = arg("phi_engine: indices", w.0[16], Some(nnz))?;
        let mut rel = engine::Rel::default();
        let mut rel_args = Vec::new();
        if w.0[18] != 0 {
            let ra = arg("phi_engine: relative indices", w.0[18], Some(nnz))?;
            rel.index = Some((unsafe { slice_u32(&ra) }, w.at(19)));
            rel_args.push(ra);
        }
        if w.0[20] != 0 {
            let width = w.at(21);
            let ca = arg("phi_engine: relative coordinates", w.0[20], nnz.checked_mul(width))?;
            rel.coords = Some((unsafe { slice(&ca) }, width));
            rel_args.push(ca);
        }
        let norm = engine::Norm::from_code(w.0[22]).ok_or("phi_engine: unknown normaliser")?;
        let bias = opt_arg("phi_engine: bias", w.0[23], c_out)?;
        let act = engine::Act::from_code(w.0[24]).ok_or("phi_engine: unknown activation")?;
        let flags = w.at(26);
        let mut seen: Vec<Arg> = vec![pa, fa, off, idx];
        seen.extend(bias);
        let mlp = if layers > 0 { Some(plan_mlp(&w, 0, layers, flags, &mut seen)?) } else { None };
        let mode = match mode {
            0 => {
                let m = w.at(27);
                let wa = arg("phi_engine: basis weights", w.0[28], product(&[c_out.div_ceil(gemm::NR), gemm::NR, m, c_in]))?;
                seen.push(wa);
                let wv = unsafe { slice(&wa) };
                engine::Mode::Basis { mlp, m, w: wv, bias: bias.as_ref().map(|b| unsafe { slice(b) }), act, norm }
            }
            1 => engine::Mode::Matrix { mlp: mlp.ok_or("phi_engine: matrix mode needs an MLP")?, bias: bias.as_ref().map(|b| unsafe { slice(b) }), act, norm },
            2 => {
                let (heads, dv, dk) = (w.at(29), w.at(30), w.at(32));
                let va = arg("phi_engine: values", w.0[31], product(&[batch, m_in, heads, dv]))?;
                seen.push(va);
                let content = if dk > 0 {
                    let qa = arg("phi_engine: queries", w.0[33], product(&[batch, m_out, heads, dk]))?;
                    let ka = arg("phi_engine: keys", w.0[34], product(&[batch, m_in, heads, dk]))?;
                    seen.push(qa);
                    seen.push(ka);
                    Some(engine::Content { dk, q: unsafe { slice(&qa) }, k: unsafe { slice(&ka) }, scale: f32::from_bits(w.0[35]) })
                } else {
                    None
                };
                let location = match w.0[36] {
                    0 => engine::Location::None,
                    1 => {
                        let ta = arg("phi_engine: location table", w.0[37], product(&[heads, w.at(19)]))?;
                        seen.push(ta);
                        engine::Location::Table(unsafe { slice(&ta) })
                    }
                    2 => engine::Location::Mlp(mlp.ok_or("phi_engine: a location MLP needs MLP layers")?),
                    l => return Err(format!("phi_engine: unknown location term {l}")),
                };
                let combine = match w.0[38] {
                    0 => engine::Combine::Sum,
                    1 => engine::Combine::Product,
                    c => return Err(format!("phi_engine: unknown combination {c} (0 sum, 1 product)")),
                };
                engine::Mode::Heads { heads, dv, v: unsafe { slice(&va) }, content, location, combine, norm }
            }
            m => return Err(format!("phi_engine: unknown mode {m}")),
        };
        seen.extend(rel_args);
        distinct(&oa, &seen.iter().collect::<Vec<_>>())?;
        let p = engine::Plan { batch, m_out, m_in, c_in, c_out, f: unsafe { slice(&fa) }, fs, os, offsets: unsafe { slice_u32(&off) }, indices: unsafe { slice_u32(&idx) }, rel, mode };
        p.validate(oa.len).map_err(|e| format!("phi_engine: {e}"))?;
        engine::run(&p, unsafe { slice_mut(&oa) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
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

// ---------------------------------------------------------------------------------------------
// The space of equivariant linear maps (crate::nullspace), in f64, and the per-row kernels of the
// equivariant MLP layers (crate::repwise). A problem is `k` factor extents (`dims`, u32) and, for
// each element or constraint, `k` row-major factor matrices one after another (f64).

use crate::{nullspace, repwise};

/// The factor extents, their product `n` (bounded by `max_n`) and the f64 per element (`sum d^2`).
fn space_dims(op: &str, dims: u32, k: u32, max_n: usize) -> Result<(Vec<usize>, usize, usize), String> {
    if k == 0 || k > 64 {
        return Err(format!("{op}: {k} factors; expected 1..64"));
    }
    let da = arg(&format!("{op}: dims"), dims, Some(k as usize))?;
    let ds: Vec<usize> = unsafe { slice_u32(&da) }.iter().map(|&d| d as usize).collect();
    let mut n = 1usize;
    let mut per = 0usize;
    for &d in &ds {
        if d == 0 || d > 1 << 16 {
            return Err(format!("{op}: a factor of extent {d}; expected 1..65536"));
        }
        n = n.checked_mul(d).filter(|&v| v <= max_n).ok_or_else(|| format!("{op}: the factors' product exceeds {max_n}"))?;
        per += d * d;
    }
    Ok((ds, n, per))
}

/// `count` elements' factor matrices as Kronecker products; non-finite entries are refused.
fn space_krons(op: &str, ds: &[usize], per: usize, mats: u32, count: u32) -> Result<(Vec<nullspace::Kron>, Arg), String> {
    let ma = arg64(&format!("{op}: matrices"), mats, per.checked_mul(count as usize))?;
    let m = unsafe { slice64(&ma) };
    if let Some(i) = m.iter().position(|v| !v.is_finite()) {
        return Err(format!("{op}: matrix entry {i} is not finite"));
    }
    Ok(((0..count as usize).map(|e| nullspace::Kron::new(ds, &m[e * per..(e + 1) * per])).collect(), ma))
}

/// Largest problem the kernels accept (the facade's limits are lower).
const SPACE_MAX_N: usize = 1 << 26;

/// The orbits of signed-permutation generators on the `n` coordinates ([`nullspace::orbits`]):
/// `orbit` (u32, `n`), `value` (f64, `n`), and the number of orbits carrying a fixed vector in
/// `count` (u32, 1). A generator with a factor that is not a signed permutation is refused.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn space_orbits(dims: u32, k: u32, mats: u32, generators: u32, orbit: u32, value: u32, count: u32) -> u32 {
    let run = || -> Result<(), String> {
        let (ds, n, per) = space_dims("space_orbits", dims, k, SPACE_MAX_N)?;
        let (gens, ma) = space_krons("space_orbits", &ds, per, mats, generators)?;
        if let Some(g) = gens.iter().position(|g| !g.factors.iter().all(|f| f.is_signed())) {
            return Err(format!("space_orbits: generator {g} has a factor that is not a signed permutation"));
        }
        let oa = arg("space_orbits: orbit", orbit, Some(n))?;
        let va = arg64("space_orbits: value", value, Some(n))?;
        let ca = arg("space_orbits: count", count, Some(1))?;
        distinct(&oa, &[&ma, &va, &ca])?;
        distinct(&va, &[&ma, &ca])?;
        distinct(&ca, &[&ma])?;
        let c = nullspace::orbits(n, &gens, unsafe { slice_u32_mut(&oa) }, unsafe { slice64_mut(&va) });
        (unsafe { slice_u32_mut(&ca) })[0] = c as u32;
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// Writes an R2Conv's filter blocks (or Winograd weights) from the field pairs' computed values
/// (see [`crate::steer::scatter_blocks`]): `src` is `n_out*n_in x stride`; `table` (u32) and
/// `scales` (f32), `o*i*q` each, give every block entry's column and scale; `out_off` (u32,
/// `n_out`) and `in_off` (u32, `n_in`) place the blocks; the bank (`cout x cin x q`) is laid out
/// `[cout][cin][q]` (`winograd` false) or `[q][cout][cin]`.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn steer_scatter(src: u32, stride: u32, table: u32, scales: u32, o: u32, i: u32, q: u32, out_off: u32, n_out: u32, in_off: u32, n_in: u32, bank: u32, cout: u32, cin: u32, winograd: bool) -> u32 {
    let run = || -> Result<(), String> {
        let rows = mul(n_out, n_in);
        let s = arg("steer_scatter: src", src, rows.and_then(|r| r.checked_mul(stride as usize)))?;
        let block = mul(o, i).and_then(|v| v.checked_mul(q as usize));
        let t = arg("steer_scatter: table", table, block)?;
        let sc = arg("steer_scatter: scales", scales, block)?;
        let oo = arg("steer_scatter: out offsets", out_off, Some(n_out as usize))?;
        let io = arg("steer_scatter: in offsets", in_off, Some(n_in as usize))?;
        let len = mul(cout, cin).and_then(|v| v.checked_mul(q as usize));
        let f = arg("steer_scatter: bank", bank, len)?;
        distinct(&f, &[&s, &t, &sc, &oo, &io])?;
        // SAFETY: checked like f32 operands; u32 has the same size and alignment.
        let u32s = |a: &Arg| unsafe { core::slice::from_raw_parts(a.ptr as *const u32, a.len) };
        let b = crate::steer::Blocks { src: unsafe { slice(&s) }, stride: stride as usize, table: u32s(&t), scales: unsafe { slice(&sc) }, o_size: o as usize, i_size: i as usize, q_size: q as usize, out_off: u32s(&oo), in_off: u32s(&io) };
        let (co, ci, qs) = (cout as usize, cin as usize, q as usize);
        let l = if winograd { crate::steer::Layout { s_co: ci, s_ci: 1, s_q: co * ci, len: f.len } } else { crate::steer::Layout { s_co: ci * qs, s_ci: qs, s_q: 1, len: f.len } };
        crate::steer::check(&b, l, co, ci).map_err(|e| format!("steer_scatter: {e}"))?;
        crate::steer::scatter_blocks(&b, l, unsafe { slice_mut(&f) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// Writes Winograd weights `[r][cout][cin]` from a block basis in two factors
/// ([`crate::steer::scatter_factored`]): `v` (f32, `n_out*n_in x i*nphi`), `phi` (f32, `nphi x
/// o*r`), `comp` (u32) and `sign` (f32), `o*i` each; `out_off` (u32, `n_out`) and `in_off` (u32,
/// `n_in`) place the blocks.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn steer_scatter_factored(v: u32, nphi: u32, phi: u32, comp: u32, sign: u32, o: u32, i: u32, r: u32, out_off: u32, n_out: u32, in_off: u32, n_in: u32, bank: u32, cout: u32, cin: u32) -> u32 {
    let run = || -> Result<(), String> {
        let va = arg("steer_scatter_factored: v", v, mul(n_out, n_in).and_then(|p| p.checked_mul(i as usize)).and_then(|p| p.checked_mul(nphi as usize)))?;
        let pa = arg("steer_scatter_factored: phi", phi, mul(nphi, o).and_then(|p| p.checked_mul(r as usize)))?;
        let ca = arg("steer_scatter_factored: comp", comp, mul(o, i))?;
        let sa = arg("steer_scatter_factored: sign", sign, mul(o, i))?;
        let oo = arg("steer_scatter_factored: out offsets", out_off, Some(n_out as usize))?;
        let io = arg("steer_scatter_factored: in offsets", in_off, Some(n_in as usize))?;
        let ba = arg("steer_scatter_factored: bank", bank, mul(cout, cin).and_then(|p| p.checked_mul(r as usize)))?;
        distinct(&ba, &[&va, &pa, &ca, &sa, &oo, &io])?;
        // SAFETY: checked like f32 operands; u32 has the same size and alignment.
        let u32s = |a: &Arg| unsafe { core::slice::from_raw_parts(a.ptr as *const u32, a.len) };
        let f = crate::steer::Factored { v: unsafe { slice(&va) }, nphi: nphi as usize, phi: unsafe { slice(&pa) }, comp: u32s(&ca), sign: unsafe { slice(&sa) }, o_size: o as usize, i_size: i as usize, r_size: r as usize, out_off: u32s(&oo), in_off: u32s(&io) };
        crate::steer::check_factored(&f, cout as usize, cin as usize, ba.len).map_err(|e| format!("steer_scatter_factored: {e}"))?;
        crate::steer::scatter_factored(&f, cout as usize, cin as usize, unsafe { slice_mut(&ba) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// Fits row 0 of a block basis and checks every row ([`crate::steer::fit_rows`]): `f0` (f64,
/// `p x nphi`), `f` (f64, `o x p x nphi`), `basis` (f64, `d x o x i x p`), `comp` (u32, `o x i`),
/// `sign` (f64, `o x i`), writes `m` (f64, `d x i x nphi`) and `ok` (u32, 1: 1 when the fit
/// reproduces the basis within `tol`).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn steer_fit_rows(f0: u32, f: u32, basis: u32, comp: u32, sign: u32, d: u32, o: u32, i: u32, p: u32, nphi: u32, tol: f64, m: u32, ok: u32) -> u32 {
    let run = || -> Result<(), String> {
        let s = crate::steer::FitDims { d: d as usize, o: o as usize, i: i as usize, p: p as usize, nphi: nphi as usize };
        let f0a = arg64("steer_fit_rows: f0", f0, mul(p, nphi))?;
        let fa = arg64("steer_fit_rows: f", f, mul(o, p).and_then(|v| v.checked_mul(s.nphi)))?;
        let ba = arg64("steer_fit_rows: basis", basis, mul(d, o).and_then(|v| v.checked_mul(s.i)).and_then(|v| v.checked_mul(s.p)))?;
        let ca = arg("steer_fit_rows: comp", comp, mul(o, i))?;
        let sa = arg64("steer_fit_rows: sign", sign, mul(o, i))?;
        let ma = arg64("steer_fit_rows: m", m, mul(d, i).and_then(|v| v.checked_mul(s.nphi)))?;
        let oa = arg("steer_fit_rows: ok", ok, Some(1))?;
        distinct(&ma, &[&f0a, &fa, &ba, &ca, &sa, &oa])?;
        distinct(&oa, &[&f0a, &fa, &ba, &ca, &sa])?;
        // SAFETY: checked like f32 operands; u32 has the same size and alignment.
        let comps = unsafe { core::slice::from_raw_parts(ca.ptr as *const u32, ca.len) };
        if let Some(c) = comps.iter().find(|&&c| c >= i) {
            return Err(format!("steer_fit_rows: component {c} is not below {i}"));
        }
        let good = crate::steer::fit_rows(unsafe { slice64(&f0a) }, unsafe { slice64(&fa) }, unsafe { slice64(&ba) }, comps, unsafe { slice64(&sa) }, s, tol, unsafe { slice64_mut(&ma) });
        (unsafe { slice_u32_mut(&oa) })[0] = good as u32;
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// The orthonormal basis of the range of `P = S_m ... S_1` applied to `r` seeded random vectors
/// ([`nullspace::range`]). `counts` (u32, `stages`): elements per stage; `weights` (f64): one per
/// element; `mats`: their factor matrices. Writes `y` (f64, `r * n`; the first `rank` vectors
/// are the basis) and `info` (f64, 4: rank, largest initial norm, last kept and first dropped
/// pivot relative to it).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn space_range(dims: u32, k: u32, counts: u32, stages: u32, weights: u32, mats: u32, r: u32, seed: u32, tol: f64, y: u32, info: u32) -> u32 {
    let run = || -> Result<(), String> {
        let (ds, n, per) = space_dims("space_range", dims, k, SPACE_MAX_N)?;
        let ca = arg("space_range: counts", counts, Some(stages as usize))?;
        let cs: Vec<usize> = unsafe { slice_u32(&ca) }.iter().map(|&c| c as usize).collect();
        let total = cs.iter().try_fold(0usize, |a, &c| a.checked_add(c)).ok_or("space_range: element count overflows")?;
        let wa = arg64("space_range: weights", weights, Some(total))?;
        let (krons, ma) = space_krons("space_range", &ds, per, mats, total as u32)?;
        let ws = unsafe { slice64(&wa) };
        if let Some(i) = ws.iter().position(|v| !v.is_finite()) {
            return Err(format!("space_range: weight {i} is not finite"));
        }
        if r == 0 {
            return Err("space_range: r must be positive".into());
        }
        if !(tol > 0.0 && tol < 1.0) {
            return Err(format!("space_range: tol {tol} is not in (0, 1)"));
        }
        let ya = arg64("space_range: y", y, n.checked_mul(r as usize))?;
        let ia = arg64("space_range: info", info, Some(4))?;
        distinct(&ya, &[&ca, &wa, &ma, &ia])?;
        distinct(&ia, &[&ca, &wa, &ma])?;
        let mut it = krons.into_iter().zip(ws.iter().cloned());
        let st = nullspace::Stages { stages: cs.iter().map(|&c| it.by_ref().take(c).map(|(k, w)| (w, k)).collect()).collect() };
        let res = nullspace::range(&st, n, r as usize, seed, tol, unsafe { slice64_mut(&ya) });
        let out = unsafe { slice64_mut(&ia) };
        out.copy_from_slice(&[res.rank as f64, res.first, res.last_kept, res.first_dropped]);
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// Winograd F(2x2, 5x5) filter transform: `w` `[cout, cin, 5, 5]` into `u` `[36, cout, cin]`.
#[wasm_bindgen]
pub fn winograd5_weights(w: u32, cout: u32, cin: u32, u: u32) -> u32 {
    let run = || -> Result<(), String> {
        let cc = mul(cout, cin);
        let wt = arg("winograd5_weights: w", w, cc.and_then(|v| v.checked_mul(25)))?;
        let ut = arg("winograd5_weights: u", u, cc.and_then(|v| v.checked_mul(36)))?;
        distinct(&ut, &[&wt])?;
        crate::winograd5::transform_weights(unsafe { slice(&wt) }, cout as usize, cin as usize, unsafe { slice_mut(&ut) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// 5x5 stride-1 convolution with zero padding `pad` (0..=4) by Winograd F(2x2, 5x5); `u` from
/// [`winograd5_weights`], `bias` (0 for none) per output channel.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn conv5x5_winograd(x: u32, u: u32, bias: u32, out: u32, n: u32, cin: u32, h: u32, width: u32, cout: u32, pad: u32, relu: bool) -> u32 {
    let run = || -> Result<(), String> {
        if pad > 4 {
            return Err(format!("conv5x5_winograd: padding must be at most 4, got {pad}"));
        }
        let s = crate::winograd5::Shape { n: n as usize, cin: cin as usize, h: h as usize, w: width as usize, cout: cout as usize, pad: pad as usize };
        let xin = arg("conv5x5_winograd: x", x, mul(n, cin).and_then(|v| v.checked_mul(s.h * s.w)))?;
        let ut = arg("conv5x5_winograd: u", u, mul(cout, cin).and_then(|v| v.checked_mul(36)))?;
        let o = arg("conv5x5_winograd: out", out, mul(n, cout).and_then(|v| v.checked_mul(s.ho() * s.wo())))?;
        let b = opt_arg("conv5x5_winograd: bias", bias, s.cout)?;
        distinct(&o, &[&xin, &ut])?;
        if let Some(b) = &b {
            distinct(&o, &[b])?;
        }
        crate::winograd5::conv5x5(&s, unsafe { slice(&xin) }, unsafe { slice(&ut) }, None, b.as_ref().map(|b| unsafe { slice(b) }), relu, unsafe { slice_mut(&o) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// EMLP's dense method ([`nullspace::dense_nullspace`]) on at most 4096 unknowns: `kinds` (u32,
/// `count`): 0 for an element (`C = K - I`), 1 for a Lie-algebra generator (`C = sum_i I (x) X_i
/// (x) I`). Writes the null vectors to `basis` (f64, `n * n` capacity), the eigenvalues of
/// `sum C^T C` ascending to `values` (f64, `n`), and the null space's dimension to `rank` (u32).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn space_dense(dims: u32, k: u32, kinds: u32, count: u32, mats: u32, tol: f64, basis: u32, values: u32, rank: u32) -> u32 {
    let run = || -> Result<(), String> {
        let (ds, n, per) = space_dims("space_dense", dims, k, 4096)?;
        let ka = arg("space_dense: kinds", kinds, Some(count as usize))?;
        let ma = arg64("space_dense: matrices", mats, per.checked_mul(count as usize))?;
        let m = unsafe { slice64(&ma) };
        if let Some(i) = m.iter().position(|v| !v.is_finite()) {
            return Err(format!("space_dense: matrix entry {i} is not finite"));
        }
        let mut cons = Vec::new();
        for (c, &kind) in unsafe { slice_u32(&ka) }.iter().enumerate() {
            let mut at = c * per;
            let fs: Vec<Vec<f64>> = ds
                .iter()
                .map(|&d| {
                    let v = m[at..at + d * d].to_vec();
                    at += d * d;
                    v
                })
                .collect();
            cons.push(match kind {
                0 => nullspace::Constraint::Element(fs),
                1 => nullspace::Constraint::Algebra(fs),
                x => return Err(format!("space_dense: constraint kind {x}; expected 0 or 1")),
            });
        }
        if !(tol > 0.0 && tol < 1.0) {
            return Err(format!("space_dense: tol {tol} is not in (0, 1)"));
        }
        let ba = arg64("space_dense: basis", basis, Some(n * n))?;
        let va = arg64("space_dense: values", values, Some(n))?;
        let ra = arg("space_dense: rank", rank, Some(1))?;
        distinct(&ba, &[&ka, &ma, &va, &ra])?;
        distinct(&va, &[&ka, &ma, &ra])?;
        distinct(&ra, &[&ka, &ma])?;
        let mut b = Vec::new();
        let (r, w) = nullspace::dense_nullspace(&ds, &cons, tol, &mut b)?;
        (unsafe { slice64_mut(&ba) })[..b.len()].copy_from_slice(&b);
        (unsafe { slice64_mut(&va) }).copy_from_slice(&w);
        (unsafe { slice_u32_mut(&ra) })[0] = r as u32;
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// [`conv5x5_winograd`] with weights stored at a few Winograd coordinates (see
/// [`crate::winograd5::Sym`]): `u` is `reps x cout x cin`; `rep_of` (u32, 36); `in_perm`/`in_scale`
/// (u32/f32, `36 x cin`) and `out_perm`/`out_scale` (`36 x cout`).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn conv5x5_winograd_sym(x: u32, u: u32, reps: u32, rep_of: u32, in_perm: u32, in_scale: u32, out_perm: u32, out_scale: u32, bias: u32, out: u32, n: u32, cin: u32, h: u32, width: u32, cout: u32, pad: u32, relu: bool) -> u32 {
    let run = || -> Result<(), String> {
        if pad > 4 {
            return Err(format!("conv5x5_winograd_sym: padding must be at most 4, got {pad}"));
        }
        let s = crate::winograd5::Shape { n: n as usize, cin: cin as usize, h: h as usize, w: width as usize, cout: cout as usize, pad: pad as usize };
        let xin = arg("conv5x5_winograd_sym: x", x, mul(n, cin).and_then(|v| v.checked_mul(s.h * s.w)))?;
        let ut = arg("conv5x5_winograd_sym: u", u, mul(cout, cin).and_then(|v| v.checked_mul(reps as usize)))?;
        let ro = arg("conv5x5_winograd_sym: rep_of", rep_of, Some(36))?;
        let ip = arg("conv5x5_winograd_sym: in_perm", in_perm, (cin as usize).checked_mul(36))?;
        let is = arg("conv5x5_winograd_sym: in_scale", in_scale, (cin as usize).checked_mul(36))?;
        let op = arg("conv5x5_winograd_sym: out_perm", out_perm, (cout as usize).checked_mul(36))?;
        let os = arg("conv5x5_winograd_sym: out_scale", out_scale, (cout as usize).checked_mul(36))?;
        let o = arg("conv5x5_winograd_sym: out", out, mul(n, cout).and_then(|v| v.checked_mul(s.ho() * s.wo())))?;
        let b = opt_arg("conv5x5_winograd_sym: bias", bias, s.cout)?;
        distinct(&o, &[&xin, &ut, &ro, &ip, &is, &op, &os])?;
        if let Some(b) = &b {
            distinct(&o, &[b])?;
        }
        // SAFETY: checked like f32 operands; u32 has the same size and alignment.
        let u32s = |a: &Arg| unsafe { core::slice::from_raw_parts(a.ptr as *const u32, a.len) };
        let mut rep_of_arr = [0usize; 36];
        for (d, &r) in rep_of_arr.iter_mut().zip(u32s(&ro)) {
            *d = r as usize;
        }
        let sym = crate::winograd5::Sym { rep_of: rep_of_arr, reps: reps as usize, in_perm: u32s(&ip), in_scale: unsafe { slice(&is) }, out_perm: u32s(&op), out_scale: unsafe { slice(&os) } };
        sym.check(s.cout, s.cin).map_err(|e| format!("conv5x5_winograd_sym: {e}"))?;
        crate::winograd5::conv5x5(&s, unsafe { slice(&xin) }, unsafe { slice(&ut) }, Some(&sym), b.as_ref().map(|b| unsafe { slice(b) }), relu, unsafe { slice_mut(&o) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// Eigenvalues (ascending) and eigenvectors (one per row of `vectors`) of the symmetric `n x n`
/// matrix `a` (its lower triangle is read), by [`nullspace::sym_eigen`]; `n <= 4096`.
#[wasm_bindgen]
pub fn space_eigen(a: u32, n: u32, vectors: u32, values: u32) -> u32 {
    let run = || -> Result<(), String> {
        if n > 4096 {
            return Err(format!("space_eigen: n = {n} is over 4096"));
        }
        let nn = mul(n, n);
        let aa = arg64("space_eigen: a", a, nn)?;
        let xa = arg64("space_eigen: vectors", vectors, nn)?;
        let wa = arg64("space_eigen: values", values, Some(n as usize))?;
        distinct(&xa, &[&aa, &wa])?;
        distinct(&wa, &[&aa])?;
        let (src, dst) = unsafe { (slice64(&aa), slice64_mut(&xa)) };
        if let Some(i) = src.iter().position(|v| !v.is_finite()) {
            return Err(format!("space_eigen: entry {i} is not finite"));
        }
        dst.copy_from_slice(src);
        if !nullspace::sym_eigen(dst, n as usize, unsafe { slice64_mut(&wa) }) {
            return Err("space_eigen: the iteration did not converge".into());
        }
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// `g = V V^T` for `m` vectors of length `n` stored one after another in `v` (f64).
#[wasm_bindgen]
pub fn space_gram(v: u32, m: u32, n: u32, g: u32) -> u32 {
    let run = || -> Result<(), String> {
        let va = arg64("space_gram: v", v, mul(m, n))?;
        let ga = arg64("space_gram: g", g, mul(m, m))?;
        distinct(&ga, &[&va])?;
        nullspace::gram(unsafe { slice64(&va) }, m as usize, n as usize, unsafe { slice64_mut(&ga) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// `max |K_e b - b|` over `count` elements and the `b_count` vectors of `basis` (f64); into
/// `out` (f64, 1).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn space_residual(dims: u32, k: u32, mats: u32, count: u32, basis: u32, b_count: u32, out: u32) -> u32 {
    let run = || -> Result<(), String> {
        let (ds, n, per) = space_dims("space_residual", dims, k, SPACE_MAX_N)?;
        let (krons, ma) = space_krons("space_residual", &ds, per, mats, count)?;
        let ba = arg64("space_residual: basis", basis, n.checked_mul(b_count as usize))?;
        let oa = arg64("space_residual: out", out, Some(1))?;
        distinct(&oa, &[&ma, &ba])?;
        (unsafe { slice64_mut(&oa) })[0] = nullspace::residual(&krons, unsafe { slice64(&ba) }, n);
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// The gated nonlinearity ([`repwise::gated`]) on `rows` rows: `blocks` (u32, `3 * count`:
/// start, length, gate column or u32::MAX for SiLU).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn rep_gated(x: u32, rows: u32, width_in: u32, width_out: u32, blocks: u32, count: u32, out: u32) -> u32 {
    let run = || -> Result<(), String> {
        if width_out > width_in {
            return Err(format!("rep_gated: output width {width_out} exceeds the input's {width_in}"));
        }
        let xa = arg("rep_gated: x", x, mul(rows, width_in))?;
        let ba = arg("rep_gated: blocks", blocks, (count as usize).checked_mul(3))?;
        let oa = arg("rep_gated: out", out, mul(rows, width_out))?;
        distinct(&oa, &[&xa, &ba])?;
        let raw = unsafe { slice_u32(&ba) };
        let bs: Vec<repwise::Block> = raw.chunks_exact(3).map(|c| repwise::Block { start: c[0], len: c[1], gate: c[2] }).collect();
        repwise::check_blocks(&bs, width_in as usize, width_out as usize).map_err(|e| format!("rep_gated: {e}"))?;
        repwise::gated(unsafe { slice(&xa) }, rows as usize, width_in as usize, width_out as usize, &bs, unsafe { slice_mut(&oa) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// `out[r] = [x[r], x[r] (x) x[r]]` ([`repwise::tensor_square`]).
#[wasm_bindgen]
pub fn rep_tensor_square(x: u32, rows: u32, d: u32, out: u32) -> u32 {
    let run = || -> Result<(), String> {
        let w = (d as usize).checked_mul(d as usize).and_then(|v| v.checked_add(d as usize)).ok_or("rep_tensor_square: width overflows")?;
        let xa = arg("rep_tensor_square: x", x, mul(rows, d))?;
        let oa = arg("rep_tensor_square: out", out, (rows as usize).checked_mul(w))?;
        distinct(&oa, &[&xa])?;
        repwise::tensor_square(unsafe { slice(&xa) }, rows as usize, d as usize, unsafe { slice_mut(&oa) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}

/// Depthwise Gaussian blur with a stride (see [`crate::blur`]): `planes` maps of `h x w` (the
/// input itself for `pre` 0, or the 2x2 max (1) or mean (2) of a `(h+1) x (w+1)` input), the
/// normalised 1-D weights `g` (`taps`), zero padding `pad`; `out` is `planes x ho x wo`.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn blur2d(x: u32, g: u32, out: u32, planes: u32, h: u32, w: u32, taps: u32, stride: u32, pad: u32, pre: u32) -> u32 {
    let run = || -> Result<(), String> {
        let s = crate::blur::Shape { planes: planes as usize, h: h as usize, w: w as usize, taps: taps as usize, stride: stride as usize, pad: pad as usize };
        s.valid().map_err(|e| format!("blur2d: {e}"))?;
        let pre = match pre {
            0 => crate::blur::Pre::None,
            1 => crate::blur::Pre::Max2,
            2 => crate::blur::Pre::Mean2,
            _ => return Err(format!("blur2d: pre must be 0, 1 or 2, got {pre}")),
        };
        let (ih, iw) = if pre == crate::blur::Pre::None { (h, w) } else { (h + 1, w + 1) };
        let xin = arg("blur2d: x", x, mul(planes, ih).and_then(|v| v.checked_mul(iw as usize)))?;
        let gt = arg("blur2d: g", g, Some(taps as usize))?;
        let o = arg("blur2d: out", out, (planes as usize).checked_mul(s.ho()).and_then(|v| v.checked_mul(s.wo())))?;
        distinct(&o, &[&xin, &gt])?;
        crate::blur::blur(&s, pre, unsafe { slice(&xin) }, unsafe { slice(&gt) }, unsafe { slice_mut(&o) });
        Ok(())
    };
    run().map_or_else(fail, |()| OK)
}
