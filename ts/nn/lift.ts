/**
 * `lift`: a point-cloud model's first layer. Each point becomes `samples` group elements (see
 * docs/groups.md: one translation for T(d); evenly spaced turns from a random offset for SE(2);
 * Haar-random rotations for SE(3); ...), seeded by the layer's `seed`, with the stream restarted
 * per cloud, so a cloud lifts the same alone or in any batch (and so any split of a batch over
 * workers gives the same bytes). Its features are repeated on its elements; padding (mask 0)
 * gets no neighbours and is left out of pooling.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { checkOptions } from '../core/limits.js';
import { withTable } from '../core/cache.js';
import { gather } from '../core/ops.js';
import { tensor } from '../core/tensor.js';
import { LiftedField, LiftedFieldType } from '../fields/lifted.js';
import { PointCloudType, checkPointCloud, type PointCloud } from '../fields/points.js';
import type { FieldType } from '../fields/field.js';
import { byName } from '../groups/index.js';
import { LieGroup } from '../groups/lie.js';
import { Layer, type LayerConfig } from './layer.js';

const owner = {};

export class Lift extends Layer {
  readonly type = 'lift';
  readonly group: LieGroup;
  readonly samples: number;
  readonly seed: number;

  constructor(options: { group: LieGroup | string; samples?: number; seed?: number; name?: string }) {
    checkOptions('lift', options, { group: ['any'], samples: ['dim', true], seed: ['int', true], name: ['string', true] });
    super(options.name);
    const G = typeof options.group === 'string' ? byName(options.group) : options.group;
    if (!(G instanceof LieGroup)) throw new ArgumentError(`lift: lifts points to a Lie group (T(2), T(3), SO(2), SE(2), SO(3), SE(3)), got ${String(options.group)}`);
    this.group = G;
    this.samples = options.samples ?? 1;
    this.seed = options.seed ?? 1;
    if (!Number.isInteger(this.seed) || this.seed < 0 || this.seed > 0xffffffff) throw new ArgumentError(`lift: seed must be an integer in 0..2^32-1, got ${this.seed}`);
    // What liftClouds takes, checked here so a model file says so when it loads, not at every run.
    if (this.samples > 4096) throw new ArgumentError(`lift: samples must be an integer in 1..4096, got ${this.samples}`);
    if (!G.affine && G.d === 2 && this.samples !== 1) throw new ArgumentError('lift: on SO(2) a point has one element (samples must be 1)');
    if (!G.rotates && this.samples !== 1) throw new ArgumentError(`lift: on ${G.name} a point has one element (samples must be 1)`);
  }

  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    if (!(t instanceof PointCloudType) || t.group !== this.group) throw new ShapeError(`${this.label()}: lifts point clouds under ${this.group.name}; its input is ${t.describe()}`);
    return new LiftedFieldType(this.group, t.channels);
  }

  run(x: PointCloud): LiftedField {
    const [B, P] = checkPointCloud(x, this.group.d, undefined, this.label());
    const C = x.features.shape[2], S = this.samples;
    const lifted = this.group.liftClouds(x.points, { samples: S, seed: this.seed, mask: x.mask });
    // Each point's features on each of its elements: rows repeated S times.
    const features = withTable(owner, `rep/${S}x${C}`, () => Int32Array.from({ length: S * C }, (_, i) => i % C), (t) => gather(x.features, t, B * P, [B * P * S, C]));
    return new LiftedField(this.group, lifted, features);
  }

  config(): LayerConfig {
    return { type: this.type, group: this.group.name, samples: this.samples, seed: this.seed, ...(this.name ? { name: this.name } : {}) };
  }
}

/**
 * `coordinates`: appends each element's position (the translation part of its matrix, so the
 * point it was lifted from) to its features, `[M, C] -> [M, C + d]`. Not equivariant: it lets a
 * model see absolute positions, which is what a plain (non-equivariant) point network does; the
 * baselines use it to show what equivariance buys.
 */
export class Coordinates extends Layer {
  readonly type = 'coordinates';
  constructor(options: { name?: string } = {}) {
    checkOptions('coordinates', options, { name: ['string', true] }, true);
    super(options?.name);
  }

  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    if (!(t instanceof LiftedFieldType) || !t.group.affine) throw new ShapeError(`${this.label()}: appends positions to a field on a lifted cloud of T(d) or SE(d); its input is ${t.describe()}`);
    return new LiftedFieldType(t.group, t.channels + t.group.d);
  }

  run(x: LiftedField): LiftedField {
    if (!(x instanceof LiftedField)) throw new ArgumentError(`${this.label()}: expected a lifted field, got ${x === null ? 'null' : typeof x}`);
    const G = x.group, d = G.d, n = G.n, M = x.lifted.count, C = x.channels;
    if (!G.affine) throw new ArgumentError(`${this.label()}: ${G.name} elements have no position (use T(d) or SE(d))`);
    const f = x.features.toArray(), m = x.lifted.matrices;
    const out = new Float32Array(M * (C + d));
    for (let e = 0; e < M; e++) {
      out.set(f.subarray(e * C, (e + 1) * C), e * (C + d));
      for (let i = 0; i < d; i++) out[e * (C + d) + C + i] = m[e * n * n + i * n + d];
    }
    return new LiftedField(G, x.lifted, tensor(out, [M, C + d]));
  }

  config(): LayerConfig {
    return { type: this.type, ...(this.name ? { name: this.name } : {}) };
  }
}
