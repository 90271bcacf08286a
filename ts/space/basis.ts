/**
 * The space of equivariant linear operators `Hom_G(rho_in, rho_out)` (Conclusion 3 of the
 * framework), in its first form: its dimension, exactly, and an orthonormal basis of dense
 * `d_out x d_in` matrices (row-major). Both run on the solver of ts/space/hom.ts (f64 in wasm,
 * the Kronecker structure of the representations kept); for spaces too large to hold densely use
 * `eq.space.hom`, which keeps the basis in its sparse or blocked form.
 */
import { ArgumentError } from '../core/errors.js';
import { checkOptions } from '../core/limits.js';
import type { Representation } from '../reps/index.js';
import { HomSpace, homDimension } from './hom.js';
import type { Method } from './solver.js';

/**
 * `dim Hom_G(rho_in, rho_out)`, exactly: the character inner product
 * `(1/|G|) sum over g of chi_out(g) chi_in(g^-1)` for finite groups (and p4/p4m, through their
 * point groups), the Haar integral of the character for SO(2), SO(3), O(3) (and SE(d), T(d) on
 * representations of their rotation part).
 */
export function dimension(G: unknown, repIn: Representation<unknown>, repOut: Representation<unknown>): number {
  return homDimension(G, repIn, repOut, 'basis.dimension');
}

export interface BasisResult {
  /** Dimension of the space (the number of basis elements). */
  dimension: number;
  /** Orthonormal (Frobenius inner product) `d_out x d_in` matrices, row-major. */
  basis: Float64Array[];
  /** The exact dimension from characters (or the Haar integral), which `dimension` equals. */
  characterDimension?: number;
  /** Group elements the solver used: generators (orbits), projector stages, or stacked constraints. */
  constraints: number;
  /** How the blocks were solved, and the largest residual `|rho_out(g) W - W rho_in(g)|` over the check elements. */
  methods: Record<'zero' | 'orbits' | 'projector' | 'constraints', number>;
  residual: number;
}

/**
 * An orthonormal basis of `Hom_G(rho_in, rho_out)`. Options: `method` (`'auto'`, `'orbits'`,
 * `'projector'`, `'constraints'`: EMLP's null space of stacked constraints), `seed` (the
 * projector's random vectors), `tolerance` (the rank decision, relative; default 1e-9);
 * `samples` is accepted for compatibility and no longer needed (Lie groups are integrated
 * exactly).
 */
export function solve(group: unknown, repIn: Representation<unknown>, repOut: Representation<unknown>, options: { samples?: number; seed?: number; tolerance?: number; method?: Method } = {}): BasisResult {
  checkOptions('basis.solve', options, { samples: ['int', true], seed: ['int', true], tolerance: ['positive', true], method: [['auto', 'orbits', 'projector', 'constraints'], true] }, true);
  if (options?.samples !== undefined && options.samples < 1) throw new ArgumentError(`basis.solve: samples must be a positive integer, got ${options.samples}`);
  const h = new HomSpace(group, repIn, repOut, { method: options?.method, seed: options?.seed, tolerance: options?.tolerance });
  const s = h.summary();
  const used = new Set(h.blocks.map((b) => b.block));
  let constraints = 0;
  for (const b of used) constraints = Math.max(constraints, b.elements);
  return { dimension: h.dimension, basis: h.dense(), characterDimension: h.characterDimension, constraints, methods: s.solved, residual: s.residual };
}
