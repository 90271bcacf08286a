/**
 * Steerable layers in model configs: building them (`buildSteerableLayer`), and planning a
 * config's channels and bytes before anything is built (`planSteerableLayer`). A model on the
 * plane names its gspace as `group` (`rot2dOnR2(8)`, ...) and its input as
 * `{ field: 'r2', reps: [...], channels }`; layers that need their field type list it as `in`
 * (`r2conv` also `out`), as escnn's modules take theirs.
 */
import { ArgumentError, ConfigError, ShapeError } from '../../core/errors.js';
import { describe } from '../../core/limits.js';
import { fieldTypeFromSpec, type R2FieldType } from '../../gspaces/field.js';
import { GSpace } from '../../gspaces/gspace.js';
import type { Layer, LayerConfig } from '../layer.js';
import { R2Conv } from './conv.js';
import { AntialiasedPool, GatedNonlinearity, GroupPooling, IIDBatchNorm, InnerBatchNorm, Mask, NormNonlinearity, NormPool, Pointwise } from './layers.js';

const OPTIONS: Record<string, string[]> = {
  r2conv: ['in', 'out', 'kernel', 'padding', 'stride', 'dilation', 'bias', 'basis', 'sigma', 'rings', 'frequencies', 'frequenciesCutoff', 'maximumOffset'],
  normNonlinearity: ['in', 'function', 'bias'],
  gatedNonlinearity: ['in', 'gates', 'dropGates'],
  groupPooling: ['in'],
  normPool: ['in'],
  innerBatchNorm: ['in', 'eps'],
  iidBatchNorm: ['in', 'eps'],
  elu: ['alpha'],
  pointwiseNonlinearity: ['function', 'alpha'],
  maxPoolAntialiased: ['size', 'stride', 'padding', 'sigma'],
  avgPoolAntialiased: ['stride', 'padding', 'sigma'],
  mask: ['size', 'margin', 'sigma'],
};

/** The layer types this module builds. */
export const STEERABLE_TYPES = Object.keys(OPTIONS);

function space(group: unknown, where: string, type: string): GSpace {
  if (!(group instanceof GSpace)) throw new ConfigError(`model config: ${where} (${type}) works on the plane: the model's group must be a gspace (rot2dOnR2(N), flipRot2dOnR2(N), trivialOnR2()), got ${describe((group as { name?: unknown })?.name ?? group)}`);
  return group;
}

function fieldOf(gs: GSpace, spec: unknown, where: string, key: string): R2FieldType {
  try {
    return fieldTypeFromSpec(gs, spec, `${where}: ${key}`);
  } catch (e) {
    if (e instanceof ArgumentError) throw new ConfigError(`model config: ${e.message}`);
    throw e;
  }
}

/** The steerable layer of `cfg`, or undefined when its type is not one of them. */
export function buildSteerableLayer(cfg: LayerConfig, group: unknown, where: string): Layer | undefined {
  const keys = OPTIONS[cfg.type];
  if (!keys) return undefined;
  const extra = Object.keys(cfg).filter((k) => !['type', 'name', 'group', ...keys].includes(k));
  if (extra.length) throw new ConfigError(`model config: ${where} (${cfg.type}) has unknown option(s) ${extra.join(', ')}; it takes ${keys.join(', ')}`);
  const c = cfg as unknown as Record<string, never>;
  const name = c.name;
  const needsSpace = keys.includes('in');
  const gs = needsSpace ? space(group, where, cfg.type) : undefined;
  const inType = () => fieldOf(gs!, c.in, where, 'in');
  switch (cfg.type) {
    case 'r2conv':
      return new R2Conv({ in: inType(), out: fieldOf(gs!, c.out, where, 'out'), kernel: c.kernel, padding: c.padding, stride: c.stride, dilation: c.dilation, bias: c.bias, basis: c.basis, sigma: c.sigma, rings: c.rings, frequencies: c.frequencies, frequenciesCutoff: c.frequenciesCutoff, maximumOffset: c.maximumOffset, initialize: false, name });
    case 'normNonlinearity':
      return new NormNonlinearity({ in: inType(), function: c.function, bias: c.bias, name });
    case 'gatedNonlinearity':
      return new GatedNonlinearity({ in: inType(), gates: c.gates, dropGates: c.dropGates, name });
    case 'groupPooling':
      return new GroupPooling({ in: inType(), name });
    case 'normPool':
      return new NormPool({ in: inType(), name });
    case 'innerBatchNorm':
      return new InnerBatchNorm({ in: inType(), eps: c.eps, name });
    case 'iidBatchNorm':
      return new IIDBatchNorm({ in: inType(), eps: c.eps, name });
    case 'elu':
      return new Pointwise({ function: 'elu', alpha: c.alpha, name });
    case 'pointwiseNonlinearity':
      return new Pointwise({ function: c.function, alpha: c.alpha, name });
    case 'maxPoolAntialiased':
      return new AntialiasedPool('max', { size: c.size, stride: c.stride, padding: c.padding, sigma: c.sigma, name });
    case 'avgPoolAntialiased':
      return new AntialiasedPool('avg', { stride: c.stride, padding: c.padding, sigma: c.sigma, name });
    case 'mask':
      return new Mask({ size: c.size, margin: c.margin, sigma: c.sigma, name });
  }
  return undefined;
}

/**
 * What a steerable layer does to the channels, found from its config alone: the channels it
 * takes and gives, and the f32 elements it will hold. Undefined for other types.
 */
export function planSteerableLayer(c: Record<string, unknown>, group: unknown, where: string): { in?: number; out?: number; elements: number } | undefined {
  const keys = OPTIONS[c.type as string];
  if (!keys || !keys.includes('in')) return keys ? { elements: 0 } : undefined;
  const gs = space(group, where, c.type as string);
  const ti = fieldOf(gs, c.in, where, 'in');
  switch (c.type) {
    case 'r2conv': {
      const to = fieldOf(gs, c.out, where, 'out');
      const k = c.kernel, d = c.dilation ?? 1;
      if (!Number.isSafeInteger(k) || (k as number) < 1 || !Number.isSafeInteger(d) || (d as number) < 1) return { in: ti.size, out: to.size, elements: 0 }; // the layer reports it
      const kd = (d as number) * ((k as number) - 1) + 1;
      return { in: ti.size, out: to.size, elements: 3 * ti.size * to.size * kd * kd };
    }
    case 'gatedNonlinearity': {
      const gates = Array.isArray(c.gates) ? c.gates : ti.representations.map((_, i) => (i < ti.length / 2 ? 'gate' : 'gated'));
      const drop = c.dropGates ?? true;
      const out = drop ? ti.representations.reduce((s, r, i) => s + (gates[i] === 'gated' ? r.size : 0), 0) : ti.size;
      return { in: ti.size, out, elements: 2 * ti.length };
    }
    case 'groupPooling':
    case 'normPool':
      return { in: ti.size, out: ti.length, elements: 0 };
    default:
      return { in: ti.size, out: ti.size, elements: 10 * (ti.size + ti.length) };
  }
}

/** The input field type of a config's `{ field: 'r2', reps, channels }`. */
export function r2InputType(group: unknown, spec: { reps?: unknown; channels: number }): R2FieldType {
  if (!(group instanceof GSpace)) throw new ConfigError(`model config: input.field 'r2' needs a gspace as the model's group (rot2dOnR2(N), flipRot2dOnR2(N), trivialOnR2()), got ${describe((group as { name?: unknown })?.name ?? group)}`);
  const t = fieldOf(group, spec.reps ?? [['trivial', spec.channels]], 'input', 'reps');
  if (t.size !== spec.channels) throw new ConfigError(`model config: input.reps have ${t.size} channels, but input.channels is ${spec.channels}`);
  return t;
}

/** Layers that keep the maps' size. */
const SAME_SIZE = new Set(['relu', 'elu', 'pointwiseNonlinearity', 'innerBatchNorm', 'iidBatchNorm', 'batchNorm', 'normNonlinearity', 'gatedNonlinearity', 'groupPooling', 'normPool']);

/**
 * For a model on the plane with a fixed input size: the maps' size through the layers, so that a
 * layer that cannot take what reaches it (a mask of another size, a kernel or blur larger than
 * the maps) is a ConfigError when the model loads, not an error on every run. Stops at the
 * first layer whose effect on the size it does not know (a global pool, a linear head).
 */
export function checkMapSizes(layers: readonly Layer[], size: readonly [number, number]): void {
  let [h, w] = size;
  for (const l of layers) {
    const sized = l as Layer & { mapSize?: (h: number, w: number) => [number, number]; size?: number; stride?: number };
    try {
      if (typeof sized.mapSize === 'function') [h, w] = sized.mapSize(h, w);
      else if (l.type === 'maxPool2d' || l.type === 'avgPool2d') {
        const k = sized.size!, s = sized.stride!;
        if (h < k || w < k) throw new ArgumentError(`${l.label()}: a ${k}x${k} window does not fit a ${h}x${w} map`);
        [h, w] = [Math.floor((h - k) / s) + 1, Math.floor((w - k) / s) + 1];
      } else if (!SAME_SIZE.has(l.type)) return;
    } catch (e) {
      if (e instanceof ShapeError || e instanceof ArgumentError) throw new ConfigError(`model config: for ${size[0]}x${size[1]} inputs (input.size), ${e.message}`);
      throw e;
    }
  }
}
