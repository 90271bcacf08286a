/**
 * Checks the layers call first in their constructors, before anything is allocated: option
 * types, and the bytes the layer will need (its parameters and the weights derived from them)
 * against `limits.maxLayerBytes` (ts/core/limits.ts). Kept apart from the layer classes so each
 * of them needs one line.
 */
import { ArgumentError } from '../core/errors.js';
import { checkLayerBytes, checkOptions, describe } from '../core/limits.js';
import { FiniteGroup } from '../groups/finite.js';
import { GridGroup } from '../groups/grid.js';
import { byName, type AnyGroup } from '../groups/index.js';
import { LieGroup } from '../groups/lie.js';
import { AttentionOmega } from '../omega/attention.js';
import { KernelOmega } from '../omega/kernel.js';

function group(type: string, g: unknown): AnyGroup {
  let resolved: unknown = g;
  if (typeof g === 'string') {
    try {
      resolved = byName(g);
    } catch (e) {
      throw new ArgumentError(`${type}: ${(e as Error).message}`);
    }
  }
  if (!(resolved instanceof GridGroup) && !(resolved instanceof FiniteGroup) && !(resolved instanceof LieGroup)) throw new ArgumentError(`${type}: group must be p4, p4m, z2, a finite group, a Lie group or its name, got ${describe(g)}`);
  return resolved;
}

/** Elements (f32) the kernel configuration of `phi` holds and derives, for an omega on a group. */
export function kernelLayerElements(g: GridGroup | FiniteGroup, o: { in: number; out: number; size: number; bias: boolean; lift: boolean }): number {
  if (g instanceof GridGroup) {
    const P = g.pointOrder, S = o.lift ? 1 : P;
    const params = o.out * o.in * S * o.size * o.size + (o.bias ? o.out : 0);
    const expanded = o.out * P * o.in * S * o.size * o.size;
    // The initial weights and their tensor; the expansion table (i32), the expanded bank, and
    // its Winograd transform (16/9 of it) or a fused copy.
    return 2 * params + 4 * expanded;
  }
  const n = g.order;
  const params = o.out * o.in * n + (o.bias ? o.out : 0);
  const matrix = o.in * n * o.out * n;
  return 2 * params + 3 * matrix;
}

/** `phi` with `omega.kernel` (liftingConv, groupConv): options and size. */
export function checkPhiOptions(type: string, options: unknown): void {
  checkOptions(type, options, { group: ['any'], omega: ['object'], name: ['string', true], algorithm: [['auto', 'direct'], true], path: [['auto', 'general'], true], neighbours: ['any', true], seed: ['int', true] });
  const o = options as { group: unknown; omega: unknown };
  const g = group(type, o.group);
  if (g instanceof LieGroup) return; // parameters do not grow with a lifted cloud
  if (o.omega instanceof KernelOmega) checkLayerBytes(`${type} ${o.omega.in} -> ${o.omega.out} (kernel ${o.omega.size}) on ${g.name}`, 4 * kernelLayerElements(g, o.omega));
  if (o.omega instanceof AttentionOmega) checkLayerBytes(`${type} ${o.omega.in} -> ${o.omega.out} on ${g.name}`, 4 * attentionLayerElements(g instanceof GridGroup ? g.pointOrder * 9 : g.order, o.omega));
}

/** Elements group self-attention holds: its parameters and the relative-position table. */
export function attentionLayerElements(n: number, o: { in: number; out: number; heads: number; dim: number }): number {
  const params = 2 * o.heads * o.dim * o.in + o.out * o.in + o.heads * n;
  return 2 * params + 2 * n * n;
}

