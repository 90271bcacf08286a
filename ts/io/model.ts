/**
 * Models: a JSON configuration (the group, the input field type, the layers) plus weights in
 * safetensors, loaded into a `Sequential` and compiled once into the fused plan that `run`
 * executes. See docs/model-format.md.
 */
import { ArgumentError, ConfigError, ShapeError, WeightsError } from '../core/errors.js';
import { FieldType, GridField, ImageField, InvariantField, RegularField } from '../fields/index.js';
import { FiniteGroup } from '../groups/finite.js';
import { GridGroup } from '../groups/grid.js';
import { byName, type AnyGroup } from '../groups/index.js';
import { groupConv, liftingConv } from '../nn/conv.js';
import type { Layer, LayerConfig } from '../nn/layer.js';
import { Flatten, Linear } from '../nn/linear.js';
import { Phi, type ConvAlgorithm } from '../nn/phi.js';
import { BatchNorm, Relu } from '../nn/pointwise.js';
import { GlobalPool, GroupPool, Pool2d } from '../nn/pool.js';
import { Sequential, runSteps, type Step } from '../nn/sequential.js';
import { omegaFromConfig } from '../omega/index.js';
import { groupAttention, lieConv } from '../nn/conv.js';
import { encodeSafetensors, parseSafetensors, type NamedArray } from './safetensors.js';
import { Tensor, expectTensor } from '../core/tensor.js';

export const FORMAT = 'equivariant.model';

export interface InputSpec {
  /** How the group acts on the input: `image` `[N, C, H, W]`, `grid` `[N, C, |P|, H, W]`, `regular` `[N, C, |G|]`, `invariant`. */
  field: 'image' | 'grid' | 'regular' | 'invariant';
  channels: number;
  /** `[H, W]`, checked on every run when given. */
  size?: [number, number];
}

export interface ModelConfig {
  format: typeof FORMAT;
  version: 1;
  name?: string;
  group: string;
  input: InputSpec;
  layers: LayerConfig[];
  [key: string]: unknown;
}

export type Source = string | URL | Uint8Array | ArrayBuffer;
export type WeightsSource = Source | Record<string, Tensor | NamedArray>;

const isNode = () => typeof process === 'object' && typeof process.versions?.node === 'string';

async function readBytes(src: string | URL, what: string): Promise<Uint8Array> {
  const url = src instanceof URL ? src : /^[a-z][a-z0-9+.-]*:\/\//i.test(src) ? new URL(src) : null;
  if (isNode() && (url === null || url.protocol === 'file:')) {
    const fs = await import('node:fs/promises');
    try {
      return new Uint8Array(await fs.readFile(url ?? (src as string)));
    } catch (e) {
      throw new ArgumentError(`loadModel: cannot read the ${what} at ${String(src)}: ${(e as Error).message}`);
    }
  }
  const res = await fetch(url ?? new URL(src as string, globalThis.location?.href));
  if (!res.ok) throw new ArgumentError(`loadModel: fetching the ${what} at ${String(src)} failed: ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function readConfig(src: ModelConfig | Source): Promise<ModelConfig> {
  if (src instanceof Uint8Array || src instanceof ArrayBuffer) return parseJson(new TextDecoder().decode(src));
  if (typeof src === 'string' && src.trimStart().startsWith('{')) return parseJson(src);
  if (typeof src === 'string' || src instanceof URL) return parseJson(new TextDecoder().decode(await readBytes(src, 'config')));
  if (src !== null && typeof src === 'object') return src as ModelConfig;
  throw new ArgumentError(`loadModel: config must be an object, JSON text or bytes, a path or a URL; got ${src === null ? 'null' : typeof src}`);
}

function parseJson(text: string): ModelConfig {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`model config: not valid JSON (${(e as Error).message})`);
  }
}

function inputType(group: AnyGroup, spec: InputSpec): FieldType<unknown> {
  if (spec === null || typeof spec !== 'object') throw new ConfigError('model config: input must be { field, channels, size? }');
  const c = spec.channels;
  if (!Number.isInteger(c) || c < 1) throw new ConfigError(`model config: input.channels must be a positive integer, got ${String(c)}`);
  if (spec.size !== undefined && !(Array.isArray(spec.size) && spec.size.length === 2 && spec.size.every((d) => Number.isInteger(d) && d > 0))) {
    throw new ConfigError(`model config: input.size must be [H, W], got ${JSON.stringify(spec.size)}`);
  }
  switch (spec.field) {
    case 'image':
    case 'grid':
      if (!(group instanceof GridGroup)) throw new ConfigError(`model config: input.field '${spec.field}' needs z2, p4 or p4m, the model's group is ${group.name}`);
      return (spec.field === 'image' ? new ImageField(group, c) : new GridField(group, c)) as FieldType<unknown>;
    case 'regular':
      if (!(group instanceof FiniteGroup)) throw new ConfigError(`model config: input.field 'regular' needs a finite group, the model's group is ${group.name}`);
      return new RegularField(group, c) as FieldType<unknown>;
    case 'invariant':
      return new InvariantField(group, c);
    default:
      throw new ConfigError(`model config: input.field must be 'image', 'grid', 'regular' or 'invariant', got ${JSON.stringify(spec.field)}`);
  }
}

/** Builds one layer from its config; `where` names it in errors. */
function buildLayer(cfg: LayerConfig, group: AnyGroup, where: string): Layer {
  if (cfg === null || typeof cfg !== 'object' || typeof cfg.type !== 'string') throw new ConfigError(`model config: ${where} must be an object with a 'type'`);
  const c = cfg as unknown as Record<string, never>;
  const g = c.group === undefined ? group : byName(c.group);
  if (g !== group) throw new ConfigError(`model config: ${where} is on group ${String(c.group)} but the model's group is ${group.name}`);
  const known = (keys: string[]) => {
    const extra = Object.keys(cfg).filter((k) => !['type', 'name', 'group', ...keys].includes(k));
    if (extra.length) throw new ConfigError(`model config: ${where} (${cfg.type}) has unknown option(s) ${extra.join(', ')}; it takes ${keys.join(', ') || 'none'}`);
  };
  const name = c.name;
  try {
    switch (cfg.type) {
      case 'liftingConv':
      case 'groupConv':
        known(['in', 'out', 'kernel', 'padding', 'stride', 'bias']);
        return (cfg.type === 'liftingConv' ? liftingConv : groupConv)({ group: g, in: c.in, out: c.out, kernel: c.kernel, padding: c.padding, stride: c.stride, bias: c.bias, name });
      case 'phi': {
        known(['omega', 'neighbours']);
        const o = c.omega as Record<string, unknown>;
        if (o === null || typeof o !== 'object' || !['kernel', 'mlp', 'attention'].includes(o.kind as string)) throw new ConfigError(`model config: ${where} (phi) needs omega { kind: 'kernel' | 'mlp' | 'attention', ... }`);
        return new Phi({ group: g, omega: omegaFromConfig(o), neighbours: c.neighbours, name });
      }
      case 'groupAttention':
        known(['in', 'out', 'heads', 'dim', 'content', 'location', 'hidden', 'activation', 'normalise', 'neighbours']);
        return groupAttention({ group: g, in: c.in, out: c.out, heads: c.heads, dim: c.dim, content: c.content, location: c.location, hidden: c.hidden, activation: c.activation, normalise: c.normalise, neighbours: c.neighbours, name });
      case 'lieConv':
        known(['in', 'out', 'hidden', 'basis', 'activation', 'normalise', 'bias', 'neighbours']);
        return lieConv({ group: g, in: c.in, out: c.out, hidden: c.hidden, basis: c.basis, activation: c.activation, normalise: c.normalise, bias: c.bias, neighbours: c.neighbours, name });
      case 'groupPool':
        known(['reduce']);
        return new GroupPool({ reduce: c.reduce, name });
      case 'maxPool2d':
      case 'avgPool2d':
        known(['size', 'stride']);
        return new Pool2d(cfg.type === 'maxPool2d' ? 'max' : 'mean', { size: c.size, stride: c.stride, name });
      case 'globalPool':
        known(['reduce']);
        return new GlobalPool({ reduce: c.reduce, name });
      case 'relu':
        known([]);
        return new Relu({ name });
      case 'batchNorm':
        known(['channels', 'eps']);
        return new BatchNorm({ channels: c.channels, eps: c.eps, name });
      case 'linear':
        known(['in', 'out', 'bias']);
        return new Linear({ in: c.in, out: c.out, bias: c.bias, name });
      case 'flatten':
        known([]);
        return new Flatten({ name });
      default:
        throw new ConfigError(`model config: ${where} has unknown type '${cfg.type}' (known: liftingConv, groupConv, groupAttention, lieConv, phi, groupPool, maxPool2d, avgPool2d, globalPool, relu, batchNorm, linear, flatten)`);
    }
  } catch (e) {
    if (e instanceof ArgumentError || e instanceof ShapeError) throw new ConfigError(`model config: ${where} (${cfg.type}): ${e.message}`);
    throw e;
  }
}

/**
 * A check of inputs against a config's `input` (field type and size), without building the
 * model: what a pool runs on the main thread before sending a batch to workers.
 */
export function inputChecker(config: ModelConfig): (x: Tensor) => void {
  if (config === null || typeof config !== 'object') throw new ConfigError('model config: expected an object');
  let group: AnyGroup;
  try {
    group = byName(config.group);
  } catch (e) {
    throw new ConfigError(`model config: ${(e as Error).message}`);
  }
  const type = inputType(group, config.input);
  const name = config.name ?? 'model';
  return (x) => checkModelInput(x, type, config.input.size, name);
}

function checkModelInput(x: Tensor, type: FieldType<unknown>, size: [number, number] | undefined, name: string): void {
  expectTensor(x, `${name}.run`);
  type.check(x, `${name}.run: input`);
  if (size && (x.shape[x.rank - 2] !== size[0] || x.shape[x.rank - 1] !== size[1])) {
    throw new ShapeError(`${name}.run: input must be ${size[0]} x ${size[1]}, got [${x.shape.join(', ')}]`);
  }
}

/** A config from any source, as an object (for pools: sent to workers as JSON). */
export async function readConfigSource(src: ModelConfig | Source): Promise<ModelConfig> {
  return readConfig(src);
}

/** Weights from any source as safetensors bytes (encoding tensors and arrays given as objects). */
export async function readWeightsBytes(w: WeightsSource): Promise<Uint8Array> {
  if (w instanceof Uint8Array) return w;
  if (w instanceof ArrayBuffer) return new Uint8Array(w);
  if (typeof w === 'string' || w instanceof URL) return readBytes(w, 'weights');
  if (w !== null && typeof w === 'object') {
    const named: Record<string, NamedArray> = {};
    for (const [k, v] of Object.entries(w)) named[k] = v instanceof Tensor ? { shape: [...v.shape], data: v.toArray() } : v;
    return encodeSafetensors(named);
  }
  throw new ArgumentError('weights must be safetensors bytes, a path, a URL, or an object of tensors');
}

/** A loaded model: `run` is synchronous on this thread. */
export class Model {
  readonly config: ModelConfig;
  readonly group: AnyGroup;
  readonly network: Sequential;
  readonly inType: FieldType<unknown>;
  readonly outType: FieldType<unknown>;
  readonly name: string;
  #steps: { key: string; steps: Step[] } | undefined;

  constructor(config: ModelConfig, weights: Map<string, NamedArray | Tensor>) {
    if (config === null || typeof config !== 'object') throw new ConfigError('model config: expected an object');
    if (config.format !== FORMAT) throw new ConfigError(`model config: format must be '${FORMAT}', got ${JSON.stringify(config.format)}`);
    if (config.version !== 1) throw new ConfigError(`model config: version ${JSON.stringify(config.version)} is not supported (this library reads version 1)`);
    let group: AnyGroup;
    try {
      group = byName(config.group);
    } catch (e) {
      throw new ConfigError(`model config: ${(e as Error).message}`);
    }
    if (!Array.isArray(config.layers) || config.layers.length === 0) throw new ConfigError('model config: layers must be a non-empty array');
    this.config = config;
    this.group = group;
    this.name = config.name ?? 'model';
    this.inType = inputType(group, config.input);
    const layers: Layer[] = [];
    try {
      config.layers.forEach((cfg, i) => {
        const layer = buildLayer(cfg, group, `layer ${i}${cfg && typeof cfg === 'object' && cfg.name ? ` '${cfg.name}'` : ''}`);
        if (!layer.name) layer.name = `layers.${i}`;
        layers.push(layer);
      });
      const names = layers.map((l) => l.name);
      const dup = names.find((n, i) => names.indexOf(n) !== i);
      if (dup) throw new ConfigError(`model config: two layers are named '${dup}'`);
      try {
        this.network = new Sequential(layers, { inType: this.inType });
      } catch (e) {
        if (e instanceof ShapeError) throw new ConfigError(`model config: inconsistent layers: ${e.message}`);
        throw e;
      }
      this.outType = this.network.outType!;
      this.loadWeights(weights);
    } catch (e) {
      for (const l of layers) l.dispose();
      throw e;
    }
  }

  private loadWeights(weights: Map<string, NamedArray | Tensor>): void {
    const expected = this.network.parameterShapes();
    for (const [name, shape] of Object.entries(expected)) {
      const w = weights.get(name);
      const layer = name.slice(0, name.lastIndexOf('.'));
      if (!w) throw new WeightsError(`weights: tensor '${name}' (layer '${layer}', shape [${shape.join(', ')}]) is missing`);
      if (w.shape.join() !== shape.join()) throw new WeightsError(`weights: tensor '${name}' of layer '${layer}' must be [${shape.join(', ')}], got [${w.shape.join(', ')}]`);
    }
    const extra = [...weights.keys()].filter((k) => !(k in expected));
    if (extra.length) throw new WeightsError(`weights: tensor(s) ${extra.map((e) => `'${e}'`).join(', ')} belong to no layer of the model (expected: ${Object.keys(expected).join(', ')})`);
    const values: Record<string, Tensor | Float32Array> = {};
    for (const [k, v] of weights) values[k] = v instanceof Tensor ? v : v.data;
    this.network.setParameters(values);
  }

  /** The fused plan, compiled on first use (choose the algorithm at load: `loadModel({ algorithm })`). */
  private steps(): Step[] {
    // Keyed by every layer's version: parameters set (or an algorithm switched) after a run
    // recompile the plan, so a model never runs stale fused weights.
    const key = this.network.layers.map((l) => l.version).join(',');
    if (this.#steps?.key !== key) {
      for (const s of this.#steps?.steps ?? []) s.dispose();
      this.#steps = undefined;
      this.#steps = { key, steps: this.network.compile() };
    }
    return this.#steps.steps;
  }

  /** Checks the input's field type and size (when the config gives one). */
  checkInput(x: Tensor): void {
    checkModelInput(x, this.inType, this.config.input.size, this.name);
  }

  /** The model's output for a batch, a new tensor. */
  run(x: Tensor): Tensor {
    this.checkInput(x);
    return runSteps(this.steps(), x);
  }

  /** The same, layer by layer without fusion (a check of the plan). */
  runUnfused(x: Tensor): Tensor {
    this.checkInput(x);
    return this.network.run(x);
  }

  outputType(t: FieldType<unknown>): FieldType<unknown> {
    return this.network.outputType(t);
  }

  parameters(): Record<string, Tensor> {
    return this.network.parameters();
  }

  dispose(): void {
    for (const s of this.#steps?.steps ?? []) s.dispose();
    this.#steps = undefined;
    this.network.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

export interface LoadOptions {
  config: ModelConfig | Source;
  weights: WeightsSource;
  /** Convolution algorithm for every layer (`'auto'`: Winograd where it applies; `'direct'`). */
  algorithm?: ConvAlgorithm;
}

/** Loads a model from its config and weights (objects, bytes, paths in Node, or URLs). */
export async function loadModel(options: LoadOptions): Promise<Model> {
  if (options === null || typeof options !== 'object') throw new ArgumentError('loadModel: expected { config, weights }');
  const config = await readConfig(options.config);
  const w = options.weights;
  let weights: Map<string, NamedArray | Tensor>;
  if (w instanceof Uint8Array || w instanceof ArrayBuffer) weights = parseSafetensors(w).tensors;
  else if (typeof w === 'string' || w instanceof URL) weights = parseSafetensors(await readBytes(w, 'weights')).tensors;
  else if (w !== null && typeof w === 'object') {
    weights = new Map();
    for (const [k, v] of Object.entries(w)) {
      if (v instanceof Tensor) weights.set(k, v);
      else if (v && typeof v === 'object' && Array.isArray((v as NamedArray).shape) && (v as NamedArray).data instanceof Float32Array) weights.set(k, v as NamedArray);
      else throw new WeightsError(`weights: '${k}' must be a Tensor or { shape, data: Float32Array }`);
    }
  } else throw new ArgumentError('loadModel: weights must be safetensors bytes, a path, a URL, or an object of tensors');
  const model = new Model(config, weights);
  if (options.algorithm !== undefined) {
    try {
      for (const l of model.network.layers) if (l instanceof Phi) l.algorithm = options.algorithm;
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  return model;
}
