/**
 * Representations from short strings, as the command line and model configs write them:
 *
 *     sum     := product ('+' product)*          direct sum
 *     product := power ('*' power)*              tensor product; an integer n means n copies
 *     power   := atom ('^' integer)?             tensor power
 *     atom    := integer | name (':' integer)? | '(' sum ')'
 *
 * Names: `trivial` (also `S`, `scalar`), `regular`, `sign`, `standard`, `perm` (S_n on n
 * points), `irrep:k` (C_n, D_n, p4/p4m, SO(2)), `defining` (also `V`, `vector`), `det` (also
 * `P`, `pseudo`: O(3)'s pseudoscalars). `5*V + V^2` is five vectors plus a rank-2 tensor;
 * `perm^3` is S_n acting on n x n x n tensors; an integer alone is that many trivial copies.
 * Each name is one representation object per group, so equal atoms share solves. The string a
 * representation was made from is kept (`specOf`), which is how layers write their configs.
 */
import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/limits.js';
import { FiniteGroup, SymmetricGroup } from '../groups/finite.js';
import { GridGroup } from '../groups/grid.js';
import { LieGroup } from '../groups/lie.js';
import * as R from '../reps/index.js';
import type { AnyRep } from './structure.js';

const specs = new WeakMap<object, string>();
const atoms = new WeakMap<object, Map<string, AnyRep>>();

/** The string a representation was parsed from, if it was. */
export function specOf(rep: unknown): string | undefined {
  return rep !== null && typeof rep === 'object' ? specs.get(rep) : undefined;
}

/** The representation names `rep` understands for a group (for help texts). */
export const REP_NAMES = ['trivial (S)', 'regular', 'sign', 'standard', 'perm', 'irrep:<k>', 'defining (V)', 'det (P)'];

const MAX_SPEC = 1000;
const MAX_DIM = 2 ** 24;

const CANONICAL: Record<string, string> = { S: 'trivial', scalar: 'trivial', V: 'defining', vector: 'defining', P: 'det', pseudo: 'det' };

function atom(G: unknown, given: string, k: number | undefined, spec: string): AnyRep {
  const name = CANONICAL[given] ?? given;
  const key = k === undefined ? name : `${name}:${k}`;
  const owner = G instanceof GridGroup ? G.pointGroup : (G as object);
  let m = atoms.get(owner);
  if (!m) atoms.set(owner, (m = new Map()));
  const hit = m.get(key);
  if (hit) return hit;
  const fin = G instanceof FiniteGroup || G instanceof GridGroup;
  const needFinite = () => {
    if (!fin) throw new ArgumentError(`rep '${spec}': '${name}' needs a finite group (or p4/p4m), got ${String(G)}`);
  };
  const needLie = () => {
    if (!(G instanceof LieGroup)) throw new ArgumentError(`rep '${spec}': '${name}' needs a matrix group (SO(2), SO(3), O(3), SE(d)), got ${String(G)}`);
  };
  let r: AnyRep;
  switch (name) {
    case 'trivial':
      r = R.trivial(G as never);
      break;
    case 'regular':
      needFinite();
      r = R.regular(G as FiniteGroup);
      break;
    case 'sign':
      r = R.sign(G as SymmetricGroup);
      break;
    case 'standard':
      r = R.standard(G as SymmetricGroup);
      break;
    case 'perm': {
      if (!(G instanceof SymmetricGroup)) throw new ArgumentError(`rep '${spec}': 'perm' needs a symmetric group S_n, got ${String(G)}`);
      const S = G;
      r = R.permutation(S, (g, i) => S.permutation(g)[i], S.degree);
      break;
    }
    case 'irrep':
      if (k === undefined) throw new ArgumentError(`rep '${spec}': write irrep:<k>`);
      r = R.irrep(G as never, k) as AnyRep;
      break;
    case 'defining':
      needLie();
      r = R.defining(G as LieGroup);
      break;
    case 'det':
      needLie();
      r = R.det(G as LieGroup);
      break;
    default:
      throw new ArgumentError(`rep '${spec}': unknown representation '${given}' (known: ${REP_NAMES.join(', ')}; combine with +, *, ^ and parentheses)`);
  }
  if (k !== undefined && name !== 'irrep') throw new ArgumentError(`rep '${spec}': '${name}' takes no ':<k>'`);
  m.set(key, r);
  specs.set(r, key);
  return r;
}

type Tok = { kind: 'int' | 'name' | 'op'; text: string; at: number };

function tokens(s: string): Tok[] {
  const out: Tok[] = [];
  const re = /\s*(?:(\d+)|([A-Za-z_][A-Za-z_0-9]*)|([+*^():]))/y;
  let at = 0;
  while (at < s.length) {
    if (/^\s*$/.test(s.slice(at))) break;
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) throw new ArgumentError(`rep '${s}': unexpected '${s.slice(at).trim()[0]}' at position ${at + (s.slice(at).length - s.slice(at).trimStart().length)}`);
    out.push(m[1] !== undefined ? { kind: 'int', text: m[1], at } : m[2] !== undefined ? { kind: 'name', text: m[2], at } : { kind: 'op', text: m[3], at });
    at = re.lastIndex;
  }
  return out;
}

/** A value while parsing: a representation, or a bare integer (copies or a trivial sum). */
type Val = { rep?: AnyRep; count?: number };

/** The representation of `G` that `spec` describes (see the module comment). */
export function rep(G: unknown, spec: string): AnyRep {
  if (typeof spec !== 'string') throw new ArgumentError(`rep: expected a string such as '5*V + V^2' or 'perm^3', got ${describe(spec)}`);
  if (spec.length > MAX_SPEC) throw new ArgumentError(`rep: a specification of ${spec.length} characters is longer than ${MAX_SPEC}`);
  if (!(G instanceof FiniteGroup || G instanceof GridGroup || G instanceof LieGroup)) throw new ArgumentError(`rep: expected a group, got ${describe(G)}`);
  const ts = tokens(spec);
  let i = 0;
  const peek = () => ts[i];
  const expect = (text: string) => {
    const t = ts[i];
    if (!t || t.text !== text) throw new ArgumentError(`rep '${spec}': expected '${text}'${t ? ` at position ${t.at}, got '${t.text}'` : ' at the end'}`);
    i++;
  };
  const trivialSum = (n: number): AnyRep => {
    const t = atom(G, 'trivial', undefined, spec);
    return n === 1 ? t : R.directSum(...Array.from({ length: n }, () => t));
  };
  const asRep = (v: Val): AnyRep => v.rep ?? trivialSum(v.count!);
  const checkDim = (d: number) => {
    if (d > MAX_DIM) throw new ArgumentError(`rep '${spec}': dimension ${d} is more than ${MAX_DIM}`);
  };
  const int = (t: Tok) => {
    const n = Number(t.text);
    if (!Number.isSafeInteger(n) || n < 1 || n > 65536) throw new ArgumentError(`rep '${spec}': ${t.text} is not an integer in 1..65536`);
    return n;
  };
  const parseAtom = (): Val => {
    const t = peek();
    if (!t) throw new ArgumentError(`rep '${spec}': unexpected end`);
    if (t.kind === 'int') {
      i++;
      return { count: int(t) };
    }
    if (t.text === '(') {
      i++;
      const v = parseSum();
      expect(')');
      return v;
    }
    if (t.kind !== 'name') throw new ArgumentError(`rep '${spec}': unexpected '${t.text}' at position ${t.at}`);
    i++;
    let k: number | undefined;
    if (peek()?.text === ':') {
      i++;
      const n = peek();
      if (!n || n.kind !== 'int') throw new ArgumentError(`rep '${spec}': expected an integer after ':'`);
      i++;
      k = Number(n.text);
    }
    return { rep: atom(G, t.text, k, spec) };
  };
  const parsePower = (): Val => {
    const v = parseAtom();
    if (peek()?.text !== '^') return v;
    i++;
    const n = peek();
    if (!n || n.kind !== 'int') throw new ArgumentError(`rep '${spec}': expected an integer after '^'`);
    i++;
    const e = int(n);
    if (v.count !== undefined) return { count: v.count ** e };
    checkDim(v.rep!.dim ** e);
    let r = v.rep!;
    for (let j = 1; j < e; j++) r = R.tensorProduct(r, v.rep!);
    return { rep: r };
  };
  const parseProduct = (): Val => {
    let v = parsePower();
    while (peek()?.text === '*') {
      i++;
      const w = parsePower();
      if (v.count !== undefined && w.count !== undefined) v = { count: v.count * w.count };
      else if (v.count !== undefined || w.count !== undefined) {
        // n * X = X + ... + X (n copies): the same coordinates as R^n (x) X.
        const n = (v.count ?? w.count)!, x = (v.rep ?? w.rep)!;
        checkDim(n * x.dim);
        v = { rep: n === 1 ? x : R.directSum(...Array.from({ length: n }, () => x)) };
      } else {
        checkDim(v.rep!.dim * w.rep!.dim);
        v = { rep: R.tensorProduct(v.rep!, w.rep!) };
      }
    }
    return v;
  };
  const parseSum = (): Val => {
    const parts: Val[] = [parseProduct()];
    while (peek()?.text === '+') {
      i++;
      parts.push(parseProduct());
    }
    if (parts.length === 1) return parts[0];
    const reps = parts.map(asRep);
    checkDim(reps.reduce((s, r) => s + r.dim, 0));
    return { rep: R.directSum(...reps) };
  };
  if (ts.length === 0) throw new ArgumentError("rep: the specification is empty (e.g. 'perm^3', '5*V + V^2')");
  const v = parseSum();
  if (i < ts.length) throw new ArgumentError(`rep '${spec}': unexpected '${ts[i].text}' at position ${ts[i].at}`);
  const r = asRep(v);
  if (!specs.has(r)) specs.set(r, spec.trim());
  return r;
}
