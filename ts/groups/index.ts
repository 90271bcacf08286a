/** The groups, as `eq.groups.*`: finite (exact), wallpaper (on grids), and Lie (sampled). */
export { cyclic, dihedral, symmetric, product, permutations, FiniteGroup, SymmetricGroup, type Group } from './finite.js';
export { z2, p4, p4m, GridGroup, type GridElement } from './grid.js';
export { t2, t3, so2, se2, so3, se3, seededRng, LieGroup, Lifted, MASKED, type LieElement, type LiftOptions, type Rng } from './lie.js';
export { o3, O3Group } from './orthogonal.js';

import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/limits.js';
import { cyclic as C, dihedral as D, symmetric as S, type FiniteGroup } from './finite.js';
import { p4 as P4, p4m as P4M, z2 as Z2, type GridGroup } from './grid.js';
import { lieByName, type LieGroup } from './lie.js';
import { o3 as O3 } from './orthogonal.js';

export type AnyGroup = FiniteGroup | GridGroup | LieGroup;

/**
 * A group from its name in a model config: `z2`, `p4`, `p4m`, `C<n>`, `D<n>`, `S<n>`, and the
 * Lie groups `T(2)`, `T(3)`, `SO(2)`, `SE(2)`, `SO(3)`, `SE(3)`, and `O(3)`.
 */
export function byName(name: string): AnyGroup {
  if (name === 'z2') return Z2();
  if (name === 'p4') return P4();
  if (name === 'p4m') return P4M();
  if (name === 'O(3)' || name === 'o3') return O3();
  const lie = typeof name === 'string' ? lieByName(name) : undefined;
  if (lie) return lie;
  const m = typeof name === 'string' ? /^([CDS])(\d+)$/.exec(name) : null;
  if (!m) throw new ArgumentError(`unknown group ${typeof name === 'string' ? `'${name.slice(0, 40)}'` : describe(name)}: expected z2, p4, p4m, C<n>, D<n>, S<n>, T(2), T(3), SO(2), SE(2), SO(3), SE(3) or O(3)`);
  const n = Number(m[2]);
  return m[1] === 'C' ? C(n) : m[1] === 'D' ? D(n) : S(n);
}
