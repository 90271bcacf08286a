/**
 * `Hom_G(rho_in, rho_out)`, all of it: the space of equivariant linear maps as independent
 * blocks (one per pair of terms of the two representations, ts/space/structure.ts), each solved
 * once per kind of block (ts/space/solver.ts). The basis is orthonormal (Frobenius) and kept in
 * the blocks' own form (signed orbit indicators, or dense vectors), so a space with thousands of
 * basis elements over tens of thousands of unknowns stays small; `element(i)`, `combine(c)` and
 * `entries()` give dense matrices, their combinations and a sparse list.
 */
import { ArgumentError } from '../core/errors.js';
import { checkOptions, describe, fmtBytes, limits } from '../core/limits.js';
import { GridGroup } from '../groups/grid.js';
import { Representation } from '../reps/index.js';
import { solverGroup, type SolverGroup } from './groups.js';
import { planBlock, sides, solveBlock, type Block, type Method, type Solved, type SolveOptions } from './solver.js';
import { termKey, terms, type AnyRep, type Term } from './structure.js';

export interface HomBlock {
  out: Term;
  in: Term;
  block: Block;
  /** Index of this block's first basis element in the whole basis. */
  offset: number;
}

export interface HomSummary {
  group: string;
  in: { name: string; dim: number };
  out: { name: string; dim: number };
  unknowns: number;
  dimension: number;
  characterDimension: number;
  /** Pairs of terms, and how many distinct kinds of block were solved, by method. */
  blocks: number;
  solved: Record<Solved, number>;
  largestBlock: number;
  residual: number;
  ms: number;
}

/** The checks every entry point runs first: two representations of `G` (p4/p4m: of its point group). */
export function checkReps(G: unknown, a: unknown, b: unknown, what: string): SolverGroup {
  const ok = (r: unknown) => r instanceof Representation || (r !== null && typeof r === 'object' && typeof (r as AnyRep).matrix === 'function' && Number.isSafeInteger((r as AnyRep).dim));
  if (!ok(a) || !ok(b)) throw new ArgumentError(`${what}: expected (G, repIn, repOut) with two representations (eq.reps.* or eq.space.rep(G, spec))`);
  const ra = a as AnyRep, rb = b as AnyRep;
  for (const r of [ra, rb]) if (!(r.dim >= 1)) throw new ArgumentError(`${what}: a representation's dim must be a positive integer, got ${r.dim}`);
  const of = (r: AnyRep) => r.group === G || (G instanceof GridGroup && r.group === G.pointGroup);
  if (!of(ra) || !of(rb)) {
    const same = ra.group === rb.group;
    throw new ArgumentError(`${what}: the representations must be of ${String(G)} (got ${same ? '' : 'representations of different groups: '}${String(ra.group)} and ${String(rb.group)})`);
  }
  return solverGroup(G, what);
}

let blockCache = new WeakMap<SolverGroup, Map<string, Block>>();

/** Forgets the solved blocks kept between calls (each kind of block is otherwise solved once per group). */
export function clearCache(): void {
  blockCache = new WeakMap();
}
const CACHE_BYTES = 64 * 2 ** 20;

function blockBytes(b: Block): number {
  return (b.vectors?.byteLength ?? 0) + (b.orbit?.byteLength ?? 0) + (b.value?.byteLength ?? 0);
}

export class HomSpace {
  readonly dimension: number;
  /** The same number from characters (finite groups) or the Haar integral of the character (Lie groups). */
  readonly characterDimension: number;
  readonly blocks: HomBlock[];
  readonly dOut: number;
  readonly dIn: number;
  readonly ms: number;
  readonly #summary: Omit<HomSummary, 'ms'>;

  constructor(readonly group: unknown, readonly repIn: AnyRep, readonly repOut: AnyRep, options: SolveOptions = {}) {
    const t0 = performance.now();
    const where = 'space.hom';
    checkOptions(where, options, { method: [['auto', 'orbits', 'projector', 'constraints'], true], seed: ['int', true], tolerance: ['positive', true] }, true);
    const G = checkReps(group, repIn, repOut, where);
    const method: Method = options.method ?? 'auto';
    if (options.tolerance !== undefined && !(options.tolerance < 1)) throw new ArgumentError(`${where}: tolerance must be in (0, 1), got ${options.tolerance}`);
    this.dOut = repOut.dim;
    this.dIn = repIn.dim;
    const tOut = terms(repOut), tIn = terms(repIn);
    checkPairs(tOut.length, tIn.length, where);
    for (const t of [...tOut, ...tIn]) for (const a of t.atoms) G.checkAtom(a, where);
    // Plan every pair first (dimensions, methods, sizes against the limits), then solve.
    const plans = new Map<string, { dimension: number; method: Solved; out: Term; in: Term }>();
    const pairs: { out: Term; in: Term; key: string }[] = [];
    const kOut = tOut.map(termKey), kIn = tIn.map(termKey);
    let total = 0;
    for (let a = 0; a < tOut.length; a++) for (let c = 0; c < tIn.length; c++) {
      const o = tOut[a], i = tIn[c];
      const key = `${kOut[a]}|${kIn[c]}`;
      let p = plans.get(key);
      if (!p) {
        const dimension = G.dimension(sides(o, i));
        p = { dimension, method: planBlock(G, o, i, dimension, method, where), out: o, in: i };
        plans.set(key, p);
      }
      total += p.dimension;
      pairs.push({ out: o, in: i, key });
    }
    let cache = blockCache.get(G);
    if (!cache) blockCache.set(G, (cache = new Map()));
    const seeded = `${method}/${options.seed ?? 1}/${options.tolerance ?? 1e-9}`;
    const solved = new Map<string, Block>();
    const counts: Record<Solved, number> = { zero: 0, orbits: 0, projector: 0, constraints: 0 };
    let residual = 0, largest = 0;
    for (const [key, p] of plans) {
      const ck = `${seeded}|${key}`;
      let b = cache.get(ck);
      if (!b) {
        b = solveBlock(G, p.out, p.in, p.dimension, p.method, options, where);
        if (blockBytes(b) <= CACHE_BYTES) {
          let bytes = blockBytes(b);
          for (const v of cache.values()) bytes += blockBytes(v);
          if (bytes > 4 * CACHE_BYTES) cache.clear();
          cache.set(ck, b);
        }
      }
      solved.set(key, b);
      counts[b.method]++;
      residual = Math.max(residual, b.residual ?? 0);
      largest = Math.max(largest, b.n);
    }
    this.blocks = [];
    let offset = 0;
    for (const pr of pairs) {
      const b = solved.get(pr.key)!;
      if (b.dimension === 0) continue;
      this.blocks.push({ out: pr.out, in: pr.in, block: b, offset });
      offset += b.dimension;
    }
    this.dimension = offset;
    this.characterDimension = total;
    this.ms = performance.now() - t0;
    this.#summary = {
      group: G.name,
      in: { name: repIn.name, dim: repIn.dim },
      out: { name: repOut.name, dim: repOut.dim },
      unknowns: repIn.dim * repOut.dim,
      dimension: this.dimension,
      characterDimension: total,
      blocks: pairs.length,
      solved: counts,
      largestBlock: largest,
      residual,
    };
  }

  /** Dimension, methods, sizes and the worst residual, for printing or JSON. */
  summary(): HomSummary {
    return { ...this.#summary, ms: this.ms };
  }

  /** Calls `visit(coordinate, value)` for the nonzero entries of basis element `i` (coordinate `o * dIn + i`). */
  forEachEntry(i: number, visit: (index: number, value: number) => void): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.dimension) throw new ArgumentError(`space: basis element ${i} is not in 0..${this.dimension - 1}`);
    let lo = 0, hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.blocks[mid].offset <= i) lo = mid;
      else hi = mid - 1;
    }
    const hb = this.blocks[lo], b = hb.block, k = i - hb.offset;
    const mo = hb.out.map, mi = hb.in.map, dIn = this.dIn;
    if (b.orbit) {
      for (let p = 0; p < b.n; p++) if (b.orbit[p] === k) visit(mo[Math.floor(p / b.dIn)] * dIn + mi[p % b.dIn], b.value![p]);
      return;
    }
    const v = b.vectors!.subarray(k * b.n, (k + 1) * b.n);
    for (let p = 0; p < b.n; p++) if (v[p] !== 0) visit(mo[Math.floor(p / b.dIn)] * dIn + mi[p % b.dIn], v[p]);
  }

  /** Basis element `i` as a dense `dOut x dIn` matrix, row-major. */
  element(i: number): Float64Array {
    const m = new Float64Array(this.dOut * this.dIn);
    this.forEachEntry(i, (p, v) => (m[p] = v));
    return m;
  }

  /** `sum over i of c[i] B_i`, a dense `dOut x dIn` matrix (what an equivariant linear layer multiplies by). */
  combine(coefficients: ArrayLike<number>, out?: Float64Array): Float64Array {
    if (coefficients === null || typeof coefficients !== 'object' || coefficients.length !== this.dimension) {
      throw new ArgumentError(`space.combine: expected ${this.dimension} coefficients, got ${coefficients && typeof coefficients === 'object' ? coefficients.length : typeof coefficients}`);
    }
    for (let i = 0; i < coefficients.length; i++) {
      if (typeof coefficients[i] !== 'number') throw new ArgumentError(`space.combine: coefficient ${i} is ${describe(coefficients[i])}, not a number`);
    }
    const m = out ?? new Float64Array(this.dOut * this.dIn);
    if (out) m.fill(0);
    const dIn = this.dIn;
    for (const hb of this.blocks) {
      const b = hb.block, mo = hb.out.map, mi = hb.in.map;
      if (b.orbit) {
        for (let p = 0; p < b.n; p++) {
          const o = b.orbit[p];
          if (o !== 0xffffffff) m[mo[Math.floor(p / b.dIn)] * dIn + mi[p % b.dIn]] += coefficients[hb.offset + o] * b.value![p];
        }
        continue;
      }
      for (let k = 0; k < b.dimension; k++) {
        const c = coefficients[hb.offset + k];
        if (c === 0) continue;
        const v = b.vectors!.subarray(k * b.n, (k + 1) * b.n);
        for (let p = 0; p < b.n; p++) m[mo[Math.floor(p / b.dIn)] * dIn + mi[p % b.dIn]] += c * v[p];
      }
    }
    return m;
  }

  /** The coefficients of the orthogonal projection of a dense `dOut x dIn` matrix onto the space: `c_i = <B_i, W>`. */
  project(W: ArrayLike<number>): Float64Array {
    if (W === null || typeof W !== 'object' || W.length !== this.dOut * this.dIn) throw new ArgumentError(`space.project: expected a ${this.dOut} x ${this.dIn} matrix (${this.dOut * this.dIn} numbers)`);
    const c = new Float64Array(this.dimension);
    const dIn = this.dIn;
    for (const hb of this.blocks) {
      const b = hb.block, mo = hb.out.map, mi = hb.in.map;
      for (let p = 0; p < b.n; p++) {
        const w = W[mo[Math.floor(p / b.dIn)] * dIn + mi[p % b.dIn]];
        if (w === 0) continue;
        if (b.orbit) {
          const o = b.orbit[p];
          if (o !== 0xffffffff) c[hb.offset + o] += w * b.value![p];
        } else for (let k = 0; k < b.dimension; k++) c[hb.offset + k] += w * b.vectors![k * b.n + p];
      }
    }
    return c;
  }

  /** Every basis element's nonzero entries: `index = o * dIn + i`, `element`, `value` (a sparse `(dOut dIn) x dimension` matrix). */
  entries(): { index: Int32Array; element: Int32Array; value: Float64Array } {
    let nnz = 0;
    for (const hb of this.blocks) {
      const b = hb.block;
      if (b.orbit) for (let p = 0; p < b.n; p++) nnz += b.orbit[p] !== 0xffffffff ? 1 : 0;
      else for (const v of b.vectors!) nnz += v !== 0 ? 1 : 0;
    }
    const index = new Int32Array(nnz), element = new Int32Array(nnz), value = new Float64Array(nnz);
    let at = 0;
    const dIn = this.dIn;
    for (const hb of this.blocks) {
      const b = hb.block, mo = hb.out.map, mi = hb.in.map;
      if (b.orbit) {
        for (let p = 0; p < b.n; p++) {
          if (b.orbit[p] === 0xffffffff) continue;
          index[at] = mo[Math.floor(p / b.dIn)] * dIn + mi[p % b.dIn];
          element[at] = hb.offset + b.orbit[p];
          value[at++] = b.value![p];
        }
        continue;
      }
      for (let k = 0; k < b.dimension; k++) for (let p = 0; p < b.n; p++) {
        const v = b.vectors![k * b.n + p];
        if (v === 0) continue;
        index[at] = mo[Math.floor(p / b.dIn)] * dIn + mi[p % b.dIn];
        element[at] = hb.offset + k;
        value[at++] = v;
      }
    }
    return { index, element, value };
  }

  /** The whole basis as dense matrices (refused beyond `limits.maxBasisBytes`). */
  dense(): Float64Array[] {
    const bytes = 8 * this.dimension * this.dOut * this.dIn;
    if (bytes > limits().maxBasisBytes) {
      throw new ArgumentError(`space: ${this.dimension} dense ${this.dOut} x ${this.dIn} basis matrices need ${fmtBytes(bytes)}, over limits.maxBasisBytes (${fmtBytes(limits().maxBasisBytes)}); use eq.space.hom(...) and its element(i), combine(c) or entries()`);
    }
    return Array.from({ length: this.dimension }, (_, i) => this.element(i));
  }
}

/** Pairs of terms (blocks) are bounded by `limits.maxBasisUnknowns` too: each has at least one unknown. */
function checkPairs(outTerms: number, inTerms: number, where: string): void {
  const max = limits().maxBasisUnknowns;
  if (outTerms * inTerms > max) throw new ArgumentError(`${where}: ${outTerms} x ${inTerms} = ${outTerms * inTerms} blocks (pairs of summands) is over the limit of ${max} (limits.maxBasisUnknowns)`);
}

/** The space of equivariant linear maps `repIn -> repOut` (see the module comment). */
export function hom(G: unknown, repIn: AnyRep, repOut: AnyRep, options: SolveOptions = {}): HomSpace {
  return new HomSpace(G, repIn, repOut, options);
}

/** `dim Hom_G(repIn, repOut)` exactly, from characters (finite groups) or the Haar integral of the character (SO(2), SO(3), O(3), SE(d), T(d)), without solving. */
export function homDimension(G: unknown, repIn: AnyRep, repOut: AnyRep, what = 'space.dimension'): number {
  const S = checkReps(G, repIn, repOut, what);
  const tOut = terms(repOut), tIn = terms(repIn);
  checkPairs(tOut.length, tIn.length, what);
  for (const t of [...tOut, ...tIn]) for (const a of t.atoms) S.checkAtom(a, what);
  const dims = new Map<string, number>();
  const kOut = tOut.map(termKey), kIn = tIn.map(termKey);
  let total = 0;
  for (let a = 0; a < tOut.length; a++) for (let c = 0; c < tIn.length; c++) {
    const o = tOut[a], i = tIn[c];
    const key = `${kOut[a]}|${kIn[c]}`;
    let d = dims.get(key);
    if (d === undefined) dims.set(key, (d = S.dimension(sides(o, i))));
    total += d;
  }
  return total;
}
