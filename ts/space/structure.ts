/**
 * A representation as a sum of tensor products of atoms, with the index map of each term.
 *
 * `directSum` and `tensorProduct` record their parts (ts/reps/structure.ts), so
 * `(A + B) x C` is known to be `A x C + B x C`: each **term** is a list of atoms (representations
 * built any other way) whose Kronecker product acts on a block of coordinates, and `map[p]` is
 * the coordinate of the whole representation that the term's `p`-th coordinate (row-major over
 * its atoms) is. Equivariant maps between two representations then split into independent
 * blocks, one per pair of terms, and blocks whose terms have the same atoms share one solve.
 */
import type { Representation } from '../reps/index.js';
import { structureOf } from '../reps/structure.js';

export type AnyRep = Representation<any>;

export interface Term {
  atoms: AnyRep[];
  dims: number[];
  size: number;
  /** Coordinate of the whole representation for each coordinate of the term. */
  map: Int32Array;
}

const cache = new WeakMap<object, Term[]>();
const ids = new WeakMap<object, number>();
let nextId = 1;

/** A number per atom object, for cache keys. */
export function atomId(rep: object): number {
  let id = ids.get(rep);
  if (id === undefined) ids.set(rep, (id = nextId++));
  return id;
}

/** The terms of `rep` (cached per representation object). */
export function terms(rep: AnyRep): Term[] {
  let t = cache.get(rep);
  if (!t) cache.set(rep, (t = build(rep)));
  return t;
}

function build(rep: AnyRep): Term[] {
  const s = structureOf(rep);
  if (!s) return [{ atoms: [rep], dims: [rep.dim], size: rep.dim, map: Int32Array.from({ length: rep.dim }, (_, i) => i) }];
  const parts = s.parts as AnyRep[];
  if (s.kind === 'sum') {
    const out: Term[] = [];
    let offset = 0;
    for (const p of parts) {
      for (const t of terms(p)) out.push({ ...t, map: Int32Array.from(t.map, (v) => v + offset) });
      offset += p.dim;
    }
    return out;
  }
  // A product of two parts: every pair of their terms, coordinate (i, j) -> I * dim_b + J.
  const [a, b] = parts;
  const out: Term[] = [];
  for (const ta of terms(a)) for (const tb of terms(b)) {
    const map = new Int32Array(ta.size * tb.size);
    for (let i = 0; i < ta.size; i++) {
      const base = ta.map[i] * b.dim;
      for (let j = 0; j < tb.size; j++) map[i * tb.size + j] = base + tb.map[j];
    }
    out.push({ atoms: [...ta.atoms, ...tb.atoms], dims: [...ta.dims, ...tb.dims], size: ta.size * tb.size, map });
  }
  return out;
}

/** A key naming a term's atoms in order. */
export function termKey(t: Term): string {
  return t.atoms.map(atomId).join('.');
}

/**
 * Whether two representations are the same: the same object, or built from the same atoms in
 * the same way (equal terms with equal index maps), as two parses of one string are.
 */
export function sameRep(a: AnyRep, b: AnyRep): boolean {
  if (a === b) return true;
  if (a.group !== b.group || a.dim !== b.dim) return false;
  const ta = terms(a), tb = terms(b);
  if (ta.length !== tb.length) return false;
  for (let i = 0; i < ta.length; i++) {
    const x = ta[i], y = tb[i];
    if (x.atoms.length !== y.atoms.length || x.atoms.some((r, j) => r !== y.atoms[j])) return false;
    for (let p = 0; p < x.size; p++) if (x.map[p] !== y.map[p]) return false;
  }
  return true;
}
