/**
 * `sequential`: layers in a chain, with field types checked from end to end when it is built.
 *
 * `run` executes layer by layer. `compile()` returns the plan a model runs: a convolution
 * followed by batch norm has the norm folded into its expanded weights and bias, and a ReLU that
 * follows either is fused into the kernel's epilogue, so `conv -> bn -> relu` is one kernel call.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { FieldType } from '../fields/index.js';
import { Tensor, expectTensor } from '../core/tensor.js';
import { release } from '../core/cache.js';
import { LiftedField } from '../fields/lifted.js';
import { Layer, type LayerConfig, type StagedParameters } from './layer.js';
import { checkOptions, describe } from '../core/limits.js';
import { Phi } from './phi.js';
import { BatchNorm, Relu } from './pointwise.js';

export interface Step {
  /** The layers this step stands for (several when fused). */
  layers: Layer[];
  /** A tensor, a lifted field or point clouds in, the next layer's input out. */
  run(x: any): any;
  dispose(): void;
}

export class Sequential extends Layer {
  readonly type = 'sequential';
  readonly layers: readonly Layer[];
  /** Field type after each layer (when the input type is known). */
  readonly types: FieldType<unknown>[] = [];

  constructor(layers: Layer[], options: { inType?: FieldType<unknown>; name?: string } = {}) {
    checkOptions('sequential', options, { inType: ['object', true], name: ['string', true] }, true);
    super(options?.name);
    if (!Array.isArray(layers) || layers.length === 0) throw new ArgumentError(`sequential: expected a non-empty array of layers, got ${describe(layers)}`);
    layers.forEach((l, i) => {
      if (!(l instanceof Layer)) throw new ArgumentError(`sequential: element ${i} is not a layer (got ${describe(l)})`);
      l.assertLive();
    });
    if (new Set(layers).size !== layers.length) throw new ArgumentError('sequential: the same layer object appears twice');
    layers.forEach((l, i) => {
      if (!l.name) l.name = `layers.${i}`;
    });
    this.layers = [...layers];
    if (options?.inType !== undefined && !(options.inType instanceof FieldType)) throw new ArgumentError(`sequential: inType must be a field type (eq.field.*, eq.fieldType), got ${describe(options.inType)}`);
    const first = options?.inType ?? layers[0].inType;
    if (!first) {
      // Shape-generic layers first (relu, ...): the chain of declared types still holds from the
      // first layer that declares one, so mismatches are refused here, not at run.
      const j = layers.findIndex((l) => l.inType);
      if (j > 0) layers.slice(j).reduce((t: FieldType<unknown>, l) => l.outputType(t), layers[j].inType!);
    }
    if (first) {
      let t = first;
      for (const l of layers) {
        t = l.outputType(t);
        this.types.push(t);
      }
      this.inType = first;
      this.outType = t;
    }
  }

  outputType(t: FieldType<unknown>): FieldType<unknown> {
    return this.layers.reduce((acc, l) => l.outputType(acc), t);
  }

  run(x: any): any {
    this.checkInput(x);
    return runSteps(this.layers.map((l) => ({ layers: [l], run: (t: unknown) => l.run(t), dispose() {} })), x);
  }

  /** The fused execution plan (see the module comment). Dispose it when done. */
  compile(): Step[] {
    const steps: Step[] = [];
    const ls = this.layers;
    for (let i = 0; i < ls.length; i++) {
      const l = ls[i];
      if (l instanceof Phi) {  // the kernel configuration: fold batch norm, fuse ReLU
        const bn = ls[i + 1] instanceof BatchNorm ? (ls[i + 1] as BatchNorm) : undefined;
        const reluAt = i + (bn ? 2 : 1);
        const relu = ls[reluAt] instanceof Relu;
        if (bn && bn.channels !== l.omega.out) throw new ShapeError(`${bn.label()}: normalises ${bn.channels} channels, but ${l.label()} gives ${l.omega.out}`);
        const exec = l.fused(bn, relu);
        const used = [l, ...(bn ? [bn] : []), ...(relu ? [ls[reluAt]] : [])];
        steps.push({ layers: used, run: exec.run, dispose: exec.dispose });
        i += used.length - 1;
      } else if (typeof (l as { fuseWith?: unknown }).fuseWith === 'function') {  // steerable convolutions fold their norms themselves
        const f = (l as unknown as { fuseWith(rest: readonly Layer[]): { step: Step; consumed: number } }).fuseWith(ls.slice(i + 1));
        steps.push(f.step);
        i += f.consumed;
      } else if (l instanceof BatchNorm && ls[i + 1] instanceof Relu) {
        steps.push({ layers: [l, ls[i + 1]], run: (x: Tensor) => l.runWith(x, true), dispose() {} });
        i++;
      } else {
        steps.push({ layers: [l], run: (x: unknown) => l.run(x), dispose() {} });
      }
    }
    return steps;
  }

  parameterShapes(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const l of this.layers) for (const [k, s] of Object.entries(l.parameterShapes())) out[`${l.name}.${k}`] = s;
    return out;
  }

  parameters(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const l of this.layers) for (const [k, t] of Object.entries(l.parameters())) out[`${l.name}.${k}`] = t;
    return out;
  }

  /**
   * Sets parameters by `layerName.param`, all or nothing across the layers: every value is
   * checked and copied first, then the layers are updated one by one, and if one fails the
   * layers already updated get their old parameters back.
   */
  setParameters(values: Record<string, Tensor | Float32Array | ArrayLike<number>>): void {
    if (values === null || typeof values !== 'object' || Array.isArray(values)) throw new ArgumentError(`sequential.setParameters: expected an object of named parameters, got ${describe(values)}`);
    const byLayer = new Map<Layer, Record<string, Tensor | Float32Array | ArrayLike<number>>>();
    // Layer names may hold dots (`layers.3`) and so may parameter names (`attention.location.0.weight`):
    // a key belongs to the layer whose name is its longest prefix.
    const names = [...this.layers].sort((a, b) => b.name.length - a.name.length);
    for (const [key, v] of Object.entries(values)) {
      const layer = names.find((l) => key.startsWith(`${l.name}.`) && key.length > l.name.length + 1);
      if (!layer) throw new ArgumentError(`sequential: no layer for parameter '${key}' (layers: ${this.layers.map((l) => l.name).join(', ')})`);
      byLayer.set(layer, { ...(byLayer.get(layer) ?? {}), [key.slice(layer.name.length + 1)]: v });
    }
    const staged: [Layer, StagedParameters][] = [];
    try {
      for (const [layer, vals] of byLayer) staged.push([layer, layer.stageParameters(vals)]);
    } catch (e) {
      for (const [, st] of staged) for (const t of st.values()) t.dispose();
      throw e;
    }
    const applied: { rollback(): void; commit(): void }[] = [];
    let i = 0;
    try {
      for (; i < staged.length; i++) applied.push(staged[i][0].applyParameters(staged[i][1]));
    } catch (e) {
      for (const a of applied.reverse()) {
        try {
          a.rollback();
        } catch {
          // Memory ran out re-deriving old weights: the original error says why.
        }
      }
      for (let j = i + 1; j < staged.length; j++) for (const t of staged[j][1].values()) t.dispose();
      throw e;
    }
    for (const a of applied) a.commit();
  }

  config(): LayerConfig {
    return { type: this.type, layers: this.layers.map((l) => l.config()), ...(this.name ? { name: this.name } : {}) };
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
    super.dispose();
  }
}

/**
 * Runs steps in order, freeing each intermediate as soon as the next step has consumed it. A
 * cloud lifted during the run (by a `lift` layer) is used by nobody afterwards: what was cached
 * for it (neighbour lists, relative logs) is freed at the end.
 */
export function runSteps(steps: readonly Step[], x: any): any {
  if (x instanceof Tensor || x === null || typeof x !== 'object') expectTensor(x, 'run');
  const mine = new Set<object>();
  let cur = x;
  try {
    for (const s of steps) {
      let next: unknown;
      try {
        next = s.run(cur);
      } finally {
        if (cur !== x) (cur as { dispose(): void }).dispose();
      }
      if (next instanceof LiftedField && !(x instanceof LiftedField && next.lifted === x.lifted)) mine.add(next.lifted);
      cur = next;
    }
  } finally {
    for (const l of mine) release(l);
  }
  return cur;
}
