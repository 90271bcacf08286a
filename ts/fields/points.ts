/**
 * Point clouds as a model's input: `{ points [B, P, d], features [B, P, C], mask? [B, P] }`
 * (mask 1 for a present point, 0 for padding, so clouds of different sizes share a batch). A
 * Lie group acts by moving the points (`x -> R x + t`); the features ride along.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { copy } from '../core/ops.js';
import { Tensor, expectTensor } from '../core/tensor.js';
import { LieGroup, type LieElement } from '../groups/lie.js';
import { FieldType } from './field.js';

export interface PointCloud {
  /** `[B, P, d]` coordinates. */
  points: Tensor;
  /** `[B, P, C]` features per point. */
  features: Tensor;
  /** `[B, P]`: 1 present, 0 padding (all present when omitted). */
  mask?: Tensor;
}

/** Checks a batch of clouds; returns `[B, P]`. */
export function checkPointCloud(x: unknown, d: number, channels: number | undefined, what: string): [number, number] {
  if (x === null || typeof x !== 'object' || x instanceof Tensor) {
    throw new ArgumentError(`${what}: expected point clouds { points [B, P, ${d}], features [B, P, C], mask? [B, P] }, got ${x instanceof Tensor ? `a tensor [${x.shape.join(', ')}]` : x === null ? 'null' : typeof x}`);
  }
  const { points, features, mask } = x as PointCloud;
  expectTensor(points, `${what}: points`, 3);
  expectTensor(features, `${what}: features`, 3);
  const [B, P, dd] = points.shape;
  if (dd !== d) throw new ShapeError(`${what}: points must be [B, P, ${d}], got [${points.shape.join(', ')}]`);
  if (features.shape[0] !== B || features.shape[1] !== P) throw new ShapeError(`${what}: features must be [${B}, ${P}, C] (one row per point), got [${features.shape.join(', ')}]`);
  if (channels !== undefined && features.shape[2] !== channels) throw new ShapeError(`${what}: features have ${features.shape[2]} channels, expected ${channels}`);
  if (mask !== undefined) {
    expectTensor(mask, `${what}: mask`);
    if (mask.rank !== 2 || mask.shape[0] !== B || mask.shape[1] !== P) throw new ShapeError(`${what}: mask must be [${B}, ${P}] (1 present, 0 padding), got [${mask.shape.join(', ')}]`);
  }
  if (B < 1 || P < 1) throw new ShapeError(`${what}: a batch needs at least one cloud of at least one point, got points [${points.shape.join(', ')}]`);
  return [B, P];
}

/** `C` features per point of clouds in R^d under a Lie group. */
export class PointCloudType extends FieldType<LieElement, PointCloud> {
  constructor(readonly group: LieGroup, channels: number) {
    super(group, channels);
  }
  layout() {
    return `{ points [B, P, ${this.group.d}], features [B, P, ${this.channels}], mask? [B, P] }`;
  }
  protected kind() {
    return `point clouds in R^${this.group.d} with ${this.channels} features per point, under ${this.group.name}`;
  }
  check(x: PointCloud, what: string): void {
    checkPointCloud(x, this.group.d, this.channels, what);
  }
  /** Moves every point by `u`; features and mask ride along (copies). */
  act(u: LieElement, x: PointCloud): PointCloud {
    this.check(x, `${this.group.name}.act`);
    return { points: this.group.act(u, x.points), features: copy(x.features), mask: x.mask ? copy(x.mask) : undefined };
  }
}
