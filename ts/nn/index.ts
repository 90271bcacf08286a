/** The layers, as `eq.nn.*`. Every convolution is a configuration of `phi`. */
import { GlobalPool, GroupPool, Pool2d } from './pool.js';
import { BatchNorm, Relu } from './pointwise.js';
import { Flatten, Linear } from './linear.js';
import { Sequential } from './sequential.js';
import type { Reduction } from '../core/ops.js';
import type { Layer } from './layer.js';
import { GroupAttention } from './attention.js';
import { AttentionOmega } from '../omega/index.js';
import { checkOptions } from '../core/limits.js';
import { owned } from '../core/tensor.js';

export { phi, Phi, type PhiOptions } from './phi.js';
export { liftingConv, groupConv, type ConvOptions } from './conv.js';
export { GroupAttention, type AttentionOptions } from './attention.js';
export { Layer, type LayerConfig } from './layer.js';
export { Sequential, type Step } from './sequential.js';
export { GroupPool, Pool2d, GlobalPool, BatchNorm, Relu, Linear, Flatten };

/** Group self-attention on a finite group's regular fields: `phi` with `omega.attention`. */
export const groupAttention = (o: { group: import('../groups/finite.js').FiniteGroup | string; in: number; out: number; heads?: number; dim?: number; content?: boolean; name?: string; seed?: number }) => {
  checkOptions('groupAttention', o, { group: ['any'], name: ['string', true], seed: ['int', true] });
  return owned(() => new GroupAttention({ group: o.group, omega: new AttentionOmega({ in: o.in, out: o.out, heads: o.heads, dim: o.dim, content: o.content }), name: o.name, seed: o.seed }));
};
export const groupPool = (o: { reduce?: Reduction; name?: string } = {}) => new GroupPool(o);
export const maxPool2d = (o: { size?: number; stride?: number; name?: string } = {}) => new Pool2d('max', o);
export const avgPool2d = (o: { size?: number; stride?: number; name?: string } = {}) => new Pool2d('mean', o);
export const globalPool = (o: { reduce?: Reduction; name?: string } = {}) => new GlobalPool(o);
export const relu = (o: { name?: string } = {}) => new Relu(o);
export const batchNorm = (o: { channels: number; eps?: number; name?: string; group?: unknown }) => new BatchNorm(o);
export const linear = (o: { in: number; out: number; bias?: boolean; name?: string; seed?: number }) => new Linear(o);
export const flatten = (o: { name?: string } = {}) => new Flatten(o);
export const sequential = (layers: Layer[], o: ConstructorParameters<typeof Sequential>[1] = {}) => new Sequential(layers, o);
