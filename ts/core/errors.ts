/**
 * Typed errors. Every message says what was expected and what was got, and every error leaves
 * the library usable: validation happens before anything is allocated or written.
 */

/** Base class of every error this library throws on purpose. */
export class EquivariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A tensor, matrix or option had the wrong shape, size or value. */
export class ShapeError extends EquivariantError {}

/** An argument had the wrong type or an invalid value (not a shape problem). */
export class ArgumentError extends EquivariantError {}

/** A tensor or other wasm-backed object was used after `dispose()`. */
export class DisposedError extends EquivariantError {}

/** The 32-bit WebAssembly memory could not hold the requested buffer. */
export class OutOfMemoryError extends EquivariantError {}

/** This runtime lacks something the library needs (WebAssembly, SIMD128). */
export class UnsupportedError extends EquivariantError {}

/** `init()` has not completed yet. */
export class NotInitializedError extends EquivariantError {}

/**
 * The WebAssembly module trapped (a bug, never an expected outcome). The instance has been
 * restored to a consistent state and stays usable; the call's output is undefined.
 */
export class WasmTrapError extends EquivariantError {
  constructor(
    readonly op: string,
    readonly cause: unknown,
  ) {
    super(`${op}: the WebAssembly kernel trapped (${cause instanceof Error ? cause.message : String(cause)}); the instance was recovered and stays usable`);
  }
}

/** A kernel refused its arguments at the wasm boundary (a facade bug, reported not trusted). */
export class KernelError extends EquivariantError {}

/** A model configuration is malformed: unknown layer, missing option, inconsistent channels. */
export class ConfigError extends EquivariantError {}

/** A weights file or object is malformed or does not match the model: names the tensor. */
export class WeightsError extends EquivariantError {}
