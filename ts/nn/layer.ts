/**
 * What every layer is: a map between field types with named parameters.
 *
 * A layer knows how its output field type follows from its input's (`outputType`), which is how
 * a model checks a configuration before running anything and how `checkEquivariance` knows how
 * the group acts on both sides. Layers that carry a group (convolutions) also declare fixed
 * `inType`/`outType`; shape-generic ones (ReLU, pooling) take them from their neighbours.
 */
import { ArgumentError, DisposedError, ShapeError } from '../core/errors.js';
import type { FieldType } from '../fields/index.js';
import { Tensor, checkNumbers, expectTensor, keep, tensor } from '../core/tensor.js';
import { describe } from '../core/limits.js';

/** A layer's JSON configuration: its `type` and hyper-parameters. */
export interface LayerConfig {
  type: string;
  name?: string;
  [key: string]: unknown;
}

export type ParameterSource = Tensor | Float32Array | ArrayLike<number>;

/** Methods that stay callable after `dispose()` (they read only the configuration). */
const AFTER_DISPOSE = new Set(['constructor', 'dispose', 'label', 'config', 'outputType', 'parameterShapes', 'toString', 'describe', 'assertLive']);
/** Methods that take a batch first: an empty batch is refused before any kernel sees it. */
const BATCH_METHODS = new Set(['run', 'runWith', 'reference', 'forward', 'runUnfused']);

/**
 * Makes every method of `layer` (its class's and the base classes', except `AFTER_DISPOSE`)
 * throw a DisposedError once the layer is disposed, and refuse an empty batch in the run-like
 * methods. Installed by the base constructor, so it covers every layer class without any code
 * in the subclasses.
 */
function guardMethods(layer: Layer): void {
  const seen = new Set<string>();
  for (let proto = Object.getPrototypeOf(layer); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (seen.has(key) || AFTER_DISPOSE.has(key)) continue;
      seen.add(key);
      const d = Object.getOwnPropertyDescriptor(proto, key);
      if (!d || typeof d.value !== 'function') continue;
      const method = d.value as (...args: unknown[]) => unknown;
      const batch = BATCH_METHODS.has(key);
      Object.defineProperty(layer, key, {
        configurable: true,
        writable: true,
        enumerable: false,
        value: function (this: Layer, ...args: unknown[]) {
          this.assertLive(key);
          if (batch) checkBatch(args[0], this.label());
          return method.apply(this, args);
        },
      });
    }
  }
}

/** Refuses a batch with no images (or no values) before it reaches a kernel. */
export function checkBatch(x: unknown, what: string): void {
  if (x instanceof Tensor && !x.disposed && (x.size === 0 || x.shape[0] === 0)) {
    throw new ShapeError(`${what}: the input [${x.shape.join(', ')}] is empty; a batch needs at least one image and no zero-size axis`);
  }
}

/** New parameter tensors for some names, checked and copied, not yet installed. */
export type StagedParameters = Map<string, Tensor>;

export abstract class Layer {
  abstract readonly type: string;
  name: string;
  /** Declared field types, when the layer fixes them. */
  inType?: FieldType<unknown, any>;
  outType?: FieldType<unknown, any>;
  protected readonly store = new Map<string, Tensor>();
  #disposed = false;
  #version = 0;

  /**
   * Bumped whenever something a prepared plan depends on changes (parameters, algorithm): what
   * is derived from the layer is keyed by it and rebuilt when it moves.
   */
  get version(): number {
    return this.#version;
  }

  protected touch(): void {
    this.#version++;
  }

  constructor(name?: string) {
    if (name !== undefined && typeof name !== 'string') throw new ArgumentError(`layer: name must be a string, got ${describe(name)}`);
    this.name = name ?? '';
    guardMethods(this);
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** Throws a DisposedError once the layer is disposed (every method calls it first). */
  assertLive(what = 'used'): void {
    if (this.#disposed) throw new DisposedError(`${this.label()} was used after dispose()${what === 'used' ? '' : ` (${what})`}`);
  }

  /**
   * `Phi[x]`, a new feature map: a tensor, or a lifted field (layers on point clouds). Each
   * layer declares the precise overloads it takes.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  abstract run(x: any): any;

  /** The output field type for an input of type `t`; throws a ShapeError naming this layer. */
  abstract outputType(t: FieldType<unknown, any>): FieldType<unknown, any>;

  /** The layer's configuration (JSON). */
  abstract config(): LayerConfig;

  /** Named parameters and their shapes (empty for parameter-free layers). */
  parameterShapes(): Record<string, number[]> {
    return {};
  }

  /**
   * The layer's own parameter tensors, by name: read them (toArray), do not dispose or write
   * them; change them with `setParameters`, which re-derives what the layer prepared from them.
   */
  parameters(): Record<string, Tensor> {
    return Object.fromEntries(this.store);
  }

  /**
   * Replaces parameters, all or nothing: every name must be known, every shape must match and
   * every value must be a number; if anything is refused, or re-deriving the packed weights
   * fails, the layer keeps exactly the parameters it had. Subclasses re-derive packed weights in
   * `prepare()`.
   */
  setParameters(values: Record<string, ParameterSource>): void {
    const staged = this.stageParameters(values);
    this.applyParameters(staged).commit();
  }

  /** Checks `values` and copies them into new tensors; changes nothing in the layer. */
  stageParameters(values: Record<string, ParameterSource>): StagedParameters {
    if (values === null || typeof values !== 'object' || Array.isArray(values) || values instanceof Tensor) {
      throw new ArgumentError(`${this.label()}.setParameters: expected an object of named parameters, got ${describe(values)}`);
    }
    const shapes = this.parameterShapes();
    const fresh: StagedParameters = new Map();
    try {
      for (const [key, v] of Object.entries(values)) {
        const shape = shapes[key];
        if (!shape || !Object.prototype.hasOwnProperty.call(shapes, key)) throw new ArgumentError(`${this.label()}: unknown parameter '${key}' (expected ${Object.keys(shapes).join(', ') || 'none'})`);
        const size = shape.reduce((a, b) => a * b, 1);
        if (v instanceof Tensor) {
          expectTensor(v, `${this.label()}.${key}`);
          if (v.size !== size || v.shape.join() !== shape.join()) throw new ShapeError(`${this.label()}: parameter '${key}' must be [${shape.join(', ')}], got [${v.shape.join(', ')}]`);
          fresh.set(key, keep(tensor(v.toArray(), shape)));
        } else {
          checkNumbers(v, `${this.label()}: parameter '${key}'`);
          if (v.length !== size) throw new ShapeError(`${this.label()}: parameter '${key}' must hold ${size} values ([${shape.join(', ')}]), got ${v.length}`);
          fresh.set(key, keep(tensor(v, shape)));
        }
      }
    } catch (e) {
      for (const t of fresh.values()) t.dispose();
      throw e;
    }
    return fresh;
  }

  /**
   * Installs staged parameters and re-derives the packed weights. If that fails, the old
   * parameters are put back (and re-derived) and the error is rethrown. On success the caller
   * either `commit()`s (frees the replaced tensors) or `rollback()`s (restores them).
   */
  applyParameters(staged: StagedParameters): { commit(): void; rollback(): void } {
    const old = new Map<string, Tensor | undefined>();
    for (const [k, t] of staged) {
      old.set(k, this.store.get(k));
      this.store.set(k, t);
    }
    this.touch();
    let done = false;
    const rollback = () => {
      if (done) return;
      done = true;
      for (const [k, t] of old) {
        if (t) this.store.set(k, t);
        else this.store.delete(k);
      }
      for (const t of staged.values()) t.dispose();
      this.touch();
      this.prepare();
    };
    try {
      this.prepare();
    } catch (e) {
      try {
        rollback();
      } catch {
        // Re-deriving the old weights failed too (memory exhausted): the error below stands.
      }
      throw e;
    }
    return {
      commit: () => {
        if (done) return;
        done = true;
        for (const t of old.values()) t?.dispose();
      },
      rollback,
    };
  }

  /** Re-derives whatever is computed from the parameters (expanded, packed weights). */
  protected prepare(): void {}

  /** The stored parameters, read-only (what an omega prepares from). */
  protected params(): ReadonlyMap<string, Tensor> {
    return this.store;
  }

  /** Frees the parameters and everything derived from them. Idempotent; afterwards every method but `dispose`, `label`, `config`, `outputType` and `parameterShapes` throws a DisposedError. */
  dispose(): void {
    this.#disposed = true;
    for (const t of this.store.values()) t.dispose();
    this.store.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** `type 'name'`, for messages. */
  label(): string {
    return this.name ? `${this.type} '${this.name}'` : this.type;
  }

  /** Checks the input against the declared type (if any) before running. */
  protected checkInput(x: unknown): void {
    if (!(x instanceof Tensor) && x !== null && typeof x === 'object') {
      this.inType?.check(x as never, this.label()); // lifted fields, point clouds: the layer checks them when untyped
      return;
    }
    expectTensor(x, this.label());
    this.inType?.check(x as Tensor, this.label());
  }
}

/** `[N, ...]` with channels at axis 1: the number of values per channel and image. */
export function inner(x: Tensor): number {
  return x.shape.slice(2).reduce((a, b) => a * b, 1);
}
