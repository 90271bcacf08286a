/** The base of field types: how a group acts on feature maps of one layout. */
import { ArgumentError } from '../core/errors.js';
import { applyMatrix } from '../core/ops.js';
import type { Tensor } from '../core/tensor.js';
import { LieGroup } from '../groups/lie.js';
import type { AnyGroup } from '../groups/index.js';
import type { Representation } from '../reps/index.js';

/** How a group acts on feature maps of one layout (tensors, or lifted fields). */
export abstract class FieldType<E = unknown, X = Tensor> {
  constructor(
    readonly group: AnyGroup,
    readonly channels: number,
  ) {
    if (!Number.isInteger(channels) || channels < 1) throw new ArgumentError(`field type: channels must be a positive integer, got ${channels}`);
  }
  /** The layout, e.g. `[N, 10, 4, H, W]`. */
  abstract layout(): string;
  /** Throws a ShapeError unless `x` has this layout. */
  abstract check(x: X, what: string): void;
  /** `u . x`, a new feature map. */
  abstract act(u: E, x: X): X;
  /** The elements an exhaustive check ranges over (finite groups). */
  elements(): E[] {
    const G = this.group;
    if (G instanceof LieGroup) throw new ArgumentError(`${G.name} is infinite: give elements as a number of random samples or a list`);
    return G.elements() as E[];
  }
  label(u: E): string {
    return (this.group as { label(u: E): string }).label(u);
  }
  describe(): string {
    return `${this.layout()} (${this.kind()})`;
  }
  protected abstract kind(): string;
}

/** `u` acting on row vectors of `rep` along the last axis of `x`: `y = x rho(u)^T`. */
export function actOnRows<E>(rep: Representation<E>, u: E, x: Tensor): Tensor {
  const d = rep.dim, m = rep.matrix(u);
  const t = new Float32Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) t[j * d + i] = m[i * d + j];
  return applyMatrix(x, t, d, undefined);
}
