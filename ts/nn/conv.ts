/**
 * Named configurations of `phi`, under the names the field uses:
 *
 * - `liftingConv`: `omega.kernel` from images on Z^2 onto p4/p4m (`kappa` on the domain);
 * - `groupConv`: `omega.kernel` between fields on the group (p4, p4m, any finite group);
 * - `groupAttention`: `omega.attention` (group self-attention: content and relative position);
 * - `lieConv`: `omega.mlp` with LieConv's output (`'basis'`, mean over the neighbours) on a
 *   lifted cloud, the kernel an MLP of `log(g^-1 g')` (Finzi et al. 2020).
 */
import type { Padding } from '../core/ops.js';
import type { AnyGroup } from '../groups/index.js';
import type { NeighbourSpec } from '../domains/neighbourhood.js';
import { AttentionOmega, type Location } from '../omega/attention.js';
import { KernelOmega } from '../omega/kernel.js';
import { MlpOmega } from '../omega/mlp.js';
import { options } from '../omega/omega.js';
import type { Activation, Normaliser } from '../omega/engine.js';
import { Phi } from './phi.js';

export interface ConvOptions {
  group: AnyGroup | string;
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
  options(o, type, ['group', 'in', 'out', 'kernel', 'padding', 'stride', 'bias', 'name', 'seed']);
  const omega = new KernelOmega({ in: o.in, out: o.out, size: o.kernel, padding: o.padding, stride: o.stride, bias: o.bias, lift });
  return new Phi({ group: o.group, omega, name: o.name, seed: o.seed }, type);
}

/** Lifting convolution `Z^2 -> p4/p4m`: `[N, in, H, W] -> [N, out, |P|, H', W']`. */
export const liftingConv = (options: ConvOptions) => make(options, true, 'liftingConv');

/** Group convolution: `[N, in, |P|, H, W] -> [N, out, |P|, H', W']`, or `[N, in, |G|] -> [N, out, |G|]`. */
export const groupConv = (options: ConvOptions) => make(options, false, 'groupConv');

export interface GroupAttentionOptions {
  group: AnyGroup | string;
  in: number;
  out: number;
  heads?: number;
  dim?: number;
  content?: boolean;
  location?: Location;
  hidden?: number[];
  activation?: Activation;
  normalise?: Normaliser;
  neighbours?: NeighbourSpec;
  name?: string;
  seed?: number;
}

/** Group self-attention: `phi` with `omega.attention` (regular fields, grids, lifted clouds). */
export function groupAttention(o: GroupAttentionOptions): Phi {
  options(o, 'groupAttention', ['group', 'in', 'out', 'heads', 'dim', 'content', 'location', 'hidden', 'activation', 'normalise', 'neighbours', 'name', 'seed']);
  const omega = new AttentionOmega({ in: o.in, out: o.out, heads: o.heads, dim: o.dim, content: o.content, location: o.location, hidden: o.hidden, activation: o.activation, normalise: o.normalise });
  return new Phi({ group: o.group, omega, neighbours: o.neighbours, name: o.name, seed: o.seed }, 'groupAttention');
}

export interface LieConvOptions {
  group: AnyGroup | string;
  in: number;
  out: number;
  /** Hidden widths of the kernel MLP; default [32, 32]. */
  hidden?: number[];
  /** The kernel MLP's output width (LieConv's `cmco_ci`); default 16. */
  basis?: number;
  activation?: Activation;
  /** Over the neighbours; default `'mean'` (LieConv's). */
  normalise?: Normaliser;
  bias?: boolean;
  neighbours?: NeighbourSpec;
  name?: string;
  seed?: number;
}

/**
 * LieConv: `out(g) = W vec(mean over g' of f(g') (x) psi(log(g^-1 g'))) + b` on a lifted cloud,
 * `psi` an MLP (Swish after every layer, as LieConv's).
 */
export function lieConv(o: LieConvOptions): Phi {
  options(o, 'lieConv', ['group', 'in', 'out', 'hidden', 'basis', 'activation', 'normalise', 'bias', 'neighbours', 'name', 'seed']);
  const act = o.activation ?? 'silu';
  const omega = new MlpOmega({ in: o.in, out: o.out, hidden: o.hidden, activation: act, outputActivation: act, output: 'basis', basis: o.basis, normalise: o.normalise ?? 'mean', bias: o.bias });
  return new Phi({ group: o.group, omega, neighbours: o.neighbours, name: o.name, seed: o.seed }, 'lieConv');
}
