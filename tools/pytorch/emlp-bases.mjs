#!/usr/bin/env node
// Exports what PyTorch needs to train an equivariant MLP with this library's bases:
//
//   node tools/pytorch/emlp-bases.mjs <config.json> <out-prefix>
//
// reads a model config (docs/model-format.md; layers equivariantLinear, tensorSquare, gated) and
// writes <out-prefix>.json, the layers in order with their sizes and the gated layers' blocks,
// and <out-prefix>.safetensors, each equivariantLinear layer's basis as a sparse list:
// `<layer>.basis.index` (I32: o * d_in + i), `<layer>.basis.element` (I32: the coefficient),
// `<layer>.basis.value` (F64), and the same for its bias (`<layer>.bias_basis.*`, index o). The
// dense weight is W[index] = sum of value * weight[element] (tools/pytorch/emlp.py).
import { readFileSync, writeFileSync } from 'node:fs';
import * as eq from '../../dist/index.js';

const [configPath, prefix] = process.argv.slice(2);
if (!configPath || !prefix) {
  console.error('usage: node tools/pytorch/emlp-bases.mjs <config.json> <out-prefix>');
  process.exit(2);
}

/** safetensors with F64, F32 and I32 tensors (the library's encoder writes F32 only). */
function writeSafetensors(path, tensors) {
  const header = {};
  const blobs = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    const { dtype, shape, data } = tensors[name];
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    blobs.push(bytes);
    offset += bytes.length;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - ((8 + text.length) % 8)) % 8);
  const head = new Uint8Array(8);
  new DataView(head.buffer).setBigUint64(0, BigInt(text.length), true);
  const out = new Uint8Array(8 + text.length + offset);
  out.set(head, 0);
  out.set(new TextEncoder().encode(text), 8);
  let at = 8 + text.length;
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  writeFileSync(path, out);
}

await eq.init();
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const G = eq.groups.byName(config.group);
const plan = { group: config.group, input: eq.space.rep(G, config.input.rep).dim, layers: [] };
const tensors = {};
const sparse = (key, e) => {
  tensors[`${key}.index`] = { dtype: 'I32', shape: [e.index.length], data: e.index };
  tensors[`${key}.element`] = { dtype: 'I32', shape: [e.element.length], data: e.element };
  tensors[`${key}.value`] = { dtype: 'F64', shape: [e.value.length], data: e.value };
};
const t0 = performance.now();
config.layers.forEach((l, i) => {
  const name = l.name ?? `layers.${i}`;
  if (l.type === 'equivariantLinear') {
    const layer = eq.nn.equivariantLinear({ group: G, in: l.in, out: l.out, bias: l.bias ?? true, name });
    sparse(`${name}.basis`, layer.space.entries());
    if (layer.biasSpace) sparse(`${name}.bias_basis`, layer.biasSpace.entries());
    plan.layers.push({ name, type: l.type, in: layer.repIn.dim, out: layer.repOut.dim, weight: layer.space.dimension, bias: layer.biasSpace?.dimension ?? 0 });
    layer.dispose();
  } else if (l.type === 'gated') {
    const rep = eq.space.rep(G, l.rep);
    const g = eq.nn.gatedInput(G, rep);
    plan.layers.push({ name, type: l.type, in: rep.dim + g.gates, out: rep.dim, blocks: g.blocks.map((b) => ({ start: b.start, len: b.len, gate: b.gate ?? null })) });
  } else if (l.type === 'tensorSquare') {
    const d = eq.space.rep(G, l.rep).dim;
    plan.layers.push({ name, type: l.type, in: d, out: d + d * d });
  } else throw new Error(`emlp-bases: layer type ${l.type} is not part of an equivariant MLP`);
});
writeFileSync(`${prefix}.json`, JSON.stringify(plan, null, 1));
writeSafetensors(`${prefix}.safetensors`, tensors);
console.log(`emlp-bases: ${plan.layers.length} layers, ${plan.layers.reduce((s, l) => s + (l.weight ?? 0) + (l.bias ?? 0), 0)} coefficients, bases solved in ${(performance.now() - t0).toFixed(0)} ms -> ${prefix}.{json,safetensors}`);
