/**
 * The LieTransformer block (Hutchinson et al. 2021), pre-norm with residuals, on a lifted field:
 *
 *   h = f + W_O MHA(LN_1(f))            (attention over the lifted elements)
 *   y = h + W_2 silu(W_1 LN_2(h) + b_1) + b_2
 *
 * `MHA` is `phi` with `omega.attention`: content `q.k / sqrt(d)` (q, k, v with biases) plus a
 * location term, one MLP of `log(g^-1 g')` per head (Swish after every layer), combined by sum
 * (or product) and normalised over the neighbours (`softmax`, `dot_product`, `norm_exp`). `LN` is
 * a layer norm over each element's channels, which commutes with moving elements, so the block is
 * equivariant because its attention is. The residual sums run in the products' epilogues.
 * Parameters: `ln1.weight`, `ln1.bias`, `attention.query`, `attention.query_bias`, ...,
 * `attention.location.<i>.weight/bias`, `out.weight`, `out.bias`, `ln2.*`, `mlp.0.*`, `mlp.1.*`.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { checkOptions } from '../core/limits.js';
import type { Tensor } from '../core/tensor.js';
import type { FieldType } from '../fields/field.js';
import { LiftedField, LiftedFieldType } from '../fields/lifted.js';
import { byName } from '../groups/index.js';
import { LieGroup } from '../groups/lie.js';
import type { NeighbourSpec } from '../domains/neighbourhood.js';
import { AttentionOmega } from '../omega/attention.js';
import type { Activation, Normaliser } from '../omega/engine.js';
import { Layer, type LayerConfig, type ParameterSource, type StagedParameters } from './layer.js';
import { Linear } from './linear.js';
import { Phi } from './phi.js';
import { LayerNorm } from './pointwise.js';

export interface LieTransformerBlockOptions {
  group: LieGroup | string;
  /** Channels in and out. */
  dim: number;
  heads: number;
  /** Query/key width per head; default `dim / heads`. */
  dimHead?: number;
  /** Hidden widths of the per-head location MLP; default [16, 16]. */
  hidden?: number[];
  activation?: Activation;
  /** Default `'softmax'`. */
  normalise?: Normaliser;
  combine?: 'sum' | 'product';
  /** Content attention on (default) or off. */
  content?: boolean;
  /** `'mlp'` (default) or `'none'`. */
  location?: 'mlp' | 'none';
  /** Hidden width of the pointwise MLP; default `dim`. */
  mlp?: number;
  /** Layer-norm epsilon; default 1e-5. */
  eps?: number;
  neighbours?: NeighbourSpec;
  name?: string;
  seed?: number;
}

/** A layer made of named parts, whose parameters are the parts' under `part.param`. */
abstract class Composite extends Layer {
  protected abstract parts(): [string, Layer][];

  parameterShapes(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const [n, l] of this.parts()) for (const [k, v] of Object.entries(l.parameterShapes())) out[`${n}.${k}`] = v;
    return out;
  }

  parameters(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [n, l] of this.parts()) for (const [k, v] of Object.entries(l.parameters())) out[`${n}.${k}`] = v;
    return out;
  }

  private split<T>(values: Record<string, T> | Map<string, T>): Map<Layer, Record<string, T>> {
    const parts = this.parts();
    const byPart = new Map<Layer, Record<string, T>>();
    const entries = values instanceof Map ? [...values.entries()] : Object.entries(values);
    for (const [key, v] of entries) {
      const hit = parts.find(([n]) => key.startsWith(`${n}.`));
      if (!hit) throw new ArgumentError(`${this.label()}: unknown parameter '${key}' (expected ${Object.keys(this.parameterShapes()).join(', ')})`);
      byPart.set(hit[1], { ...(byPart.get(hit[1]) ?? {}), [key.slice(hit[0].length + 1)]: v });
    }
    return byPart;
  }

  stageParameters(values: Record<string, ParameterSource>): StagedParameters {
    if (values === null || typeof values !== 'object' || Array.isArray(values)) throw new ArgumentError(`${this.label()}.setParameters: expected an object of named parameters`);
    const staged: StagedParameters = new Map();
    try {
      for (const [layer, vals] of this.split(values)) {
        const prefix = this.parts().find(([, l]) => l === layer)![0];
        for (const [k, t] of layer.stageParameters(vals)) staged.set(`${prefix}.${k}`, t);
      }
    } catch (e) {
      for (const t of staged.values()) t.dispose();
      throw e;
    }
    return staged;
  }

  applyParameters(staged: StagedParameters): { commit(): void; rollback(): void } {
    const applied: { commit(): void; rollback(): void }[] = [];
    const groups = [...this.split(staged)];
    let i = 0;
    try {
      for (; i < groups.length; i++) applied.push(groups[i][0].applyParameters(new Map(Object.entries(groups[i][1]))));
    } catch (e) {
      for (const a of applied.reverse()) {
        try {
          a.rollback();
        } catch {
          // Memory ran out re-deriving old weights: the original error says why.
        }
      }
      for (let j = i + 1; j < groups.length; j++) for (const t of Object.values(groups[j][1])) t.dispose();
      throw e;
    }
    this.touch();
    return { commit: () => applied.forEach((a) => a.commit()), rollback: () => applied.reverse().forEach((a) => a.rollback()) };
  }

  dispose(): void {
    for (const [, l] of this.parts()) l.dispose();
    super.dispose();
  }
}

export class LieTransformerBlock extends Composite {
  readonly type = 'lieTransformerBlock';
  readonly group: LieGroup;
  readonly dim: number;
  readonly ln1: LayerNorm;
  readonly attention: Phi;
  readonly out: Linear;
  readonly ln2: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly options: Required<Omit<LieTransformerBlockOptions, 'name' | 'seed' | 'group' | 'neighbours'>> & { neighbours: NeighbourSpec };
  declare inType: FieldType<unknown, any>;
  declare outType: FieldType<unknown, any>;

  constructor(o: LieTransformerBlockOptions) {
    checkOptions('lieTransformerBlock', o, { group: ['any'], dim: ['dim'], heads: ['dim'], dimHead: ['dim', true], hidden: ['any', true], activation: ['any', true], normalise: ['any', true], combine: ['any', true], content: ['bool', true], location: [['mlp', 'none'], true], mlp: ['dim', true], eps: ['positive', true], neighbours: ['any', true], name: ['string', true], seed: ['int', true] });
    super(o.name);
    const G = typeof o.group === 'string' ? byName(o.group) : o.group;
    if (!(G instanceof LieGroup)) throw new ArgumentError(`lieTransformerBlock: runs on lifted clouds of a Lie group, got ${String(o.group)}`);
    if (o.dim % o.heads !== 0) throw new ArgumentError(`lieTransformerBlock: dim (${o.dim}) must be divisible by heads (${o.heads})`);
    this.group = G;
    this.dim = o.dim;
    const seed = o.seed ?? 1;
    this.options = {
      dim: o.dim, heads: o.heads, dimHead: o.dimHead ?? o.dim / o.heads, hidden: o.hidden ?? [16, 16], activation: o.activation ?? 'silu',
      normalise: o.normalise ?? 'softmax', combine: o.combine ?? 'sum', content: o.content ?? true, location: o.location ?? 'mlp',
      mlp: o.mlp ?? o.dim, eps: o.eps ?? 1e-5, neighbours: o.neighbours ?? 'global',
    };
    const p = this.options;
    const made: Layer[] = [];
    const keep = <T extends Layer>(l: T) => (made.push(l), l);
    try {
      this.ln1 = keep(new LayerNorm({ channels: p.dim, eps: p.eps }));
      const omega = new AttentionOmega({ in: p.dim, out: p.dim, heads: p.heads, dim: p.dimHead, content: p.content, location: p.location, hidden: p.hidden, activation: p.activation, normalise: p.normalise, combine: p.combine, bias: true });
      this.attention = keep(new Phi({ group: G, omega, neighbours: p.neighbours, seed: seed + 1 }));
      this.out = keep(new Linear({ in: p.dim, out: p.dim, seed: seed + 2 }));
      this.ln2 = keep(new LayerNorm({ channels: p.dim, eps: p.eps }));
      this.fc1 = keep(new Linear({ in: p.dim, out: p.mlp, seed: seed + 3 }));
      this.fc2 = keep(new Linear({ in: p.mlp, out: p.dim, seed: seed + 4 }));
    } catch (e) {
      for (const l of made) l.dispose();
      throw e;
    }
    this.inType = new LiftedFieldType(G, p.dim) as FieldType<unknown, any>;
    this.outType = this.inType;
  }

  protected parts(): [string, Layer][] {
    return [['ln1', this.ln1], ['attention', this.attention], ['out', this.out], ['ln2', this.ln2], ['mlp.0', this.fc1], ['mlp.1', this.fc2]];
  }

  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    if (!(t instanceof LiftedFieldType) || t.group !== this.group || t.channels !== this.dim) throw new ShapeError(`${this.label()}: expects ${this.inType.describe()}, but its input is ${t.describe()}`);
    return t;
  }

  run(x: LiftedField): LiftedField {
    this.inType.check(x, this.label());
    const temps: LiftedField[] = [];
    const t = <T extends LiftedField>(v: T) => (temps.push(v), v);
    try {
      const a = t(this.attention.run(t(this.ln1.run(x))));
      const h = t(this.out.apply(a, { residual: x }) as LiftedField);
      const m = t(this.fc1.apply(t(this.ln2.run(h)), { activation: 'silu' }) as LiftedField);
      return this.fc2.apply(m, { residual: h }) as LiftedField;
    } finally {
      for (const v of temps) v.dispose();
    }
  }

  config(): LayerConfig {
    const p = this.options;
    return {
      type: this.type, group: this.group.name, dim: p.dim, heads: p.heads, dimHead: p.dimHead, hidden: [...p.hidden], activation: p.activation,
      normalise: p.normalise, combine: p.combine, content: p.content, location: p.location, mlp: p.mlp, eps: p.eps, neighbours: p.neighbours,
      ...(this.name ? { name: this.name } : {}),
    };
  }
}
