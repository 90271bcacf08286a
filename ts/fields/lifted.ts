/**
 * Lifted fields: features on the elements of a lifted point cloud, `[M, C]` (one row per
 * element, `M` = points x samples). A Lie group acts by moving the elements (`g -> u g`) and
 * carrying the features along: `(u . f)(u g) = f(g)`. A layer built from relative elements
 * `g^-1 g'` alone is therefore invariant in this sense: its features do not change when the
 * whole cloud moves, which is what `checkEquivariance` measures on lifted fields.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { copy } from '../core/ops.js';
import { Tensor, expectTensor } from '../core/tensor.js';
import { LieGroup, Lifted, type LieElement } from '../groups/lie.js';
import { LiftedDomain } from '../domains/lifted.js';
import { FieldType } from './field.js';

const domains = new WeakMap<Lifted, LiftedDomain>();

/** A field on a lifted cloud: the group, the lifted elements, and the features `[M, C]`. */
export class LiftedField {
  constructor(
    readonly group: LieGroup,
    readonly lifted: Lifted,
    readonly features: Tensor,
  ) {}

  get channels(): number {
    return this.features.shape[1];
  }

  /** The domain of the cloud (shared by every field on the same lifted elements). */
  get domain(): LiftedDomain {
    let d = domains.get(this.lifted);
    if (!d) domains.set(this.lifted, (d = new LiftedDomain(this.lifted)));
    return d;
  }

  /** A field on the same elements with other features. */
  withFeatures(features: Tensor): LiftedField {
    return liftedField(this.group, this.lifted, features);
  }

  /** A copy of the features. */
  toArray(): Float32Array {
    return this.features.toArray();
  }

  get disposed(): boolean {
    return this.features.disposed;
  }

  dispose(): void {
    this.features.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `LiftedField(${this.group.name}, ${this.lifted.count} elements x ${this.features.disposed ? '?' : this.channels} channels)`;
  }
}

/** Pairs features `[M, C]` with the `M` elements of a lifted cloud. */
export function liftedField(group: LieGroup, lifted: Lifted, features: Tensor): LiftedField {
  if (!(group instanceof LieGroup)) throw new ArgumentError(`liftedField: group must be a Lie group (T(2), T(3), SO(2), SE(2), SO(3), SE(3)), got ${String(group)}`);
  if (!(lifted instanceof Lifted)) throw new ArgumentError('liftedField: expected a lifted cloud (the result of G.lift)');
  if (lifted.group !== group) throw new ArgumentError(`liftedField: the cloud was lifted to ${lifted.group.name}, not ${group.name}`);
  expectTensor(features, 'liftedField: features', 2);
  if (features.shape[0] !== lifted.count) throw new ShapeError(`liftedField: features are [${features.shape.join(', ')}], but the cloud has ${lifted.count} elements (points x samples): expected [${lifted.count}, C]`);
  return new LiftedField(group, lifted, features);
}

/** `C` features per element of a lifted cloud on `G`. */
export class LiftedFieldType extends FieldType<LieElement, LiftedField> {
  constructor(readonly group: LieGroup, channels: number) {
    super(group, channels);
  }
  layout() {
    return `[M, ${this.channels}] on M lifted elements`;
  }
  protected kind() {
    return `${this.channels} features per element of a cloud lifted to ${this.group.name}`;
  }
  check(x: LiftedField, what: string): void {
    if (!(x instanceof LiftedField)) {
      const v = x as unknown;
      throw new ArgumentError(`${what}: expected a lifted field (eq.liftedField(G, lifted, features)), got ${v === null ? 'null' : v instanceof Tensor ? `a tensor [${v.shape.join(', ')}]` : typeof v}`);
    }
    if (x.group !== this.group) throw new ArgumentError(`${what}: the field is on ${x.group.name}, expected ${this.group.name}`);
    expectTensor(x.features, `${what}: features`, 2);
    if (x.channels !== this.channels) throw new ShapeError(`${what}: has ${x.channels} channels per element, expected ${this.channels} (${this.kind()})`);
  }
  /** Moves the elements by `u`; the features ride along (a copy). */
  act(u: LieElement, x: LiftedField): LiftedField {
    this.check(x, `${this.group.name}.act`);
    return new LiftedField(this.group, this.group.actLifted(u, x.lifted), copy(x.features));
  }
}
