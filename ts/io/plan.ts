/**
 * A model config checked before anything is built: every field's type, the layers' channels
 * chained from the input to the end, and the bytes the layers would need, against the limits
 * of ts/core/limits.ts. Nothing is allocated here; `Model` calls it first, then builds the
 * layers (which check themselves again, and the field types exactly).
 */
import { ConfigError, OutOfMemoryError } from '../core/errors.js';
import { checkModelBytes, describe, dimension, fmtBytes, limits } from '../core/limits.js';
import { FiniteGroup } from '../groups/finite.js';
import { GridGroup } from '../groups/grid.js';
import { LieGroup } from '../groups/lie.js';
import type { AnyGroup } from '../groups/index.js';
import { attentionLayerElements, kernelLayerElements } from '../nn/guards.js';
import { planVectorLayer } from '../nn/equivariant-linear.js';
import { planSteerableLayer } from '../nn/steerable/config.js';

/** The most layers a config may list, and the deepest nesting of JSON values it may have. */
export const MAX_LAYERS = 10_000;
export const MAX_DEPTH = 32;

/**
 * A deep copy of a JSON-like value, refusing anything JSON cannot hold (functions, symbols,
 * BigInt, class instances, cycles) and nesting deeper than `MAX_DEPTH`. What a model keeps is
 * this copy, so later changes to the caller's object do not reach the model.
 */
export function cloneJson(v: unknown, where: string, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new ConfigError(`model config: ${where} is nested more than ${MAX_DEPTH} levels deep`);
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return v;
  if (Array.isArray(v)) {
    if (v.length > 1_000_000) throw new ConfigError(`model config: ${where} has ${v.length} entries`);
    return v.map((x, i) => cloneJson(x, `${where}[${i}]`, depth + 1));
  }
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) throw new ConfigError(`model config: ${where} must be plain JSON data, got ${describe(v)}`);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x === undefined) continue;
      Object.defineProperty(out, k, { value: cloneJson(x, `${where}.${k}`, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  throw new ConfigError(`model config: ${where} must be plain JSON data, got ${describe(v)}`);
}

const dim = (v: unknown, what: string, dflt?: number): number => {
  if (v === undefined && dflt !== undefined) return dflt;
  try {
    return dimension(v, what);
  } catch (e) {
    throw new ConfigError(`model config: ${(e as Error).message}`);
  }
};

const bool = (v: unknown, what: string, dflt: boolean): boolean => {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new ConfigError(`model config: ${what} must be true or false, got ${describe(v)}`);
  return v;
};

/**
 * Checks the layers of a config against its input before any is built: channels chain, sizes
 * are within `limits.maxDimension`, and the total bytes within `limits.maxModelBytes`.
 * Layer types it does not know are passed over (the layer checks itself when built).
 */
export function planLayers(layers: readonly unknown[], group: AnyGroup, inputChannels: number, name: string): void {
  if (layers.length > MAX_LAYERS) throw new ConfigError(`model config: ${layers.length} layers; at most ${MAX_LAYERS}`);
  let channels: number | undefined = inputChannels;
  let elements = 0;
  const max = limits().maxLayerBytes;
  layers.forEach((raw, i) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`model config: layer ${i} must be an object with a 'type', got ${describe(raw)}`);
    const c = raw as Record<string, unknown>;
    if (typeof c.type !== 'string') throw new ConfigError(`model config: layer ${i} must have a string 'type', got ${describe(c.type)}`);
    if (c.name !== undefined && typeof c.name !== 'string') throw new ConfigError(`model config: layer ${i}: name must be a string, got ${describe(c.name)}`);
    const where = `layer ${i}${c.name ? ` '${c.name}'` : ''} (${c.type})`;
    const chain = (inCh: number) => {
      if (channels !== undefined && inCh !== channels) throw new ConfigError(`model config: ${where} takes ${inCh} input channels, but the layers before it give ${channels}`);
    };
    let layerElements = 0;
    const kernel = (o: Record<string, unknown>, lift: boolean) => {
      const k = { in: dim(o.in, `${where}: in`), out: dim(o.out, `${where}: out`), size: dim(o.size ?? o.kernel, `${where}: kernel`, 3), bias: bool(o.bias, `${where}: bias`, true), lift };
      chain(k.in);
      if (group instanceof LieGroup) throw new ConfigError(`model config: ${where}: a kernel table needs a finite group or a grid, the model's group is ${group.name}`);
      layerElements = kernelLayerElements(group, k);
      channels = k.out;
    };
    const attention = (o: Record<string, unknown>) => {
      const a = { in: dim(o.in, `${where}: in`), out: dim(o.out, `${where}: out`), heads: dim(o.heads, `${where}: heads`, 1), dim: dim(o.dim, `${where}: dim`, 8) };
      chain(a.in);
      layerElements = attentionLayerElements(group instanceof FiniteGroup ? group.order : group instanceof GridGroup ? group.pointOrder * 9 : 1, a);
      channels = a.out;
    };
    /** Other omegas: the channels chain (their psi's parameters are small and bounded by the constructors). */
    const other = (o: Record<string, unknown>) => {
      const inCh = dim(o.in, `${where}: in`), outCh = dim(o.out, `${where}: out`);
      chain(inCh);
      channels = outCh;
    };
    switch (c.type) {
      case 'liftingConv':
      case 'groupConv':
        kernel(c, c.type === 'liftingConv');
        break;
      case 'phi': {
        const o = c.omega as Record<string, unknown> | undefined;
        if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new ConfigError(`model config: ${where} needs omega { kind: 'kernel' | 'attention', ... }, got ${describe(o)}`);
        if (o.kind === 'kernel') kernel(o, bool(o.lift, `${where}: omega.lift`, false));
        else if (o.kind === 'attention') attention(o);
        else other(o);
        break;
      }
      case 'groupAttention':
        attention(c);
        break;
      case 'lieConv':
        other(c);
        break;
      case 'batchNorm': {
        const ch = dim(c.channels, `${where}: channels`);
        chain(ch);
        layerElements = 10 * ch;
        break;
      }
      case 'linear': {
        const l = { in: dim(c.in, `${where}: in`), out: dim(c.out, `${where}: out`) };
        chain(l.in);
        layerElements = 4 * (l.in * l.out + l.out);
        channels = l.out;
        break;
      }
      case 'flatten':
        channels = undefined;
        break;
      case 'layerNorm': {
        const ch = dim(c.channels, `${where}: channels`);
        chain(ch);
        layerElements = 2 * ch;
        break;
      }
      case 'coordinates':
        if (channels !== undefined && group instanceof LieGroup) channels += group.d;
        break;
      case 'lieTransformerBlock': {
        const d = dim(c.dim, `${where}: dim`), hidden = dim(c.mlp, `${where}: mlp`, d);
        chain(d);
        layerElements = 4 * d * d + 4 * d + 2 * d * hidden + hidden + d + 4 * d;
        break;
      }
      case 'equivariantLinear':
      case 'gated':
      case 'tensorSquare': {
        let p: { in: number; out: number; elements: number };
        try {
          p = planVectorLayer(c, group, where);
        } catch (e) {
          throw new ConfigError(`model config: ${(e as Error).message}`);
        }
        chain(p.in);
        layerElements = p.elements;
        channels = p.out;
        break;
      }
      default: {
        const s = planSteerableLayer(c, group, where);
        if (s?.in !== undefined) chain(s.in);
        if (s?.out !== undefined) channels = s.out;
        layerElements = s?.elements ?? 0;
        break; // relu and pools keep the channels; unknown types are checked when built
      }
    }
    if (4 * layerElements > max) {
      throw new OutOfMemoryError(`${name}: ${where} would need about ${fmtBytes(4 * layerElements)}, over the limit of ${fmtBytes(max)} per layer (limits.maxLayerBytes)`);
    }
    elements += layerElements;
  });
  checkModelBytes(name, 4 * elements);
}
