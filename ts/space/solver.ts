/**
 * One block of a space of equivariant maps: the fixed vectors of `H = (x) out atoms (x) (x)
 * duals of the in atoms`, by the method that fits (crate/src/nullspace.rs):
 *
 * - `'orbits'` when every factor of every generator is a signed permutation (permutation,
 *   regular and sign representations and their products): exact, `O(n)`, a sparse basis;
 * - `'projector'` otherwise: the exact projector (ts/space/groups.ts) on `dim + 4` seeded random
 *   vectors, then rank-revealing Gram-Schmidt;
 * - `'constraints'` on request (at most 1,024 unknowns): EMLP's dense null space of the
 *   stacked constraints (generators; Lie-algebra generators plus discrete ones for Lie groups).
 *
 * The dimension comes first, from characters (finite groups) or the Haar integral of the
 * character (Lie groups); a block of dimension 0 is not solved at all, and the rank any method
 * finds must equal it.
 */
import { ArgumentError } from '../core/errors.js';
import { fmtBytes, limits } from '../core/limits.js';
import { type Side, type SolverGroup } from './groups.js';
import { denseKernel, orbitsKernel, rangeKernel, residualKernel, type Factors } from './kernels.js';
import { SNAP_TOLERANCE } from './snap.js';
import type { Term } from './structure.js';

export type Method = 'auto' | 'orbits' | 'projector' | 'constraints';
export type Solved = 'zero' | 'orbits' | 'projector' | 'constraints';

export interface SolveOptions {
  /** How to solve (default `'auto'`). */
  method?: Method;
  /** Seed of the projector's random vectors (default 1). */
  seed?: number;
  /** Relative tolerance of the rank decision (default 1e-9). */
  tolerance?: number;
}

/** Largest problem the dense (`'constraints'`) method takes. */
export const MAX_DENSE_UNKNOWNS = 1024;

/** The basis of one block, in the block's own coordinates (`out-local x in-local`, row-major). */
export interface Block {
  /** Atom extents: the output's, then the input's. */
  dims: number[];
  dOut: number;
  dIn: number;
  /** Unknowns, `dOut * dIn`. */
  n: number;
  dimension: number;
  method: Solved;
  /** Orbits: for each coordinate its basis vector (`u32 max`: none) and signed value. */
  orbit?: Uint32Array;
  value?: Float64Array;
  /** Projector and constraints: `dimension x n` orthonormal vectors. */
  vectors?: Float64Array;
  /** Group elements used (generators, stage elements or constraints). */
  elements: number;
  /** `max |H(g) b - b|` over the check elements and the basis (dense methods). */
  residual?: number;
  /** Projector: the last kept and first dropped pivot, relative to the largest (the rank gap). */
  gap?: { lastKept: number; firstDropped: number };
  /** Constraints: the smallest eigenvalue refused, relative to the largest (the rank gap). */
  eigenGap?: number;
  ms: number;
}

export function sides(out: Term, inn: Term): Side[] {
  return [...out.atoms.map((atom) => ({ atom, dual: false })), ...inn.atoms.map((atom) => ({ atom, dual: true }))];
}

function factorsAt(G: SolverGroup, s: Side[], elements: unknown[]): Factors {
  const per = s.reduce((a, x) => a + x.atom.dim * x.atom.dim, 0);
  const m = new Float64Array(per * elements.length);
  let at = 0;
  for (const g of elements) for (const side of s) {
    m.set(G.matrix(side, g), at);
    at += side.atom.dim * side.atom.dim;
  }
  return { dims: s.map((x) => x.atom.dim), matrices: m, count: elements.length };
}

function isSigned(m: Float64Array, d: number): boolean {
  const rowUsed = new Uint8Array(d);
  for (let c = 0; c < d; c++) {
    let found = false;
    for (let r = 0; r < d; r++) {
      const v = m[r * d + c];
      if (Math.abs(v) <= SNAP_TOLERANCE) continue;
      if (Math.abs(Math.abs(v) - 1) > SNAP_TOLERANCE || found || rowUsed[r]) return false;
      found = true;
      rowUsed[r] = 1;
    }
    if (!found) return false;
  }
  return true;
}

/** Whether the orbit method applies: finite group (or trivial action) with signed-permutation factors. */
export function orbitsApply(G: SolverGroup, s: Side[]): boolean {
  if (G.kind === 'lie') return G.trivialAction;
  return G.generators.every((g) => s.every((side) => isSigned(G.matrix(side, g), side.atom.dim)));
}

/** What a block will cost, checked against the limits before anything is solved. */
export function planBlock(G: SolverGroup, out: Term, inn: Term, dimension: number, method: Method, where: string): Solved {
  const n = out.size * inn.size;
  const lim = limits();
  if (n > lim.maxBasisUnknowns) {
    throw new ArgumentError(`${where}: a block of ${out.size} x ${inn.size} = ${n} unknowns is over the limit of ${lim.maxBasisUnknowns} (limits.maxBasisUnknowns; raise it with eq.setLimits if this is intended)`);
  }
  if (dimension === 0) return 'zero';
  const s = sides(out, inn);
  let m: Solved;
  if (method === 'constraints') m = 'constraints';
  else if (method === 'orbits') {
    if (!orbitsApply(G, s)) throw new ArgumentError(`${where}: method 'orbits' needs generators acting by signed permutations on every atom (permutation, regular and sign representations); use 'auto' or 'projector'`);
    m = 'orbits';
  } else if (method === 'projector') m = 'projector';
  else m = orbitsApply(G, s) ? 'orbits' : 'projector';
  if (m === 'constraints' && n > MAX_DENSE_UNKNOWNS) throw new ArgumentError(`${where}: method 'constraints' forms an n x n matrix; ${n} unknowns is over its ${MAX_DENSE_UNKNOWNS} (use 'auto')`);
  if (m === 'projector') {
    const count = G.stages(s).reduce((a, st) => a + st.elements.length, 0);
    const bytes = 8 * count * s.reduce((a, x) => a + x.atom.dim * x.atom.dim, 0);
    if (bytes > lim.maxBasisBytes) throw new ArgumentError(`${where}: the projector's ${count} elements need ${fmtBytes(bytes)} of factor matrices, over limits.maxBasisBytes (${fmtBytes(lim.maxBasisBytes)})`);
  }
  if (m === 'projector' || m === 'constraints') {
    const bytes = 8 * n * (m === 'projector' ? dimension + 4 : n);
    if (bytes > lim.maxBasisBytes) {
      throw new ArgumentError(`${where}: a dense basis of ${dimension} vectors of ${n} unknowns needs ${fmtBytes(bytes)}, over the limit of ${fmtBytes(lim.maxBasisBytes)} (limits.maxBasisBytes; raise it with eq.setLimits if this is intended)`);
    }
  }
  return m;
}

/** Solves one block with a planned method. */
export function solveBlock(G: SolverGroup, out: Term, inn: Term, dimension: number, method: Solved, options: SolveOptions, where: string): Block {
  const t0 = performance.now();
  const s = sides(out, inn);
  const dims = s.map((x) => x.atom.dim);
  const n = out.size * inn.size;
  const base = { dims, dOut: out.size, dIn: inn.size, n, dimension };
  const tol = options.tolerance ?? 1e-9;
  const done = (b: Omit<Block, 'ms' | keyof typeof base>): Block => ({ ...base, ...b, ms: performance.now() - t0 });
  if (method === 'zero') return done({ method, elements: 0 });
  if (method === 'orbits') {
    const f = factorsAt(G, s, G.generators);
    const { count, orbit, value } = orbitsKernel(f, n);
    if (count !== dimension) throw new ArgumentError(`${where}: the orbits give ${count} fixed vectors but the character formula gives ${dimension}; the representations are not what they claim`);
    return done({ method, orbit, value, elements: G.generators.length });
  }
  if (method === 'projector') {
    const stages = G.stages(s);
    const elements = stages.flatMap((st) => st.elements);
    const f = factorsAt(G, s, elements);
    const r = dimension + 4;
    const res = rangeKernel(dims, stages.map((st) => ({ count: st.elements.length, weights: st.weights })), f.matrices, n, r, options.seed ?? 1, tol);
    if (res.rank !== dimension) {
      throw new ArgumentError(`${where}: the projector's range has rank ${res.rank} (pivots ${res.lastKept.toExponential(2)} kept, ${res.firstDropped.toExponential(2)} dropped) but the dimension is ${dimension}; the representation's matrices may not be exact enough for tolerance ${tol}`);
    }
    const residual = residualKernel(factorsAt(G, s, G.checks), res.vectors, dimension);
    return done({ method, vectors: res.vectors, elements: elements.length, residual, gap: { lastKept: res.lastKept, firstDropped: res.firstDropped } });
  }
  // EMLP's dense method: generators as elements (finite), or the Lie algebra plus discrete generators.
  const kinds: number[] = [];
  const parts: Float64Array[] = [];
  if (G.kind === 'finite') {
    for (const g of G.generators) {
      kinds.push(0);
      for (const side of s) parts.push(G.matrix(side, g));
    }
  } else {
    for (let i = 0; i < G.algebraCount; i++) {
      kinds.push(1);
      for (const side of s) parts.push(G.algebra(side, i));
    }
    for (const g of G.discrete) {
      kinds.push(0);
      for (const side of s) parts.push(G.matrix(side, g));
    }
  }
  const mats = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    mats.set(p, at);
    at += p.length;
  }
  const res = denseKernel(dims, kinds, mats, n, tol);
  if (res.rank !== dimension) {
    throw new ArgumentError(`${where}: the stacked constraints have a null space of dimension ${res.rank} but the dimension is ${dimension}`);
  }
  const top = Math.max(1, ...Array.from(res.eigenvalues, Math.abs));
  const residual = residualKernel(factorsAt(G, s, G.checks), res.vectors, dimension);
  return done({ method, vectors: res.vectors, elements: kinds.length, residual, eigenGap: dimension < n ? res.eigenvalues[dimension] / top : undefined });
}
