/**
 * Entries of a factor matrix within this of 0 count as 0, within this of +-1 as +-1, when the
 * solver decides whether a factor is a signed permutation (the rounding of `cos(pi/2)`); the
 * same constant as `SNAP` in crate/src/nullspace.rs.
 */
export const SNAP_TOLERANCE = 1e-12;
