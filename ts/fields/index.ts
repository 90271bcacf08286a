/**
 * Field types: how a group acts on a tensor, `(u . f)(x) = rho(u) f(u^-1 x)`.
 *
 * A layer declares the field type of its input and output (as escnn's `FieldType` does), which is
 * what makes its equivariance checkable. For finite groups the action only moves entries around:
 * the facade builds the permutation once per (group element, shape) as an index table in wasm
 * memory, cached, and the gather kernel applies it to every image and channel. Actions through a
 * matrix (a representation on vector features, a Lie group on points) go through the GEMM.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { FiniteGroup } from '../groups/finite.js';
import { GridGroup, type GridElement } from '../groups/grid.js';
import { LieGroup, type LieElement } from '../groups/lie.js';
import type { Representation } from '../reps/index.js';
import { Tensor, expectTensor } from '../core/tensor.js';
import { copy } from '../core/ops.js';
export { clearCaches } from '../core/cache.js';

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

export type { AnyGroup } from '../groups/index.js';
import type { AnyGroup } from '../groups/index.js';
import { FieldType, actOnRows } from './field.js';
export { FieldType } from './field.js';
export { LiftedField, LiftedFieldType, liftedField } from './lifted.js';
export { PointCloudType, checkPointCloud, type PointCloud } from './points.js';

function expectRank(x: Tensor, rank: number, layout: string, what: string, field: string) {
  expectTensor(x, what);
  if (x.rank !== rank) throw new ShapeError(`${what}: expected ${layout} for ${field}, got ${fmt(x.shape)}`);
}

function gridCheck(G: GridGroup, x: Tensor, hAxis: number, what: string) {
  const h = x.shape[hAxis], w = x.shape[hAxis + 1];
  // z2 has no rotations: any grid. p4 and p4m turn it by quarter turns about its centre.
  if (h !== w && G.pointOrder > 1) throw new ShapeError(`${what}: ${G.name} acts on square grids (rotations by 90 degrees about the centre), got a ${h} x ${w} grid in ${fmt(x.shape)}`);
}

/** Scalar fields on a square grid, `[N, C, H, W]`: `(u . f)(p) = f(u^-1 p)`. */
export class ImageField extends FieldType<GridElement> {
  constructor(readonly group: GridGroup, channels: number) {
    super(group, channels);
  }
  layout() {
    return `[N, ${this.channels}, H, W]`;
  }
  protected kind() {
    return `${this.channels} scalar fields on Z^2 under ${this.group.name}`;
  }
  check(x: Tensor, what: string) {
    expectRank(x, 4, this.layout(), what, this.kind());
    if (x.shape[1] !== this.channels) throw new ShapeError(`${what}: has ${x.shape[1]} channels, expected ${this.channels} (${this.kind()}); got ${fmt(x.shape)}`);
    gridCheck(this.group, x, 2, what);
  }
  act(u: GridElement, x: Tensor): Tensor {
    this.check(x, `${this.group.name}.act`);
    return this.group.act(u, x);
  }
}

/** Fields on the group p4/p4m, `[N, C, |P|, H, W]`: `(u . f)(g, p) = f(u^-1 g, u^-1 p)`. */
export class GridField extends FieldType<GridElement> {
  constructor(readonly group: GridGroup, channels: number) {
    super(group, channels);
  }
  layout() {
    return `[N, ${this.channels}, ${this.group.pointOrder}, H, W]`;
  }
  protected kind() {
    return `${this.channels} x regular(${this.group.pointGroup.name}) fields on ${this.group.name}`;
  }
  check(x: Tensor, what: string) {
    expectRank(x, 5, this.layout(), what, this.kind());
    if (x.shape[1] !== this.channels || x.shape[2] !== this.group.pointOrder) {
      throw new ShapeError(`${what}: expected ${this.layout()} (${this.kind()}), got ${fmt(x.shape)}`);
    }
    gridCheck(this.group, x, 3, what);
  }
  act(u: GridElement, x: Tensor): Tensor {
    this.check(x, `${this.group.name}.act`);
    return this.group.act(u, x);
  }
}

/** Regular fields on a finite group, `[N, C, |G|]`: `(u . f)(g) = f(u^-1 g)`. */
export class RegularField extends FieldType<number> {
  constructor(readonly group: FiniteGroup, channels: number) {
    super(group, channels);
  }
  layout() {
    return `[N, ${this.channels}, ${this.group.order}]`;
  }
  protected kind() {
    return `${this.channels} x regular(${this.group.name})`;
  }
  check(x: Tensor, what: string) {
    expectRank(x, 3, this.layout(), what, this.kind());
    if (x.shape[1] !== this.channels || x.shape[2] !== this.group.order) throw new ShapeError(`${what}: expected ${this.layout()} (${this.kind()}), got ${fmt(x.shape)}`);
  }
  act(u: number, x: Tensor): Tensor {
    this.check(x, `${this.group.name}.act`);
    return this.group.act(u, x);
  }
}

/** Invariant features, `[N, C, ...]`: the group acts trivially. `channels = 0`: any number. */
export class InvariantField extends FieldType<unknown> {
  constructor(group: AnyGroup, channels: number) {
    super(group, channels === 0 ? 1 : channels);
    this.anyChannels = channels === 0;
  }
  private readonly anyChannels: boolean;
  get width(): number {
    return this.anyChannels ? 0 : this.channels;
  }
  layout() {
    return `[N, ${this.anyChannels ? 'C' : this.channels}, ...]`;
  }
  protected kind() {
    return `${this.anyChannels ? '' : `${this.channels} `}invariant features`;
  }
  check(x: Tensor, what: string) {
    expectTensor(x, what);
    if (x.rank < 2 || (!this.anyChannels && x.shape[1] !== this.channels)) throw new ShapeError(`${what}: expected ${this.layout()} (${this.kind()}), got ${fmt(x.shape)}`);
  }
  act(u: unknown, x: Tensor): Tensor {
    this.check(x, 'act');
    (this.group as { check(u: unknown): unknown }).check(u);
    return copy(x);
  }
}

/** Vector features `[N, C, dim]` transforming by a representation: `x -> rho(u) x`. */
export class RepField<E> extends FieldType<E> {
  constructor(readonly rep: Representation<E>, channels: number) {
    super(rep.group as unknown as AnyGroup, channels);
  }
  layout() {
    return `[N, ${this.channels}, ${this.rep.dim}]`;
  }
  protected kind() {
    return `${this.channels} x ${this.rep.name}`;
  }
  check(x: Tensor, what: string) {
    expectRank(x, 3, this.layout(), what, this.kind());
    if (x.shape[1] !== this.channels || x.shape[2] !== this.rep.dim) throw new ShapeError(`${what}: expected ${this.layout()} (${this.kind()}), got ${fmt(x.shape)}`);
  }
  act(u: E, x: Tensor): Tensor {
    this.check(x, 'act');
    return actOnRows(this.rep, u, x);
  }
}

/** Point coordinates `[P, d]` or `[N, P, d]` under a Lie group: `x -> R x + t`. */
export class PointsField extends FieldType<LieElement> {
  constructor(readonly group: LieGroup) {
    super(group, 1);
  }
  layout() {
    return `[N, P, ${this.group.d}] or [P, ${this.group.d}]`;
  }
  protected kind() {
    return `points in R^${this.group.d} under ${this.group.name}`;
  }
  check(x: Tensor, what: string) {
    expectTensor(x, what);
    if ((x.rank !== 2 && x.rank !== 3) || x.shape[x.rank - 1] !== this.group.d) throw new ShapeError(`${what}: expected ${this.layout()} (${this.kind()}), got ${fmt(x.shape)}`);
  }
  act(g: LieElement, x: Tensor): Tensor {
    this.check(x, `${this.group.name}.act`);
    return this.group.act(g, x);
  }
}

/** Constructors of field types, by what the features are. */
export const field = {
  image: (G: GridGroup, channels: number) => new ImageField(G, channels),
  grid: (G: GridGroup, channels: number) => new GridField(G, channels),
  regular: (G: FiniteGroup, channels: number) => new RegularField(G, channels),
  invariant: (G: AnyGroup, channels: number) => new InvariantField(G, channels),
  rep: <E>(rho: Representation<E>, channels: number) => new RepField(rho, channels),
  points: (G: LieGroup) => new PointsField(G),
};
