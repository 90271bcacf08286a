/**
 * `phi` with `omega = omega.attention(...)`: group self-attention on the regular fields of a
 * finite group,
 *
 *   [Phi f](g) = sum over g' of softmax_g'( q(f(g)).k(f(g')) / sqrt(d) + b(g^-1 g') ) W_V f(g')
 *
 * per head. The query, key and value maps act on channels only (1x1 convolutions over the group
 * axis, run by the convolution kernel); the relative position `g^-1 g'` indexes the per-head
 * table `b` through the Cayley table; the softmax-weighted sum runs in the attention kernel
 * (crate/src/attention.rs). Equivariance holds because every term sees `g` and `g'` only through
 * `g^-1 g'` and the features at them. With `content: false`, attention is the group convolution
 * with kernel `softmax(b) W_V` (Conclusion 1 of the framework; tested).
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { FieldType, RegularField } from '../fields/index.js';
import { FiniteGroup } from '../groups/finite.js';
import { byName } from '../groups/index.js';
import { seededRng } from '../groups/lie.js';
import { AttentionOmega } from '../omega/index.js';
import { IndexTable, conv2d } from '../core/ops.js';
import { Tensor, empty, keep, tensor } from '../core/tensor.js';
import { call } from '../core/wasm.js';
import { Layer, type LayerConfig } from './layer.js';
import { checkAttentionOptions } from './guards.js';

export interface AttentionOptions {
  group: FiniteGroup | string;
  omega: AttentionOmega;
  name?: string;
  /** Seed of the initial weights; default 1. */
  seed?: number;
}

export class GroupAttention extends Layer {
  readonly type: string;
  readonly group: FiniteGroup;
  readonly omega: AttentionOmega;
  declare inType: FieldType<unknown>;
  declare outType: FieldType<unknown>;
  #rel: IndexTable | undefined;

  constructor(options: AttentionOptions, type = 'groupAttention') {
    super(options?.name);
    this.type = type;
    checkAttentionOptions(type, options);
    if (options === null || typeof options !== 'object') throw new ArgumentError(`${type}: options { group, omega } are required`);
    const group = typeof options.group === 'string' ? byName(options.group) : options.group;
    if (!(group instanceof FiniteGroup)) throw new ArgumentError(`${type}: attention runs on the regular fields of a finite group (C<n>, D<n>, S<n>, ...); got ${String(options.group)}`);
    if (!(options.omega instanceof AttentionOmega)) throw new ArgumentError(`${type}: omega must be made by eq.omega.attention(...)`);
    this.group = group;
    this.omega = options.omega;
    this.inType = new RegularField(group, this.omega.in) as FieldType<unknown>;
    this.outType = new RegularField(group, this.omega.out) as FieldType<unknown>;
    const n = group.order;
    const rel = new Int32Array(n * n);
    for (let g = 0; g < n; g++) for (let h = 0; h < n; h++) rel[g * n + h] = group.compose(group.inverse(g), h);
    this.#rel = keep(new IndexTable(rel));
    const rng = seededRng(options.seed ?? 1);
    const init = (shape: number[], scale: number) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rng() * 2 - 1) * scale);
    const s = this.parameterShapes();
    const o = this.omega;
    this.setParameters({ query: init(s.query, 1 / Math.sqrt(o.in)), key: init(s.key, 1 / Math.sqrt(o.in)), value: init(s.value, 1 / Math.sqrt(o.in)), position: init(s.position, 0.5) });
  }

  parameterShapes(): Record<string, number[]> {
    const o = this.omega;
    return { query: [o.heads * o.dim, o.in], key: [o.heads * o.dim, o.in], value: [o.out, o.in], position: [o.heads, this.group.order] };
  }

  outputType(t: FieldType<unknown>): FieldType<unknown> {
    const want = this.inType;
    if (t.constructor !== want.constructor || t.group !== want.group || t.channels !== want.channels) {
      throw new ShapeError(`${this.label()}: expects ${want.describe()}, but its input is ${t.describe()}`);
    }
    return this.outType;
  }

  /** A channel map `W [rows, in]` applied at every group element: `[N, in, |G|] -> [N, rows, |G|]`. */
  private project(x: Tensor, w: Tensor, rows: number): Tensor {
    const n = x.shape[0], G = this.group.order;
    return conv2d(x, w, undefined, { n, cin: this.omega.in, h: 1, w: G, cout: rows, kh: 1, kw: 1, stride: 1, padTop: 0, padLeft: 0, ho: 1, wo: G }, false, [n, rows, G]);
  }

  run(x: Tensor): Tensor {
    this.checkInput(x);
    const o = this.omega, n = x.shape[0], G = this.group.order;
    const p = this.parameters();
    const q = this.project(x, p.query, o.heads * o.dim);
    const k = this.project(x, p.key, o.heads * o.dim);
    const v = this.project(x, p.value, o.out);
    const out = empty([n, o.out, G]);
    try {
      const rel = this.#rel!;
      call(this.label(), (kn) => kn.group_attention(q.ptr, k.ptr, v.ptr, rel.ptr, p.position.ptr, out.ptr, n, o.heads, o.dim, o.out / o.heads, G, o.content));
    } catch (e) {
      out.dispose();
      throw e;
    } finally {
      q.dispose();
      k.dispose();
      v.dispose();
    }
    return out;
  }

  /** The operator summed literally from its definition, in double precision (slow; for tests). */
  reference(x: Tensor): Tensor {
    this.checkInput(x);
    const o = this.omega, G = this.group, n = G.order, N = x.shape[0];
    const [Wq, Wk, Wv, B] = ['query', 'key', 'value', 'position'].map((k) => this.parameters()[k].toArray());
    const f = x.toArray();
    const dv = o.out / o.heads;
    const feat = (b: number, g: number) => Array.from({ length: o.in }, (_, c) => f[(b * o.in + c) * n + g]);
    const lin = (W: Float32Array, rows: number[], v: number[]) => rows.map((r) => v.reduce((s, vc, c) => s + W[r * o.in + c] * vc, 0));
    const out = new Float32Array(N * o.out * n);
    for (let b = 0; b < N; b++) for (let h = 0; h < o.heads; h++) {
      const qr = Array.from({ length: o.dim }, (_, i) => h * o.dim + i), vr = Array.from({ length: dv }, (_, i) => h * dv + i);
      for (let g = 0; g < n; g++) {
        const qg = lin(Wq, qr, feat(b, g));
        const logits = Array.from({ length: n }, (_, gp) => {
          const content = o.content ? lin(Wk, qr, feat(b, gp)).reduce((s, kv, i) => s + kv * qg[i], 0) / Math.sqrt(o.dim) : 0;
          return content + B[h * n + G.compose(G.inverse(g), gp)];
        });
        const m = Math.max(...logits), e = logits.map((l) => Math.exp(l - m)), z = e.reduce((a, c) => a + c, 0);
        for (let gp = 0; gp < n; gp++) {
          const vg = lin(Wv, vr, feat(b, gp));
          vr.forEach((r, i) => (out[(b * o.out + r) * n + g] += (e[gp] / z) * vg[i]));
        }
      }
    }
    return tensor(out, [N, o.out, n]);
  }

  config(): LayerConfig {
    const base: LayerConfig = { type: this.type, group: this.group.name, ...(this.name ? { name: this.name } : {}) };
    if (this.type === 'phi') return { ...base, omega: this.omega.config() };
    const { in: i, out, heads, dim, content } = this.omega;
    return { ...base, in: i, out, heads, dim, content };
  }

  dispose(): void {
    this.#rel?.dispose();
    this.#rel = undefined;
    super.dispose();
  }
}
