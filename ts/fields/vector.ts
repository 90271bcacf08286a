/**
 * Features in a representation, one vector per example: `[N, dim]`, `x -> rho(u) x` (the input
 * and output of equivariant linear layers and equivariant MLPs). Two field types agree when their
 * representations are the same (built from the same atoms in the same way, ts/space/structure.ts).
 */
import { ShapeError } from '../core/errors.js';
import { expectTensor, type Tensor } from '../core/tensor.js';
import type { AnyGroup } from '../groups/index.js';
import type { Representation } from '../reps/index.js';
import { sameRep } from '../space/structure.js';
import { FieldType, actOnRows } from './field.js';

export class VectorField<E = unknown> extends FieldType<E> {
  constructor(readonly rep: Representation<E>, readonly spec?: string) {
    super(rep.group as unknown as AnyGroup, rep.dim);
  }
  layout(): string {
    return `[N, ${this.rep.dim}]`;
  }
  protected kind(): string {
    return `vectors in ${this.spec ?? this.rep.name}`;
  }
  /** Whether `t` carries the same representation. */
  same(t: FieldType<unknown, any>): boolean {
    return t instanceof VectorField && sameRep(t.rep as Representation<any>, this.rep as Representation<any>);
  }
  check(x: Tensor, what: string): void {
    expectTensor(x, what);
    if (x.rank !== 2 || x.shape[1] !== this.rep.dim) throw new ShapeError(`${what}: expected ${this.layout()} (${this.kind()}), got [${x.shape.join(', ')}]`);
  }
  act(u: E, x: Tensor): Tensor {
    this.check(x, 'act');
    return actOnRows(this.rep, u, x);
  }
}
