/**
 * The facade of the Phi engine (crate/src/engine.rs): a call is described as a plan of u32
 * words (the layout below, checked word by word on the Rust side) and run in one kernel call for
 * a whole batch. Every `omega` lowers to one of three modes:
 *
 * - `basis`: `out(g) = W vec(N(sum_j psi_j (x) f(g'_j))) + b`, `psi_j` the one-hot relative index
 *   (a kernel table: the group convolution) or an MLP's output (LieConv);
 * - `matrix`: `out(g) = N(sum_j Psi_j f(g'_j)) + b`, `Psi_j` an MLP's `out x in` output;
 * - `heads`: attention, `out_h(g) = sum_j N_j(content + location) V_h(g'_j)`.
 */
import { ArgumentError } from '../core/errors.js';
import { U32Buffer } from '../core/buffers.js';
import { Tensor, empty, expectTensor } from '../core/tensor.js';
import { call } from '../core/wasm.js';
import type { Neighbourhood } from '../domains/neighbourhood.js';

/** Activation codes of the engine. */
export const Act = { None: 0, Relu: 1, Silu: 2 } as const;
export type Act = (typeof Act)[keyof typeof Act];
/** Normaliser codes of the engine. */
export const Norm = { None: 0, Mean: 1, Softmax: 2, NormExp: 3 } as const;
export type Norm = (typeof Norm)[keyof typeof Norm];

export type Activation = 'none' | 'relu' | 'silu';
export type Normaliser = 'none' | 'mean' | 'softmax' | 'dot_product' | 'norm_exp';

export const actCode = (a: Activation): Act => (a === 'relu' ? Act.Relu : a === 'silu' ? Act.Silu : Act.None);
/** LieTransformer's `dot_product` divides the logits by the neighbour count: the mean. */
export const normCode = (n: Normaliser): Norm => (n === 'mean' || n === 'dot_product' ? Norm.Mean : n === 'softmax' ? Norm.Softmax : n === 'norm_exp' ? Norm.NormExp : Norm.None);

export function activation(v: unknown, where: string): Activation {
  if (v !== 'none' && v !== 'relu' && v !== 'silu' && v !== 'swish') throw new ArgumentError(`${where} must be 'silu' (also 'swish'), 'relu' or 'none', got ${String(v)}`);
  return v === 'swish' ? 'silu' : v;
}

export function normaliser(v: unknown, where: string, allowed: readonly Normaliser[]): Normaliser {
  if (!allowed.includes(v as Normaliser)) throw new ArgumentError(`${where} must be ${allowed.map((a) => `'${a}'`).join(', ')}, got ${String(v)}`);
  return v as Normaliser;
}

/** Strides in floats of `[batch, element, channel]`. */
export interface Strides {
  batch: number;
  elem: number;
  chan: number;
}

/** Anything in wasm memory the engine reads (a tensor, a packed matrix). */
export interface Operand {
  readonly ptr: number;
}

export interface EngineLayer {
  inp: number;
  out: number;
  groups: number;
  act: Act;
  /** The groups' `[in/groups, out/groups]` matrices, packed one after another (`packGroups`). */
  weights: Operand;
  bias?: Operand;
}

export interface EngineMlp {
  layers: EngineLayer[];
  /** Which parts make the input: `[rel, f(g), f(g')]`. */
  usesRel: boolean;
  usesTarget: boolean;
  usesSource: boolean;
}

export type EngineMode =
  | { kind: 'basis'; mlp?: EngineMlp; m: number; weights: Operand; bias?: Operand; act: Act; norm: Norm }
  | { kind: 'matrix'; mlp: EngineMlp; bias?: Operand; act: Act; norm: Norm }
  | {
    kind: 'heads'; heads: number; dv: number; values: Operand;
    content?: { dk: number; q: Operand; k: Operand; scale: number };
    location: { kind: 'none' } | { kind: 'table'; table: Operand } | { kind: 'mlp'; mlp: EngineMlp };
    /** Content and location summed (default) or multiplied. */
    combine?: 'sum' | 'product';
    norm: Norm;
  };

export interface EngineCall {
  batch: number;
  mIn: number;
  cIn: number;
  cOut: number;
  x: Tensor;
  xs: Strides;
  out: Tensor;
  os: Strides;
  nbhd: Neighbourhood;
  mode: EngineMode;
}

const VERSION = 0x50484931;
const HEADER = 40;
const LAYER = 6;

const f32bits = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0];

/** Runs the engine; `op` names the layer in errors. */
export function runEngine(c: EngineCall, op: string): void {
  const mlp = c.mode.kind === 'heads' ? (c.mode.location.kind === 'mlp' ? c.mode.location.mlp : undefined) : c.mode.mlp;
  const layers = mlp?.layers ?? [];
  const w = new Uint32Array(HEADER + layers.length * LAYER);
  const n = c.nbhd;
  w[0] = VERSION;
  w[1] = c.mode.kind === 'basis' ? 0 : c.mode.kind === 'matrix' ? 1 : 2;
  w[2] = c.batch; w[3] = n.mOut; w[4] = c.mIn; w[5] = c.cIn; w[6] = c.cOut;
  w[7] = c.x.ptr; w[8] = c.xs.batch; w[9] = c.xs.elem; w[10] = c.xs.chan;
  w[11] = c.out.ptr; w[12] = c.os.batch; w[13] = c.os.elem; w[14] = c.os.chan;
  w[15] = n.offsets.ptr; w[16] = n.indices.ptr; w[17] = n.nnz;
  if (n.index) { w[18] = n.index.buffer.ptr; w[19] = n.index.size; }
  if (n.coords) { w[20] = n.coords.buffer.ptr; w[21] = n.coords.width; }
  const m = c.mode;
  if (m.kind !== 'heads') {
    w[22] = m.norm;
    w[23] = m.bias?.ptr ?? 0;
    w[24] = m.act;
  } else {
    w[22] = m.norm;
  }
  w[25] = layers.length;
  w[26] = mlp ? (mlp.usesRel ? 1 : 0) | (mlp.usesTarget ? 2 : 0) | (mlp.usesSource ? 4 : 0) : 0;
  if (m.kind === 'basis') { w[27] = m.m; w[28] = m.weights.ptr; }
  if (m.kind === 'heads') {
    w[29] = m.heads; w[30] = m.dv; w[31] = m.values.ptr;
    if (m.content) { w[32] = m.content.dk; w[33] = m.content.q.ptr; w[34] = m.content.k.ptr; w[35] = f32bits(m.content.scale); }
    w[36] = m.location.kind === 'none' ? 0 : m.location.kind === 'table' ? 1 : 2;
    if (m.location.kind === 'table') w[37] = m.location.table.ptr;
    w[38] = m.combine === 'product' ? 1 : 0;
  }
  layers.forEach((l, i) => {
    const at = HEADER + i * LAYER;
    w[at] = l.inp; w[at + 1] = l.out; w[at + 2] = l.groups; w[at + 3] = l.act; w[at + 4] = l.weights.ptr; w[at + 5] = l.bias?.ptr ?? 0;
  });
  const plan = new U32Buffer(w);
  try {
    call(op, (k) => k.phi_engine(plan.ptr, w.length));
  } finally {
    plan.dispose();
  }
}

/**
 * `groups` matrices `[k, n]` (row-major, one after another in `w`) packed for the engine's
 * products, in one tensor: what a (block-diagonal) MLP layer keeps.
 */
export function packGroups(w: Float32Array, k: number, n: number, groups: number, keepIt: (t: Tensor) => Tensor = (t) => t): Tensor {
  if (w.length !== k * n * groups) throw new ArgumentError(`packGroups: ${w.length} values are not ${groups} matrices of ${k} x ${n}`);
  const src = new Tensor([w.length], false);
  src.view().set(w);
  try {
    const panels = Math.ceil(n / 8) * 8 * k;
    const out = keepIt(empty([panels * groups]));
    try {
      call('packGroups', (kn) => kn.pack_groups(src.ptr, k, n, groups, out.ptr));
    } catch (e) {
      out.dispose();
      throw e;
    }
    return out;
  } finally {
    src.dispose();
  }
}

/** Checks that `t` is a live tensor of `size` values (an engine operand). */
export function operand(t: Tensor, size: number, what: string): Tensor {
  expectTensor(t, what);
  if (t.size < size) throw new ArgumentError(`${what}: holds ${t.size} values, needs ${size}`);
  return t;
}
