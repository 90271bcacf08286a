/**
 * How an R2Conv's weights are laid out (escnn's and e2cnn's `BlocksBasisExpansion`): one block
 * basis per pair of representation names `(in, out)` that occur in the field types, the pairs in
 * Python's string order, and for each pair the weights viewed as `[out field][in field][element]`
 * (fields of that type, in channel order). The filter `[C_out, C_in, k, k]` has, for out field `a`
 * and in field `b`, the block `sum over d of w[a, b, d] B_d` at their channels. The bias has one
 * value per trivial irrep of the output fields, spread by that irrep's column of the field's
 * change of basis.
 */
import { ArgumentError } from '../core/errors.js';
import type { R2FieldType } from './field.js';
import { blockBasis, type BasisParams, type BlockBasis } from './kernels.js';

export interface Block {
  inName: string;
  outName: string;
  basis: BlockBasis;
  /** Channel offsets of the in and out fields of this pair's types, in channel order. */
  inFields: number[];
  outFields: number[];
  /** Where this block's weights start. */
  offset: number;
}

export interface Layout {
  blocks: Block[];
  /** Number of weights (basis coefficients). */
  dim: number;
  /** Number of bias values. */
  biasDim: number;
  /** `[C_out, biasDim]` row-major: expanded bias = biasExpansion . bias. */
  biasExpansion: Float64Array;
  /** Numbers of output and input fields. */
  outFields: number;
  inFields: number;
}

/** The most work (multiply-adds, estimated) one block's basis may take to build: a few seconds. */
export const MAX_BASIS_WORK = 3e9;

const pyLess = (a: [string, string], b: [string, string]) => (a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);

export function layout(inType: R2FieldType, outType: R2FieldType, p: BasisParams): Layout {
  const firstOf = (t: R2FieldType) => {
    const m = new Map<string, { rep: R2FieldType['representations'][number]; fields: number[] }>();
    t.representations.forEach((r, i) => {
      const e = m.get(r.name);
      if (e) e.fields.push(t.offsets[i]);
      else m.set(r.name, { rep: r, fields: [t.offsets[i]] });
    });
    return m;
  };
  const ins = firstOf(inType), outs = firstOf(outType);
  const pairs: [string, string][] = [];
  for (const a of ins.keys()) for (const b of outs.keys()) pairs.push([a, b]);
  pairs.sort(pyLess);
  // Building a block's basis costs about (candidate elements) x (out x in x k^2) x (irrep sizes):
  // refuse what would take more than a few seconds before starting (hostile configs included).
  const P = p.kernel * p.kernel;
  for (const [a, b] of pairs) {
    const ri = ins.get(a)!.rep, ro = outs.get(b)!.rep;
    const work = (p.L + 1) * ri.irreps.length * ro.irreps.length * 4 * p.rings.length * ri.size * ro.size * 4 * P;
    if (work > MAX_BASIS_WORK) throw new ArgumentError(`kernel basis: ${a} -> ${b} (sizes ${ri.size} and ${ro.size}) with a ${p.kernel}x${p.kernel} kernel and band limit ${p.L} would take about ${(work / 1e9).toFixed(1)} G operations to build, over the limit of ${MAX_BASIS_WORK / 1e9} G; use smaller representations or kernels`);
  }
  const blocks: Block[] = [];
  let offset = 0;
  for (const [a, b] of pairs) {
    const i = ins.get(a)!, o = outs.get(b)!;
    const basis = blockBasis(i.rep, o.rep, p);
    if (basis.dim === 0) continue;
    blocks.push({ inName: a, outName: b, basis, inFields: i.fields, outFields: o.fields, offset });
    offset += basis.dim * i.fields.length * o.fields.length;
  }
  // Bias: trivial irreps of the output fields, in field order then irrep order.
  const cols: { field: number; pos: number }[] = [];
  outType.representations.forEach((r, f) => {
    for (const pos of r.trivialPositions()) cols.push({ field: f, pos });
  });
  const C = outType.size, T = cols.length;
  const biasExpansion = new Float64Array(C * T);
  cols.forEach(({ field, pos }, t) => {
    const r = outType.representations[field], off = outType.offsets[field];
    for (let i = 0; i < r.size; i++) biasExpansion[(off + i) * T + t] = r.changeOfBasis[i * r.size + pos];
  });
  return { blocks, dim: offset, biasDim: T, biasExpansion, outFields: outType.length, inFields: inType.length };
}

/** The filter `[C_out, C_in * k * k]` for weights `w`, in plain loops (the reference). */
export function expandReference(l: Layout, cin: number, cout: number, kk: number, w: ArrayLike<number>, fieldScale?: (outOffset: number) => number): Float32Array {
  const F = new Float64Array(cout * cin * kk);
  for (const blk of l.blocks) {
    const B = blk.basis, D = B.dim, size = B.out * B.in * B.points;
    blk.outFields.forEach((oOff, a) => blk.inFields.forEach((iOff, b) => {
      const base = blk.offset + (a * blk.inFields.length + b) * D;
      const s = fieldScale ? fieldScale(oOff) : 1;
      for (let d = 0; d < D; d++) {
        const wd = w[base + d] * s;
        if (wd === 0) continue;
        for (let o = 0; o < B.out; o++) for (let i = 0; i < B.in; i++) {
          const src = d * size + (o * B.in + i) * kk;
          const dst = ((oOff + o) * cin + iOff + i) * kk;
          for (let q = 0; q < kk; q++) F[dst + q] += wd * B.data[src + q];
        }
      }
    }));
  }
  return Float32Array.from(F);
}

/** The expanded bias `[C_out]`. */
export function expandBias(l: Layout, cout: number, bias: ArrayLike<number>): Float32Array {
  const out = new Float32Array(cout);
  for (let c = 0; c < cout; c++) {
    let s = 0;
    for (let t = 0; t < l.biasDim; t++) s += l.biasExpansion[c * l.biasDim + t] * bias[t];
    out[c] = s;
  }
  return out;
}
