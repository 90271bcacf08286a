/**
 * The G-CNN layers under their usual names. Each is `phi` with `omega = kappa(g^-1 g') f(g')`:
 * `liftingConv` from images on Z^2 to fields on p4/p4m (`kappa` on the domain), `groupConv`
 * between fields on the group (p4, p4m, or any finite group given by its Cayley table).
 */
import { ArgumentError } from '../core/errors.js';
import type { FiniteGroup } from '../groups/finite.js';
import type { GridGroup } from '../groups/grid.js';
import { KernelOmega, type Padding } from '../omega/index.js';
import { Phi } from './phi.js';

export interface ConvOptions {
  group: GridGroup | FiniteGroup | string;
  in: number;
  out: number;
  /** Spatial size of the kernel (p4/p4m); default 3. */
  kernel?: number;
  padding?: Padding;
  stride?: number;
  bias?: boolean;
  name?: string;
  seed?: number;
}

function make(o: ConvOptions, lift: boolean, type: string): Phi {
  if (o === null || typeof o !== 'object') throw new ArgumentError(`${type}: options { group, in, out, kernel } are required`);
  const omega = new KernelOmega({ in: o.in, out: o.out, size: o.kernel, padding: o.padding, stride: o.stride, bias: o.bias, lift });
  return new Phi({ group: o.group, omega, name: o.name, seed: o.seed }, type);
}

/** Lifting convolution `Z^2 -> p4/p4m`: `[N, in, H, W] -> [N, out, |P|, H', W']`. */
export const liftingConv = (options: ConvOptions) => make(options, true, 'liftingConv');

/** Group convolution: `[N, in, |P|, H, W] -> [N, out, |P|, H', W']`, or `[N, in, |G|] -> [N, out, |G|]`. */
export const groupConv = (options: ConvOptions) => make(options, false, 'groupConv');
