/**
 * Equivariant MLPs (Finzi, Welling & Wilson, ICML 2021, in this library's terms): layers on
 * features `[N, dim]` in a representation.
 *
 * - `equivariantLinear({ group, in, out, bias })`: `y = W x + b` with `W` in `Hom_G(in, out)`
 *   and `b` in the invariant vectors of `out`. The parameters are the coefficients of the
 *   solver's orthonormal bases (ts/space/hom.ts); `W = sum c_i B_i` is packed once per
 *   parameter version into the GEMM's layout, so running costs one matrix product.
 * - `gated({ group, rep })`: the gated nonlinearity. Its input is `rep` followed by one gate
 *   scalar per non-scalar summand of `rep`; scalar summands get SiLU, every other summand is
 *   scaled by the sigmoid of its gate (invariant, so the product is equivariant).
 * - `tensorSquare({ group, rep })`: `x -> [x, x (x) x]`, in `rep + rep^2`. An equivariantLinear
 *   after it is the most general equivariant map that is linear plus bilinear in `x` (every
 *   bilinear map `B(x, x)` is linear in `x (x) x`), which is how products of features (norms,
 *   dot products, outer products) enter the network.
 *
 * Representations are given as objects or as strings (`'5*V + V^2'`, ts/space/spec.ts); a model
 * config stores the strings.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { PackedMatrix, matmulRows, packMatrix } from '../core/gemm.js';
import { U32Buffer, withTemporaries } from '../core/buffers.js';
import { checkLayerBytes, checkOptions, describe } from '../core/limits.js';
import { Tensor, expectTensor, keep, tensor, tidy } from '../core/tensor.js';
import { call } from '../core/wasm.js';
import { into } from '../core/ops.js';
import { VectorField } from '../fields/vector.js';
import type { FieldType } from '../fields/index.js';
import { FiniteGroup } from '../groups/finite.js';
import { GridGroup } from '../groups/grid.js';
import { byName, type AnyGroup } from '../groups/index.js';
import { LieGroup, seededRng } from '../groups/lie.js';
import * as R from '../reps/index.js';
import { structureOf } from '../reps/structure.js';
import { HomSpace, homDimension } from '../space/hom.js';
import type { Method } from '../space/solver.js';
import { rep as parseRep, specOf } from '../space/spec.js';
import { Layer, type LayerConfig } from './layer.js';

type Rep = R.Representation<any>;

function groupOf(type: string, g: unknown): AnyGroup {
  let G = g;
  if (typeof g === 'string') {
    try {
      G = byName(g);
    } catch (e) {
      throw new ArgumentError(`${type}: ${(e as Error).message}`);
    }
  }
  if (!(G instanceof FiniteGroup || G instanceof GridGroup || G instanceof LieGroup)) throw new ArgumentError(`${type}: group must be a finite group, p4/p4m, a Lie group or a name, got ${describe(g)}`);
  return G;
}

function repOf(type: string, key: string, G: AnyGroup, r: unknown): { rep: Rep; spec?: string } {
  if (typeof r === 'string') return { rep: parseRep(G, r), spec: r.trim() };
  if (r instanceof R.Representation) {
    const own = r.group === G || (G instanceof GridGroup && r.group === G.pointGroup);
    if (!own) throw new ArgumentError(`${type}: '${key}' is a representation of ${String(r.group)}, the layer's group is ${String(G)}`);
    return { rep: r, spec: specOf(r) };
  }
  throw new ArgumentError(`${type}: '${key}' must be a representation or a string such as '5*V + V^2', got ${describe(r)}`);
}

/** The trivial representation of `G` the spec parser uses (one object per group). */
const trivialOf = (G: AnyGroup): Rep => parseRep(G, '1');

/** The summands of a representation (nested direct sums flattened). */
function summands(rep: Rep): Rep[] {
  const s = structureOf(rep);
  if (s?.kind !== 'sum') return [rep];
  return (s.parts as Rep[]).flatMap(summands);
}

export interface EquivariantLinearOptions {
  group: AnyGroup | string;
  in: Rep | string;
  out: Rep | string;
  /** An invariant bias (a combination of the invariant vectors of `out`); default true. */
  bias?: boolean;
  name?: string;
  seed?: number;
  /** How the basis is solved (default `'auto'`). */
  method?: Method;
}

/** A layer on vectors in a representation: its input type and tensors are checked one way. */
abstract class VectorLayer extends Layer {
  /** Said after the expected type when an input does not match. */
  protected inputNote(): string {
    return '';
  }

  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    const want = this.inType as VectorField;
    if (!want.same(t)) throw new ShapeError(`${this.label()}: expects ${want.describe()}${this.inputNote()}, but its input is ${t.describe()}`);
    return this.outType!;
  }

  /** Throws unless `x` is a live tensor of this layer's input type. */
  protected checkVectors(x: Tensor): void {
    expectTensor(x, this.label());
    this.inType!.check(x, this.label());
  }
}

/** `y = W x + b`, `W` in `Hom_G(in, out)` (see the module comment). */
export class EquivariantLinear extends VectorLayer {
  readonly type = 'equivariantLinear';
  readonly group: AnyGroup;
  readonly repIn: Rep;
  readonly repOut: Rep;
  readonly bias: boolean;
  /** The space `W` lives in, and the one `b` lives in (`Hom_G(trivial, out)`). */
  readonly space: HomSpace;
  readonly biasSpace?: HomSpace;
  readonly #specs: { in?: string; out?: string };
  #packed?: PackedMatrix;
  #biasVector?: Tensor;

  constructor(options: EquivariantLinearOptions) {
    checkOptions('equivariantLinear', options, { group: ['any'], in: ['any'], out: ['any'], bias: ['bool', true], name: ['string', true], seed: ['int', true], method: [['auto', 'orbits', 'projector', 'constraints'], true] });
    const G = groupOf('equivariantLinear', options.group);
    const a = repOf('equivariantLinear', 'in', G, options.in), b = repOf('equivariantLinear', 'out', G, options.out);
    // The dense weight, its transpose and packed form (f32), before anything is solved.
    checkLayerBytes(`equivariantLinear ${a.rep.dim} -> ${b.rep.dim}`, 4 * 4 * a.rep.dim * b.rep.dim);
    super(options.name);
    this.group = G;
    this.repIn = a.rep;
    this.repOut = b.rep;
    this.#specs = { in: a.spec, out: b.spec };
    this.bias = options.bias ?? true;
    this.space = new HomSpace(G, a.rep, b.rep, { method: options.method });
    if (this.bias) {
      const s = new HomSpace(G, trivialOf(G), b.rep, { method: options.method });
      if (s.dimension > 0) this.biasSpace = s;
    }
    this.inType = new VectorField(a.rep, a.spec);
    this.outType = new VectorField(b.rep, b.spec);
    // W = sum c_i B_i with orthonormal B_i: c_i ~ N(0, d_out / dim) makes |W|_F^2 about d_out, so
    // inputs with entries of order one give outputs of order one.
    const rng = seededRng(options.seed ?? 1);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    const k = this.space.dimension;
    const scale = Math.sqrt(b.rep.dim / Math.max(1, k));
    const weight = Float32Array.from({ length: k }, () => gauss() * scale);
    const init: Record<string, Float32Array> = { weight };
    if (this.biasSpace) init.bias = new Float32Array(this.biasSpace.dimension);
    this.setParameters(init);
  }

  parameterShapes(): Record<string, number[]> {
    const s: Record<string, number[]> = { weight: [this.space.dimension] };
    if (this.biasSpace) s.bias = [this.biasSpace.dimension];
    return s;
  }

  /** The dense `W` (`d_out x d_in`, row-major) of the current coefficients. */
  weightMatrix(): Float64Array {
    return this.space.combine(this.store.get('weight')!.toArray());
  }

  /** The dense bias vector (`d_out`). */
  biasVector(): Float64Array {
    const b = this.store.get('bias');
    return this.biasSpace && b ? this.biasSpace.combine(b.toArray()) : new Float64Array(this.repOut.dim);
  }

  protected prepare(): void {
    if (!this.store.has('weight')) return;
    const [dOut, dIn] = [this.repOut.dim, this.repIn.dim];
    const W = this.weightMatrix();
    // The GEMM computes x Wt: Wt[i][o] = W[o][i], packed once.
    const wt = new Float32Array(dIn * dOut);
    for (let o = 0; o < dOut; o++) for (let i = 0; i < dIn; i++) wt[i * dOut + o] = W[o * dIn + i];
    const packed = tidy(() => keep(packMatrix(tensor(wt, [dIn, dOut]))));
    let bias: Tensor | undefined;
    try {
      bias = this.biasSpace && this.store.has('bias') ? keep(tensor(Float32Array.from(this.biasVector()), [dOut])) : undefined;
    } catch (e) {
      packed.dispose();
      throw e;
    }
    this.#packed?.dispose();
    this.#biasVector?.dispose();
    this.#packed = packed;
    this.#biasVector = bias;
  }

  run(x: Tensor): Tensor {
    this.checkVectors(x);
    const n = x.shape[0];
    return matmulRows(x, n, this.repIn.dim, this.#packed!, { bias: this.#biasVector }, [n, this.repOut.dim]);
  }

  config(): LayerConfig {
    const c: LayerConfig = { type: this.type, group: this.group.name, in: this.#specs.in ?? this.repIn.name, out: this.#specs.out ?? this.repOut.name, bias: this.bias };
    if (this.name) c.name = this.name;
    return c;
  }

  dispose(): void {
    this.#packed?.dispose();
    this.#packed = undefined;
    this.#biasVector?.dispose();
    this.#biasVector = undefined;
    super.dispose();
  }
}

/** A summand of a gated nonlinearity: scalar (SiLU) or gated by an appended scalar. */
interface GateBlock {
  start: number;
  len: number;
  gate: number | undefined;
}

/** `rep` followed by its gates: one trivial copy per non-scalar summand. */
export function gatedInput(G: AnyGroup, rep: Rep): { rep: Rep; gates: number; blocks: GateBlock[] } {
  const triv = trivialOf(G);
  const blocks: GateBlock[] = [];
  let at = 0, gates = 0;
  for (const s of summands(rep)) {
    const scalar = s.dim === 1 && homDimension(G, triv, s, 'gated') === 1;
    blocks.push({ start: at, len: s.dim, gate: scalar ? undefined : rep.dim + gates });
    if (!scalar) gates++;
    at += s.dim;
  }
  return { rep: gates ? R.directSum(rep, ...Array.from({ length: gates }, () => triv)) : rep, gates, blocks };
}

/** The gated nonlinearity (see the module comment). */
export class Gated extends VectorLayer {
  readonly type = 'gated';
  readonly group: AnyGroup;
  readonly rep: Rep;
  readonly gates: number;
  readonly #blocks: GateBlock[];
  readonly #table: Uint32Array;
  readonly #spec?: string;

  constructor(options: { group: AnyGroup | string; rep: Rep | string; name?: string }) {
    checkOptions('gated', options, { group: ['any'], rep: ['any'], name: ['string', true] });
    const G = groupOf('gated', options.group);
    const r = repOf('gated', 'rep', G, options.rep);
    super(options.name);
    this.group = G;
    this.rep = r.rep;
    this.#spec = r.spec;
    const g = gatedInput(G, r.rep);
    this.gates = g.gates;
    this.#blocks = g.blocks;
    this.#table = Uint32Array.from(g.blocks.flatMap((b) => [b.start, b.len, b.gate ?? 0xffffffff]));
    this.inType = new VectorField(g.rep, r.spec === undefined ? undefined : g.gates ? `${r.spec} + ${g.gates}` : r.spec);
    this.outType = new VectorField(r.rep, r.spec);
  }

  protected inputNote(): string {
    return ` (the representation followed by ${this.gates} gate scalar${this.gates === 1 ? '' : 's'})`;
  }

  run(x: Tensor): Tensor {
    this.checkVectors(x);
    const n = x.shape[0], wIn = this.rep.dim + this.gates, wOut = this.rep.dim;
    return into([n, wOut], (out) => withTemporaries((t) => {
      const table = t.add(new U32Buffer(this.#table));
      call(this.label(), (k) => k.rep_gated(x.ptr, n, wIn, wOut, table.ptr, this.#blocks.length, out.ptr));
    }));
  }

  config(): LayerConfig {
    return { type: this.type, group: this.group.name, rep: this.#spec ?? this.rep.name, ...(this.name ? { name: this.name } : {}) };
  }
}

/** `x -> [x, x (x) x]` (see the module comment). */
export class TensorSquare extends VectorLayer {
  readonly type = 'tensorSquare';
  readonly group: AnyGroup;
  readonly rep: Rep;
  readonly #spec?: string;

  constructor(options: { group: AnyGroup | string; rep: Rep | string; name?: string }) {
    checkOptions('tensorSquare', options, { group: ['any'], rep: ['any'], name: ['string', true] });
    const G = groupOf('tensorSquare', options.group);
    const r = repOf('tensorSquare', 'rep', G, options.rep);
    checkLayerBytes(`tensorSquare of ${r.rep.dim}`, 4 * r.rep.dim * (r.rep.dim + 1));
    super(options.name);
    this.group = G;
    this.rep = r.rep;
    this.#spec = r.spec;
    const outRep = R.directSum(r.rep, R.tensorProduct(r.rep, r.rep));
    this.inType = new VectorField(r.rep, r.spec);
    this.outType = new VectorField(outRep, r.spec === undefined ? undefined : `${wrap(r.spec)} + ${wrap(r.spec)}^2`);
  }

  run(x: Tensor): Tensor {
    this.checkVectors(x);
    const n = x.shape[0], d = this.rep.dim;
    return into([n, d + d * d], (out) => call(this.label(), (k) => k.rep_tensor_square(x.ptr, n, d, out.ptr)));
  }

  config(): LayerConfig {
    return { type: this.type, group: this.group.name, rep: this.#spec ?? this.rep.name, ...(this.name ? { name: this.name } : {}) };
  }
}

/** `(spec)` unless it is a single name or number. */
function wrap(spec: string): string {
  return /^[A-Za-z0-9_:]+$/.test(spec) ? spec : `(${spec})`;
}

export const equivariantLinear = (o: EquivariantLinearOptions) => new EquivariantLinear(o);
export const gated = (o: { group: AnyGroup | string; rep: Rep | string; name?: string }) => new Gated(o);
export const tensorSquare = (o: { group: AnyGroup | string; rep: Rep | string; name?: string }) => new TensorSquare(o);

/** Dimension of a representation string, for checking a model config before building it. */
export function specDim(G: AnyGroup, spec: unknown, what: string): number {
  if (typeof spec !== 'string') throw new ArgumentError(`${what} must be a representation string such as '5*V + V^2', got ${describe(spec)}`);
  return parseRep(G, spec).dim;
}

/**
 * The channels (dimensions) of the equivariant MLP layers of a model config, chained as
 * `io/plan.ts` does for the others: `[input dimension, output dimension]` and the f32 elements
 * the layer's dense weights need.
 */
export function planVectorLayer(c: Record<string, unknown>, G: AnyGroup, where: string): { in: number; out: number; elements: number } {
  if (c.type === 'equivariantLinear') {
    const i = specDim(G, c.in, `${where}: in`), o = specDim(G, c.out, `${where}: out`);
    return { in: i, out: o, elements: 4 * i * o };
  }
  const d = specDim(G, c.rep, `${where}: rep`);
  if (c.type === 'tensorSquare') return { in: d, out: d + d * d, elements: 0 };
  return { in: d + gatedInput(G, parseRep(G, c.rep as string)).gates, out: d, elements: 0 };
}
