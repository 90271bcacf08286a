//! Kernels of the `equivariant` npm package.
//!
//! This crate is deliberately small: it holds the hot loops (GEMM, and the kernels later layers
//! lower to) and nothing about groups, layers or models, which live in TypeScript. Each kernel
//! has a plain-loop reference beside it, and the SIMD code is written once against [`simd::F4`],
//! which is WebAssembly SIMD128 on wasm32 and a portable four-lane emulation elsewhere, so
//! `cargo test` on the host checks the same arithmetic, operation for operation, that the
//! browser runs.
//!
//! Determinism is a design rule: every output element is one reduction in a fixed order
//! (`k = 0, 1, ..., K-1`, then bias, then activation), no fused multiply-add, and no kernel
//! splits a reduction, so results never depend on how a caller tiles or batches the work.

pub mod attend;
pub mod bindings;
pub mod blur;
pub mod conv;
pub mod engine;
pub mod gather;
pub mod gemm;
pub mod lie;
pub mod memory;
pub mod nullspace;
pub mod peak;
pub mod repwise;
pub mod pointwise;
pub mod scratch;
pub mod simd;
pub mod steer;
pub mod tile;
pub mod vmath;
pub mod winograd;
pub mod winograd5;
