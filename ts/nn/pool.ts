/**
 * Pooling: over the group axis (`groupPool`, which makes features invariant to the point group),
 * over space in windows (`maxPool2d`, `avgPool2d`), and over all of space (`globalPool`).
 *
 * `omega` for these is constant over the pooled set (docs/framework.md, "invariant pooling").
 * Spatial pooling keeps exact equivariance under rotations about the centre when the windows
 * tile the grid symmetrically: `size = stride` and `H, W` divisible by it.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { FieldType, GridField, ImageField, InvariantField, RegularField } from '../fields/index.js';
import { FiniteGroup } from '../groups/finite.js';
import { GridGroup } from '../groups/grid.js';
import { pool2d, reduceAxis, segmentReduce, type Reduction } from '../core/ops.js';
import { U32Buffer } from '../core/buffers.js';
import { LiftedField, LiftedFieldType } from '../fields/lifted.js';
import { Tensor, expectTensor } from '../core/tensor.js';
import { Layer, type LayerConfig } from './layer.js';
import { checkOptions, describe, dimension } from '../core/limits.js';

function reduction(r: unknown, what: string): Reduction {
  if (r !== 'max' && r !== 'mean') throw new ArgumentError(`${what}: reduce must be 'max' or 'mean', got ${describe(r)}`);
  return r;
}

/** Max or mean over the group axis: `[N, C, |P|, H, W] -> [N, C, H, W]`, `[N, C, |G|] -> [N, C]`. */
export class GroupPool extends Layer {
  readonly type = 'groupPool';
  readonly reduce: Reduction;
  constructor(options: { reduce?: Reduction; name?: string } = {}) {
    // `group` as in the API sketch: accepted and unused (it pools over the group its input carries).
    checkOptions('groupPool', options, { reduce: [['max', 'mean'], true], name: ['string', true], group: ['any', true] }, true);
    super(options?.name);
    this.reduce = reduction(options?.reduce ?? 'max', 'groupPool');
  }
  outputType(t: FieldType<unknown>): FieldType<unknown> {
    if (t instanceof GridField) return new ImageField(t.group, t.channels) as FieldType<unknown>;
    if (t instanceof RegularField) return new InvariantField(t.group, t.channels);
    throw new ShapeError(`${this.label()}: pools over a group axis, so its input must be fields on a group ([N, C, |P|, H, W] or [N, C, |G|]); got ${t.describe()}`);
  }
  run(x: Tensor): Tensor {
    expectTensor(x, this.label());
    if (x.rank === 5) {
      const [n, c, p, h, w] = x.shape;
      return reduceAxis(x, n * c, p, h * w, this.reduce, [n, c, h, w]);
    }
    if (x.rank === 3) {
      const [n, c, p] = x.shape;
      return reduceAxis(x, n * c, p, 1, this.reduce, [n, c]);
    }
    throw new ShapeError(`${this.label()}: expected [N, C, |P|, H, W] or [N, C, |G|], got [${x.shape.join(', ')}]`);
  }
  config(): LayerConfig {
    return { type: this.type, reduce: this.reduce, ...(this.name ? { name: this.name } : {}) };
  }
}

/** Windowed pooling over the last two axes. */
export class Pool2d extends Layer {
  readonly type: 'maxPool2d' | 'avgPool2d';
  readonly size: number;
  readonly stride: number;
  constructor(reduce: Reduction, options: { size?: number; stride?: number; name?: string } = {}) {
    const type = reduce === 'max' ? 'maxPool2d' : 'avgPool2d';
    checkOptions(type, options, { size: ['dim', true], stride: ['dim', true], name: ['string', true] }, true);
    super(options?.name);
    this.type = type;
    const size = options?.size ?? 2;
    this.size = dimension(size, `${type}: size`);
    this.stride = dimension(options?.stride ?? size, `${type}: stride`);
  }
  outputType(t: FieldType<unknown>): FieldType<unknown> {
    if (t instanceof GridField || t instanceof ImageField || t instanceof InvariantField) return t;
    // Fields on the plane: averaging commutes with any representation, the max with permutations.
    const pointwise = (t as { pointwise?: boolean }).pointwise;
    if (pointwise !== undefined) {
      if (this.type === 'maxPool2d' && !pointwise) throw new ShapeError(`${this.label()}: a max is equivariant only on trivial, regular and quotient fields; got ${t.describe()} (use avgPool2d or normPool)`);
      return t;
    }
    throw new ShapeError(`${this.label()}: pools over space, so its input must be features on a grid; got ${t.describe()}`);
  }
  run(x: Tensor): Tensor {
    expectTensor(x, this.label());
    if (x.rank < 3) throw new ShapeError(`${this.label()}: expected [..., H, W], got [${x.shape.join(', ')}]`);
    const h = x.shape[x.rank - 2], w = x.shape[x.rank - 1];
    if (h < this.size || w < this.size) throw new ShapeError(`${this.label()}: a ${this.size}x${this.size} window does not fit a ${h}x${w} input`);
    const ho = Math.floor((h - this.size) / this.stride) + 1, wo = Math.floor((w - this.size) / this.stride) + 1;
    const planes = x.size / (h * w);
    return pool2d(x, planes, h, w, this.size, this.stride, this.type === 'maxPool2d' ? 'max' : 'mean', [...x.shape.slice(0, -2), ho, wo]);
  }
  config(): LayerConfig {
    return { type: this.type, size: this.size, stride: this.stride, ...(this.name ? { name: this.name } : {}) };
  }
}

/**
 * Max or mean over all of space: `[N, C, |P|, H, W] -> [N, C, |P|]`, `[N, C, H, W] -> [N, C]`;
 * over the elements of each cloud for a lifted field (`[M, C] -> [clouds, C]`, masked samples
 * left out): an invariant.
 */
export class GlobalPool extends Layer {
  readonly type = 'globalPool';
  readonly reduce: Reduction;
  constructor(options: { reduce?: Reduction; name?: string } = {}) {
    checkOptions('globalPool', options, { reduce: [['max', 'mean'], true], name: ['string', true] }, true);
    super(options?.name);
    this.reduce = reduction(options?.reduce ?? 'mean', 'globalPool');
  }
  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    if (t instanceof LiftedFieldType) return new InvariantField(t.group, t.channels);
    if (t instanceof GridField) return new RegularField((t.group as GridGroup).pointGroup as FiniteGroup, t.channels) as FieldType<unknown>;
    if (t instanceof ImageField || t instanceof InvariantField) return new InvariantField(t.group, t.channels);
    const pooled = (t as { pooledOverSpace?: (what: string) => FieldType<unknown, any> }).pooledOverSpace;
    if (typeof pooled === 'function') return pooled.call(t, this.label());
    throw new ShapeError(`${this.label()}: pools over space, so its input must be features on a grid; got ${t.describe()}`);
  }
  run(x: Tensor | LiftedField): Tensor {
    if (x instanceof LiftedField) {
      expectTensor(x.features, this.label(), 2);
      const ids = new U32Buffer(x.lifted.cloud);
      try {
        return segmentReduce(x.features, ids, Math.max(1, x.lifted.clouds), this.reduce);
      } finally {
        ids.dispose();
      }
    }
    expectTensor(x, this.label());
    if (x.rank < 3) throw new ShapeError(`${this.label()}: expected [N, C, ..., H, W] or a lifted field, got [${x.shape.join(', ')}]`);
    const h = x.shape[x.rank - 2], w = x.shape[x.rank - 1];
    const outShape = x.shape.slice(0, -2);
    return reduceAxis(x, x.size / (h * w), h * w, 1, this.reduce, outShape);
  }
  config(): LayerConfig {
    return { type: this.type, reduce: this.reduce, ...(this.name ? { name: this.name } : {}) };
  }
}
