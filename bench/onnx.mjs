// A minimal ONNX writer (protobuf by hand) for the plain conv nets the benchmark gives
// onnxruntime-web. Only what those nets need: Conv, Relu, MaxPool, Reshape, ReduceMax.
const enc = new TextEncoder();

function varint(n) {
  const out = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
const concat = (parts) => {
  const len = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const key = (field, wire) => varint((field << 3) | wire);
const int = (field, v) => Uint8Array.from([...key(field, 0), ...varint(v)]);
const bytes = (field, b) => concat([Uint8Array.from([...key(field, 2), ...varint(b.length)]), b]);
const str = (field, s) => bytes(field, enc.encode(s));
const msg = (field, parts) => bytes(field, concat(parts));

function tensorProto(name, dims, data, type = 1) {
  const raw = type === 1 ? new Uint8Array(Float32Array.from(data).buffer) : new Uint8Array(BigInt64Array.from(data.map(BigInt)).buffer);
  return [...dims.map((d) => int(1, d)), int(2, type), str(8, name), bytes(9, raw)];
}
const attrInts = (name, vals) => msg(5, [str(1, name), int(20, 7), ...vals.map((v) => int(8, v))]);
const attrInt = (name, v) => msg(5, [str(1, name), int(20, 2), int(3, v)]);
const node = (op, inputs, outputs, attrs = []) => msg(1, [...inputs.map((i) => str(1, i)), ...outputs.map((o) => str(2, o)), str(3, `${op}_${outputs[0]}`), str(4, op), ...attrs]);
const valueInfo = (field, name, dims) => msg(field, [str(1, name), msg(2, [msg(1, [int(1, 1), msg(2, dims.map((d) => msg(1, typeof d === 'string' ? [str(2, d)] : [int(1, d)])))])])]);

/** The protobuf pieces, for other graphs (bench/steerable-peers.mjs). */
export const onnx = { concat, int, str, msg, tensorProto, attrInts, attrInt, node, valueInfo };

/** An ONNX model for the plain ops (plain.mjs) on input `[N, cin, h, w]` (N symbolic). */
export function onnxModel(ops, cin, h, w) {
  const nodes = [], inits = [];
  let cur = 'input', c = cin, i = 0, hh = h, ww = w;
  for (const o of ops) {
    const out = `t${i++}`;
    if (o.op === 'conv') {
      inits.push(msg(5, tensorProto(`w${i}`, o.shape, o.weight)), msg(5, tensorProto(`b${i}`, [o.shape[0]], o.bias)));
      nodes.push(node('Conv', [cur, `w${i}`, `b${i}`], [out], [attrInts('kernel_shape', o.shape.slice(2)), attrInts('pads', [o.pad[0], o.pad[0], o.pad[1], o.pad[1]]), attrInts('strides', [o.stride, o.stride])]));
      c = o.shape[0];
      hh = Math.floor((hh + o.pad[0] + o.pad[1] - o.shape[2]) / o.stride) + 1;
      ww = Math.floor((ww + o.pad[0] + o.pad[1] - o.shape[3]) / o.stride) + 1;
      cur = out;
      if (o.relu) { nodes.push(node('Relu', [cur], [`${out}r`])); cur = `${out}r`; }
    } else if (o.op === 'relu') { nodes.push(node('Relu', [cur], [out])); cur = out; }
    else if (o.op === 'maxpool') { hh = Math.floor((hh - o.size) / o.stride) + 1; ww = Math.floor((ww - o.size) / o.stride) + 1; nodes.push(node('MaxPool', [cur], [out], [attrInts('kernel_shape', [o.size, o.size]), attrInts('strides', [o.stride, o.stride])])); cur = out; }
    else if (o.op === 'groupmax') {
      const g = ops.findLast((p, j) => p.op === 'conv' && j < ops.indexOf(o)).groupAxis;
      inits.push(msg(5, tensorProto(`shape${i}`, [5], [0, c / g, g, hh, ww], 7)));
      nodes.push(node('Reshape', [cur, `shape${i}`], [`${out}s`]));
      nodes.push(node('ReduceMax', [`${out}s`], [out], [attrInts('axes', [2]), attrInt('keepdims', 0)]));
      c /= g;
      cur = out;
    } else if (o.op === 'globalmax') {
      nodes.push(node('ReduceMax', [cur], [out], [attrInts('axes', [2, 3]), attrInt('keepdims', 0)]));
      cur = out;
    } else throw new Error(`onnxModel: ${o.op}`);
  }
  const graph = [...nodes, str(2, 'plain'), ...inits, valueInfo(11, 'input', ['N', cin, h, w])];
  graph.push(msg(12, [str(1, cur), msg(2, [msg(1, [int(1, 1)])])]));
  return concat([int(1, 8), str(2, 'equivariant-bench'), msg(7, graph), msg(8, [str(1, ''), int(2, 13)])]);
}

// ----------------------------------------------------------------------------- any graph

const fixed32 = (field, v) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v, true);
  return concat([Uint8Array.from(key(field, 5)), b]);
};
/** Attributes: `{ perm: [0, 2, 1] }` (ints), `{ axis: -1 }` (int), `{ epsilon: f(1e-5) }` (float). */
export const f = (v) => ({ float: v });
function attrs(a = {}) {
  return Object.entries(a).map(([name, v]) => {
    if (Array.isArray(v)) return attrInts(name, v);
    if (typeof v === 'object') return msg(5, [str(1, name), int(20, 1), fixed32(2, v.float)]);
    return attrInt(name, v);
  });
}

/**
 * A whole graph: `nodes` as `[op, inputs, outputs, attributes?]`, `initializers` as
 * `{ name: { dims, data, type? } }` (type 1 float, 7 int64), float inputs `[{ name, dims }]`
 * (a string dim is symbolic) and the output names.
 */
export function onnxGraph({ nodes, initializers = {}, inputs, outputs, opset = 17 }) {
  const ns = nodes.map(([op, ins, outs, a], i) => msg(1, [...ins.map((x) => str(1, x)), ...outs.map((o) => str(2, o)), str(3, `${op}_${i}`), str(4, op), ...attrs(a)]));
  const inits = Object.entries(initializers).map(([name, t]) => msg(5, tensorProto(name, t.dims, Array.from(t.data), t.type ?? 1)));
  const graph = [...ns, str(2, 'bench'), ...inits, ...inputs.map((x) => valueInfo(11, x.name, x.dims)), ...outputs.map((o) => msg(12, [str(1, o), msg(2, [msg(1, [int(1, 1)])])]))];
  return concat([int(1, 8), str(2, 'equivariant-bench'), msg(7, graph), msg(8, [str(1, ''), int(2, opset)])]);
}
