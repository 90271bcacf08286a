/**
 * A finite group as the domain of its own regular fields: features `[N, C, |G|]`, element `g` at
 * position `g`. A neighbourhood is `g' = g s` for `s` in a support (every element by default),
 * so the relative element `g^-1 g' = s` is the table index; the global list is every element
 * in order (the same list for every `g`), with `g^-1 g'` from the Cayley table. Lists are built
 * once per group object and support, and cached.
 */
import { ArgumentError } from '../core/errors.js';
import { U32Buffer } from '../core/buffers.js';
import { withCached } from '../core/cache.js';
import type { FiniteGroup } from '../groups/finite.js';
import { Neighbourhood, specKey, type NeighbourSpec } from './neighbourhood.js';

export class FiniteDomain {
  readonly kind = 'finite';
  constructor(readonly group: FiniteGroup) {}

  /** Elements per batch item. */
  get size(): number {
    return this.group.order;
  }

  /** The support `S` of a specification (`'global'`: all of `G`, in order). */
  support(spec: NeighbourSpec, where: string): number[] {
    specKey(spec, where);
    if (spec === 'global') return this.group.elements();
    if ('support' in spec) {
      const seen = new Set<number>();
      for (const s of spec.support) {
        this.group.check(s, `${where}: neighbours.support element`);
        if (seen.has(s)) throw new ArgumentError(`${where}: neighbours.support lists ${this.group.label(s)} twice`);
        seen.add(s);
      }
      return [...spec.support];
    }
    throw new ArgumentError(`${where}: on a finite group, neighbours are 'global' or { support: [elements] }, got ${JSON.stringify(spec)}`);
  }

  /** Runs `use` with the (cached) neighbourhood of `spec`. */
  with<R>(spec: NeighbourSpec, where: string, use: (n: Neighbourhood) => R): R {
    const S = this.support(spec, where);
    const G = this.group, n = G.order;
    // Global lists are in element order, the same list for every g (attention then runs as
    // products); a support's are g s in the support's order.
    const global = spec === 'global';
    return withCached(G, `nbhd/${global ? 'global' : S.join(',')}`, () => {
      const offsets = new Uint32Array(n + 1), indices = new Uint32Array(n * S.length), rel = new Uint32Array(n * S.length);
      for (let g = 0; g < n; g++) {
        offsets[g + 1] = (g + 1) * S.length;
        const ginv = G.inverse(g);
        S.forEach((s, j) => {
          const gp = global ? j : G.compose(g, s);
          indices[g * S.length + j] = gp;
          rel[g * S.length + j] = global ? G.compose(ginv, gp) : s;
        });
      }
      return new Neighbourhood(n, n, new U32Buffer(offsets, false), new U32Buffer(indices, false), indices.length, { buffer: new U32Buffer(rel, false), size: n });
    }, use);
  }
}
