/**
 * `omega`: what the general operator `[Phi f](g) = sum over g' of omega(f, g, g')` sums, with
 * behaviour: each prepares its parameters once and runs through the one engine
 * (crate/src/engine.rs). Equivariance forces `omega` to see the input only relative to `g`.
 *
 * - `omega.kernel`: `kappa(g^-1 g') f(g')`, a learned table (group and lifting convolutions);
 * - `omega.mlp`: a learned `psi` of the relative element and optionally of `f(g)`, `f(g')`
 *   (implicit kernels, LieConv);
 * - `omega.attention`: content `q.k` plus a location term, normalised over `g'` (group
 *   self-attention, LieTransformer);
 * - `omega.custom(fn, { in, out })`: a TypeScript function per pair (slow; for prototyping).
 */
import { ArgumentError } from '../core/errors.js';
import { AttentionOmega, type AttentionOmegaOptions } from './attention.js';
import { CustomOmega, type CustomFn, type CustomOmegaOptions } from './custom.js';
import { KernelOmega, type KernelOmegaOptions } from './kernel.js';
import { MlpOmega, type MlpOmegaOptions } from './mlp.js';

export { Omega, type OmegaContext, type DomainKind } from './omega.js';
export { KernelOmega, type KernelOmegaOptions } from './kernel.js';
export { MlpOmega, type MlpOmegaOptions, type MlpOutput, type MlpFeatures } from './mlp.js';
export { AttentionOmega, type AttentionOmegaOptions, type Location } from './attention.js';
export { CustomOmega, type CustomFn, type CustomOmegaOptions, type Pair } from './custom.js';
export type { Activation, Normaliser } from './engine.js';
export type { Padding } from '../core/ops.js';

export const omega = {
  kernel: (options: KernelOmegaOptions) => new KernelOmega(options),
  mlp: (options: MlpOmegaOptions) => new MlpOmega(options),
  attention: (options: AttentionOmegaOptions) => new AttentionOmega(options),
  custom: (fn: CustomFn, options: CustomOmegaOptions) => new CustomOmega(fn, options),
};

/** An omega from its JSON configuration (`kind` and options). */
export function omegaFromConfig(c: Record<string, unknown>): KernelOmega | MlpOmega | AttentionOmega {
  const { kind, ...o } = c;
  if (kind === 'kernel') return new KernelOmega(o as unknown as KernelOmegaOptions);
  if (kind === 'mlp') return new MlpOmega(o as unknown as MlpOmegaOptions);
  if (kind === 'attention') return new AttentionOmega(o as unknown as AttentionOmegaOptions);
  throw new ArgumentError(`omega: unknown kind ${JSON.stringify(kind)} (expected 'kernel', 'mlp' or 'attention')`);
}
