/**
 * equivariant: equivariant neural networks in WebAssembly SIMD, for Node and browsers.
 *
 * Every layer is a configuration of one operator, `[Phi f](g) = sum over g' of omega(f, g, g')`
 * (Nyholm, Carlsson, Weiler, Persson 2025); see docs/framework.md. This module is the package
 * root: `import * as eq from 'equivariant'`.
 */
export { init, initialized, simdSupported, wasmModule, type InitOptions, type WasmSource } from './core/wasm.js';
export { Tensor, tensor, zeros, tidy, keep, memory, type MemoryInfo } from './core/tensor.js';
export { matmul, packMatrix, PackedMatrix, type MatmulOptions } from './core/gemm.js';
export {
  EquivariantError,
  ShapeError,
  ArgumentError,
  DisposedError,
  OutOfMemoryError,
  UnsupportedError,
  NotInitializedError,
  WasmTrapError,
  KernelError,
  ConfigError,
  WeightsError,
} from './core/errors.js';
export * as diagnostics from './core/diagnostics.js';
export * as groups from './groups/index.js';
export * as nn from './nn/index.js';
export { createPool, Pool, WorkerCrashedError, PoolClosedError, AbortError, WorkerStartError, type PoolOptions } from './runtime/pool.js';
export { limits, setLimits, defaultLimits, type Limits } from './core/limits.js';
export { loadModel, Model, FORMAT as MODEL_FORMAT, type ModelConfig, type InputSpec, type LoadOptions } from './io/model.js';
export { parseSafetensors, encodeSafetensors, type NamedArray } from './io/safetensors.js';
export { omega, Omega, KernelOmega, MlpOmega, AttentionOmega, CustomOmega, type KernelOmegaOptions, type MlpOmegaOptions, type AttentionOmegaOptions, type CustomOmegaOptions, type CustomFn, type Activation, type Normaliser } from './omega/index.js';
export type { NeighbourSpec } from './domains/neighbourhood.js';
export * as domains from './domains/index.js';
export * as reps from './reps/index.js';
export * as basis from './space/basis.js';
export * as space from './space/index.js';
export * as gspaces from './gspaces/index.js';
export { fieldType, R2FieldType } from './gspaces/field.js';
export { Representation } from './reps/index.js';
export { field, FieldType, ImageField, GridField, RegularField, InvariantField, RepField, PointsField, LiftedField, LiftedFieldType, liftedField, PointCloudType, type PointCloud, clearCaches } from './fields/index.js';
export { VectorField } from './fields/vector.js';
export { checkEquivariance, type EquivariantMap, type CheckOptions, type EquivarianceReport, type ElementReport } from './check/equivariance.js';
