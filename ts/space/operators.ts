/**
 * Operators of the general layer as matrices: when `omega` is linear in the features on a finite
 * domain (a finite group, or a grid of a given size), `Phi_omega` is an affine map
 * `f -> M f + Phi(0)`, and `M` is found by running the layer itself (the engine, through
 * `eq.nn.phi` or any layer with `run`) on the basis vectors of its input space, a batch of
 * one-hot inputs. From `M`:
 *
 * - `rank`: the singular values (of `M`'s Gram matrix, f64 in wasm) and how many exceed the
 *   tolerance;
 * - `sameOperator(a, b)`: whether two omegas give the same operator (`omega`s are an
 *   over-complete description: kernels that differ where the neighbourhood never reaches, or on
 *   a grid where the grid never reaches, give one operator);
 * - `span(family)` and `compareSpans(a, b)`: the dimension of the span of a family of operators,
 *   and how two families' spans relate (contained, equal, their intersection).
 *
 * The matrices come from f32 layers, so decisions use a relative tolerance (default 1e-4) far
 * above f32 rounding (1e-7) and far below any structural difference; each result reports the gap.
 */
import { ArgumentError } from '../core/errors.js';
import { checkOptions, describe, fmtBytes, limits } from '../core/limits.js';
import { Tensor, tensor, tidy } from '../core/tensor.js';
import { seededRng } from '../groups/lie.js';
import { gramKernel, symmetricEigen } from './kernels.js';

/** Anything that maps a batch of feature maps to a batch of feature maps (a layer, a model, a function). */
export type LinearMap = { run(x: Tensor): Tensor; readonly inType?: { layout(): string } } | ((x: Tensor) => Tensor);

export interface OperatorOptions {
  /**
   * The shape of one input (without the batch axis), e.g. `[C, |G|]` on a finite group or
   * `[C, |P|, H, W]` on a grid; by default read from the layer's input type when it fixes it
   * (regular fields of a finite group).
   */
  shape?: number[];
  /** Inputs per batch while materialising (default 256). */
  batch?: number;
  /** Check linearity on seeded random inputs (default true): `Phi(x) - Phi(0) = M x`. */
  check?: boolean;
}

export interface OperatorMatrix {
  /** `rows x cols`, row-major: column `j` is `Phi(e_j) - Phi(0)`. */
  matrix: Float64Array;
  rows: number;
  cols: number;
  inShape: number[];
  outShape: number[];
  /** `Phi(0)`: the bias part of an affine operator. */
  offset: Float64Array;
  /** `max |Phi(x) - Phi(0) - M x| / max |M x|` on seeded random inputs (0 when not checked). */
  linearityError: number;
}

export interface RankResult {
  rank: number;
  /** Singular values, largest first. */
  singularValues: Float64Array;
  tolerance: number;
  /** The smallest singular value kept and the largest dropped, relative to the largest (the gap). */
  smallestKept: number;
  largestDropped: number;
}

function runner(op: LinearMap, what: string): (x: Tensor) => Tensor {
  if (typeof op === 'function') return op;
  if (op && typeof (op as { run?: unknown }).run === 'function') return (x) => (op as { run(x: Tensor): Tensor }).run(x);
  throw new ArgumentError(`${what}: expected a layer, a model or a function of a batch, got ${describe(op)}`);
}

function inputShape(op: LinearMap, options: OperatorOptions, what: string): number[] {
  if (options.shape !== undefined) {
    if (!Array.isArray(options.shape) || options.shape.length === 0 || !options.shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
      throw new ArgumentError(`${what}: shape must be a non-empty array of positive integers (one input, no batch axis), got ${describe(options.shape)}`);
    }
    return [...options.shape];
  }
  const layout = typeof op === 'function' ? undefined : op.inType?.layout();
  const m = layout ? /^\[N, (\d+(?:, \d+)*)\]$/.exec(layout) : null;
  if (!m) throw new ArgumentError(`${what}: give options.shape, the shape of one input (e.g. [C, |P|, H, W] on a grid); the layer's input type does not fix it${layout ? ` (${layout})` : ''}`);
  return m[1].split(', ').map(Number);
}

/** Checks the options of `what` by name and kind; returns the tolerance (default 1e-4) where it takes one. */
function checked(what: string, options: unknown, tolerance: boolean): number {
  checkOptions(what, options, tolerance ? { shape: ['any', true], batch: ['any', true], tolerance: ['any', true] } : { shape: ['any', true], batch: ['any', true] }, true);
  const t = (options as { tolerance?: unknown } | undefined)?.tolerance ?? 1e-4;
  if (typeof t !== 'number' || !(t >= 0) || !Number.isFinite(t)) throw new ArgumentError(`${what}: tolerance must be a finite non-negative number, got ${describe(t)}`);
  return t;
}

/** A span given to compareSpans: a family (an array) or what `span` returned. */
function spanOf(x: unknown, options: OperatorOptions, side: string): SpanResult {
  if (Array.isArray(x)) return span(x, options);
  const s = x as SpanResult | null;
  if (s === null || typeof s !== 'object' || !(s.vectors instanceof Float64Array) || !Number.isSafeInteger(s.members) || !Number.isSafeInteger(s.length) || !Number.isSafeInteger(s.dimension)) {
    throw new ArgumentError(`space.compareSpans: ${side} must be a family of operators (an array) or a span(...) result, got ${describe(x)}`);
  }
  return s;
}

/** `Phi` as a matrix on inputs of one shape (see the module comment). */
export function operatorMatrix(op: LinearMap, options: OperatorOptions = {}): OperatorMatrix {
  const what = 'space.operatorMatrix';
  checked(what, options, false);
  const run = runner(op, what);
  const shape = inputShape(op, options, what);
  const cols = shape.reduce((a, b) => a * b, 1);
  const batch = options.batch ?? 256;
  if (!Number.isSafeInteger(batch) || batch < 1) throw new ArgumentError(`${what}: batch must be a positive integer, got ${describe(batch)}`);
  const zero = tidy(() => {
    const y = run(tensor(new Float32Array(cols), [1, ...shape]));
    return { data: Float64Array.from(y.toArray()), shape: y.shape.slice(1) };
  });
  const rows = zero.data.length;
  const bytes = 8 * rows * cols;
  if (bytes > limits().maxBasisBytes) throw new ArgumentError(`${what}: a ${rows} x ${cols} matrix needs ${fmtBytes(bytes)}, over limits.maxBasisBytes (${fmtBytes(limits().maxBasisBytes)})`);
  const matrix = new Float64Array(rows * cols);
  for (let j0 = 0; j0 < cols; j0 += batch) {
    const b = Math.min(batch, cols - j0);
    tidy(() => {
      const x = new Float32Array(b * cols);
      for (let t = 0; t < b; t++) x[t * cols + j0 + t] = 1;
      const y = run(tensor(x, [b, ...shape])).toArray();
      if (y.length !== b * rows) throw new ArgumentError(`${what}: the operator gave ${y.length / b} outputs per input for one-hot inputs but ${rows} for zero`);
      for (let t = 0; t < b; t++) for (let r = 0; r < rows; r++) matrix[r * cols + j0 + t] = y[t * rows + r] - zero.data[r];
    });
  }
  let linearityError = 0;
  if (options.check ?? true) {
    const rng = seededRng(2024);
    for (let trial = 0; trial < 2; trial++) {
      const x = Float32Array.from({ length: cols }, () => 2 * rng() - 1);
      const y = tidy(() => run(tensor(x, [1, ...shape])).toArray());
      let err = 0, scale = 0;
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += matrix[r * cols + c] * x[c];
        err = Math.max(err, Math.abs(y[r] - zero.data[r] - s));
        scale = Math.max(scale, Math.abs(s));
      }
      linearityError = Math.max(linearityError, err / (scale || 1));
    }
    if (linearityError > 1e-3) {
      throw new ArgumentError(`${what}: this operator is not linear in the features (Phi(x) - Phi(0) differs from the matrix by ${linearityError.toExponential(2)} relative): omegas that read the features nonlinearly (attention with content, an MLP of f) have no matrix`);
    }
  }
  return { matrix, rows, cols, inShape: shape, outShape: zero.shape, offset: zero.data, linearityError };
}

function asMatrix(m: LinearMap | OperatorMatrix, options: OperatorOptions): OperatorMatrix {
  return isMatrix(m) ? m : operatorMatrix(m, { shape: options.shape, batch: options.batch });
}

function isMatrix(m: unknown): m is OperatorMatrix {
  return m !== null && typeof m === 'object' && (m as OperatorMatrix).matrix instanceof Float64Array && Number.isSafeInteger((m as OperatorMatrix).rows);
}

/** Rank from the eigenvalues of a Gram matrix (`sigma^2`), with the tolerance relative to the largest. */
function rankOfGram(gram: Float64Array, n: number, tolerance: number): RankResult {
  const { values } = symmetricEigen(gram, n);
  const sv = Float64Array.from(values, (v) => Math.sqrt(Math.max(0, v))).reverse();
  const top = sv[0] ?? 0;
  let rank = 0;
  while (rank < sv.length && sv[rank] > tolerance * top) rank++;
  return { rank, singularValues: sv, tolerance, smallestKept: rank ? sv[rank - 1] / top : 0, largestDropped: rank < sv.length && top ? sv[rank] / top : 0 };
}

const MAX_GRAM = 4096;

/** The rank of an operator (or a matrix `{ matrix, rows, cols }`), from its singular values. */
export function rank(op: LinearMap | OperatorMatrix, options: OperatorOptions & { tolerance?: number } = {}): RankResult {
  const tol = checked('space.rank', options, true);
  const m = asMatrix(op, options);
  const { rows, cols, matrix } = m;
  const small = Math.min(rows, cols);
  if (small > MAX_GRAM) throw new ArgumentError(`space.rank: a ${rows} x ${cols} matrix: its smaller side is over ${MAX_GRAM}`);
  // Gram of the smaller side: the columns' if there are fewer columns, else the rows'.
  let vectors: Float64Array;
  if (cols <= rows) {
    vectors = new Float64Array(cols * rows);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) vectors[c * rows + r] = matrix[r * cols + c];
  } else vectors = matrix;
  const n = cols <= rows ? cols : rows, len = cols <= rows ? rows : cols;
  return rankOfGram(gramKernel(vectors, n, len), n, tol);
}

export interface SameResult {
  same: boolean;
  /** `max |M_a - M_b|` (and of the offsets) relative to the largest entry of either. */
  relativeDifference: number;
  tolerance: number;
}

/** Whether two operators are the same map on inputs of one shape (their matrices and offsets). */
export function sameOperator(a: LinearMap | OperatorMatrix, b: LinearMap | OperatorMatrix, options: OperatorOptions & { tolerance?: number } = {}): SameResult {
  const tolerance = checked('space.sameOperator', options, true);
  const ma = asMatrix(a, options), mb = asMatrix(b, { ...options, shape: options.shape ?? (isMatrix(a) ? a.inShape : undefined) ?? ma.inShape });
  if (ma.rows !== mb.rows || ma.cols !== mb.cols) throw new ArgumentError(`space.sameOperator: the operators map ${ma.cols} -> ${ma.rows} and ${mb.cols} -> ${mb.rows} values`);
  let diff = 0, scale = 0;
  for (let i = 0; i < ma.matrix.length; i++) {
    diff = Math.max(diff, Math.abs(ma.matrix[i] - mb.matrix[i]));
    scale = Math.max(scale, Math.abs(ma.matrix[i]), Math.abs(mb.matrix[i]));
  }
  for (let i = 0; i < ma.offset.length; i++) {
    diff = Math.max(diff, Math.abs(ma.offset[i] - mb.offset[i]));
    scale = Math.max(scale, Math.abs(ma.offset[i]), Math.abs(mb.offset[i]));
  }
  const rel = diff / (scale || 1);
  return { same: rel <= tolerance, relativeDifference: rel, tolerance };
}

export interface SpanResult extends RankResult {
  /** The span's dimension (= rank). */
  dimension: number;
  members: number;
  /** The members' matrices, normalised to unit norm (what the span is measured on). */
  vectors: Float64Array;
  length: number;
}

/** The dimension of the span of a family of operators on inputs of one shape (their linear parts). */
export function span(family: readonly (LinearMap | OperatorMatrix)[], options: OperatorOptions & { tolerance?: number } = {}): SpanResult {
  if (!Array.isArray(family) || family.length === 0) throw new ArgumentError(`space.span: expected a non-empty array of operators, got ${describe(family)}`);
  if (family.length > MAX_GRAM) throw new ArgumentError(`space.span: ${family.length} operators; at most ${MAX_GRAM}`);
  const tol = checked('space.span', options, true);
  const mats = family.map((f) => asMatrix(f, options));
  const len = mats[0].matrix.length;
  for (const m of mats) if (m.matrix.length !== len) throw new ArgumentError(`space.span: the operators have matrices of different sizes (${mats[0].rows} x ${mats[0].cols} and ${m.rows} x ${m.cols})`);
  if (8 * len * mats.length > limits().maxBasisBytes) throw new ArgumentError(`space.span: ${mats.length} matrices of ${len} entries need ${fmtBytes(8 * len * mats.length)}, over limits.maxBasisBytes`);
  const vectors = new Float64Array(mats.length * len);
  mats.forEach((m, i) => {
    let norm = 0;
    for (const v of m.matrix) norm += v * v;
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let k = 0; k < len; k++) vectors[i * len + k] = m.matrix[k] * inv;
  });
  const r = rankOfGram(gramKernel(vectors, mats.length, len), mats.length, tol);
  return { ...r, dimension: r.rank, members: mats.length, vectors, length: len };
}

export interface SpanComparison {
  a: number;
  b: number;
  /** `dim(A + B)` and `dim(A n B) = dim A + dim B - dim(A + B)`. */
  sum: number;
  intersection: number;
  aInB: boolean;
  bInA: boolean;
  equal: boolean;
}

/** How the spans of two families relate (each a family or a `span(...)` result). */
export function compareSpans(a: SpanResult | readonly (LinearMap | OperatorMatrix)[], b: SpanResult | readonly (LinearMap | OperatorMatrix)[], options: OperatorOptions & { tolerance?: number } = {}): SpanComparison {
  const tol = checked('space.compareSpans', options, true);
  const sa = spanOf(a, options, 'the first'), sb = spanOf(b, options, 'the second');
  if (sa.length !== sb.length) throw new ArgumentError(`space.compareSpans: operators of different sizes (${sa.length} and ${sb.length} matrix entries)`);
  const joint = new Float64Array(sa.vectors.length + sb.vectors.length);
  joint.set(sa.vectors, 0);
  joint.set(sb.vectors, sa.vectors.length);
  const m = sa.members + sb.members;
  if (m > MAX_GRAM) throw new ArgumentError(`space.compareSpans: ${m} operators together; at most ${MAX_GRAM}`);
  const sum = rankOfGram(gramKernel(joint, m, sa.length), m, tol).rank;
  return { a: sa.dimension, b: sb.dimension, sum, intersection: sa.dimension + sb.dimension - sum, aInB: sum === sb.dimension, bInA: sum === sa.dimension, equal: sum === sa.dimension && sum === sb.dimension };
}
