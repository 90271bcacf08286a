/**
 * `r2conv`: the steerable convolution on the plane (escnn's `R2Conv`). In the framework it is
 * `phi` on the homogeneous space `R^2 = E(2)/H` with `omega(f, x, x') = kappa(x' - x) f(x')`,
 * the kernel constrained by `kappa(h x) = rho_out(h) kappa(x) rho_in(h)^-1` for `h` in `H`: the
 * weights are coefficients in a basis of that constraint's solutions (ts/gspaces/kernels.ts),
 * expanded once into an ordinary filter bank `[C_out, C_in, k, k]`, which runs on the
 * convolution kernels (direct, or Winograd F(2x2, 3x3) and F(2x2, 5x5) for 3x3 and 5x5
 * stride-1 layers).
 */
import { ArgumentError, ShapeError } from '../../core/errors.js';
import { checkLayerBytes, checkOptions, describe } from '../../core/limits.js';
import { conv2d, conv3x3Winograd, convGeometry, winogradApplies, winogradWeights, type Padding } from '../../core/ops.js';
import { Tensor, keep, tensor, tidy } from '../../core/tensor.js';
import type { FieldType } from '../../fields/index.js';
import { seededRng } from '../../groups/lie.js';
import { R2FieldType } from '../../gspaces/field.js';
import { basisParams, type BasisParams, type Convention } from '../../gspaces/kernels.js';
import { expandBias, layout, type Layout } from '../../gspaces/layout.js';
import { expandFilter, expandWinogradSymmetric } from '../../gspaces/expand.js';
import { conv5x5Winograd, conv5x5WinogradSym, winograd5Applies, winograd5Weights, type SymmetricWinograd } from '../../core/winograd5.js';
import { U32Buffer } from '../../core/buffers.js';
import { gaussian } from '../../omega/omega.js';
import { Layer, type LayerConfig } from '../layer.js';
import { Relu } from '../pointwise.js';
import type { Step } from '../sequential.js';

export interface R2ConvOptions {
  in: R2FieldType;
  out: R2FieldType;
  /** Kernel size `k` (a `k x k` grid). */
  kernel: number;
  /** Pixels per side (as escnn's), `'same'` or `'valid'`; default 0. */
  padding?: Padding;
  stride?: number;
  dilation?: number;
  /** A bias on the output's trivial irreps; default true. */
  bias?: boolean;
  /** Whose basis the coefficients refer to: `'escnn'` (default) or `'e2cnn'`. */
  basis?: Convention;
  sigma?: number | number[];
  rings?: number[];
  /** Band limit per ring (default escnn's rule; see basisParams). */
  frequencies?: number[];
  frequenciesCutoff?: number;
  maximumOffset?: number;
  /** `'auto'` (Winograd F(2x2, 3x3) or F(2x2, 5x5) for 3x3 and 5x5 stride-1 layers with >= 4 input channels) or `'direct'`. */
  algorithm?: 'auto' | 'direct';
  /** Random initial coefficients (default true); false starts from zeros (escnn's `initialize`), as models loading their weights do. */
  initialize?: boolean;
  name?: string;
  seed?: number;
}

/** A per-channel affine folded into a convolution (inference batch norm). */
export interface ChannelAffine {
  scale: Float32Array;
  shift: Float32Array;
}

interface Prepared {
  weights?: Tensor;
  winograd?: Tensor;
  /** The F(2x2, 5x5) transform of a 5x5 filter bank. */
  winograd5?: Tensor;
  /** The same, stored at the orbit representatives of the grid's symmetries only. */
  winograd5sym?: SymmetricWinograd;
  bias?: Tensor;
  dispose(): void;
}

/** Layers whose inference affine a convolution can fold in. */
export interface AffineLayer {
  channelAffine(): ChannelAffine;
  readonly channels: number;
}
const isAffine = (l: unknown): l is Layer & AffineLayer => l instanceof Layer && typeof (l as unknown as AffineLayer).channelAffine === 'function';

const OPTION_KEYS = { in: ['object'], out: ['object'], kernel: ['dim'], padding: ['any', true], stride: ['dim', true], dilation: ['dim', true], bias: ['bool', true], basis: [['escnn', 'e2cnn'], true], sigma: ['any', true], rings: ['any', true], frequencies: ['any', true], frequenciesCutoff: ['any', true], maximumOffset: ['any', true], algorithm: [['auto', 'direct'], true], initialize: ['bool', true], name: ['string', true], seed: ['int', true] } as const;

export class R2Conv extends Layer {
  readonly type = 'r2conv';
  declare inType: R2FieldType;
  declare outType: R2FieldType;
  readonly kernel: number;
  readonly padding: Padding;
  readonly stride: number;
  readonly dilation: number;
  readonly bias: boolean;
  /** The basis hyper-parameters (rings, widths, band limits, convention). */
  readonly basis: BasisParams;
  readonly layout: Layout;
  #algorithm: 'auto' | 'direct';
  #prepared?: { version: number; algorithm: string; p: Prepared };
  readonly #options: R2ConvOptions;

  constructor(options: R2ConvOptions) {
    checkOptions('r2conv', options, OPTION_KEYS);
    super(options.name);
    const where = this.label();
    const { in: ti, out: to } = options;
    if (!(ti instanceof R2FieldType) || !(to instanceof R2FieldType)) throw new ArgumentError(`${where}: in and out must be field types made by eq.fieldType(gspace, reps), got ${describe(ti)} and ${describe(to)}`);
    if (ti.gspace !== to.gspace) throw new ArgumentError(`${where}: the input's field type is on ${ti.gspace.name} and the output's on ${to.gspace.name}; a convolution maps fields of one space`);
    this.inType = ti;
    this.outType = to;
    this.kernel = options.kernel;
    this.stride = options.stride ?? 1;
    this.dilation = options.dilation ?? 1;
    this.bias = options.bias ?? true;
    const p = options.padding ?? 0;
    const kd = this.dilation * (this.kernel - 1) + 1;
    if (p !== 'same' && p !== 'valid' && !(typeof p === 'number' && Number.isSafeInteger(p) && p >= 0 && p < kd)) throw new ArgumentError(`${where}: padding must be 'same', 'valid' or an integer in 0..${kd - 1}, got ${describe(p)}`);
    if (p === 'same' && this.stride !== 1) throw new ArgumentError(`${where}: padding 'same' needs stride 1`);
    this.padding = p;
    this.#algorithm = options.algorithm ?? 'auto';
    this.basis = basisParams({ kernel: this.kernel, dilation: this.dilation, rings: options.rings, sigma: options.sigma, frequencies: options.frequencies, frequenciesCutoff: options.frequenciesCutoff, maximumOffset: options.maximumOffset, convention: options.basis }, where);
    // Parameters are small; the expanded filter (and a Winograd or folded copy) is what costs.
    const filter = to.size * ti.size * kd * kd;
    checkLayerBytes(`${where} ${ti.size} -> ${to.size} channels (kernel ${this.kernel})`, 4 * 3 * filter);
    checkResolution(this.basis, where);
    try {
      this.layout = layout(ti, to, this.basis);
    } catch (e) {
      if (e instanceof ArgumentError) throw new ArgumentError(`${where}: ${e.message}`);
      throw e;
    }
    checkCoverage(this, where);
    this.#options = { ...options };
    if (options.initialize === false) {
      const zero: Record<string, Float32Array> = { weights: new Float32Array(this.layout.dim) };
      if (this.parameterShapes().bias) zero.bias = new Float32Array(this.layout.biasDim);
      this.setParameters(zero);
    } else this.setParameters(this.initial(seededRng(options.seed ?? 1)));
  }

  /** Effective kernel size (with dilation). */
  get span(): number {
    return this.dilation * (this.kernel - 1) + 1;
  }

  get algorithm(): 'auto' | 'direct' {
    return this.#algorithm;
  }

  set algorithm(a: 'auto' | 'direct') {
    if (a !== 'auto' && a !== 'direct') throw new ArgumentError(`${this.label()}: algorithm must be 'auto' or 'direct', got ${describe(a)}`);
    this.#algorithm = a;
    this.touch();
  }

  /** Number of basis coefficients (escnn's `weights`). */
  get basisDimension(): number {
    return this.layout.dim;
  }

  parameterShapes(): Record<string, number[]> {
    const s: Record<string, number[]> = { weights: [this.layout.dim] };
    if (this.bias && this.layout.biasDim > 0) s.bias = [this.layout.biasDim];
    return s;
  }

  /** Gaussian coefficients scaled so the expanded filter has He's variance. */
  private initial(rng: () => number): Record<string, Float32Array> {
    const w = new Float32Array(this.layout.dim);
    const kk = this.kernel * this.kernel;
    for (const b of this.layout.blocks) {
      const size = b.basis.out * b.basis.in * kk;
      let ss = 0;
      for (const v of b.basis.data) ss += v * v;
      const perEntry = ss / size || 1;
      const std = Math.sqrt(2 / (this.inType.size * kk) / perEntry);
      const n = b.basis.dim * b.inFields.length * b.outFields.length;
      for (let t = 0; t < n; t++) w[b.offset + t] = std * gaussian(rng);
    }
    const out: Record<string, Float32Array> = { weights: w };
    if (this.parameterShapes().bias) out.bias = new Float32Array(this.layout.biasDim);
    return out;
  }

  /** The expanded filter bank `[C_out, C_in, k', k']` (k' = the span with dilation) and bias, plain arrays. */
  expandedFilters(affine?: ChannelAffine): { weight: Float32Array; shape: number[]; bias: Float32Array } {
    const p = this.build(affine, true);
    try {
      const k = this.span;
      return { weight: p.weights!.toArray(), shape: [this.outType.size, this.inType.size, k, k], bias: p.bias ? p.bias.toArray() : new Float32Array(this.outType.size) };
    } finally {
      p.dispose();
    }
  }

  /** Expands the coefficients (and folds `affine`) into the tensors a run needs. */
  private build(affine: ChannelAffine | undefined, plain = false): Prepared {
    return tidy(() => {
      const ti = this.inType, to = this.outType, k = this.kernel, cin = ti.size, cout = to.size;
      const w = this.params().get('weights')!.toArray();
      // A per-channel scale that is constant on each output field folds into the coefficients.
      let fieldScale: ((off: number) => number) | undefined;
      let rowScale: Float32Array | undefined;
      if (affine) {
        const perField = to.representations.every((r, f) => {
          const off = to.offsets[f];
          for (let c = 1; c < r.size; c++) if (affine.scale[off + c] !== affine.scale[off]) return false;
          return true;
        });
        if (perField) fieldScale = (off) => affine.scale[off];
        else rowScale = affine.scale;
      }
      const repOf = { in: (n: string) => ti.representations[ti.representations.findIndex((r) => r.name === n)], out: (n: string) => to.representations[to.representations.findIndex((r) => r.name === n)] };
      const kd = this.span;
      const wino3 = !plain && this.#algorithm === 'auto' && winogradApplies(kd, this.stride, this.padding) && cin >= 4;
      const wino5 = !plain && this.#algorithm === 'auto' && winograd5Applies(kd, this.stride, this.padding) && cin >= 4;
      // The Winograd F(2x2, 5x5) weights straight from the coefficients, when nothing else changes the filter.
      const direct5 = wino5 && !rowScale && this.dilation === 1;
      const sym = direct5 ? expandWinogradSymmetric(this.layout, ti, to, cin, cout, w, fieldScale) : undefined;
      if (sym) {
        const b = this.params().get('bias')?.toArray();
        let bias: Float32Array | undefined = b ? expandBias(this.layout, cout, b) : undefined;
        if (affine) bias = Float32Array.from(bias ?? new Float32Array(cout), (v, c) => v * affine.scale[c] + affine.shift[c]);
        const ws: SymmetricWinograd = {
          u: keep(sym.u), reps: sym.reps, repOf: new U32Buffer(sym.repOf, false), inPerm: new U32Buffer(sym.inPerm, false), inScale: keep(tensor(sym.inScale, [sym.inScale.length])),
          outPerm: new U32Buffer(sym.outPerm, false), outScale: keep(tensor(sym.outScale, [sym.outScale.length])),
        };
        return {
          winograd5sym: ws,
          bias: bias ? keep(tensor(bias, [cout])) : undefined,
          dispose() {
            for (const t of [ws.u, ws.repOf, ws.inPerm, ws.inScale, ws.outPerm, ws.outScale]) t.dispose();
            this.bias?.dispose();
          },
        };
      }
      let filter = expandFilter(this.layout, repOf, cin, cout, k, w, fieldScale, direct5 ? 'winograd5' : 'pixels');
      if (!direct5 && (rowScale || this.dilation > 1)) {
        const src = filter.toArray(), d = this.dilation;
        const out = new Float32Array(cout * cin * kd * kd);
        for (let co = 0; co < cout; co++) {
          const s = rowScale ? rowScale[co] : 1;
          for (let ci = 0; ci < cin; ci++) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
            out[((co * cin + ci) * kd + i * d) * kd + j * d] = s * src[((co * cin + ci) * k + i) * k + j];
          }
        }
        filter = tensor(out, [cout, cin * kd * kd]);
      }
      const b = this.params().get('bias')?.toArray();
      let bias: Float32Array | undefined = b ? expandBias(this.layout, cout, b) : undefined;
      if (affine) {
        const base = bias ?? new Float32Array(cout);
        bias = Float32Array.from(base, (v, c) => v * affine.scale[c] + affine.shift[c]);
      }
      const prepared: Prepared = {
        bias: bias ? keep(tensor(bias, [cout])) : undefined,
        dispose() {
          this.weights?.dispose();
          this.winograd?.dispose();
          this.winograd5?.dispose();
          this.bias?.dispose();
        },
      };
      if (wino3) prepared.winograd = keep(winogradWeights(filter, cout, cin));
      else if (direct5) prepared.winograd5 = keep(filter);
      else if (wino5) prepared.winograd5 = keep(winograd5Weights(filter, cout, cin));
      else prepared.weights = keep(filter);
      return prepared;
    });
  }

  private prepared(): Prepared {
    if (this.#prepared?.version !== this.version || this.#prepared.algorithm !== this.#algorithm) {
      this.#prepared?.p.dispose();
      this.#prepared = undefined;
      this.#prepared = { version: this.version, algorithm: this.#algorithm, p: this.build(undefined) };
    }
    return this.#prepared.p;
  }

  /** Whether runs use Winograd: F(2x2, 3x3) for 3x3 layers, F(2x2, 5x5) for 5x5 ones. */
  get usesWinograd(): boolean {
    const p = this.prepared();
    return p.winograd !== undefined || p.winograd5 !== undefined || p.winograd5sym !== undefined;
  }

  /** The output maps' size for `h x w` input maps (ShapeError when the kernel does not fit). */
  mapSize(h: number, w: number): [number, number] {
    const kd = this.span;
    const { ho, wo } = convGeometry(h, w, kd, this.stride, this.padding);
    if (ho < 1 || wo < 1) throw new ShapeError(`${this.label()}: a ${kd}x${kd} kernel with padding ${String(this.padding)} does not fit a ${h}x${w} input`);
    return [ho, wo];
  }

  outputType(t: FieldType<unknown, any>): FieldType<unknown, any> {
    if (!this.inType.equals(t)) throw new ShapeError(`${this.label()}: expects ${this.inType.describe()}, but its input is ${t.describe()}`);
    return this.outType;
  }

  run(x: Tensor): Tensor {
    return this.forward(x, this.prepared(), false);
  }

  private forward(x: Tensor, p: Prepared, relu: boolean): Tensor {
    this.checkInput(x);
    const [n, cin, h, w] = x.shape;
    const kd = this.span;
    const { padTop, padLeft, ho, wo } = convGeometry(h, w, kd, this.stride, this.padding);
    if (ho < 1 || wo < 1) throw new ShapeError(`${this.label()}: a ${kd}x${kd} kernel with padding ${String(this.padding)} does not fit a ${h}x${w} input`);
    const cout = this.outType.size;
    const g = { n, cin, h, w, cout, kh: kd, kw: kd, stride: this.stride, padTop, padLeft, ho, wo };
    if (p.winograd) return conv3x3Winograd(x, p.winograd, p.bias, g, relu, [n, cout, ho, wo]);
    if (p.winograd5) return conv5x5Winograd(x, p.winograd5, p.bias, g, relu, [n, cout, ho, wo]);
    if (p.winograd5sym) return conv5x5WinogradSym(x, p.winograd5sym, p.bias, g, relu, [n, cout, ho, wo]);
    return conv2d(x, p.weights!, p.bias, g, relu, [n, cout, ho, wo]);
  }

  /**
   * An executor with a per-channel affine (batch norm) and ReLU folded in, built now (the
   * filter bank is expanded once, with the affine in it).
   */
  fused(bn: { readonly version: number; channelAffine(): ChannelAffine } | undefined, relu: boolean): { run(x: Tensor): Tensor; dispose(): void } {
    if (!bn) return { run: (x) => this.forward(x, this.prepared(), relu), dispose() {} };
    // Keyed by both layers' parameters: new coefficients or new batch-norm statistics rebuild it.
    const key = () => `${this.version}/${bn.version}/${this.#algorithm}`;
    let own: { key: string; p: Prepared } | undefined = { key: key(), p: this.build(bn.channelAffine()) };
    return {
      run: (x) => {
        if (own?.key !== key()) {
          own?.p.dispose();
          own = undefined;
          own = { key: key(), p: this.build(bn.channelAffine()) };
        }
        return this.forward(x, own.p, relu);
      },
      dispose: () => own?.p.dispose(),
    };
  }

  /** For a model's plan: this convolution, a following batch norm folded in, a ReLU fused. */
  fuseWith(rest: readonly Layer[]): { step: Step; consumed: number } {
    const bn = isAffine(rest[0]) ? rest[0] : undefined;
    const reluAt = bn ? 1 : 0;
    const relu = rest[reluAt] instanceof Relu;
    if (bn && bn.channels !== this.outType.size) throw new ShapeError(`${bn.label()}: normalises ${bn.channels} channels, but ${this.label()} gives ${this.outType.size}`);
    const exec = this.fused(bn, relu);
    const layers = [this as Layer, ...(bn ? [bn] : []), ...(relu ? [rest[reluAt]] : [])];
    return { step: { layers, run: exec.run, dispose: exec.dispose }, consumed: layers.length - 1 };
  }

  config(): LayerConfig {
    const o = this.#options;
    const c: LayerConfig = { type: this.type, ...(this.name ? { name: this.name } : {}), in: this.inType.spec(), out: this.outType.spec(), kernel: this.kernel };
    if (this.padding !== 0) c.padding = this.padding;
    if (this.stride !== 1) c.stride = this.stride;
    if (this.dilation !== 1) c.dilation = this.dilation;
    if (!this.bias) c.bias = false;
    if (this.basis.convention !== 'escnn') c.basis = this.basis.convention;
    for (const key of ['sigma', 'rings', 'frequencies', 'frequenciesCutoff', 'maximumOffset'] as const) if (o[key] !== undefined) c[key] = o[key];
    return c;
  }

  dispose(): void {
    this.#prepared?.p.dispose();
    this.#prepared = undefined;
    super.dispose();
  }
}

/**
 * Refuses band limits a ring's pixels cannot carry: `2F + 1` harmonics need at least as many
 * directions among the pixels the ring weighs (beyond that the harmonics alias).
 */
function checkResolution(p: BasisParams, where: string): void {
  const k = p.kernel, c = (k - 1) / 2;
  p.rings.forEach((r, i) => {
    if (r === 0) return;
    const F = Math.floor(p.frequencies[i]);
    const angles = new Set<string>();
    for (let row = 0; row < k; row++) for (let col = 0; col < k; col++) {
      const x = (col - c) * p.dilation, y = (c - row) * p.dilation, rho = Math.hypot(x, y);
      if (rho > 1e-9 && Math.exp((-0.5 * (rho - r) ** 2) / p.sigma[i] ** 2) > 1e-3) angles.add(Math.atan2(y, x).toFixed(9));
    }
    if (2 * F + 1 > angles.size) {
      throw new ArgumentError(`${where}: the ring at radius ${r} of a ${k}x${k} kernel covers ${angles.size} directions, enough for frequencies up to ${Math.floor((angles.size - 1) / 2)}, but its band limit is ${F}: the kernel is too small for the requested frequencies (use a larger kernel, or lower frequencies)`);
    }
  });
}

/** Refuses output field types no kernel reaches (their fields would always be zero). */
function checkCoverage(l: R2Conv, where: string): void {
  const reached = new Set(l.layout.blocks.map((b) => b.outName));
  const missing = [...new Set(l.outType.representations.map((r) => r.name))].filter((n) => !reached.has(n));
  if (missing.length) {
    const ins = [...new Set(l.inType.representations.map((r) => r.name))].join(', ');
    throw new ArgumentError(`${where}: no ${l.kernel}x${l.kernel} kernel with band limit ${l.basis.L} maps ${ins} to ${missing.join(', ')} (the kernel basis is empty there, so those output fields would always be zero): the kernel is too small for the frequencies these fields need; use a larger kernel or higher frequencies`);
  }
}

/** `eq.nn.r2conv({ in, out, kernel, padding, stride })`. */
export const r2conv = (options: R2ConvOptions) => new R2Conv(options);
