/**
 * A lifted point cloud on a sampled Lie group as a domain: features `[M, C]`, one row per
 * element (`M` = points x samples, all clouds of a batch back to back). Neighbourhoods are built
 * in wasm (crate/src/lie.rs): every element of the same cloud (`'global'`), the `k` nearest, or
 * those within a radius by the left-invariant distance on `log(g^-1 g')` (T(d): `|u|`; SE(d):
 * `alpha |omega| + (1 - alpha) |u|`; SO(d): `alpha |omega| + (1 - alpha) |q - q'|`, `q = |x|`;
 * default `alpha` 0.2, as LieConv's), itself included and ordered by (distance, index); the
 * relative element of every pair is `[log(g^-1 g'), q, q']` (the orbits only for SO(d)), computed
 * there too. Lists are cached per lifted cloud and specification.
 */
import { ArgumentError } from '../core/errors.js';
import { limits } from '../core/limits.js';
import { F64Buffer, Temporaries, U32Buffer, withTemporaries } from '../core/buffers.js';
import { cachedEntry, withCached } from '../core/cache.js';
import { Tensor } from '../core/tensor.js';
import { call, guard, kernelFailed } from '../core/wasm.js';
import type { LieGroup, Lifted } from '../groups/lie.js';
import { Neighbourhood, specKey, type NeighbourSpec } from './neighbourhood.js';


export class LiftedDomain {
  readonly kind = 'lifted';
  readonly group: LieGroup;
  constructor(readonly lifted: Lifted) {
    this.group = lifted.group;
  }

  get size(): number {
    return this.lifted.count;
  }

  /** Values per pair of the relative coordinates. */
  get coordsWidth(): number {
    return this.group.algebraDim + (this.group.hasOrbit ? 2 : 0);
  }

  /**
   * Runs `use` with the (cached) neighbourhood of `spec`. With `coords: false` the relative
   * coordinates may be left out (global and radius neighbourhoods then build none): an entry
   * that has them serves too.
   */
  with<R>(spec: NeighbourSpec, where: string, use: (n: Neighbourhood) => R, coords = true): R {
    const key = specKey(spec, where);
    if (spec !== 'global' && !('k' in spec) && !('radius' in spec)) throw new ArgumentError(`${where}: on a lifted cloud, neighbours are 'global', { k, alpha } or { radius, alpha }, got ${JSON.stringify(spec)}`);
    // k nearest: the search computes the logs anyway, so there is one entry either way.
    if (!coords && (spec === 'global' || !('k' in spec))) {
      const full = cachedEntry<Neighbourhood>(this.lifted, `nbhd/${key}`);
      if (full) return use(full);
      return withCached(this.lifted, `nbhd/${key}/bare`, () => this.build(spec, where, false), use);
    }
    return withCached(this.lifted, `nbhd/${key}`, () => this.build(spec, where), use);
  }

  /**
   * Builds the neighbourhood of `spec` without caching it (the caller disposes it); with
   * `coords: false`, global and radius neighbourhoods come without relative coordinates (k
   * nearest ones have them anyway: the search computes them).
   */
  build(spec: NeighbourSpec, where = 'neighbours', coords = true): Neighbourhood {
    specKey(spec, where);
    const L = this.lifted, G = this.group, m = L.count;
    // Counts come back as u32 with u32::MAX meaning refused, and a count over the limit as at most limit + 1.
    const maxPairs = Math.min(limits().maxNeighbourPairs, 0xfffffffd);
    const kept = new Temporaries(); // owned by the cache once built; freed if building fails
    try {
      const made = withTemporaries((t) => {
        const els = t.add(new F64Buffer(L.matrices));
        const orbit = G.hasOrbit ? t.add(new F64Buffer(L.orbit)) : undefined;
        const cloud = t.add(new U32Buffer(L.cloud));
        const offsets = kept.add(new U32Buffer(m + 1, false));
        let indices: U32Buffer, nnz: number;
        const width = this.coordsWidth;
        let rel: Tensor | undefined;
        if (spec === 'global') {
          nnz = guard(`${where}: neighbours`, (k) => k.neighbours_global_len(cloud.ptr, m));
          if (nnz < 0) kernelFailed(`${where}: neighbours`);
          if (nnz > maxPairs) throw new ArgumentError(`${where}: global neighbourhoods on these clouds have ${nnz} pairs, over the limit of ${maxPairs} (limits.maxNeighbourPairs); use { k } or { radius }`);
          indices = kept.add(new U32Buffer(nnz, false));
          call(`${where}: neighbours`, (k) => k.neighbours_global(cloud.ptr, m, offsets.ptr, indices.ptr, nnz));
        } else if ('k' in spec) {
          const sizes = new Map<number, number>();
          for (const c of L.cloud) if (c !== 0xffffffff) sizes.set(c, (sizes.get(c) ?? 0) + 1);
          for (const [c, size] of sizes) {
            if (size < spec.k) throw new ArgumentError(`${where}: neighbours { k: ${spec.k} } needs at least ${spec.k} elements in every cloud, but cloud ${c} has ${size} (points x samples); use a smaller k or 'global'`);
          }
          if (m * spec.k > maxPairs) throw new ArgumentError(`${where}: neighbours { k: ${spec.k} } on ${m} elements are ${m * spec.k} pairs, over the limit of ${maxPairs} (limits.maxNeighbourPairs)`);
          indices = kept.add(new U32Buffer(m * spec.k, false));
          // The relative logs come out of the search itself (it has the poses at hand).
          const logs = kept.add(new Tensor([m * spec.k, width], false, false));
          rel = logs;
          call(`${where}: neighbours`, (k) => k.neighbours_knn(G.code, els.ptr, orbit?.ptr ?? 0, cloud.ptr, m, spec.k, spec.alpha ?? 0.2, offsets.ptr, indices.ptr, logs.ptr));
          nnz = offsets.view()[m];
        } else {
          const { radius, alpha = 0.2 } = spec as { radius: number; alpha?: number };
          // Counting stops soon after the limit, so a radius that takes in everything is cheap to refuse.
          nnz = guard(`${where}: neighbours`, (k) => k.neighbours_within(G.code, els.ptr, orbit?.ptr ?? 0, cloud.ptr, m, radius, alpha, offsets.ptr, 0, 0, maxPairs));
          if (nnz === 0xffffffff) kernelFailed(`${where}: neighbours`);
          if (nnz > maxPairs) throw new ArgumentError(`${where}: radius ${radius} gives more than ${maxPairs} pairs (limits.maxNeighbourPairs); use a smaller radius or { k }`);
          indices = kept.add(new U32Buffer(Math.max(nnz, 1), false));
          if (nnz > 0 && guard(`${where}: neighbours`, (k) => k.neighbours_within(G.code, els.ptr, orbit?.ptr ?? 0, cloud.ptr, m, radius, alpha, offsets.ptr, indices.ptr, nnz, maxPairs)) !== nnz) kernelFailed(`${where}: neighbours`);
        }
        if (!rel && coords) {
          const out = kept.add(new Tensor([Math.max(nnz, 1), width], false, false));
          if (nnz > 0) call(`${where}: relative logs`, (k) => k.pair_coords(G.code, els.ptr, orbit?.ptr ?? 0, m, offsets.ptr, indices.ptr, nnz, out.ptr));
          rel = out;
        }
        return new Neighbourhood(m, m, offsets, indices, nnz, undefined, rel ? { buffer: rel, width } : undefined);
      });
      return made;
    } catch (e) {
      kept.dispose();
      throw e;
    }
  }
}
