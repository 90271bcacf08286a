/** The groups, as `eq.groups.*`: finite (exact), wallpaper (on grids), and Lie (sampled). */
export { cyclic, dihedral, symmetric, product, permutations, FiniteGroup, SymmetricGroup, type Group } from './group.js';
export { p4, p4m, GridGroup, type GridElement } from './grid.js';
export { so2, se2, so3, se3, seededRng, LieGroup, type LieElement, type Lifted, type Rng } from './lie.js';
