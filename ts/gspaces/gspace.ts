/**
 * The gspaces of the plane, in escnn's vocabulary: `R^2 = E(2)/H` with `H` one of `C_N`, `D_N`,
 * `SO(2)`, `O(2)` (or the trivial group) acting on the plane by rotations about the origin and
 * the reflection `x -> -x`. A gspace hands out the representations fields are made of
 * (`trivialRepr`, `regularRepr`, `irrep(...)`, `quotientRepr(...)`, `directSum(...)`).
 *
 * One instance per group and maximum frequency, so field types compare their spaces by identity.
 * `gspace.name` is how a model config names it: `rot2dOnR2(8)`, `flipRot2dOnR2(4)`,
 * `rot2dOnR2(-1, 6)` (SO(2), irreps up to frequency 6), `flipRot2dOnR2(-1, 6)`, `trivialOnR2()`.
 */
import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/limits.js';
import { FibreGroup, type IrrepId, type PlaneElement } from './group.js';
import { R2Rep, directSumRep, irrepRep, quotientRep, regularRep } from './repr.js';

export class GSpace {
  readonly #reps = new Map<string, R2Rep>();
  constructor(
    /** The stabiliser `H` acting on the fibres. */
    readonly fibreGroup: FibreGroup,
    /** How a model config names this space. */
    readonly name: string,
    /** escnn's name (for messages), e.g. `C8_on_R2`. */
    readonly escnnName: string,
  ) {}

  /** The trivial representation (escnn's `trivial_repr`, named `irrep_0` or `irrep_0,0`). */
  get trivialRepr(): R2Rep {
    const G = this.fibreGroup;
    return this.cached(G.hasFlip ? 'irrep_0,0' : 'irrep_0', () => irrepRep(G, G.hasFlip ? [0, 0] : [0]));
  }

  /** The regular representation (finite groups). */
  get regularRepr(): R2Rep {
    return this.cached('regular', () => regularRep(this.fibreGroup));
  }

  /** The irrep with escnn's id: `irrep(k)` on rotations, `irrep(j, k)` with reflections. */
  irrep(...id: number[]): R2Rep {
    const G = this.fibreGroup;
    const ids = G.checkIrrep(id.length === 1 ? id[0] : id, 'irrep');
    return this.cached(G.irrepName(ids), () => irrepRep(G, ids));
  }

  /** The irreps (SO(2), O(2): up to the gspace's maximum frequency). */
  get irreps(): R2Rep[] {
    return this.fibreGroup.irreps().map((id) => this.irrep(...id));
  }

  /** escnn's `quotient_repr`: `M` for C_N, `[null, M]` or `[k, M]` for D_N. */
  quotientRepr(subgroup: number | [number | null, number]): R2Rep {
    const r = quotientRep(this.fibreGroup, subgroup);
    return this.cached(r.name, () => r);
  }

  /**
   * A direct sum of this space's representations, named `name` (escnn's `directsum`), registered
   * under that name so configs can refer to it. Names identify representations (layers and
   * saved configs look them up by name): the same sum under the same name is the same object,
   * and a different representation under a taken name is refused.
   */
  directSum(reps: readonly R2Rep[], name?: string): R2Rep {
    if (Array.isArray(reps)) for (const r of reps) this.checkRep(r, 'directSum');
    return this.register(directSumRep(reps, name), 'directSum');
  }

  /** Throws unless `r` is a representation of this space's group. */
  checkRep(r: unknown, what: string): R2Rep {
    if (!(r instanceof R2Rep)) throw new ArgumentError(`${what}: expected a representation from a gspace (gspace.regularRepr, .trivialRepr, .irrep(...), .quotientRepr(...)), got ${describe(r)}`);
    if (r.group !== this.fibreGroup) throw new ArgumentError(`${what}: ${r.name} is a representation of ${r.group.name}, but the space is ${this.name} (fibre group ${this.fibreGroup.name})`);
    return r;
  }

  /** A representation by its name in a config (`regular`, `irrep_1`, `irrep_1,2`, `quotient[2]`, ...). */
  repByName(name: string): R2Rep {
    const G = this.fibreGroup;
    if (typeof name !== 'string') throw new ArgumentError(`${this.name}: a representation name must be a string, got ${describe(name)}`);
    if (name === 'regular') return this.regularRepr;
    if (name === 'trivial') return this.trivialRepr;
    let m = /^irrep_(\d+)(?:,(\d+))?$/.exec(name);
    if (m) return this.irrep(...[m[1], m[2]].filter((v) => v !== undefined).map(Number));
    m = /^quotient\[(?:(\d+)|\((None|\d+), (\d+)\))\]$/.exec(name);
    if (m) return this.quotientRepr(m[1] !== undefined ? Number(m[1]) : [m[2] === 'None' ? null : Number(m[2]), Number(m[3])]);
    const known = this.#reps.get(name);
    if (known) return known;
    throw new ArgumentError(`${this.name}: unknown representation '${name.slice(0, 40)}' (known: trivial, ${G.finite ? 'regular, quotient[...], ' : ''}irrep_..., or the name of a direct sum made by gspace.directSum or registered by gspace.register)`);
  }

  /**
   * Registers a representation under its name so configs can refer to it; returns the one
   * registered (an equal one registered before keeps its identity). Built-in names (trivial,
   * regular, irrep_..., quotient[...]) and names taken by a different representation are refused.
   */
  register(r: R2Rep, what = 'register'): R2Rep {
    this.checkRep(r, what);
    if (/^(trivial|regular|irrep_\d+(,\d+)?|quotient\[.*\])$/.test(r.name)) {
      let builtin: R2Rep | undefined;
      try {
        builtin = this.repByName(r.name);
      } catch {
        builtin = undefined;
      }
      if (builtin !== r) throw new ArgumentError(`${this.name}.${what}: '${r.name}' is the name of a built-in representation; give the direct sum another name`);
      return r;
    }
    const have = this.#reps.get(r.name);
    if (have) {
      if (have === r) return r;
      if (have.size !== r.size || have.irreps.join('|') !== r.irreps.join('|') || have.changeOfBasis.some((v, i) => v !== r.changeOfBasis[i])) {
        throw new ArgumentError(`${this.name}.${what}: a different representation is already named '${r.name}' (${have.irreps.join(', ')}); give this one another name`);
      }
      return have;
    }
    this.#reps.set(r.name, r);
    return r;
  }

  /** `n` elements drawn from the Haar measure (seeded): what continuous groups are checked on. */
  randomElements(n: number, seed = 1): PlaneElement[] {
    if (!Number.isSafeInteger(n) || n < 1) throw new ArgumentError(`${this.name}.randomElements: n must be a positive integer, got ${describe(n)}`);
    let s = seed >>> 0;
    const rng = () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    return Array.from({ length: n }, () => this.fibreGroup.random(rng));
  }

  /** The group's elements (finite groups). */
  elements(): PlaneElement[] {
    return this.fibreGroup.elements();
  }

  /** Elements that map the pixel grid onto itself (multiples of 90 degrees, and flips). */
  gridElements(): PlaneElement[] {
    const G = this.fibreGroup;
    if (G.finite) return G.elements().filter((g) => G.exactOnGrid(g));
    const out: PlaneElement[] = [];
    for (let f = 0; f < (G.hasFlip ? 2 : 1); f++) for (let q = 0; q < 4; q++) out.push({ flip: f as 0 | 1, angle: (q * Math.PI) / 2 });
    return out;
  }

  private cached(key: string, make: () => R2Rep): R2Rep {
    let r = this.#reps.get(key);
    if (!r) this.#reps.set(key, (r = make()));
    return r;
  }

  toString(): string {
    return `${this.name} (${this.escnnName}: R^2 with ${this.fibreGroup.name} on the fibres)`;
  }
}

const spaces = new Map<string, GSpace>();
function once(name: string, make: () => GSpace): GSpace {
  let s = spaces.get(name);
  if (!s) spaces.set(name, (s = make()));
  return s;
}

const MAX_N = 1024;
function checkN(what: string, N: unknown, min: number): number {
  if (!Number.isSafeInteger(N) || ((N as number) < min && N !== -1) || (N as number) > MAX_N || N === 0) {
    throw new ArgumentError(`${what}: N must be an integer in ${min}..${MAX_N}, or -1 for the continuous group, got ${describe(N)}`);
  }
  return N as number;
}
function checkFrequency(what: string, f: unknown): number {
  if (!Number.isSafeInteger(f) || (f as number) < 0 || (f as number) > 1024) throw new ArgumentError(`${what}: maximumFrequency must be an integer in 0..1024, got ${describe(f)}`);
  return f as number;
}

/** Rotations of the plane: `C_N` (N >= 1), or SO(2) with `N = -1` (irreps up to `maximumFrequency`, default 6). */
export function rot2dOnR2(N = 8, maximumFrequency?: number): GSpace {
  checkN('rot2dOnR2', N, 1);
  if (N > 0) {
    if (maximumFrequency !== undefined) throw new ArgumentError('rot2dOnR2: maximumFrequency applies to SO(2) (N = -1) only');
    return once(`rot2dOnR2(${N})`, () => new GSpace(new FibreGroup('C', N), `rot2dOnR2(${N})`, `C${N}_on_R2`));
  }
  const L = checkFrequency('rot2dOnR2', maximumFrequency ?? 6);
  return once(`rot2dOnR2(-1, ${L})`, () => new GSpace(new FibreGroup('SO2', -1, L), `rot2dOnR2(-1, ${L})`, 'SO(2)_on_R2'));
}

/** Rotations and the reflection `x -> -x`: `D_N` (N >= 1; N = 1 is the reflection alone), or O(2) with `N = -1`. */
export function flipRot2dOnR2(N = 8, maximumFrequency?: number): GSpace {
  checkN('flipRot2dOnR2', N, 1);
  if (N > 0) {
    if (maximumFrequency !== undefined) throw new ArgumentError('flipRot2dOnR2: maximumFrequency applies to O(2) (N = -1) only');
    return once(`flipRot2dOnR2(${N})`, () => new GSpace(new FibreGroup('D', N), `flipRot2dOnR2(${N})`, `${N === 1 ? 'C2' : `D${N}`}_on_R2`));
  }
  const L = checkFrequency('flipRot2dOnR2', maximumFrequency ?? 6);
  return once(`flipRot2dOnR2(-1, ${L})`, () => new GSpace(new FibreGroup('O2', -1, L), `flipRot2dOnR2(-1, ${L})`, 'O(2)_on_R2'));
}

/** The plane with the trivial group on the fibres (an ordinary CNN). */
export function trivialOnR2(): GSpace {
  return once('trivialOnR2()', () => new GSpace(new FibreGroup('C', 1), 'trivialOnR2()', 'Trivial_on_R2'));
}

/** A gspace from its config name; undefined when `name` is not one. */
export function gspaceByName(name: unknown): GSpace | undefined {
  if (typeof name !== 'string') return undefined;
  if (name === 'trivialOnR2()') return trivialOnR2();
  const m = /^(rot2dOnR2|flipRot2dOnR2)\((-?\d+)(?:,\s*(\d+))?\)$/.exec(name);
  if (!m) return undefined;
  const N = Number(m[2]);
  const L = m[3] === undefined ? undefined : Number(m[3]);
  return m[1] === 'rot2dOnR2' ? rot2dOnR2(N, L) : flipRot2dOnR2(N, L);
}

export type { IrrepId };
