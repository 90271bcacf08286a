/**
 * Numerical equivariance checks: `Phi[u . f] = u . Phi[f]` for every `u` (finite groups) or for
 * sampled `u` (Lie groups), on a given input.
 *
 * The error for `u` is `max |Phi[u . f] - u . Phi[f]|`, absolute and relative to
 * `max |Phi[f]|` (docs/framework.md, "How correctness is shown"). A check passes when every
 * relative error is at most the tolerance.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { checkOptions, describe } from '../core/limits.js';

/** Elements one check runs at most (each is a full run of the layer). */
const MAX_ELEMENTS = 65_536;
import type { FieldType } from '../fields/index.js';
import { GridGroup, type GridElement } from '../groups/grid.js';
import { LieGroup, seededRng } from '../groups/lie.js';
import { Tensor, expectTensor, tidy } from '../core/tensor.js';
import { LiftedField } from '../fields/lifted.js';
import { release } from '../core/cache.js';

/** A feature map: a tensor, or a field on a lifted cloud. */
export type FeatureMap = Tensor | LiftedField;

/** Anything with a forward map and declared input and output field types. */
export interface EquivariantMap {
  run(x: any): FeatureMap;
  readonly inType?: FieldType<any, any>;
  readonly outType?: FieldType<any, any>;
  readonly name?: string;
}

export interface CheckOptions<E> {
  /** The input `f` (a tensor, or a lifted field for layers on lifted clouds). */
  input: FeatureMap;
  /** `'all'` (finite groups), a number of random elements (Lie groups), or a list. */
  elements?: 'all' | number | E[];
  /** Pass when every relative error is at most this; default 1e-5. */
  tolerance?: number;
  /** For a plain function: the field types of its input and output. */
  inType?: FieldType<E, any>;
  outType?: FieldType<E, any>;
  /** Seed of the random elements of a Lie group. */
  seed?: number;
  /** Optional, as in the API sketch: must be the group of the field types, which carry it anyway. */
  group?: unknown;
}

export interface ElementReport<E> {
  element: E;
  label: string;
  absError: number;
  relError: number;
  ok: boolean;
}

export interface EquivarianceReport<E> {
  ok: boolean;
  tolerance: number;
  maxAbsError: number;
  maxRelError: number;
  /** `max |Phi[f]|`, the scale relative errors are taken against. */
  scale: number;
  perElement: ElementReport<E>[];
  /** Labels of the elements that failed. */
  failing: string[];
  summary: string;
}

/** Checks `layer` (an object with `run`, `inType`, `outType`, or a function with options' types). */
export function checkEquivariance<E = unknown>(layer: EquivariantMap | ((x: any) => FeatureMap), options: CheckOptions<E>): EquivarianceReport<E> {
  checkOptions('checkEquivariance', options, { input: ['any'], elements: ['any', true], tolerance: ['any', true], inType: ['any', true], outType: ['any', true], seed: ['int', true], group: ['any', true] });
  const run = typeof layer === 'function' ? layer : layer?.run?.bind(layer);
  if (typeof run !== 'function') throw new ArgumentError('checkEquivariance: expected a layer with run(x) or a function');
  const inType = (options.inType ?? (layer as EquivariantMap).inType) as FieldType<E, FeatureMap> | undefined;
  const outType = (options.outType ?? (layer as EquivariantMap).outType) as FieldType<E, FeatureMap> | undefined;
  if (!inType || !outType) throw new ArgumentError('checkEquivariance: the input and output field types are unknown: give options.inType and options.outType for a plain function');
  // A field on p4 pooled over space is a regular field of C4: its elements act through their
  // point part (the homomorphism p4 -> C4).
  const toPoint = inType.group instanceof GridGroup && outType.group === inType.group.pointGroup;
  const outElement = (u: E): E => (toPoint ? ((u as unknown as GridElement).point as unknown as E) : u);
  if (inType.group !== outType.group && !toPoint) throw new ArgumentError(`checkEquivariance: input and output field types belong to different groups (${String(inType.group)}, ${String(outType.group)})`);
  const input = options.input;
  if (!(input instanceof LiftedField)) expectTensor(input, 'checkEquivariance: input');
  inType.check(input, 'checkEquivariance: input');
  const tolerance = options.tolerance ?? 1e-5;
  if (typeof tolerance !== 'number' || !(tolerance >= 0)) throw new ArgumentError(`checkEquivariance: tolerance must be a non-negative number (Infinity to report without judging), got ${describe(tolerance)}`);
  const G = inType.group;
  // The sketch's { group }: the field types know the group; a group given must be theirs.
  const given = options.group;
  if (given !== undefined && given !== G && String(given) !== String(G)) {
    throw new ArgumentError(`checkEquivariance: group ${typeof given === 'string' ? given : String(given)} is not the group of the layer's field types (${String(G)}); leave it out, the field types carry it`);
  }
  const spec = options.elements ?? 'all';
  let elements: E[];
  if (spec === 'all') elements = inType.elements();
  else if (typeof spec === 'number') {
    if (!Number.isSafeInteger(spec) || spec < 1 || spec > MAX_ELEMENTS) throw new ArgumentError(`checkEquivariance: a number of random elements must be an integer in 1..${MAX_ELEMENTS}, got ${spec}`);
    if (!(G instanceof LieGroup)) {
      const infinite = (G as { finite?: boolean }).finite === false;
      throw new ArgumentError(`checkEquivariance: a number of random elements is for Lie groups; ${String(G)} takes elements: ${infinite ? 'a list (for example gspace.randomElements(n))' : "'all' or a list"}`);
    }
    const rng = seededRng(options.seed ?? 1);
    elements = Array.from({ length: spec }, () => G.random(rng) as E);
  } else if (Array.isArray(spec)) elements = spec;
  else throw new ArgumentError(`checkEquivariance: elements must be 'all', a number or a list, got ${describe(spec)}`);
  if (elements.length === 0) throw new ArgumentError('checkEquivariance: no elements to check (an empty list would pass without checking anything)');
  if (elements.length > MAX_ELEMENTS) throw new ArgumentError(`checkEquivariance: ${elements.length} elements; at most ${MAX_ELEMENTS} per check`);

  // Lifted fields own their features: free what each run makes (tidy frees the tensors).
  const values = (v: FeatureMap) => v.toArray();
  return tidy(() => {
    const y = run(input);
    outType.check(y, 'checkEquivariance: output');
    const yv = values(y);
    let scale = 0;
    for (const v of yv) scale = Math.max(scale, Math.abs(v));
    const perElement: ElementReport<E>[] = elements.map((u) => tidy(() => {
      const moved = inType.act(u, input);
      const movedOut = outType.act(outElement(u), y);
      let lhs: Float32Array, rhs: Float32Array;
      try {
        lhs = values(run(moved));
        rhs = values(movedOut);
      } finally {
        // The moved clouds are used once: free their neighbour lists now.
        for (const v of [moved, movedOut]) if (v instanceof LiftedField) release(v.lifted);
      }
      if (lhs.length !== rhs.length) throw new ShapeError(`checkEquivariance: the output for ${inType.label(u)} has ${lhs.length} values, expected ${rhs.length}`);
      let abs = 0;
      for (let i = 0; i < lhs.length; i++) {
        const e = Math.abs(lhs[i] - rhs[i]);
        abs = Number.isNaN(e) ? Infinity : Math.max(abs, e);
      }
      const rel = scale > 0 ? abs / scale : abs;
      return { element: u, label: inType.label(u), absError: abs, relError: rel, ok: rel <= tolerance };
    }));
    const maxAbsError = perElement.reduce((m, r) => Math.max(m, r.absError), 0);
    const maxRelError = perElement.reduce((m, r) => Math.max(m, r.relError), 0);
    const failing = perElement.filter((r) => !r.ok).map((r) => r.label);
    const ok = failing.length === 0;
    const labelled = layer as unknown as { label?: () => string };
    const name = typeof layer === 'function' ? layer.name || 'function' : (typeof labelled.label === 'function' ? labelled.label() : layer.name) || 'layer';
    const summary = ok
      ? `${name} is equivariant under ${String(G)} over ${elements.length} elements: max relative error ${maxRelError.toExponential(2)} <= ${tolerance}`
      : `${name} is NOT equivariant under ${String(G)}: ${failing.length} of ${elements.length} elements exceed ${tolerance} (${failing.join(', ')}); max relative error ${maxRelError.toExponential(2)}`;
    return { ok, tolerance, maxAbsError, maxRelError, scale, perElement, failing, summary };
  });
}
