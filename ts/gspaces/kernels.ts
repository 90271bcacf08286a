/**
 * Steerable kernel bases on the plane: the solutions of the H-constraint
 * `kappa(h x) = rho_out(h) kappa(x) rho_in(h)^-1` for `h` in the fibre group, band-limited and
 * sampled on the `k x k` pixel grid, built as escnn and e2cnn build them so that their weights
 * mean the same here.
 *
 * For one pair of representations the basis is assembled from pairs of irreps. A basis element
 * is a radial ring `exp(-(|x| - r_i)^2 / (2 sigma_i^2))` times an angular part; the angular parts
 * come from the pair's irreps:
 *
 * - `escnn` (Wigner-Eckart): for each circular harmonic `J = 0..L` (the O(2) irreps on the
 *   circle, restricted to H), each irrep `j` of H in both the harmonic's restriction and
 *   `psi_out (x) psi_in`, the Clebsch-Gordan coefficients of `j` in `psi_out (x) psi_in`, the
 *   endomorphisms of `j`, and the copies of `j` in the restriction. Order: harmonic, input
 *   irrep, output irrep, (j, endomorphism, multiplicity, copy), ring.
 * - `e2cnn` (the analytic solutions of Weiler and Cesa): per pair of irreps, the frequencies
 *   `mu = k + t N` with the phases and reflections that solve the constraint. Order: ring, input
 *   irrep, output irrep, solution.
 *
 * Then `Q_out (.) Q_in^T` takes each element to the representations' bases, elements whose
 * harmonic exceeds the ring's band limit are left out, each is scaled to squared norm `d_out`,
 * and elements that vanish on the grid are dropped. Clebsch-Gordan coefficients of the cyclic
 * groups and SO(2) are in closed form; those of D_N and O(2) come from this library's null-space
 * solver (`eq.basis.solve`) on the dihedral group, as escnn finds them numerically. Their signs
 * are therefore arbitrary, and so are escnn's (an SVD's): for D_N and O(2) under the `escnn`
 * convention every element is taken with the sign that makes its inner product with a fixed
 * pseudo-random vector positive (`canonicalSign`), and the exporter converts escnn's weights
 * the same way.
 */
import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/limits.js';
import { dihedral } from '../groups/finite.js';
import { Representation, tensorProduct } from '../reps/index.js';
import { solve } from '../space/basis.js';
import { FibreGroup, type IrrepId, type PlaneElement } from './group.js';
import type { R2Rep } from './repr.js';

export type Convention = 'escnn' | 'e2cnn';

export interface BasisOptions {
  /** Kernel size `k` (a `k x k` grid). */
  kernel: number;
  dilation?: number;
  /** Radii of the rings (default `0, 1, ..., (k-1)/2`, times the dilation). */
  rings?: readonly number[];
  /** Width of each ring's Gaussian (default 0.6, the last 0.4, a ring at 0 gets 0.005), or one for all. */
  sigma?: number | readonly number[];
  /** Band limit per ring: harmonics `|J| <= frequencies[i]` on ring `i` (default: escnn's rule). */
  frequencies?: readonly number[];
  /** escnn's `frequencies_cutoff`: -1 (default), -2, -3, or `f` for `f * radius`. */
  frequenciesCutoff?: number;
  /** e2cnn's `maximum_offset` (escnn ignores it). */
  maximumOffset?: number;
  convention?: Convention;
}

export interface BasisParams {
  kernel: number;
  dilation: number;
  rings: number[];
  sigma: number[];
  /** The band limit of each ring. */
  frequencies: number[];
  /** The largest harmonic: `floor(max frequencies)`. */
  L: number;
  convention: Convention;
  maximumOffset?: number;
}

const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

/** The basis hyper-parameters with escnn's (and e2cnn's) defaults filled in. */
export function basisParams(o: BasisOptions, where = 'r2conv'): BasisParams {
  const k = o.kernel, dil = o.dilation ?? 1;
  if (!Number.isSafeInteger(k) || k < 1 || k > 64) throw new ArgumentError(`${where}: kernel must be an integer in 1..64, got ${describe(k)}`);
  if (!Number.isSafeInteger(dil) || dil < 1 || dil > 64) throw new ArgumentError(`${where}: dilation must be an integer in 1..64, got ${describe(dil)}`);
  const convention = o.convention ?? 'escnn';
  if (convention !== 'escnn' && convention !== 'e2cnn') throw new ArgumentError(`${where}: basis must be 'escnn' or 'e2cnn', got ${describe(convention)}`);
  let rings: number[];
  if (o.rings === undefined) {
    const n = Math.ceil(k / 2), R = Math.floor((k - 1) / 2);
    rings = Array.from({ length: n }, (_, i) => (n === 1 ? 0 : (i * R) / (n - 1)) * dil);
  } else {
    if (!Array.isArray(o.rings) || o.rings.length === 0 || !o.rings.every((r) => num(r) && r >= 0)) throw new ArgumentError(`${where}: rings must be a non-empty list of radii >= 0, got ${describe(o.rings)}`);
    rings = [...o.rings];
  }
  const maxR = (dil * (k - 1)) / 2 * Math.SQRT2 + 1e-9;
  for (const r of rings) if (r > maxR) throw new ArgumentError(`${where}: ring radius ${r} lies outside the ${k} x ${k} kernel (largest radius ${maxR.toFixed(3)})`);
  let sigma: number[];
  if (o.sigma === undefined) {
    sigma = rings.map((r, i) => (r === 0 ? 0.005 : i === rings.length - 1 ? 0.4 : 0.6));
  } else if (num(o.sigma)) {
    if (!((o.sigma as number) > 0)) throw new ArgumentError(`${where}: sigma must be positive, got ${describe(o.sigma)}`);
    sigma = rings.map(() => o.sigma as number);
  } else {
    const s = o.sigma as readonly number[];
    if (!Array.isArray(s) || s.length !== rings.length || !s.every((v) => num(v) && v > 0)) throw new ArgumentError(`${where}: sigma must be a positive number or one per ring (${rings.length}), got ${describe(o.sigma)}`);
    sigma = [...s];
  }
  let frequencies: number[];
  if (o.frequencies !== undefined) {
    if (o.frequenciesCutoff !== undefined) throw new ArgumentError(`${where}: give frequencies or frequenciesCutoff, not both`);
    if (!Array.isArray(o.frequencies) || o.frequencies.length !== rings.length || !o.frequencies.every((f) => num(f) && f >= 0)) throw new ArgumentError(`${where}: frequencies must be one band limit >= 0 per ring (${rings.length}), got ${describe(o.frequencies)}`);
    frequencies = [...o.frequencies];
  } else {
    const c = o.frequenciesCutoff ?? -1;
    if (!num(c) || (c < 0 && c !== -1 && c !== -2 && c !== -3)) throw new ArgumentError(`${where}: frequenciesCutoff must be -1, -2, -3 or a number >= 0, got ${describe(c)}`);
    const R = Math.floor(k / 2);
    const fco = (r: number) => {
      if (c >= 0) return c * r;
      if (r === 0) return 0;
      if (c === -3) return r === R ? 1 : 2;
      return Math.min(2 * r, r === R ? (c === -1 ? 2 : 1) : 2 * r - ((r + 1) % 2));
    };
    frequencies = rings.map(fco);
  }
  const L = Math.floor(Math.max(...frequencies));
  if (L > 256) throw new ArgumentError(`${where}: the band limit ${L} is over 256`);
  const p: BasisParams = { kernel: k, dilation: dil, rings, sigma, frequencies, L, convention };
  if (o.maximumOffset !== undefined) {
    if (!Number.isSafeInteger(o.maximumOffset) || o.maximumOffset < 0) throw new ArgumentError(`${where}: maximumOffset must be an integer >= 0, got ${describe(o.maximumOffset)}`);
    p.maximumOffset = o.maximumOffset;
  }
  return p;
}

/** The basis of one pair of representations: `dim` elements of `out x in x k^2` values. */
export interface BlockBasis {
  dim: number;
  out: number;
  in: number;
  points: number;
  /** `[dim][out][in][points]`, row-major; point `row * k + col`. */
  data: Float64Array;
  /** Per element: its harmonic (escnn) or frequency (e2cnn), and ring. */
  attrs: { frequency: number; ring: number }[];
  /** The parameters it was built with, when sampled on the kernel's grid. */
  params?: BasisParams;
}

/** Grid points `(x, y)` of a `k x k` kernel: x right, y up, origin at the centre. */
export function gridPoints(k: number, dil = 1): Float64Array {
  const c = (dil * (k - 1)) / 2;
  const pts = new Float64Array(2 * k * k);
  for (let row = 0; row < k; row++) for (let col = 0; col < k; col++) {
    pts[2 * (row * k + col)] = col * dil - c;
    pts[2 * (row * k + col) + 1] = -(row * dil - c);
  }
  return pts;
}

// ---------------------------------------------------------------------------------------------
// Clebsch-Gordan coefficients and tensor products
// ---------------------------------------------------------------------------------------------

/** `[dOut][dIn][S][dJ]`: `S` copies of irrep `j` inside `psi_out (x) psi_in`. */
interface CG {
  S: number;
  data: Float64Array;
}

/** Closed form for C_N (`N`) and SO(2) (`N` = 0): escnn's construction. */
function cgCyclic(G: FibreGroup, m: number, n: number, j: number): CG {
  const N = G.finite ? G.N : 0;
  const size = (v: number) => G.irrepSize([v]);
  const dm = size(m), dn = size(n), dj = size(j);
  const empty: CG = { S: 0, data: new Float64Array(0) };
  if (m === 0 || n === 0) {
    if (j !== m + n) return empty;
    // eye(dj) reshaped (dm, dn, 1, dj).
    const data = new Float64Array(dj * dj);
    for (let c = 0; c < dj; c++) data[c * dj + c] = 1;
    return { S: 1, data };
  }
  if (N && N % 2 === 0 && (m === N / 2 || n === N / 2)) {
    if (j !== m + n && j !== N - m - n) return empty;
    const data = new Float64Array(dj * dj);
    for (let c = 0; c < dj; c++) data[c * dj + c] = 1;
    if (j !== m + n && dj > 1) for (let r = 0; r < dj; r++) data[r * dj + 1] *= -1;
    return { S: 1, data };
  }
  const base = [[1, 0, 1, 0], [0, 1, 0, 1], [0, -1, 0, 1], [1, 0, -1, 0]].map((r) => r.map((v) => v / Math.SQRT2));
  let cols: number[], negate = false;
  if (j === m + n) cols = [2, 3];
  else if (N && j === N - m - n) {
    cols = [2, 3];
    negate = true;
  } else if (j === m - n) cols = [0, 1];
  else if (j === n - m) {
    cols = [0, 1];
    negate = true;
  } else return empty;
  const flat: number[] = [];
  for (const row of base) cols.forEach((c, ci) => flat.push(ci === 1 && negate ? -row[c] : row[c]));
  const S = flat.length / (dn * dm * dj);
  // flat is (dn, dm, S, dj) row-major; transpose to (dm, dn, S, dj).
  const data = new Float64Array(flat.length);
  for (let b = 0; b < dn; b++) for (let a = 0; a < dm; a++) for (let s = 0; s < S; s++) for (let c = 0; c < dj; c++) {
    data[((a * dn + b) * S + s) * dj + c] = flat[((b * dm + a) * S + s) * dj + c];
  }
  return { S, data };
}

/** escnn's order of the irreps in `psi_in (x) psi_out` for C_N and SO(2). */
function tensorProductCyclic(G: FibreGroup, J: number, l: number): number[] {
  if (J === 0 || l === 0) return [l + J];
  if (!G.finite) return l === J ? [0, l + J] : [Math.abs(l - J), l + J];
  const N = G.N;
  const j = J + l <= N / 2 ? J + l : N - J - l;
  if (N % 2 === 0 && (J === N / 2 || l === N / 2)) return [j];
  return l === J ? [0, j] : [Math.abs(l - J), j];
}

/** Elements whose constraints determine an equivariant map for D_N, or (O(2)) a dense subgroup. */
function constraintGroup(G: FibreGroup, maxFreq: number): { order: number; element: (e: number) => PlaneElement; group: ReturnType<typeof dihedral> } {
  // O(2): D_M with M odd and larger than twice every frequency involved agrees with O(2) on
  // which maps are equivariant between these irreps.
  const M = G.finite ? G.N : 2 * (4 * maxFreq + 2) + 1;
  const D = dihedral(M);
  return { order: 2 * M, group: D, element: (e) => ({ flip: (e >= M ? 1 : 0) as 0 | 1, angle: (2 * Math.PI * (e % M)) / M }) };
}

const cgCache = new WeakMap<FibreGroup, Map<string, CG>>();

/** D_N and O(2): the null space of the constraint, normalised as escnn normalises it. */
function cgNumeric(G: FibreGroup, out: IrrepId, inn: IrrepId, j: IrrepId): CG {
  let cache = cgCache.get(G);
  if (!cache) cgCache.set(G, (cache = new Map()));
  const key = `${out}|${inn}|${j}`;
  const have = cache.get(key);
  if (have) return have;
  const dO = G.irrepSize(out), dI = G.irrepSize(inn), dJ = G.irrepSize(j);
  const C = constraintGroup(G, G.frequency(out) + G.frequency(inn) + G.frequency(j));
  const rep = (id: IrrepId, d: number) => new Representation(C.group, d, G.irrepName(id), (e: number) => G.irrepMatrix(id, C.element(e)));
  // Hom(psi_j, psi_out (x) psi_in): W psi_j(g) = (psi_out (x) psi_in)(g) W, W is (dO dI) x dJ.
  const res = solve(C.group, rep(j, dJ) as Representation<unknown>, tensorProduct(rep(out, dO), rep(inn, dI)) as Representation<unknown>);
  const S = res.dimension;
  const data = new Float64Array(dO * dI * S * dJ);
  res.basis.forEach((W, s) => {
    for (let a = 0; a < dO; a++) for (let b = 0; b < dI; b++) for (let c = 0; c < dJ; c++) data[((a * dI + b) * S + s) * dJ + c] = W[(a * dI + b) * dJ + c];
  });
  // Each component of j scaled to unit mean square over the copies (escnn's normalisation).
  for (let c = 0; c < dJ; c++) {
    let ss = 0;
    for (let ab = 0; ab < dO * dI; ab++) for (let s = 0; s < S; s++) ss += data[(ab * S + s) * dJ + c] ** 2;
    const n = Math.sqrt(ss / Math.max(1, S));
    if (n > 0) for (let ab = 0; ab < dO * dI; ab++) for (let s = 0; s < S; s++) data[(ab * S + s) * dJ + c] /= n;
  }
  const cg = { S, data };
  cache.set(key, cg);
  return cg;
}

/** The irreps `j` with copies in `psi_out (x) psi_in`, in escnn's order. */
function tensorIrreps(G: FibreGroup, inn: IrrepId, out: IrrepId): IrrepId[] {
  if (!G.hasFlip) return tensorProductCyclic(G, inn[0], out[0]).map((k) => [k]);
  const cands = G.finite ? G.irreps() : G.irreps(G.frequency(inn) + G.frequency(out));
  return cands.filter((j) => cgNumeric(G, out, inn, j).S > 0);
}

function cg(G: FibreGroup, out: IrrepId, inn: IrrepId, j: IrrepId): CG {
  return G.hasFlip ? cgNumeric(G, out, inn, j) : cgCyclic(G, out[0], inn[0], j[0]);
}

/** The endomorphisms of an irrep: `[I]`, or `[I, [[0, -1], [1, 0]]]` for complex type. */
function endomorphisms(G: FibreGroup, id: IrrepId): Float64Array[] {
  const d = G.irrepSize(id);
  const I = d === 1 ? new Float64Array([1]) : new Float64Array([1, 0, 0, 1]);
  return G.irrepComplex(id) ? [I, new Float64Array([0, -1, 1, 0])] : [I];
}

/**
 * The restriction of the circular harmonic `J` (the O(2) irrep `(0, 0)` for `J = 0`, else
 * `(1, J)`) to the fibre group: the irreps it splits into and the inverse change of basis.
 */
function restrictHarmonic(G: FibreGroup, J: number): { irreps: IrrepId[]; cinv: Float64Array } {
  const size = J === 0 ? 1 : 2;
  const id2 = new Float64Array([1, 0, 0, 1]);
  if (G.kind === 'SO2') return { irreps: [[J]], cinv: size === 1 ? new Float64Array([1]) : id2 };
  if (G.kind === 'O2') return { irreps: [J === 0 ? [0, 0] : [1, J]], cinv: size === 1 ? new Float64Array([1]) : id2 };
  const N = G.N;
  let k = J % N;
  let cob = size === 1 ? new Float64Array([1]) : id2;
  if (k > N / 2) {
    k = N - k;
    cob = new Float64Array([1, 0, 0, -1]);
  }
  if (G.kind === 'C') {
    const irreps: IrrepId[] = G.irrepSize([k]) < size ? [[k], [k]] : [[k]];
    return { irreps, cinv: cob }; // diag(1, -1) is its own inverse
  }
  const f = J === 0 ? 0 : 1;
  const irreps: IrrepId[] = (G.irrepSize([f, k]) < size ? [[0, k]] : []) as IrrepId[];
  irreps.push([f, k]);
  if (size === 2) {
    // cob = R(pi J / 2) cob; its inverse is cob^-1 R(-pi J / 2).
    const c = Math.cos((Math.PI * J) / 2), s = Math.sin((Math.PI * J) / 2);
    const Rinv = [c, s, -s, c];
    const d = [cob[0], cob[3]];
    return { irreps, cinv: new Float64Array([d[0] * Rinv[0], d[0] * Rinv[1], d[1] * Rinv[2], d[1] * Rinv[3]]) };
  }
  return { irreps, cinv: cob };
}

/** escnn's angular coefficients for one pair of irreps: harmonic `J` -> `[d][out][in][sizeY]`. */
function escnnPair(G: FibreGroup, inn: IrrepId, out: IrrepId, L: number): Map<number, { count: number; data: Float64Array }> {
  const dO = G.irrepSize(out), dI = G.irrepSize(inn);
  const js = tensorIrreps(G, inn, out);
  const res = new Map<number, { count: number; data: Float64Array }>();
  for (let J = 0; J <= L; J++) {
    const sizeY = J === 0 ? 1 : 2;
    const { irreps: irr, cinv } = restrictHarmonic(G, J);
    const parts: number[] = [];
    let count = 0;
    for (const j of js) {
      const dj = G.irrepSize(j);
      // Rows of cinv belonging to each copy of j in the restriction.
      const copies: number[][] = [];
      let p = 0;
      for (const r of irr) {
        const dr = G.irrepSize(r);
        if (r.length === j.length && r.every((v, i) => v === j[i])) copies.push(Array.from({ length: dj }, (_, a) => p + a));
        p += dr;
      }
      if (!copies.length) continue;
      const C = cg(G, out, inn, j), ends = endomorphisms(G, j);
      for (let e = 0; e < ends.length; e++) for (let s = 0; s < C.S; s++) for (const rows of copies) {
        // c[o][i][y] = sum over a, b of CG[o, i, s, a] End[e][b, a] cinv[rows[b], y].
        for (let o = 0; o < dO; o++) for (let i = 0; i < dI; i++) for (let y = 0; y < sizeY; y++) {
          let acc = 0;
          for (let a = 0; a < dj; a++) {
            const cga = C.data[((o * dI + i) * C.S + s) * dj + a];
            if (cga === 0) continue;
            for (let b = 0; b < dj; b++) acc += cga * ends[e][b * dj + a] * cinv[rows[b] * sizeY + y];
          }
          parts.push(acc);
        }
        count++;
      }
    }
    if (count) res.set(J, { count, data: Float64Array.from(parts) });
  }
  return res;
}

/** e2cnn's analytic solutions for one pair of irreps: `(mu, angular function)` in its order. */
function e2cnnPair(G: FibreGroup, inn: IrrepId, out: IrrepId, L: number, maxOffset?: number): { mu: number; f: (phi: number) => number[] }[] {
  const dI = G.irrepSize(inn), dO = G.irrepSize(out);
  const N = G.finite ? G.N : 0;
  const mus = (k: number, nonneg = false): number[] => {
    if (!N) return [k];
    const lo = nonneg ? 0 : -L;
    const out: number[] = [];
    for (let t = Math.ceil((lo - k) / N); t <= Math.floor((L - k) / N); t++) {
      if (maxOffset !== undefined && Math.abs(t) > maxOffset) continue;
      out.push(k + t * N);
    }
    return out;
  };
  const psichi = (mu: number, s: number, g: number) => (phi: number) => {
    const x = mu * phi + g, c = Math.cos(x), sn = Math.sin(x), sg = s ? -1 : 1;
    return [c, -sg * sn, sn, sg * c];
  };
  const row = (mu: number, g: number) => (phi: number) => [Math.cos(mu * phi + g), Math.sin(mu * phi + g)];
  const one = (mu: number, g: number) => (phi: number) => [Math.cos(mu * phi + g)];
  const sols: { mu: number; f: (phi: number) => number[] }[] = [];
  if (!G.hasFlip) {
    const n = inn[0], m = out[0];
    for (const g of [0, Math.PI / 2]) {
      if (dI === 2 && dO === 2) {
        for (const s of [0, 1]) for (const mu of mus(m - n * (s ? -1 : 1))) sols.push({ mu, f: psichi(mu, s, g) });
      } else if (dI === 2 || dO === 2) {
        for (const mu of mus(n + m)) sols.push({ mu, f: row(mu, g) });
      } else {
        for (const mu of mus(m - n, true)) if (mu > 0 || g === 0) sols.push({ mu, f: one(mu, g) });
      }
    }
    return sols;
  }
  const [fi, n] = inn, [fo, m] = out;
  if (dI === 2 && dO === 2) {
    for (const s of [0, 1]) for (const mu of mus(m - n * (s ? -1 : 1))) sols.push({ mu, f: psichi(mu, s, 0) });
  } else if (dI === 2) {
    for (const mu of mus(n + m)) sols.push({ mu, f: row(mu, (fo * Math.PI) / 2) });
  } else if (dO === 2) {
    for (const mu of mus(n + m)) sols.push({ mu, f: row(mu, (fi * Math.PI) / 2) });
  } else {
    const g = ((fi + fo) % 2) * (Math.PI / 2);
    for (const mu of mus(m - n, true)) if (mu > 0 || g === 0) sols.push({ mu, f: one(mu, g) });
  }
  return sols;
}

// ---------------------------------------------------------------------------------------------
// Block bases
// ---------------------------------------------------------------------------------------------

const blockCache = new WeakMap<R2Rep, WeakMap<R2Rep, Map<string, BlockBasis>>>();

/** The basis of kernels from `rin` to `rout` fields (cached per pair and parameters). */
export function blockBasis(rin: R2Rep, rout: R2Rep, p: BasisParams): BlockBasis {
  if (rin.group !== rout.group) throw new ArgumentError(`kernel basis: ${rin.name} and ${rout.name} are representations of different groups (${rin.group.name}, ${rout.group.name})`);
  let byOut = blockCache.get(rin);
  if (!byOut) blockCache.set(rin, (byOut = new WeakMap()));
  let byParams = byOut.get(rout);
  if (!byParams) byOut.set(rout, (byParams = new Map()));
  const key = JSON.stringify(p);
  let b = byParams.get(key);
  if (!b) byParams.set(key, (b = { ...computeBlock(rin, rout, p), params: p }));
  return b;
}

/**
 * The basis sampled at any points `(x, y)` (not only a kernel's grid): what the cross-checks
 * against the null-space solver use. Not cached; signs as computed.
 */
export function sampleBasis(rin: R2Rep, rout: R2Rep, p: BasisParams, points: Float64Array): BlockBasis {
  if (rin.group !== rout.group) throw new ArgumentError(`kernel basis: ${rin.name} and ${rout.name} are representations of different groups`);
  return computeBlock(rin, rout, p, points, false);
}

function computeBlock(rin: R2Rep, rout: R2Rep, p: BasisParams, pts = gridPoints(p.kernel, p.dilation), canonical = true): BlockBasis {
  const G = rin.group;
  const P = pts.length / 2;
  const rad = new Float64Array(P), phi0 = new Float64Array(P);
  const origin: boolean[] = [];
  for (let q = 0; q < P; q++) {
    const x = pts[2 * q], y = pts[2 * q + 1];
    rad[q] = Math.hypot(x, y);
    origin.push(rad[q] < 1e-9);
    phi0[q] = Math.atan2(y, x);
  }
  const radial = p.rings.map((r, i) => Float64Array.from(rad, (v) => Math.exp((-0.5 * (v - r) ** 2) / p.sigma[i] ** 2)));
  const So = rout.size, Si = rin.size;
  const elems: { dOut: number; data: Float64Array; frequency: number; ring: number }[] = [];
  // Q_out [o-block] A Q_in[i-block]^T, for A (dO x dI x P) placed at irreps oo (out), ii (in).
  const place = (A: Float64Array, dO: number, dI: number, oo: number, ii: number, weight: Float64Array): Float64Array => {
    const out = new Float64Array(So * Si * P);
    const Qo = rout.changeOfBasis, Qi = rin.changeOfBasis;
    const oOff = rout.offsets[oo], iOff = rin.offsets[ii];
    for (let n = 0; n < So; n++) for (let a = 0; a < dO; a++) {
      const qo = Qo[n * So + oOff + a];
      if (qo === 0) continue;
      for (let m = 0; m < Si; m++) for (let b = 0; b < dI; b++) {
        const q = qo * Qi[m * Si + iOff + b];
        if (q === 0) continue;
        const src = (a * dI + b) * P, dst = (n * Si + m) * P;
        for (let t = 0; t < P; t++) out[dst + t] += q * A[src + t] * weight[t];
      }
    }
    return out;
  };
  if (p.convention === 'escnn') {
    const a = G.kind === 'D' ? 0 : Math.PI / 2;
    const pairs = new Map<string, Map<number, { count: number; data: Float64Array }>>();
    const pairOf = (inn: IrrepId, out: IrrepId) => {
      const key = `${inn}|${out}`;
      let v = pairs.get(key);
      if (!v) pairs.set(key, (v = escnnPair(G, inn, out, p.L)));
      return v;
    };
    for (let J = 0; J <= p.L; J++) {
      const sizeY = J === 0 ? 1 : 2;
      // The harmonic on the grid: [1] or [cos J phi', sin J phi'], zero at the origin for J > 0.
      const Y = new Float64Array(P * sizeY);
      for (let q = 0; q < P; q++) {
        if (J === 0) Y[q] = 1;
        else if (!origin[q]) {
          Y[q * 2] = Math.cos(J * (phi0[q] - a));
          Y[q * 2 + 1] = Math.sin(J * (phi0[q] - a));
        }
      }
      rin.irreps.forEach((inn, ii) => rout.irreps.forEach((out, oo) => {
        const c = pairOf(inn, out).get(J);
        if (!c) return;
        const dO = G.irrepSize(out), dI = G.irrepSize(inn);
        for (let d = 0; d < c.count; d++) {
          const A = new Float64Array(dO * dI * P);
          for (let o = 0; o < dO; o++) for (let i = 0; i < dI; i++) for (let y = 0; y < sizeY; y++) {
            const v = c.data[((d * dO + o) * dI + i) * sizeY + y];
            if (v === 0) continue;
            for (let q = 0; q < P; q++) A[(o * dI + i) * P + q] += v * Y[q * sizeY + y];
          }
          p.rings.forEach((_, r) => {
            if (J <= p.frequencies[r]) elems.push({ dOut: dO, data: place(A, dO, dI, oo, ii, radial[r]), frequency: J, ring: r });
          });
        }
      }));
    }
  } else {
    const shift = G.hasFlip ? Math.PI / 2 : 0;
    const phi = Float64Array.from(phi0, (v, q) => (origin[q] ? 0 : v - shift));
    const ang: { mu: number; dOut: number; A: Float64Array; oo: number; ii: number; dI: number }[] = [];
    rin.irreps.forEach((inn, ii) => rout.irreps.forEach((out, oo) => {
      const dO = G.irrepSize(out), dI = G.irrepSize(inn);
      for (const { mu, f } of e2cnnPair(G, inn, out, p.L, p.maximumOffset)) {
        const A = new Float64Array(dO * dI * P);
        for (let q = 0; q < P; q++) {
          const v = f(phi[q]);
          for (let t = 0; t < dO * dI; t++) A[t * P + q] = mu !== 0 && origin[q] ? 0 : v[t];
        }
        ang.push({ mu, dOut: dO, A, oo, ii, dI });
      }
    }));
    p.rings.forEach((_, r) => {
      for (const e of ang) if (Math.abs(e.mu) <= p.frequencies[r]) elems.push({ dOut: e.dOut, data: place(e.A, e.dOut, e.dI, e.oo, e.ii, radial[r]), frequency: e.mu, ring: r });
    });
  }
  // Normalise to squared norm d_out; drop what vanishes on the grid.
  const kept: typeof elems = [];
  for (const e of elems) {
    let ss = 0;
    for (const v of e.data) ss += v * v;
    let n2 = ss / e.dOut;
    if (n2 < 1e-15) n2 = 0;
    let n = Math.sqrt(n2);
    if (n < 1e-6) n = 1;
    let after = 0;
    for (let t = 0; t < e.data.length; t++) {
      e.data[t] /= n;
      after += e.data[t] ** 2;
    }
    if (after > 1e-2) kept.push(e);
  }
  const size = So * Si * P;
  const data = new Float64Array(kept.length * size);
  kept.forEach((e, d) => data.set(e.data, d * size));
  const block: BlockBasis = { dim: kept.length, out: So, in: Si, points: P, data, attrs: kept.map((e) => ({ frequency: e.frequency, ring: e.ring })) };
  if (canonical && p.convention === 'escnn' && G.hasFlip) canonicalSigns(block);
  return block;
}

/**
 * The fixed pseudo-random vector the signs are read against: `r[t]` in `[-0.5, 0.5)` from an
 * integer hash of `t` (the exporter computes the same numbers).
 */
export function signProbe(t: number): number {
  let x = Math.imul(t + 1, 0x9e3779b1) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x = (x ^ (x >>> 13)) >>> 0;
  return x / 4294967296 - 0.5;
}

/** `sign(<B_d, r>)` of one element's values (+1 when the product vanishes). */
export function canonicalSign(values: ArrayLike<number>): number {
  let s = 0;
  for (let t = 0; t < values.length; t++) s += values[t] * signProbe(t);
  return s < 0 ? -1 : 1;
}

function canonicalSigns(b: BlockBasis): void {
  const size = b.out * b.in * b.points;
  for (let d = 0; d < b.dim; d++) {
    const v = b.data.subarray(d * size, (d + 1) * size);
    if (canonicalSign(v) < 0) for (let t = 0; t < size; t++) v[t] = -v[t];
  }
}
