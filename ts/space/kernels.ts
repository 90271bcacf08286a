/**
 * The operator-space kernels in wasm (crate/src/nullspace.rs), f64 in and out: each call copies
 * its operands into temporaries, runs one checked kernel, copies the result out and frees
 * everything, however it ends.
 */
import { F64Buffer, U32Buffer, withTemporaries } from '../core/buffers.js';
import { call } from '../core/wasm.js';

/** One problem: factor extents, and for each element the factor matrices one after another. */
export interface Factors {
  dims: number[];
  /** `count x sum d_i^2`, row-major factor matrices. */
  matrices: Float64Array;
  count: number;
}

/** Orbits with signs of signed-permutation generators (`nullspace::orbits`). */
export function orbitsKernel(f: Factors, n: number): { count: number; orbit: Uint32Array; value: Float64Array } {
  return withTemporaries((t) => {
    const dims = t.add(new U32Buffer(Uint32Array.from(f.dims)));
    const mats = t.add(new F64Buffer(f.matrices.length ? f.matrices : new Float64Array(1)));
    const orbit = t.add(new U32Buffer(n));
    const value = t.add(new F64Buffer(n));
    const count = t.add(new U32Buffer(1));
    call('space.orbits', (k) => k.space_orbits(dims.ptr, f.dims.length, mats.ptr, f.count, orbit.ptr, value.ptr, count.ptr));
    return { count: count.toArray()[0], orbit: orbit.toArray(), value: value.toArray() };
  });
}

export interface RangeResult {
  rank: number;
  /** `rank x n`, orthonormal vectors one after another. */
  vectors: Float64Array;
  /** Largest initial norm, the last kept and the first dropped pivot relative to it. */
  first: number;
  lastKept: number;
  firstDropped: number;
}

/** The range of the staged projector on `r` seeded random vectors (`nullspace::range`). */
export function rangeKernel(dims: number[], stages: { count: number; weights: number[] }[], matrices: Float64Array, n: number, r: number, seed: number, tol: number): RangeResult {
  return withTemporaries((t) => {
    const d = t.add(new U32Buffer(Uint32Array.from(dims)));
    const counts = t.add(new U32Buffer(Uint32Array.from(stages.map((s) => s.count))));
    const weights = t.add(new F64Buffer(Float64Array.from(stages.flatMap((s) => s.weights))));
    const mats = t.add(new F64Buffer(matrices.length ? matrices : new Float64Array(1)));
    const y = t.add(new F64Buffer(r * n));
    const info = t.add(new F64Buffer(4));
    call('space.range', (k) => k.space_range(d.ptr, dims.length, counts.ptr, stages.length, weights.ptr, mats.ptr, r, seed >>> 0, tol, y.ptr, info.ptr));
    const [rank, first, lastKept, firstDropped] = info.toArray();
    return { rank, vectors: y.view().slice(0, rank * n), first, lastKept, firstDropped };
  });
}

/** EMLP's dense method (`nullspace::dense_nullspace`): kinds 0 (element) or 1 (Lie-algebra generator). */
export function denseKernel(dims: number[], kinds: number[], matrices: Float64Array, n: number, tol: number): { rank: number; vectors: Float64Array; eigenvalues: Float64Array } {
  return withTemporaries((t) => {
    const d = t.add(new U32Buffer(Uint32Array.from(dims)));
    const ks = t.add(new U32Buffer(Uint32Array.from(kinds.length ? kinds : [0])));
    const mats = t.add(new F64Buffer(matrices.length ? matrices : new Float64Array(1)));
    const basis = t.add(new F64Buffer(n * n));
    const values = t.add(new F64Buffer(n));
    const rank = t.add(new U32Buffer(1));
    call('space.dense', (k) => k.space_dense(d.ptr, dims.length, ks.ptr, kinds.length, mats.ptr, tol, basis.ptr, values.ptr, rank.ptr));
    const r = rank.toArray()[0];
    return { rank: r, vectors: basis.view().slice(0, r * n), eigenvalues: values.toArray() };
  });
}

/** `max |K b - b|` over elements and basis vectors (`nullspace::residual`). */
export function residualKernel(f: Factors, vectors: Float64Array, count: number): number {
  if (count === 0 || f.count === 0) return 0;
  return withTemporaries((t) => {
    const d = t.add(new U32Buffer(Uint32Array.from(f.dims)));
    const mats = t.add(new F64Buffer(f.matrices));
    const b = t.add(new F64Buffer(vectors));
    const out = t.add(new F64Buffer(1));
    call('space.residual', (k) => k.space_residual(d.ptr, f.dims.length, mats.ptr, f.count, b.ptr, count, out.ptr));
    return out.toArray()[0];
  });
}

/**
 * Eigenvalues (ascending) and eigenvectors (row `i` of `vectors` for `values[i]`) of a symmetric
 * `n x n` matrix (`nullspace::sym_eigen`: Householder tridiagonalisation, implicit QR).
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  if (n === 0) return { values: new Float64Array(0), vectors: new Float64Array(0) };
  return withTemporaries((t) => {
    const ab = t.add(new F64Buffer(a));
    const v = t.add(new F64Buffer(n * n));
    const w = t.add(new F64Buffer(n));
    call('space.eigen', (k) => k.space_eigen(ab.ptr, n, v.ptr, w.ptr));
    return { values: w.toArray(), vectors: v.toArray() };
  });
}

/** `V V^T` for `m` vectors of length `n` one after another. */
export function gramKernel(v: Float64Array, m: number, n: number): Float64Array {
  if (m === 0) return new Float64Array(0);
  return withTemporaries((t) => {
    const vb = t.add(new F64Buffer(v));
    const g = t.add(new F64Buffer(m * m));
    call('space.gram', (k) => k.space_gram(vb.ptr, m, n, g.ptr));
    return g.toArray();
  });
}
