/**
 * `phi`: the one operator every layer is a configuration of,
 * `[Phi f](g) = sum over g' in N(g) of omega(f, g, g')` (docs/framework.md, docs/unification.md).
 *
 * A `Phi` is a domain (where features live: a finite group, a grid under p4/p4m/z2, a lifted
 * cloud on a Lie group), a neighbourhood `N(g)` on it, and an `omega`. Running it lowers to one
 * engine call (crate/src/engine.rs) on the domain's neighbour lists. A planner picks a dense
 * fast path when `omega` is a kernel of the relative element alone (`omega.kernel`, or an
 * `omega.mlp` that reads no features, evaluated once per table position): on a finite group
 * the sum is a product with the packed matrix `K[(ci, h), (co, g)] = kappa[co, ci, g^-1 h]`; on
 * a grid it is a convolution with the filter bank expanded from `kappa` (direct or Winograd).
 * Each fast path equals the engine on the same omega to float rounding (tested). What is derived
 * from the parameters is keyed by the layer's version and rebuilt when it changes.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { matmulRows, packMatrix, PackedMatrix } from '../core/gemm.js';
import { channelAffine, conv2d, conv3x3Winograd, convGeometry, permute, relu as reluOp, winogradApplies, winogradWeights } from '../core/ops.js';
import { Tensor, empty, keep, tensor, tidy } from '../core/tensor.js';
import { FieldType, GridField, ImageField, RegularField } from '../fields/index.js';
import { LiftedField, LiftedFieldType } from '../fields/lifted.js';
import { FiniteGroup } from '../groups/finite.js';
import { GridGroup } from '../groups/grid.js';
import { byName, type AnyGroup } from '../groups/index.js';
import { LieGroup, seededRng } from '../groups/lie.js';
import { FiniteDomain } from '../domains/finite.js';
import { GridDomain, type Window } from '../domains/grid.js';
import { specKey, type Neighbourhood, type NeighbourSpec } from '../domains/neighbourhood.js';
import { AttentionOmega } from '../omega/attention.js';
import { KernelOmega } from '../omega/kernel.js';
import { MlpOmega } from '../omega/mlp.js';
import { checkLayerBytes, describe } from '../core/limits.js';
import { Omega, type DomainKind, type OmegaContext, type Prepared } from '../omega/omega.js';
import { Layer, type LayerConfig } from './layer.js';
import { checkPhiOptions } from './guards.js';

export type ConvAlgorithm = 'auto' | 'direct';
/** `'auto'`: the dense fast path where one applies; `'general'`: always the engine. */
export type PhiPath = 'auto' | 'general';

export interface PhiOptions {
  /** The group: finite (`C<n>`, `D<n>`, `S<n>`, ...), p4/p4m/z2 on grids, or a Lie group. */
  group: AnyGroup | string;
  omega: Omega;
  /** Which `g'` each `g` sees; by default the omega's (a kernel's window on grids, else global). */
  neighbours?: NeighbourSpec;
  name?: string;
  /**
   * Grids: `'auto'` (default) runs 3x3 stride-1 kernels by Winograd F(2x2, 3x3) when there are at
   * least 4 input channels (2.25x fewer multiplications; rounding differs from direct convolution
   * at the 1e-7 level); `'direct'` always uses the implicit-GEMM convolution.
   */
  algorithm?: ConvAlgorithm;
  /** `'auto'` (default) or `'general'` (the engine even where a fast path applies). */
  path?: PhiPath;
  /** Seed of the initial weights; default 1. */
  seed?: number;
}

/** A per-channel affine folded into the layer's output (inference batch norm). */
export interface Affine {
  scale: Float32Array;
  shift: Float32Array;
}

/** Weights of a fast path: an expanded filter bank (grids) or a packed Cayley matrix (finite groups). */
interface Fast {
  weights?: Tensor;
  winograd?: Tensor;
  packed?: PackedMatrix;
  bias?: Tensor;
  dispose(): void;
}

type Value = Tensor | LiftedField;

/** A deep, frozen copy of a neighbour specification (plain data: numbers, strings, arrays). */
function ownSpec(spec: NeighbourSpec, where: string): NeighbourSpec {
  if (spec === null || typeof spec !== 'object') return spec;
  let copy: NeighbourSpec;
  try {
    copy = structuredClone(spec);
  } catch {
    throw new ArgumentError(`${where}: neighbours must be plain data ('global', { k }, { radius }, { window }, { support: [...] }), got ${describe(spec)}`);
  }
  const freeze = (v: unknown): void => {
    if (v !== null && typeof v === 'object') {
      Object.freeze(v);
      for (const x of Object.values(v)) freeze(x);
    }
  };
  freeze(copy);
  return copy;
}

export class Phi extends Layer {
  readonly type: string;
  readonly group: AnyGroup;
  readonly omega: Omega;
  readonly neighbours: NeighbourSpec;
  readonly kind: DomainKind;
  declare inType: FieldType<unknown, any>;
  declare outType: FieldType<unknown, any>;
  #algorithm: ConvAlgorithm;
  #path: PhiPath;
  #window?: Window;
  #engine?: { version: number; prepared: Prepared };
  #fast?: { version: number; algorithm: ConvAlgorithm; fast: Fast | undefined };

  constructor(options: PhiOptions, type = 'phi') {
    super(options?.name);
    this.type = type;
    checkPhiOptions(type, options);
    const group = typeof options.group === 'string' ? byName(options.group) : options.group;
    if (!(group instanceof GridGroup) && !(group instanceof FiniteGroup) && !(group instanceof LieGroup)) {
      throw new ArgumentError(`${type}: group must be a finite group, p4/p4m/z2 or a Lie group, got ${String(options.group)}`);
    }
    if (!(options.omega instanceof Omega)) throw new ArgumentError(`${type}: omega must be made by eq.omega.kernel, eq.omega.mlp, eq.omega.attention or eq.omega.custom, got ${String(options.omega)}`);
    this.group = group;
    this.omega = options.omega;
    this.kind = group instanceof GridGroup ? 'grid' : group instanceof FiniteGroup ? 'finite' : 'lifted';
    const why = this.omega.supports(this.kind);
    if (why) throw new ArgumentError(`${type}: ${why}`);
    if (this.omega.lift && this.kind !== 'grid') throw new ArgumentError(`${type}: lifting onto ${group.name} needs a domain; on a finite group use regular fields as input (lift: false), on a Lie group lift the points with G.lift`);
    // A copy, frozen: the caller's object (a support list) may change after construction.
    this.neighbours = ownSpec(options.neighbours ?? this.omega.defaultNeighbours(this.kind), this.label());
    specKey(this.neighbours, this.label());
    if (this.kind === 'grid') {
      this.#window = new GridDomain(group as GridGroup).window(this.neighbours, this.label());
      const own = this.omega.defaultNeighbours('grid') as Window & { window: number };
      if (this.omega instanceof KernelOmega && (own.window !== this.#window.size || own.padding !== this.#window.padding || own.stride !== this.#window.stride)) {
        throw new ArgumentError(`${this.label()}: omega.kernel's window is its size, padding and stride (${own.window}, ${String(own.padding)}, ${own.stride}); neighbours ${JSON.stringify(this.neighbours)} disagree`);
      }
      if (!(this.omega instanceof KernelOmega)) {
        // Every omega keeps something per relative element of the window (psi's table, a
        // location table): |P| k^2 of them. Bounded here, before a window of thousands is built.
        const k = this.#window.size, R = (this.omega.lift ? 1 : (group as GridGroup).pointOrder) * k * k;
        if (R > 2 ** 20) throw new ArgumentError(`${this.label()}: a ${k}x${k} window on ${group.name} has ${R} relative elements; at most 2^20 (psi or the location term is evaluated at each)`);
        const per = this.omega instanceof MlpOmega ? this.omega.in * this.omega.out : this.omega instanceof AttentionOmega ? this.omega.heads : 1;
        checkLayerBytes(`${this.label()}: a ${k}x${k} window on ${group.name} (${R} relative elements)`, 4 * R * Math.max(1, per));
      }
    }
    if (this.kind === 'finite') new FiniteDomain(group as FiniteGroup).support(this.neighbours, this.label());
    if (this.kind === 'lifted' && this.neighbours !== 'global' && !('k' in this.neighbours) && !('radius' in this.neighbours)) {
      throw new ArgumentError(`${this.label()}: on a lifted cloud, neighbours are 'global', { k, alpha } or { radius, alpha }`);
    }
    this.#algorithm = checkAlgorithm(options.algorithm ?? 'auto', type);
    this.#path = checkPath(options.path ?? 'auto', type);
    const o = this.omega;
    if (group instanceof GridGroup) {
      this.inType = (o.lift ? new ImageField(group, o.in) : new GridField(group, o.in)) as FieldType<unknown, any>;
      this.outType = new GridField(group, o.out) as FieldType<unknown, any>;
    } else if (group instanceof FiniteGroup) {
      this.inType = new RegularField(group, o.in) as FieldType<unknown, any>;
      this.outType = new RegularField(group, o.out) as FieldType<unknown, any>;
    } else {
      this.inType = new LiftedFieldType(group, o.in) as FieldType<unknown, any>;
      this.outType = new LiftedFieldType(group, o.out) as FieldType<unknown, any>;
    }
    const init = o.init(this.context(), seededRng(options.seed ?? 1));
    if (Object.keys(init).length) this.setParameters(init);
  }

  /** What the omega needs to know of this domain. */
  context(): OmegaContext {
    const where = this.label();
    if (this.kind === 'finite') return { kind: 'finite', group: this.group, tableSize: (this.group as FiniteGroup).order, where };
    if (this.kind === 'grid') {
      const S = this.omega.lift ? 1 : (this.group as GridGroup).pointOrder, k = this.#window!.size;
      return { kind: 'grid', group: this.group, tableSize: S * k * k, coordsWidth: (this.omega.lift ? 0 : S) + 2, where };
    }
    const G = this.group as LieGroup;
    return { kind: 'lifted', group: G, coordsWidth: G.algebraDim + (G.hasOrbit ? 2 : 0), where };
  }

  /** How grid convolutions run (see `PhiOptions.algorithm`). */
  get algorithm(): ConvAlgorithm {
    return this.#algorithm;
  }

  set algorithm(a: ConvAlgorithm) {
    this.#algorithm = checkAlgorithm(a, this.label());
    this.touch();
  }

  /** Whether the dense fast path or the engine runs (see `PhiOptions.path`). */
  get path(): PhiPath {
    return this.#path;
  }

  set path(p: PhiPath) {
    this.#path = checkPath(p, this.label());
    this.touch();
  }

  /** Whether calls run on a dense fast path now (else the engine). */
  get usesFastPath(): boolean {
    return this.fast() !== undefined;
  }

  /** Whether calls run as Winograd F(2x2, 3x3). */
  get usesWinograd(): boolean {
    return this.fast()?.winograd !== undefined;
  }

  /** Size of the group axis of the features (|P| on grids, |G| on a finite group; 1 on Lie groups). */
  get groupAxis(): number {
    return this.group instanceof GridGroup ? this.group.pointOrder : this.group instanceof FiniteGroup ? this.group.order : 1;
  }

  parameterShapes(): Record<string, number[]> {
    return this.omega.shapes(this.context());
  }

  /** Prepared weights are derived on first use and whenever the version moves. */
  protected prepare(): void {}

  /** The engine's prepared weights for the current parameters. */
  private engine(): Prepared {
    if (this.#engine?.version !== this.version) {
      this.#engine?.prepared.dispose();
      this.#engine = undefined;
      this.#engine = { version: this.version, prepared: this.omega.prepare(this.context(), this.params()) };
    }
    return this.#engine.prepared;
  }

  /** The fast path for the current parameters, if the omega has a kernel table here. */
  private fast(): Fast | undefined {
    if (this.#path === 'general' || this.kind === 'lifted') return undefined;
    if (this.#fast?.version !== this.version || this.#fast.algorithm !== this.#algorithm) {
      this.#fast?.fast?.dispose();
      this.#fast = undefined;
      const table = this.omega.table(this.context(), this.params());
      this.#fast = { version: this.version, algorithm: this.#algorithm, fast: table ? this.build(table) : undefined };
    }
    return this.#fast.fast;
  }

  /** The kernel table `kappa[out, in, R]` this layer computes with, when it has one. */
  kernelTable(): Float32Array | undefined {
    return this.omega.table(this.context(), this.params());
  }

  /** Expands and packs a kernel table, with an optional folded affine (per output field). */
  private build(kappa: Float32Array, affine?: Affine, plain = false): Fast {
    return tidy(() => {
      const o = this.omega, P = this.groupAxis;
      // Finite groups: one zero after the table, for entries outside the support.
      const psi = this.group instanceof GridGroup ? tensor(kappa, [kappa.length]) : tensor([...kappa, 0], [kappa.length + 1]);
      const bias = o.hasBias ? this.params().get('bias') : undefined;
      const rows = o.out * P;
      const rowBias = new Float32Array(rows);
      const b = bias?.toArray();
      for (let co = 0; co < o.out; co++) for (let g = 0; g < P; g++) {
        const v = b ? b[co] : 0;
        rowBias[co * P + g] = affine ? v * affine.scale[co] + affine.shift[co] : v;
      }
      const hasBias = !!b || !!affine;
      let weights: Tensor = this.group instanceof GridGroup
        ? permute(psi, this.expansion(), [rows, this.expandedK()])
        : permute(psi, this.finiteMatrix(), [o.in * P, rows]);
      if (affine) {
        const w = weights.toArray();
        if (this.group instanceof GridGroup) {
          const K = this.expandedK();
          for (let r = 0; r < rows; r++) for (let c = 0; c < K; c++) w[r * K + c] *= affine.scale[Math.floor(r / P)];
        } else {
          for (let r = 0; r < o.in * P; r++) for (let c = 0; c < rows; c++) w[r * rows + c] *= affine.scale[Math.floor(c / P)];
        }
        weights = tensor(w, weights.shape);
      }
      const fast: Fast = {
        bias: hasBias ? keep(tensor(rowBias, [rows])) : undefined,
        dispose() {
          this.weights?.dispose();
          this.winograd?.dispose();
          this.packed?.dispose();
          this.bias?.dispose();
        },
      };
      const w = this.#window;
      if (!(this.group instanceof GridGroup)) fast.packed = keep(packMatrix(weights));
      else if (!plain && this.#algorithm === 'auto' && winogradApplies(w!.size, w!.stride, w!.padding) && this.expandedK() / 9 >= 4) fast.winograd = keep(winogradWeights(weights, rows, this.expandedK() / 9));
      else fast.weights = keep(weights);
      return fast;
    });
  }

  /**
   * The layer as an ordinary convolution (or matrix), for export to other engines: on p4/p4m
   * `weight` is `[out*|P|, in*|P|?, size, size]` (OIHW, as PyTorch/ONNX take it), on a finite
   * group `[in*|G|, out*|G|]` (`y = x weight + bias`); `affine` folds a batch norm in.
   */
  expandedFilters(affine?: Affine): { weight: Float32Array; shape: number[]; bias?: Float32Array } {
    const kappa = this.kernelTable();
    if (!kappa) throw new ArgumentError(`${this.label()}: only kernels of the relative element alone expand into a filter bank (this omega reads the features)`);
    const p = this.build(kappa, affine, true);
    try {
      const o = this.omega, k = this.#window?.size ?? 1;
      const shape = this.group instanceof GridGroup ? [o.out * this.groupAxis, o.in * (o.lift ? 1 : this.groupAxis), k, k] : [o.in * this.groupAxis, o.out * this.groupAxis];
      const weight = this.group instanceof GridGroup ? p.weights!.toArray() : permuteBack(kappa, this.finiteMatrix(), affine, this.groupAxis, o.out * this.groupAxis);
      return { weight, shape, bias: p.bias?.toArray() };
    } finally {
      p.dispose();
    }
  }

  /** Columns of the expanded filter bank: `in * |P|? * size * size`. */
  private expandedK(): number {
    const o = this.omega, k = this.#window!.size;
    return o.in * (o.lift ? 1 : this.groupAxis) * k * k;
  }

  /** Index table: expanded[(co, g), (ci, s?, i, j)] = psi[co, ci, g^-1 s, g^-1 (i, j)]. */
  private expansion(): Int32Array {
    const G = this.group as GridGroup, P = G.pointGroup, o = this.omega;
    const k = this.#window!.size, kk = k * k, n = P.order, K = this.expandedK();
    const S = o.lift ? 1 : n;
    const t = new Int32Array(o.out * n * K);
    for (let g = 0; g < n; g++) {
      const pix = G.pixelTable(g, k, k);
      const ginv = P.inverse(g);
      for (let co = 0; co < o.out; co++) for (let ci = 0; ci < o.in; ci++) for (let s = 0; s < S; s++) {
        const q = o.lift ? 0 : P.compose(ginv, s);
        const src = ((co * o.in + ci) * S + q) * kk;
        const dst = (co * n + g) * K + (ci * S + s) * kk;
        for (let i = 0; i < kk; i++) t[dst + i] = src + pix[i];
      }
    }
    return t;
  }

  /** Index table of the transposed group-convolution matrix, `[(ci, h), (co, g)]`. */
  private finiteMatrix(): Int32Array {
    const G = this.group as FiniteGroup, o = this.omega, n = G.order;
    const S = new FiniteDomain(G).support(this.neighbours, this.label());
    const inS = new Uint8Array(n);
    for (const s of S) inS[s] = 1;
    const t = new Int32Array(o.in * n * o.out * n);
    // Outside the support the kernel is zero: point those entries at a zero appended to kappa.
    const zero = o.out * o.in * n;
    for (let ci = 0; ci < o.in; ci++) for (let h = 0; h < n; h++) for (let co = 0; co < o.out; co++) for (let g = 0; g < n; g++) {
      const r = G.compose(G.inverse(g), h);
      t[(ci * n + h) * (o.out * n) + co * n + g] = inS[r] ? (co * o.in + ci) * n + r : zero;
    }
    return t;
  }

  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    const want = this.inType;
    if (t.constructor !== want.constructor || t.group !== want.group || t.channels !== want.channels) {
      throw new ShapeError(`${this.label()}: expects ${want.describe()}, but its input is ${t.describe()}`);
    }
    return this.outType;
  }

  run(x: Tensor): Tensor;
  run(x: LiftedField): LiftedField;
  run(x: Value): Value {
    return this.forward(x, undefined, false);
  }

  /**
   * An executor with a per-output-field affine (batch norm) and optionally ReLU fused in: folded
   * into the weights on a fast path, applied after the engine otherwise. What a model runs.
   */
  fused(bn: { readonly version: number; affine(): Affine } | undefined, relu: boolean): { run(x: Tensor): Tensor; dispose(): void } {
    // Keyed by both layers' parameters: a new kernel or new batch-norm statistics refold it.
    let folded: { version: number; bnVersion: number; algorithm: ConvAlgorithm; fast: Fast } | undefined;
    return {
      run: (x) => {
        if (!bn) return this.forward(x, undefined, relu) as Tensor;
        const affine = bn.affine();
        const kappaFast = this.fast();
        if (kappaFast) {
          if (folded?.version !== this.version || folded.bnVersion !== bn.version || folded.algorithm !== this.#algorithm) {
            folded?.fast.dispose();
            folded = undefined;
            folded = { version: this.version, bnVersion: bn.version, algorithm: this.#algorithm, fast: this.build(this.kernelTable()!, affine) };
          }
          return this.forward(x, folded.fast, relu) as Tensor;
        }
        const y = this.forward(x, undefined, false) as Tensor;
        try {
          return tidy(() => channelAffine(y, tensor(affine.scale, [affine.scale.length]), tensor(affine.shift, [affine.shift.length]), y.shape[0], this.omega.out, y.size / (y.shape[0] * this.omega.out || 1), relu));
        } finally {
          y.dispose();
        }
      },
      dispose: () => folded?.fast.dispose(),
    };
  }

  private forward(x: Value, fast: Fast | undefined, relu: boolean): Value {
    if (x instanceof LiftedField) {
      this.inType.check(x, this.label());
      return this.runLifted(x, relu);
    }
    this.checkInput(x);
    fast ??= this.fast();
    if (fast) return this.runFast(x, fast, relu);
    const y = this.runEngine(x);
    if (!relu) return y;
    try {
      return reluOp(y);
    } finally {
      y.dispose();
    }
  }

  private runFast(x: Tensor, prepared: Fast, relu: boolean): Tensor {
    const o = this.omega, P = this.groupAxis;
    if (this.group instanceof GridGroup) {
      const w = this.#window!;
      const [n] = x.shape;
      const h = x.shape[x.rank - 2], wd = x.shape[x.rank - 1];
      const { padTop, padLeft, ho, wo } = convGeometry(h, wd, w.size, w.stride, w.padding);
      if (ho < 1 || wo < 1) throw new ShapeError(`${this.label()}: a ${w.size}x${w.size} kernel with padding ${w.padding} does not fit a ${h}x${wd} input`);
      const cin = o.in * (o.lift ? 1 : P);
      const g = { n, cin, h, w: wd, cout: o.out * P, kh: w.size, kw: w.size, stride: w.stride, padTop, padLeft, ho, wo };
      if (prepared.winograd) return conv3x3Winograd(x, prepared.winograd, prepared.bias, g, relu, [n, o.out, P, ho, wo]);
      return conv2d(x, prepared.weights!, prepared.bias, g, relu, [n, o.out, P, ho, wo]);
    }
    const n = x.shape[0];
    return matmulRows(x, n, o.in * P, prepared.packed!, { bias: prepared.bias, relu }, [n, o.out, P]);
  }

  /** The general path on a finite group or a grid: one engine call for the batch. */
  private runEngine(x: Tensor): Tensor {
    const o = this.omega, where = this.label();
    const n = x.shape[0];
    const prepared = this.engine();
    const ctx = this.context();
    const withNbhd = (use: (nb: Neighbourhood, mIn: number, outShape: number[]) => Tensor) => {
      if (this.group instanceof FiniteGroup) {
        const order = this.group.order;
        return new FiniteDomain(this.group).with(this.neighbours, where, (nb) => use(nb, order, [n, o.out, order]));
      }
      const G = this.group as GridGroup, h = x.shape[x.rank - 2], w = x.shape[x.rank - 1];
      const d = new GridDomain(G);
      const { ho, wo } = d.output(this.#window!, h, w, where);
      return d.with(this.#window!, o.lift, h, w, where, (nb) => use(nb, (o.lift ? 1 : G.pointOrder) * h * w, [n, o.out, G.pointOrder, ho, wo]));
    };
    return withNbhd((nb, mIn, outShape) => {
      const out = empty(outShape);
      try {
        const mOut = nb.mOut;
        o.run(ctx, prepared, { x, xs: { batch: o.in * mIn, elem: 1, chan: mIn }, batch: n, mIn }, nb, { out, os: { batch: o.out * mOut, elem: 1, chan: mOut } }, where);
      } catch (e) {
        out.dispose();
        throw e;
      }
      return out;
    });
  }

  /** A lifted field: the engine on the cloud's neighbourhood; the elements stay, the features change. */
  private runLifted(x: LiftedField, relu: boolean): LiftedField {
    const o = this.omega, where = this.label();
    const prepared = this.engine();
    const ctx = this.context();
    const m = x.lifted.count;
    return x.domain.with(this.neighbours, where, (nb) => {
      let out = empty([m, o.out]);
      try {
        o.run(ctx, prepared, { x: x.features, xs: { batch: m * o.in, elem: o.in, chan: 1 }, batch: 1, mIn: m, lifted: x.lifted }, nb, { out, os: { batch: m * o.out, elem: o.out, chan: 1 } }, where);
        if (relu) {
          const r = reluOp(out);
          out.dispose();
          out = r;
        }
      } catch (e) {
        out.dispose();
        throw e;
      }
      return new LiftedField(x.group, x.lifted, out);
    }, o.readsCoords);
  }

  /**
   * The operator evaluated literally, for the kernel configuration on finite groups and grids:
   * for every output element `g`, `sum over g' of kappa(g^-1 g') f(g')`, with `g^-1 g'`
   * computed by the group's own operations (point-group composition and matrices, or the Cayley
   * table), not by the domain's lists. Slow; for tests.
   */
  reference(x: Tensor): Tensor {
    this.checkInput(x);
    if (!(this.omega instanceof KernelOmega)) {
      if (this.omega instanceof AttentionOmega && this.group instanceof FiniteGroup) return attentionReference(this, x);
      throw new ArgumentError(`${this.label()}: reference() evaluates kernel and finite-group attention configurations`);
    }
    const o = this.omega;
    const psi = this.params().get('weight')!.toArray();
    const bias = this.params().get('bias')?.toArray();
    const f = x.toArray();
    if (this.group instanceof FiniteGroup) {
      const G = this.group, n = G.order, N = x.shape[0];
      const S = new Set(new FiniteDomain(G).support(this.neighbours, this.label()));
      const out = new Float32Array(N * o.out * n);
      for (let b = 0; b < N; b++) for (let co = 0; co < o.out; co++) for (let g = 0; g < n; g++) {
        let acc = 0;
        for (let ci = 0; ci < o.in; ci++) for (let h = 0; h < n; h++) {
          const r = G.compose(G.inverse(g), h);
          if (S.has(r)) acc += psi[(co * o.in + ci) * n + r] * f[(b * o.in + ci) * n + h];
        }
        out[(b * o.out + co) * n + g] = acc + (bias ? bias[co] : 0);
      }
      return tensor(out, [N, o.out, n]);
    }
    const G = this.group as GridGroup, P = G.pointGroup, n = P.order, k = o.size;
    const N = x.shape[0], H = x.shape[x.rank - 2], W = x.shape[x.rank - 1];
    const S = o.lift ? 1 : n;
    const { padTop, padLeft, ho, wo } = convGeometry(H, W, k, o.stride, o.padding);
    const out = new Float32Array(N * o.out * n * ho * wo);
    for (let b = 0; b < N; b++) for (let co = 0; co < o.out; co++) for (let g = 0; g < n; g++) {
      const ginv = P.inverse(g);
      const [a, bb, c, d] = G.matrix(ginv);
      for (let oh = 0; oh < ho; oh++) for (let ow = 0; ow < wo; ow++) {
        const top = oh * o.stride - padTop, left = ow * o.stride - padLeft;
        const cy2 = 2 * top + (k - 1), cx2 = 2 * left + (k - 1);
        let acc = 0;
        for (let ci = 0; ci < o.in; ci++) for (let s = 0; s < S; s++) {
          const q = o.lift ? 0 : P.compose(ginv, s);
          for (let iy = Math.max(0, top); iy < Math.min(H, top + k); iy++) for (let ix = Math.max(0, left); ix < Math.min(W, left + k); ix++) {
            const X = 2 * ix - cx2, Y = cy2 - 2 * iy;
            const X2 = a * X + bb * Y, Y2 = c * X + d * Y;
            const jj = (X2 + (k - 1)) / 2, ii = (k - 1 - Y2) / 2;
            acc += psi[(((co * o.in + ci) * S + q) * k + ii) * k + jj] * f[(((b * o.in + ci) * S + s) * H + iy) * W + ix];
          }
        }
        out[(((b * o.out + co) * n + g) * ho + oh) * wo + ow] = acc + (bias ? bias[co] : 0);
      }
    }
    return tensor(out, [N, o.out, n, ho, wo]);
  }

  config(): LayerConfig {
    const base: LayerConfig = { type: this.type, group: this.group.name };
    if (this.name) base.name = this.name;
    const nb = this.neighbours;
    const defaultNb = JSON.stringify(this.omega.defaultNeighbours(this.kind)) === JSON.stringify(nb);
    if (this.type === 'liftingConv' || this.type === 'groupConv') {
      const { in: i, out, size, padding, stride, bias } = this.omega as KernelOmega;
      return { ...base, in: i, out, kernel: size, padding, stride, bias, ...(defaultNb ? {} : { neighbours: nb }) };
    }
    if (this.type === 'groupAttention') {
      const { kind: _kind, ...rest } = this.omega.config();
      void _kind;
      return { ...base, ...rest, ...(defaultNb ? {} : { neighbours: nb }) };
    }
    if (this.type === 'lieConv') {
      const c = this.omega.config();
      return { ...base, in: c.in, out: c.out, hidden: c.hidden, basis: c.basis, activation: c.activation, normalise: c.normalise, bias: c.bias, neighbours: nb };
    }
    return { ...base, omega: this.omega.config(), ...(defaultNb ? {} : { neighbours: nb }) };
  }

  dispose(): void {
    this.#engine?.prepared.dispose();
    this.#engine = undefined;
    this.#fast?.fast?.dispose();
    this.#fast = undefined;
    super.dispose();
  }
}

function checkAlgorithm(a: unknown, where: string): ConvAlgorithm {
  if (a !== 'auto' && a !== 'direct') throw new ArgumentError(`${where}: algorithm must be 'auto' or 'direct', got ${String(a)}`);
  return a;
}

function checkPath(p: unknown, where: string): PhiPath {
  if (p !== 'auto' && p !== 'general') throw new ArgumentError(`${where}: path must be 'auto' or 'general', got ${String(p)}`);
  return p;
}

/** The finite-group matrix as plain numbers (the packed form is kernel-private). */
function permuteBack(kappa: Float32Array, table: Int32Array, affine: Affine | undefined, n: number, cols: number): Float32Array {
  const out = Float32Array.from(table, (i) => (i < kappa.length ? kappa[i] : 0));
  if (affine) for (let i = 0; i < out.length; i++) out[i] *= affine.scale[Math.floor((i % cols) / n)];
  return out;
}

/** Group self-attention on a finite group, summed literally in double precision (slow; for tests). */
function attentionReference(layer: Phi, x: Tensor): Tensor {
  const o = layer.omega as AttentionOmega, G = layer.group as FiniteGroup, n = G.order, N = x.shape[0];
  const p = layer.parameters();
  const [Wq, Wk, Wv] = ['query', 'key', 'value'].map((k) => p[k].toArray());
  const B = p.position?.toArray();
  const f = x.toArray();
  const dv = o.out / o.heads;
  const S = new FiniteDomain(G).support(layer.neighbours, layer.label());
  const feat = (b: number, g: number) => Array.from({ length: o.in }, (_, c) => f[(b * o.in + c) * n + g]);
  const lin = (W: Float32Array, rows: number[], v: number[]) => rows.map((r) => v.reduce((s, vc, c) => s + W[r * o.in + c] * vc, 0));
  const out = new Float32Array(N * o.out * n);
  for (let b = 0; b < N; b++) for (let h = 0; h < o.heads; h++) {
    const qr = Array.from({ length: o.dim }, (_, i) => h * o.dim + i), vr = Array.from({ length: dv }, (_, i) => h * dv + i);
    for (let g = 0; g < n; g++) {
      const qg = lin(Wq, qr, feat(b, g));
      const nbrs = S.map((s) => G.compose(g, s));
      const logits = nbrs.map((gp) => {
        const content = o.content ? lin(Wk, qr, feat(b, gp)).reduce((s, kv, i) => s + kv * qg[i], 0) / Math.sqrt(o.dim) : 0;
        return content + (B ? B[h * n + G.compose(G.inverse(g), gp)] : 0);
      });
      const count = logits.length;
      let w: number[];
      if (o.normalise === 'softmax') {
        const m = Math.max(...logits), e = logits.map((l) => Math.exp(l - m)), z = e.reduce((a, c) => a + c, 0);
        w = e.map((v) => v / z);
      } else if (o.normalise === 'norm_exp') w = logits.map((l) => Math.exp(l) / count);
      else if (o.normalise === 'mean' || o.normalise === 'dot_product') w = logits.map((l) => l / count);
      else w = logits;
      nbrs.forEach((gp, j) => {
        const vg = lin(Wv, vr, feat(b, gp));
        vr.forEach((r, i) => (out[(b * o.out + r) * n + g] += w[j] * vg[i]));
      });
    }
  }
  return tensor(out, [N, o.out, n]);
}

/**
 * The general operator, configured by `omega`: `omega.kernel` gives the G-CNN layers,
 * `omega.attention` group self-attention, `omega.mlp` implicit kernels and LieConv.
 */
export function phi(options: PhiOptions): Phi {
  return new Phi(options);
}
