/**
 * Checks the group constructors and actions call first, before anything is allocated (see
 * ts/core/limits.ts for the limits).
 */
import { ArgumentError } from '../core/errors.js';
import { checkOptions, describe, limits } from '../core/limits.js';

/** `G.lift(points, { samples, rng })`: the options' types and the number of elements it would create. */
export function checkLift(group: string, d: number, points: unknown, options: unknown): void {
  const what = `${group}.lift`;
  checkOptions(what, options, { samples: ['int', true], rng: ['function', true], seed: ['int', true] }, true);
  if (points === null || typeof points !== 'object' || typeof (points as ArrayLike<number>).length !== 'number') {
    throw new ArgumentError(`${what}: points must be a flat array (or Float32Array/Float64Array) of ${d}-vectors, got ${describe(points)}`);
  }
  const samples = (options as { samples?: number } | undefined)?.samples ?? 1;
  if (samples < 1) throw new ArgumentError(`${what}: samples must be a positive integer, got ${samples}`);
  const count = Math.floor((points as ArrayLike<number>).length / d) * samples;
  const max = limits().maxLiftedElements;
  if (count > max) throw new ArgumentError(`${what}: ${(points as ArrayLike<number>).length / d} points x ${samples} samples = ${count} elements, over the limit of ${max} (limits.maxLiftedElements)`);
  const arr = points as ArrayLike<unknown>;
  for (let i = 0; i < arr.length; i++) {
    if (typeof arr[i] !== 'number' || !Number.isFinite(arr[i] as number)) throw new ArgumentError(`${what}: coordinate ${i} is ${describe(arr[i])}, not a finite number`);
  }
}

/** The order of a finite group about to be built (its Cayley table has order^2 entries). */
export function checkGroupOrder(what: string, order: number): void {
  const max = limits().maxGroupOrder;
  if (order > max) throw new ArgumentError(`${what}: order ${order} is over the limit of ${max} (limits.maxGroupOrder: the Cayley table has order^2 entries; raise it with eq.setLimits if this is intended)`);
}
