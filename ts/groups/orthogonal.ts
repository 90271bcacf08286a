/**
 * O(3), the rotations and reflections of space, for representations, equivariant linear layers
 * and equivariance checks (equivariant MLPs, docs/operator-space.md).
 *
 * The choice: O(3) = SO(3) x {I, -I}. An element is a `Float64Array` holding an orthogonal 3x3
 * matrix of determinant +1 or -1 (row-major), so `reps.defining(o3())` is the matrix itself and
 * `reps.det(o3())` its determinant (pseudoscalars). Every element is `s R` with `s = det g` and
 * `R` a rotation, since `-I` is central; `random` draws `R` from the Haar measure and the sign
 * with probability 1/2 each, which is the Haar measure of O(3). The basis solver integrates
 * over SO(3) exactly and averages over `{I, -I}`. Lie-algebra maps (`exp`, `log` of rotations)
 * are SO(3)'s; lifting point clouds is SO(3)'s and SE(3)'s business, not offered here.
 */
import { ArgumentError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { LieGroup, so3, type LieElement, type LiftOptions, type Lifted, type Rng } from './lie.js';

function det3(g: Float64Array): number {
  return g[0] * (g[4] * g[8] - g[5] * g[7]) - g[1] * (g[3] * g[8] - g[5] * g[6]) + g[2] * (g[3] * g[7] - g[4] * g[6]);
}

export class O3Group extends LieGroup {
  readonly n = 3; readonly d = 3; readonly algebraDim = 3; readonly name = 'O(3)'; readonly affine = false; readonly rotates = true;
  /** The Lie kernels of SO(3) (exp and log of rotations). */
  readonly code = 4;

  /** Throws unless `g` is a 3x3 orthogonal matrix (determinant +1 or -1). */
  check(g: unknown, what = 'element', tol = 1e-6): LieElement {
    if (!(g instanceof Float64Array) || g.length !== 9) {
      throw new ArgumentError(`O(3): ${what} must be a Float64Array of 9 entries (a 3x3 orthogonal matrix), got ${g instanceof Float64Array ? `${g.length} entries` : typeof g}`);
    }
    if (!g.every(Number.isFinite)) throw new ArgumentError(`O(3): ${what} has non-finite entries`);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += g[k * 3 + i] * g[k * 3 + j];
      if (Math.abs(s - (i === j ? 1 : 0)) > tol) throw new ArgumentError(`O(3): ${what} is not an element: it is not an orthogonal matrix`);
    }
    return g;
  }

  /** `+1` for rotations, `-1` for rotations after the point reflection `-I`. */
  determinant(g: LieElement): 1 | -1 {
    return det3(this.check(g)) > 0 ? 1 : -1;
  }

  /** The point reflection `x -> -x`. */
  get reflection(): LieElement {
    return new Float64Array([-1, 0, 0, 0, -1, 0, 0, 0, -1]);
  }

  protected randomRotation(rng: Rng): Float64Array {
    return so3().random(rng);
  }

  /** A Haar-random element: a Haar rotation, times `-I` with probability 1/2. */
  random(rng: Rng = Math.random): LieElement {
    const r = this.randomRotation(rng);
    if (rng() < 0.5) for (let i = 0; i < 9; i++) r[i] = -r[i];
    return r;
  }

  /** `log` of a rotation; a reflection has none (use `det` and `log(-g)`). */
  log(g: LieElement): Float64Array {
    if (this.determinant(g) < 0) throw new ArgumentError('O(3).log: a reflection (determinant -1) is not exp of a Lie-algebra vector; take log(-g) and det(g)');
    return super.log(g);
  }

  logMany(g: Float64Array): Float64Array {
    for (let i = 0; i + 9 <= g.length; i += 9) if (det3(g.subarray(i, i + 9)) < 0) throw new ArgumentError(`O(3).logMany: element ${i / 9} is a reflection (determinant -1), which has no log`);
    return super.logMany(g);
  }

  lift(points: ArrayLike<number> | Tensor, options?: LiftOptions): Lifted {
    void points;
    void options;
    throw new ArgumentError('O(3).lift: lifting point clouds is offered for T(d), SO(d) and SE(d); O(3) is for representations, equivariant linear layers and equivariance checks');
  }

  actLifted(): Lifted {
    throw new ArgumentError('O(3).actLifted: O(3) has no lifted clouds (see O(3).lift)');
  }

  pairwiseLog(): Float64Array {
    throw new ArgumentError('O(3).pairwiseLog: O(3) has no lifted clouds (see O(3).lift)');
  }

  label(g: LieElement): string {
    if (this.determinant(g) > 0) return `O(3)[${Array.from(super.log(g), (v) => v.toFixed(3)).join(', ')}]`;
    const r = Float64Array.from(g, (v) => -v);
    return `O(3)[-I, ${Array.from(super.log(r), (v) => v.toFixed(3)).join(', ')}]`;
  }
}

const o3Group = new O3Group();
/** O(3) = SO(3) x {I, -I}: rotations and reflections of R^3. */
export const o3 = (): O3Group => o3Group;
