/** The layers, as `eq.nn.*`. Every convolution is a configuration of `phi`. */
import { GlobalPool, GroupPool, Pool2d } from './pool.js';
import { BatchNorm, LayerNorm, Relu, Silu } from './pointwise.js';
import { Coordinates, Lift } from './lift.js';
import { LieTransformerBlock, type LieTransformerBlockOptions } from './transformer.js';
import { Flatten, Linear } from './linear.js';
import { Sequential } from './sequential.js';
import type { Reduction } from '../core/ops.js';
import type { Layer } from './layer.js';

export { phi, Phi, type PhiOptions, type PhiPath, type ConvAlgorithm } from './phi.js';
export { liftingConv, groupConv, groupAttention, lieConv, type ConvOptions, type GroupAttentionOptions, type LieConvOptions } from './conv.js';
export { Layer, type LayerConfig } from './layer.js';
export * from './steerable/index.js';
export { Sequential, type Step } from './sequential.js';
export { GroupPool, Pool2d, GlobalPool, BatchNorm, LayerNorm, Relu, Silu, Linear, Flatten, Lift, Coordinates, LieTransformerBlock, type LieTransformerBlockOptions };
export { EquivariantLinear, Gated, TensorSquare, equivariantLinear, gated, tensorSquare, gatedInput, type EquivariantLinearOptions } from './equivariant-linear.js';

export const groupPool = (o: { reduce?: Reduction; name?: string; group?: unknown } = {}) => new GroupPool(o);
export const maxPool2d = (o: { size?: number; stride?: number; name?: string } = {}) => new Pool2d('max', o);
export const avgPool2d = (o: { size?: number; stride?: number; name?: string } = {}) => new Pool2d('mean', o);
export const globalPool = (o: { reduce?: Reduction; name?: string } = {}) => new GlobalPool(o);
export const relu = (o: { name?: string } = {}) => new Relu(o);
export const batchNorm = (o: { channels: number; eps?: number; name?: string; group?: unknown }) => new BatchNorm(o);
export const linear = (o: { in: number; out: number; bias?: boolean; name?: string; seed?: number }) => new Linear(o);
export const flatten = (o: { name?: string } = {}) => new Flatten(o);
export const sequential = (layers: Layer[], o: ConstructorParameters<typeof Sequential>[1] = {}) => new Sequential(layers, o);
export const silu = (o: { name?: string } = {}) => new Silu(o);
export const layerNorm = (o: { channels: number; eps?: number; name?: string }) => new LayerNorm(o);
/** Lifts point clouds to a Lie group: `samples` elements per point, seeded. */
export const lift = (o: ConstructorParameters<typeof Lift>[0]) => new Lift(o);
export const lieTransformerBlock = (o: LieTransformerBlockOptions) => new LieTransformerBlock(o);
/** Appends each element's position to its features (not equivariant: for baselines). */
export const coordinates = (o: { name?: string } = {}) => new Coordinates(o);
