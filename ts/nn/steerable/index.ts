/** Steerable CNNs on the plane, as `eq.nn.*` (escnn's modules in camelCase). */
import type { R2FieldType } from '../../gspaces/field.js';
import { AntialiasedPool, GatedNonlinearity, GroupPooling, IIDBatchNorm, InnerBatchNorm, Mask, NormNonlinearity, NormPool, Pointwise, type NormFunction, type PointwiseFunction } from './layers.js';

export { R2Conv, r2conv, type R2ConvOptions, type ChannelAffine } from './conv.js';
export { AntialiasedPool, GatedNonlinearity, GroupPooling, IIDBatchNorm, InnerBatchNorm, Mask, NormNonlinearity, NormPool, Pointwise, type NormFunction, type PointwiseFunction };

export const pointwiseNonlinearity = (o: { function: PointwiseFunction; alpha?: number; name?: string }) => new Pointwise(o);
export const elu = (o: { alpha?: number; name?: string } = {}) => new Pointwise({ ...o, function: 'elu' });
export const normNonlinearity = (o: { in: R2FieldType; function?: NormFunction; bias?: boolean; name?: string }) => new NormNonlinearity(o);
export const gatedNonlinearity = (o: { in: R2FieldType; gates?: ('gate' | 'gated')[]; dropGates?: boolean; name?: string }) => new GatedNonlinearity(o);
export const groupPooling = (o: { in: R2FieldType; name?: string }) => new GroupPooling(o);
export const normPool = (o: { in: R2FieldType; name?: string }) => new NormPool(o);
export const innerBatchNorm = (o: { in: R2FieldType; eps?: number; name?: string }) => new InnerBatchNorm(o);
export const iidBatchNorm = (o: { in: R2FieldType; eps?: number; name?: string }) => new IIDBatchNorm(o);
export const maxPoolAntialiased = (o: { size: number; stride?: number; padding?: number; sigma?: number; name?: string }) => new AntialiasedPool('max', o);
export const avgPoolAntialiased = (o: { stride: number; padding?: number; sigma?: number; name?: string }) => new AntialiasedPool('avg', o);
export const mask = (o: { size: number; margin?: number; sigma?: number; name?: string }) => new Mask(o);
