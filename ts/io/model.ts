/**
 * Models: a JSON configuration (the group, the input field type, the layers) plus weights in
 * safetensors, loaded into a `Sequential` and compiled once into the fused plan that `run`
 * executes. See docs/model-format.md.
 */
import { ArgumentError, ConfigError, DisposedError, OutOfMemoryError, ShapeError, WeightsError } from '../core/errors.js';
import { describe, detached, dimension, fmtBytes, limits } from '../core/limits.js';
import { cloneJson, planLayers } from './plan.js';
import { checkBatch } from '../nn/layer.js';
import { FieldType, GridField, ImageField, InvariantField, RegularField } from '../fields/index.js';
import { PointCloudType, type PointCloud } from '../fields/points.js';
import { LiftedFieldType } from '../fields/lifted.js';
import { LieGroup } from '../groups/lie.js';
import { FiniteGroup } from '../groups/finite.js';
import { GridGroup } from '../groups/grid.js';
import { byName, type AnyGroup } from '../groups/index.js';
import { groupConv, liftingConv } from '../nn/conv.js';
import type { Layer, LayerConfig } from '../nn/layer.js';
import { Flatten, Linear } from '../nn/linear.js';
import { Phi, type ConvAlgorithm } from '../nn/phi.js';
import { BatchNorm, LayerNorm, Relu, Silu } from '../nn/pointwise.js';
import { Coordinates, Lift } from '../nn/lift.js';
import { LieTransformerBlock } from '../nn/transformer.js';
import { GlobalPool, GroupPool, Pool2d } from '../nn/pool.js';
import { Sequential, runSteps, type Step } from '../nn/sequential.js';
import { omegaFromConfig } from '../omega/index.js';
import { groupAttention, lieConv } from '../nn/conv.js';
import { encodeSafetensors, parseSafetensors, type NamedArray } from './safetensors.js';
import { gspaceByName } from '../gspaces/gspace.js';
import { buildSteerableLayer, checkMapSizes, r2InputType, STEERABLE_TYPES } from '../nn/steerable/config.js';
import { Tensor, expectTensor, owned } from '../core/tensor.js';
import { VectorField } from '../fields/vector.js';
import { EquivariantLinear, Gated, TensorSquare } from '../nn/equivariant-linear.js';
import { rep as parseRep } from '../space/spec.js';

export const FORMAT = 'equivariant.model';

export interface InputSpec {
  /**
   * How the group acts on the input: `image` `[N, C, H, W]`, `grid` `[N, C, |P|, H, W]`,
   * `regular` `[N, C, |G|]`, `invariant`, `points`: point clouds `{ points [B, P, d],
   * features [B, P, C], mask? [B, P] }` under a Lie group (the model's first layer lifts them),
   * `rep` `[N, dim]` (vectors in `rep`), or `r2`: fields on the plane `[N, C, H, W]` of a gspace
   * (the model's group names it), in the field type `reps`.
   */
  field: 'image' | 'grid' | 'regular' | 'invariant' | 'points' | 'rep' | 'r2';
  /** For `r2`: the field type, as a list of representation names or `[name, count]` pairs (default all trivial). */
  reps?: unknown[];
  channels: number;
  /** For `field: 'rep'`: the representation, as a string (`'5*V'`; docs/operator-space.md). */
  rep?: string;
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

export type Source = string | URL | Uint8Array | ArrayBuffer | ArrayBufferView;
export type WeightsSource = Source | Record<string, Tensor | NamedArray>;

const isNode = () => typeof process === 'object' && typeof process.versions?.node === 'string';

/** The bytes of a view, exactly (a Node Buffer is often a window on a larger shared buffer). */
export function viewBytes(v: ArrayBufferView | ArrayBuffer): Uint8Array {
  if (detached(v instanceof ArrayBuffer ? v : v.buffer)) throw new ArgumentError('the bytes given are in a detached ArrayBuffer (transferred by postMessage or structuredClone, or a view of wasm memory taken before it grew); pass bytes that are still readable, or a copy');
  return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** A fresh ArrayBuffer holding exactly the bytes of `v` (to transfer or post). */
export function exactBuffer(v: ArrayBufferView | ArrayBuffer): ArrayBuffer {
  const b = viewBytes(v);
  const out = new Uint8Array(b.byteLength);
  out.set(b);
  return out.buffer;
}

function tooLarge(what: string, src: string | URL, bytes: number | string): ArgumentError {
  return new ArgumentError(`loadModel: the ${what} at ${String(src)} is ${typeof bytes === 'number' ? fmtBytes(bytes) : bytes}, over the limit of ${fmtBytes(limits().maxSourceBytes)} (limits.maxSourceBytes)`);
}

/**
 * Reads a file (Node) or URL, at most `limits.maxSourceBytes`: a larger source, a device or
 * other non-regular file (`/dev/zero`), an unreadable path or an unreachable URL is an
 * ArgumentError that names it.
 */
async function readBytes(src: string | URL, what: string): Promise<Uint8Array> {
  const max = limits().maxSourceBytes;
  let url: URL | null;
  try {
    url = src instanceof URL ? src : /^[a-z][a-z0-9+.-]*:\/\//i.test(src) ? new URL(src) : null;
  } catch (e) {
    throw new ArgumentError(`loadModel: the ${what} location ${String(src)} is not a valid URL (${(e as Error).message})`);
  }
  if (isNode() && (url === null || url.protocol === 'file:')) {
    const fs = await import('node:fs/promises');
    let handle: Awaited<ReturnType<typeof fs.open>>;
    try {
      handle = await fs.open(url ?? (src as string), 'r');
    } catch (e) {
      throw new ArgumentError(`loadModel: cannot read the ${what} at ${String(src)}: ${(e as Error).message}`);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new ArgumentError(`loadModel: the ${what} at ${String(src)} is not a regular file (a device, directory or pipe); give a file, bytes or a URL`);
      if (st.size > max) throw tooLarge(what, src, st.size);
      const out = new Uint8Array(st.size);
      let at = 0;
      while (at < out.length) {
        const { bytesRead } = await handle.read(out, at, out.length - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      return at === out.length ? out : out.subarray(0, at);
    } catch (e) {
      if (e instanceof ArgumentError) throw e;
      throw new ArgumentError(`loadModel: cannot read the ${what} at ${String(src)}: ${(e as Error).message}`);
    } finally {
      await handle.close().catch(() => {});
    }
  }
  let res: Response;
  try {
    res = await fetch(url ?? new URL(src as string, globalThis.location?.href));
  } catch (e) {
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    throw new ArgumentError(`loadModel: fetching the ${what} at ${String(src)} failed: ${(e as Error).message}${cause ? ` (${cause})` : ''}`);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new ArgumentError(`loadModel: fetching the ${what} at ${String(src)} failed: ${res.status} ${res.statusText}`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge(what, src, declared);
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => {});
        throw tooLarge(what, src, `more than ${fmtBytes(max)}`);
      }
      parts.push(value);
    }
  } catch (e) {
    if (e instanceof ArgumentError) throw e;
    throw new ArgumentError(`loadModel: reading the ${what} at ${String(src)} failed: ${(e as Error).message}`);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

async function readConfig(src: ModelConfig | Source): Promise<ModelConfig> {
  if (src instanceof ArrayBuffer || ArrayBuffer.isView(src)) return parseJson(decodeText(viewBytes(src)));
  if (typeof src === 'string' && src.trimStart().startsWith('{')) return parseJson(src);
  if (typeof src === 'string' || src instanceof URL) return parseJson(decodeText(await readBytes(src, 'config')));
  if (src !== null && typeof src === 'object') return cloneJson(src, 'config') as ModelConfig;
  throw new ArgumentError(`loadModel: config must be an object, JSON text or bytes, a path or a URL; got ${describe(src)}`);
}

function decodeText(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new ConfigError(`model config: not valid UTF-8 (${(e as Error).message})`);
  }
}

function parseJson(text: string): ModelConfig {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`model config: not valid JSON (${(e as Error).message})`);
  }
  return cloneJson(v, 'config') as ModelConfig;
}

function inputType(group: AnyGroup, spec: InputSpec): FieldType<unknown> {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw new ConfigError(`model config: input must be { field, channels, size? }, got ${describe(spec)}`);
  const own = spec.field === 'rep' ? ['rep'] : spec.field === 'r2' ? ['reps'] : [];
  const extra = Object.keys(spec).filter((k) => !['field', 'channels', 'size', ...own].includes(k));
  if (extra.length) throw new ConfigError(`model config: input has unknown option(s) ${extra.join(', ')}; it takes field, channels, size${own.map((k) => `, ${k}`).join('')}`);
  if (spec.field === 'rep') return vectorInput(group, spec);
  const c = spec.channels;
  try {
    dimension(c, 'input.channels');
  } catch (e) {
    throw new ConfigError(`model config: ${(e as Error).message}`);
  }
  if (spec.size !== undefined && !(Array.isArray(spec.size) && spec.size.length === 2 && spec.size.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d > 0 && d <= limits().maxDimension))) {
    throw new ConfigError(`model config: input.size must be [H, W] with integers in 1..${limits().maxDimension}, got ${describe(spec.size)}`);
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
    case 'points':
      if (!(group instanceof LieGroup)) throw new ConfigError(`model config: input.field 'points' needs a Lie group (T(2), T(3), SO(2), SE(2), SO(3), SE(3)), the model's group is ${group.name}`);
      if (spec.size !== undefined) throw new ConfigError("model config: input.size is for images; point clouds take any number of points");
      return new PointCloudType(group, c) as unknown as FieldType<unknown>;
    case 'r2':
      return r2InputType(group, spec) as FieldType<unknown>;
    default:
      throw new ConfigError(`model config: input.field must be 'image', 'grid', 'regular', 'invariant', 'points', 'rep' or 'r2', got ${describe(spec.field)}`);
  }
}

/** `input: { field: 'rep', rep: '5*V', channels? }`: vectors in a representation (`channels`, if given, must be its dimension). */
function vectorInput(group: AnyGroup, spec: InputSpec): FieldType<unknown> {
  let r;
  try {
    if (typeof spec.rep !== 'string') throw new ArgumentError(`input.rep must be a representation string such as '5*V', got ${describe(spec.rep)}`);
    r = parseRep(group, spec.rep);
  } catch (e) {
    throw new ConfigError(`model config: ${(e as Error).message}`);
  }
  if (spec.channels !== undefined && spec.channels !== r.dim) throw new ConfigError(`model config: input.channels is ${describe(spec.channels)} but '${spec.rep}' has dimension ${r.dim}`);
  if (spec.size !== undefined) throw new ConfigError("model config: input.size is for images and grids, not for field 'rep'");
  return new VectorField(r, spec.rep) as FieldType<unknown>;
}

/** Builds one layer from its config; `where` names it in errors. */
function buildLayer(cfg: LayerConfig, group: AnyGroup, where: string): Layer {
  if (cfg === null || typeof cfg !== 'object' || typeof cfg.type !== 'string') throw new ConfigError(`model config: ${where} must be an object with a 'type'`);
  const c = cfg as unknown as Record<string, never>;
  let g: AnyGroup;
  try {
    g = c.group === undefined ? group : byName(c.group);
  } catch (e) {
    throw new ConfigError(`model config: ${where}: ${(e as Error).message}`);
  }
  if (g !== group) throw new ConfigError(`model config: ${where} is on group ${typeof c.group === 'string' ? c.group : describe(c.group)} but the model's group is ${group.name}`);
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
        if (o === null || typeof o !== 'object' || Array.isArray(o) || !['kernel', 'mlp', 'attention'].includes(o.kind as string)) throw new ConfigError(`model config: ${where} (phi) needs omega { kind: 'kernel' | 'mlp' | 'attention', ... }, got ${describe(o)}`);
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
      case 'lift':
        known(['samples', 'seed']);
        return new Lift({ group: g as LieGroup, samples: c.samples, seed: c.seed, name });
      case 'silu':
        known([]);
        return new Silu({ name });
      case 'layerNorm':
        known(['channels', 'eps']);
        return new LayerNorm({ channels: c.channels, eps: c.eps, name });
      case 'coordinates':
        known([]);
        return new Coordinates({ name });
      case 'lieTransformerBlock':
        known(['dim', 'heads', 'dimHead', 'hidden', 'activation', 'normalise', 'combine', 'content', 'location', 'mlp', 'eps', 'neighbours']);
        return new LieTransformerBlock({ group: g as LieGroup, dim: c.dim, heads: c.heads, dimHead: c.dimHead, hidden: c.hidden, activation: c.activation, normalise: c.normalise, combine: c.combine, content: c.content, location: c.location, mlp: c.mlp, eps: c.eps, neighbours: c.neighbours, name });
      case 'equivariantLinear':
        known(['in', 'out', 'bias']);
        return new EquivariantLinear({ group: g, in: c.in, out: c.out, bias: c.bias, name });
      case 'gated':
        known(['rep']);
        return new Gated({ group: g, rep: c.rep, name });
      case 'tensorSquare':
        known(['rep']);
        return new TensorSquare({ group: g, rep: c.rep, name });
      default: {
        const steerable = buildSteerableLayer(cfg, group, where);
        if (steerable) return steerable;
        throw new ConfigError(`model config: ${where} has unknown type '${cfg.type}' (known: liftingConv, groupConv, groupAttention, lieConv, phi, groupPool, maxPool2d, avgPool2d, globalPool, relu, silu, batchNorm, layerNorm, linear, flatten, lift, coordinates, lieTransformerBlock, equivariantLinear, gated, tensorSquare, ${STEERABLE_TYPES.join(', ')})`);
      }
    }
  } catch (e) {
    if (e instanceof ArgumentError || e instanceof ShapeError) throw new ConfigError(`model config: ${where} (${cfg.type}): ${e.message}`);
    if (e instanceof RangeError) throw new OutOfMemoryError(`model config: ${where} (${cfg.type}): ${e.message}`);
    throw e;
  }
}

/**
 * A check of inputs against a config's `input` (field type and size), without building the
 * model: what a pool runs on the main thread before sending a batch to workers.
 */
export function inputChecker(config: ModelConfig): (x: Tensor | PointCloud) => void {
  const { group, name } = checkTopLevel(config);
  const type = inputType(group, config.input);
  planLayers(config.layers, group, type.channels, name);
  const size = config.input.size ? ([...config.input.size] as [number, number]) : undefined;
  return (x) => checkModelInput(x, type, size, name);
}

/** The top-level fields of a config, type-checked; the layers are checked by `planLayers`. */
function checkTopLevel(config: ModelConfig): { group: AnyGroup; name: string } {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new ConfigError(`model config: expected an object, got ${describe(config)}`);
  if (config.format !== FORMAT) throw new ConfigError(`model config: format must be '${FORMAT}', got ${describe(config.format)}`);
  if (config.version !== 1) throw new ConfigError(`model config: version ${describe(config.version)} is not supported (this library reads version 1)`);
  if (config.name !== undefined && typeof config.name !== 'string') throw new ConfigError(`model config: name must be a string, got ${describe(config.name)}`);
  if (typeof config.group !== 'string') throw new ConfigError(`model config: group must be a string (z2, p4, p4m, C<n>, D<n>, S<n>, T(2), T(3), SO(2), SE(2), SO(3), SE(3), or a gspace: rot2dOnR2(N), flipRot2dOnR2(N), trivialOnR2()), got ${describe(config.group)}`);
  let group: AnyGroup;
  try {
    group = (gspaceByName(config.group) as unknown as AnyGroup | undefined) ?? byName(config.group);
  } catch (e) {
    throw new ConfigError(`model config: ${(e as Error).message}`);
  }
  if (!Array.isArray(config.layers) || config.layers.length === 0) throw new ConfigError(`model config: layers must be a non-empty array, got ${describe(config.layers)}`);
  if (config.labels !== undefined && (!Array.isArray(config.labels) || !config.labels.every((l) => typeof l === 'string'))) throw new ConfigError(`model config: labels (the names of the outputs) must be an array of strings, got ${describe(config.labels)}`);
  return { group, name: config.name ?? 'model' };
}

function checkModelInput(x: Tensor | PointCloud, type: FieldType<unknown>, size: [number, number] | undefined, name: string): void {
  if (type instanceof PointCloudType) {
    (type as PointCloudType).check(x as PointCloud, `${name}.run`);
    return;
  }
  if (!(x instanceof Tensor) && x !== null && typeof x === 'object' && 'points' in x) throw new ArgumentError(`${name}.run: this model takes ${type.describe()}, not point clouds`);
  expectTensor(x, `${name}.run`);
  checkBatch(x, `${name}.run`);
  type.check(x, `${name}.run: input`);
  if (size && (x.shape[x.rank - 2] !== size[0] || x.shape[x.rank - 1] !== size[1])) {
    throw new ShapeError(`${name}.run: input must be ${size[0]} x ${size[1]}, got [${x.shape.join(', ')}]`);
  }
}

/** A config from any source, as an object (for pools: sent to workers as JSON). */
export async function readConfigSource(src: ModelConfig | Source): Promise<ModelConfig> {
  return readConfig(src);
}

/**
 * Weights from any source as safetensors bytes (encoding tensors and arrays given as objects):
 * always a fresh copy holding exactly the source's bytes.
 */
export async function readWeightsBytes(w: WeightsSource): Promise<Uint8Array> {
  if (w instanceof ArrayBuffer || ArrayBuffer.isView(w)) return new Uint8Array(exactBuffer(w));
  if (typeof w === 'string' || w instanceof URL) return readBytes(w, 'weights');
  if (w !== null && typeof w === 'object') {
    const named: Record<string, NamedArray> = {};
    for (const [k, v] of Object.entries(weightsMap(w))) named[k] = v instanceof Tensor ? { shape: [...v.shape], data: v.toArray() } : v;
    return encodeSafetensors(named);
  }
  throw new ArgumentError(`weights must be safetensors bytes, a path, a URL, or an object of tensors; got ${describe(w)}`);
}

/** Weights given as an object: each a live Tensor or `{ shape, data: Float32Array }` whose shape holds `data.length` values. */
function weightsMap(w: object): Record<string, Tensor | NamedArray> {
  if (Array.isArray(w)) throw new WeightsError('weights: expected an object of named tensors, got an array');
  const out: Record<string, Tensor | NamedArray> = {};
  for (const [k, v] of Object.entries(w)) {
    if (v instanceof Tensor) {
      expectTensor(v, `weights: '${k}'`);
      out[k] = v;
      continue;
    }
    const a = v as NamedArray;
    if (!a || typeof a !== 'object' || !Array.isArray(a.shape) || !(a.data instanceof Float32Array)) throw new WeightsError(`weights: '${k}' must be a Tensor or { shape, data: Float32Array }, got ${describe(v)}`);
    if (a.shape.length > 32 || !a.shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) throw new WeightsError(`weights: '${k}' has shape ${describe(a.shape)}; expected an array of non-negative integers`);
    const n = a.shape.reduce((x, y) => x * y, 1);
    if (n !== a.data.length) throw new WeightsError(`weights: '${k}' has shape [${a.shape.join(', ')}] (${n} values) but ${a.data.length} values`);
    out[k] = { shape: [...a.shape], data: a.data };
  }
  return out;
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
  #disposed = false;

  /**
   * Checks the whole config (types, channels, the bytes the layers need) before building
   * anything, builds the layers and sets the weights; on any error everything built is freed.
   * The model keeps its own copy of `config`.
   */
  constructor(config: ModelConfig, weights: Map<string, NamedArray | Tensor>) {
    config = cloneJson(config, 'config') as ModelConfig;
    const { group, name } = checkTopLevel(config);
    if (!(weights instanceof Map)) throw new ArgumentError(`Model: weights must be a Map of named arrays, got ${describe(weights)}`);
    this.config = config;
    this.group = group;
    this.name = name;
    this.inType = inputType(group, config.input);
    planLayers(config.layers, group, this.inType.channels, this.name);
    const layers: Layer[] = [];
    try {
      config.layers.forEach((cfg, i) => {
        const layer = owned(() => buildLayer(cfg, group, `layer ${i}${cfg && typeof cfg === 'object' && cfg.name ? ` '${cfg.name}'` : ''}`));
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
      const labels = config.labels as string[] | undefined;
      if (labels && !(this.outType instanceof LiftedFieldType) && labels.length !== this.outType.channels) throw new ConfigError(`model config: ${labels.length} labels for ${this.outType.channels} outputs`);
      if (config.input.field === 'r2' && config.input.size) checkMapSizes(layers, config.input.size as [number, number]);
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
    // Own keys only: `in` would pass '__proto__', 'constructor' and 'toString' through.
    const extra = [...weights.keys()].filter((k) => !Object.prototype.hasOwnProperty.call(expected, k));
    if (extra.length) throw new WeightsError(`weights: tensor(s) ${extra.map((e) => `'${e}'`).join(', ')} belong to no layer of the model (expected: ${Object.keys(expected).join(', ')})`);
    const values: Record<string, Tensor | Float32Array> = Object.create(null);
    for (const [k, v] of weights) values[k] = v instanceof Tensor ? v : v.data;
    try {
      this.network.setParameters(values);
    } catch (e) {
      if (e instanceof ArgumentError || e instanceof ShapeError) throw new WeightsError(`weights: ${e.message}`);
      throw e;
    }
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

  #live(): void {
    if (this.#disposed) throw new DisposedError(`${this.name}: the model was used after dispose()`);
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** Checks the input's field type and size (when the config gives one); an empty batch is refused. */
  checkInput(x: Tensor | PointCloud): void {
    this.#live();
    checkModelInput(x, this.inType, this.config.input.size, this.name);
  }

  /** The model's output for a batch (a tensor, or point clouds for a `points` model), a new tensor. */
  run(x: Tensor | PointCloud): Tensor {
    this.checkInput(x);
    return runSteps(this.steps(), x);
  }

  /** The same, layer by layer without fusion (a check of the plan). */
  runUnfused(x: Tensor | PointCloud): Tensor {
    this.checkInput(x);
    return this.network.run(x);
  }

  outputType(t: FieldType<unknown>): FieldType<unknown> {
    return this.network.outputType(t);
  }

  parameters(): Record<string, Tensor> {
    this.#live();
    return this.network.parameters();
  }

  /** Compiles the plan now (expanding every filter bank); `run` otherwise does it on first use. */
  prepare(): void {
    this.#live();
    this.steps();
  }

  /** Frees the weights and the plan. Idempotent; afterwards `run` and `parameters` throw a DisposedError. */
  dispose(): void {
    this.#disposed = true;
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
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new ArgumentError(`loadModel: expected { config, weights, algorithm? }, got ${describe(options)}`);
  if (options.algorithm !== undefined && options.algorithm !== 'auto' && options.algorithm !== 'direct') throw new ArgumentError(`loadModel: algorithm must be 'auto' or 'direct', got ${describe(options.algorithm)}`);
  const config = await readConfig(options.config);
  const w = options.weights;
  let weights: Map<string, NamedArray | Tensor>;
  if (w instanceof ArrayBuffer || ArrayBuffer.isView(w)) weights = parseSafetensors(viewBytes(w)).tensors;
  else if (typeof w === 'string' || w instanceof URL) weights = parseSafetensors(await readBytes(w, 'weights')).tensors;
  else if (w !== null && typeof w === 'object') weights = new Map(Object.entries(weightsMap(w)));
  else throw new ArgumentError(`loadModel: weights must be safetensors bytes, a path, a URL, or an object of tensors; got ${describe(w)}`);
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
