/**
 * What every layer is: a map between field types with named parameters.
 *
 * A layer knows how its output field type follows from its input's (`outputType`), which is how
 * a model checks a configuration before running anything and how `checkEquivariance` knows how
 * the group acts on both sides. Layers that carry a group (convolutions) also declare fixed
 * `inType`/`outType`; shape-generic ones (ReLU, pooling) take them from their neighbours.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import type { FieldType } from '../fields/index.js';
import { Tensor, expectTensor, keep, tensor } from '../core/tensor.js';

/** A layer's JSON configuration: its `type` and hyper-parameters. */
export interface LayerConfig {
  type: string;
  name?: string;
  [key: string]: unknown;
}

export type ParameterSource = Tensor | Float32Array | ArrayLike<number>;

export abstract class Layer {
  abstract readonly type: string;
  name: string;
  /** Declared field types, when the layer fixes them. */
  inType?: FieldType<unknown, any>;
  outType?: FieldType<unknown, any>;
  protected readonly store = new Map<string, Tensor>();
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
    this.name = name ?? '';
  }

  /** `Phi[x]`, a new tensor. */
  abstract run(x: Tensor): Tensor;

  /** The output field type for an input of type `t`; throws a ShapeError naming this layer. */
  abstract outputType(t: FieldType<unknown, any>): FieldType<unknown, any>;

  /** The layer's configuration (JSON). */
  abstract config(): LayerConfig;

  /** Named parameters and their shapes (empty for parameter-free layers). */
  parameterShapes(): Record<string, number[]> {
    return {};
  }

  /** The parameters (live tensors owned by the layer). */
  parameters(): Record<string, Tensor> {
    return Object.fromEntries(this.store);
  }

  /**
   * Replaces parameters. Every name must be known and every shape must match; nothing changes
   * unless all of them do. Subclasses re-derive packed weights in `prepare()`.
   */
  setParameters(values: Record<string, ParameterSource>): void {
    const shapes = this.parameterShapes();
    const fresh = new Map<string, Tensor>();
    try {
      for (const [key, v] of Object.entries(values)) {
        const shape = shapes[key];
        if (!shape) throw new ArgumentError(`${this.label()}: unknown parameter '${key}' (expected ${Object.keys(shapes).join(', ') || 'none'})`);
        const size = shape.reduce((a, b) => a * b, 1);
        if (v instanceof Tensor) {
          expectTensor(v, `${this.label()}.${key}`);
          if (v.size !== size || v.shape.join() !== shape.join()) throw new ShapeError(`${this.label()}: parameter '${key}' must be [${shape.join(', ')}], got [${v.shape.join(', ')}]`);
          fresh.set(key, keep(tensor(v.toArray(), shape)));
        } else {
          if (v === null || typeof v !== 'object' || typeof v.length !== 'number') throw new ArgumentError(`${this.label()}: parameter '${key}' must be a Tensor or an array of numbers`);
          if (v.length !== size) throw new ShapeError(`${this.label()}: parameter '${key}' must hold ${size} values ([${shape.join(', ')}]), got ${v.length}`);
          fresh.set(key, keep(tensor(v, shape)));
        }
      }
    } catch (e) {
      for (const t of fresh.values()) t.dispose();
      throw e;
    }
    for (const [key, t] of fresh) {
      this.store.get(key)?.dispose();
      this.store.set(key, t);
    }
    this.touch();
    this.prepare();
  }

  /** Re-derives whatever is computed from the parameters (expanded, packed weights). */
  protected prepare(): void {}

  /** Frees the parameters and everything derived from them. Idempotent. */
  dispose(): void {
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
  protected checkInput(x: Tensor): void {
    expectTensor(x, this.label());
    this.inType?.check(x, this.label());
  }

  /** The stored parameters, read-only (what an omega prepares from). */
  protected params(): ReadonlyMap<string, Tensor> {
    return this.store;
  }
}

/** `[N, ...]` with channels at axis 1: the number of values per channel and image. */
export function inner(x: Tensor): number {
  return x.shape.slice(2).reduce((a, b) => a * b, 1);
}
