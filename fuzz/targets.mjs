// Seeded fuzzers for the inputs a web page may hand the library from anywhere: safetensors bytes,
// model configs, the options of every public constructor, and createPool / pool.run. Each case
// must end, within its time limit, either normally or with one of the library's typed errors
// (EquivariantError and its subclasses); anything else (a TypeError, a RangeError, a hang) is a
// finding. Used by test/fuzz.test.ts (1,000 cases per target) and fuzz/run.mjs (npm run fuzz).
import { readFileSync } from 'node:fs';

const fx = new URL('../test/fixtures/', import.meta.url).pathname;

/** mulberry32: a small seeded generator, so every case can be replayed from (seed, index). */
export function rng(seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)], chance: (p) => next() < p };
}

/** Values a careless or hostile caller may pass where a number, string or object belongs. */
function hostile(r, depth = 0) {
  const simple = [
    undefined, null, true, false, 0, -0, 1, 2, 3, 4, -1, 0.5, 1.5, NaN, Infinity, -Infinity, 1e9, 1e308, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53),
    Number.MAX_SAFE_INTEGER + 2, '', '1', '2e-05', 'false', 'max', 'mean', 'same', 'valid', 'auto', 'direct', 'p4', 'C4', 'D4', 'S3', 'z2', 'x'.repeat(10_000),
    10n, Symbol('s'), () => 1, [], [1], [1, 2], {}, { valueOf: () => 3 }, new Float32Array(3), new BigInt64Array(2), new Date(0), /re/,
  ];
  if (depth < 2 && r.chance(0.1)) return Array.from({ length: r.int(4) }, () => hostile(r, depth + 1));
  if (depth < 2 && r.chance(0.1)) return Object.fromEntries(Array.from({ length: r.int(4) }, (_, i) => [`k${i}`, hostile(r, depth + 1)]));
  return r.pick(simple);
}

/** Nested arrays `depth` deep, as text (JSON parsers and message builders choke on these). */
const nestedText = (depth) => '['.repeat(depth) + ']'.repeat(depth);

/** JSON text of a value that may hold BigInt, symbols or functions (written as strings). */
const json = (v) => JSON.stringify(v, (k, x) => (typeof x === 'bigint' || typeof x === 'symbol' || typeof x === 'function' ? String(x) : x));

function withHeader(bytes, edit) {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const text = new TextEncoder().encode(edit(header) ?? json(header));
  const out = new Uint8Array(8 + text.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(bytes.subarray(8 + n), 8 + text.length);
  return out;
}

/** One mutated safetensors file from a good one. */
function mutateSafetensors(r, good) {
  const kind = r.int(10);
  switch (kind) {
    case 0: { // random bytes
      const b = new Uint8Array(r.int(2048));
      for (let i = 0; i < b.length; i++) b[i] = r.int(256);
      return b;
    }
    case 1: // truncation
      return good.slice(0, r.int(good.length));
    case 2: { // bit flips
      const b = good.slice();
      for (let i = 0, n = 1 + r.int(8); i < n; i++) b[r.int(b.length)] ^= 1 << r.int(8);
      return b;
    }
    case 3: { // the header length lies
      const b = good.slice();
      const v = r.pick([0n, 1n, 7n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, BigInt(good.length), BigInt(r.int(good.length))]);
      new DataView(b.buffer).setBigUint64(0, v, true);
      return b;
    }
    case 4: // a field of one tensor replaced by a hostile value
      return withHeader(good, (h) => {
        const names = Object.keys(h).filter((k) => k !== '__metadata__');
        const e = h[r.pick(names)];
        e[r.pick(['dtype', 'shape', 'data_offsets'])] = hostile(r);
        return undefined;
      });
    case 5: // deep nesting
      return withHeader(good, (h) => {
        const names = Object.keys(h).filter((k) => k !== '__metadata__');
        const text = json(h);
        const name = r.pick(names);
        const depth = r.pick([100, 1000, 10_000, 50_000]);
        return text.replace(`"${name}":{`, `"${name}":{"x":${nestedText(depth)},`).replace(/"shape":\[[^\]]*\]/, `"shape":${nestedText(depth)}`);
      });
    case 6: // offsets that overlap, leave holes or run past the end
      return withHeader(good, (h) => {
        const names = Object.keys(h).filter((k) => k !== '__metadata__');
        const e = h[r.pick(names)];
        const [a, b] = e.data_offsets;
        e.data_offsets = r.pick([[a, b + 4], [a + 4, b], [b, a], [0, b - a], [a, 2 ** 53], [-4, b], [a + 0.5, b]]);
        return undefined;
      });
    case 7: // shapes that lie about the data
      return withHeader(good, (h) => {
        const names = Object.keys(h).filter((k) => k !== '__metadata__');
        const e = h[r.pick(names)];
        e.shape = r.pick([[], [0], [2 ** 31, 2 ** 31], [1e9], [-1], [1.5], e.shape.slice().reverse(), [...e.shape, 1], [2 ** 53, 2]]);
        return undefined;
      });
    case 8: // dtypes, metadata and names
      return withHeader(good, (h) => {
        if (r.chance(0.5)) h.__metadata__ = r.pick([{ a: 1 }, 'x', null, { a: 'b' }, []]);
        const names = Object.keys(h).filter((k) => k !== '__metadata__');
        h[r.pick(names)].dtype = r.pick(['F16', 'BF16', 'F64', 'I32', 'U8', 'f32', '', 'F32 ']);
        if (r.chance(0.3)) h['__proto__'] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] };
        return undefined;
      });
    default: { // a valid file with different tensors (random sizes)
      const n = 1 + r.int(4);
      const named = {};
      for (let i = 0; i < n; i++) {
        const shape = Array.from({ length: r.int(3) }, () => r.int(5));
        const size = shape.reduce((x, y) => x * y, 1);
        named[r.pick(['conv1.weight', 'bn1.bias', 'x', `t${i}`])] = { shape, data: new Float32Array(size).map(() => r.next() * 2 - 1) };
      }
      return { named };
    }
  }
}

const BASE_CONFIGS = ['gconv_D4', 'gconv_p4_same', 'batch_norm', 'flatten_linear', 'attention_D4', 'lifting_p4_same', 'gconv_C5', 'max_pool', 'z2cnn', 'escnn/models/escnn_c8_k5', 'escnn/models/escnn_so2_k5_k7'];

/** One mutated model config (an object, JSON text, or bytes) from a good one. */
function mutateConfig(r, base) {
  const c = structuredClone(base);
  const n = r.int(3);
  for (let i = 0; i < n; i++) {
    const kind = r.int(8);
    const layers = Array.isArray(c.layers) && c.layers.length ? c.layers : (c.layers = [{ type: 'relu' }]);
    const picked = layers[r.int(layers.length)];
    const layer = picked !== null && typeof picked === 'object' && !Array.isArray(picked) ? picked : (layers[0] = { type: 'relu' });
    switch (kind) {
      case 0: { // a layer field takes a hostile value
        const key = r.pick([...Object.keys(layer), 'in', 'out', 'kernel', 'stride', 'padding', 'bias', 'eps', 'channels', 'size', 'reduce', 'heads', 'dim', 'content', 'group', 'name', 'type', 'omega', 'extra']);
        layer[key] = hostile(r);
        break;
      }
      case 1: // a top-level field takes a hostile value
        c[r.pick(['format', 'version', 'name', 'group', 'input', 'layers'])] = hostile(r);
        break;
      case 2: // the input spec
        if (c.input && typeof c.input === 'object') c.input[r.pick(['field', 'channels', 'size', 'extra', 'reps'])] = hostile(r);
        break;
      case 3: // absurd sizes
        layer[r.pick(['in', 'out', 'kernel', 'channels', 'stride', 'heads', 'dim'])] = r.pick([1e9, 1e4, 65_536, 2 ** 31, 1e308, 4096, 0]);
        break;
      case 4: // layers removed, duplicated, reordered
        if (r.chance(0.5)) layers.splice(r.int(layers.length), 1);
        else layers.splice(r.int(layers.length + 1), 0, { ...layer });
        break;
      case 5: // another group
        c.group = r.pick(['p4', 'p4m', 'z2', 'C4', 'D4', 'S3', 'C5040', 'D2520', 'S7', 'C0', 'Q8', 'rot2dOnR2(8)', 'flipRot2dOnR2(1024)', 'rot2dOnR2(-1, 1024)', 'rot2dOnR2(0)']);
        break;
      case 6: // deep nesting
        layer.extra = JSON.parse(nestedText(r.pick([10, 100, 1000])));
        break;
      default: // a phi layer with a hostile omega
        layers[r.int(layers.length)] = { type: 'phi', omega: { kind: r.pick(['kernel', 'attention', 'x']), in: hostile(r), out: hostile(r), size: hostile(r), heads: hostile(r), lift: hostile(r) } };
    }
  }
  const form = r.int(4);
  if (form === 0) return json(c);
  if (form === 1) return new TextEncoder().encode(json(c));
  return c;
}

/** The public constructors and functions whose options a page may pass from anywhere. */
function constructors(eq) {
  const p4 = eq.groups.p4();
  const c4 = eq.gspaces.rot2dOnR2(4);
  const reg = eq.fieldType(c4, [c4.regularRepr, c4.regularRepr]);
  return [
    ['nn.linear', (o) => eq.nn.linear(o)],
    ['nn.batchNorm', (o) => eq.nn.batchNorm(o)],
    ['nn.relu', (o) => eq.nn.relu(o)],
    ['nn.flatten', (o) => eq.nn.flatten(o)],
    ['nn.maxPool2d', (o) => eq.nn.maxPool2d(o)],
    ['nn.avgPool2d', (o) => eq.nn.avgPool2d(o)],
    ['nn.groupPool', (o) => eq.nn.groupPool(o)],
    ['nn.globalPool', (o) => eq.nn.globalPool(o)],
    ['nn.groupConv', (o) => eq.nn.groupConv(o)],
    ['nn.liftingConv', (o) => eq.nn.liftingConv(o)],
    ['nn.groupAttention', (o) => eq.nn.groupAttention(o)],
    ['nn.phi', (o) => eq.nn.phi(o)],
    ['nn.sequential', (o, r) => eq.nn.sequential(r.chance(0.5) ? [eq.nn.relu()] : o, o)],
    ['nn.equivariantLinear', (o, r) => eq.nn.equivariantLinear(r.chance(0.3) ? { ...o, in: r.pick(['perm', '2*perm + 1', 'perm^2', '(', 'perm^99', 'regular']), out: r.pick(['perm', '1', 'sign', 3]) } : o)],
    ['nn.gated', (o, r) => eq.nn.gated(r.chance(0.3) ? { ...o, rep: r.pick(['2*perm + 1', 'standard', '', 'perm +']) } : o)],
    ['nn.tensorSquare', (o, r) => eq.nn.tensorSquare(r.chance(0.3) ? { ...o, rep: r.pick(['perm', 'regular^3', 'x']) } : o)],
    ['space.rep', (o, r) => eq.space.rep(r.chance(0.8) ? eq.groups.symmetric(3) : o, r.chance(0.5) ? r.pick(['perm^2 + 1', '2*(perm', 'perm^40', '(((', 'irrep:1', 'perm^2^2', ')']) : o)],
    ['space.hom', (o, r) => {
      const G = eq.groups.symmetric(3), p = eq.space.rep(G, 'perm');
      return eq.space.hom(r.chance(0.5) ? G : o, r.chance(0.5) ? p : o, r.chance(0.7) ? p : o, r.chance(0.5) ? undefined : o);
    }],
    ['omega.kernel', (o) => eq.omega.kernel(o)],
    ['gspaces.rot2dOnR2', (o, r) => eq.gspaces.rot2dOnR2(o, r.chance(0.5) ? undefined : o)],
    ['gspaces.flipRot2dOnR2', (o, r) => eq.gspaces.flipRot2dOnR2(o, r.chance(0.5) ? undefined : o)],
    ['fieldType', (o, r) => eq.fieldType(r.chance(0.5) ? c4 : o, r.chance(0.5) ? [c4.regularRepr, c4.irrep(1)] : o)],
    ['nn.r2conv', (o, r) => eq.nn.r2conv(r.chance(0.6) ? { kernel: 3, ...o, in: r.chance(0.8) ? reg : o.in, out: r.chance(0.8) ? reg : o.out } : o)],
    ['nn.normNonlinearity', (o, r) => eq.nn.normNonlinearity(r.chance(0.5) ? { ...o, in: reg } : o)],
    ['nn.gatedNonlinearity', (o, r) => eq.nn.gatedNonlinearity(r.chance(0.5) ? { ...o, in: eq.fieldType(c4, [c4.trivialRepr, c4.irrep(1)]) } : o)],
    ['nn.maxPoolAntialiased', (o) => eq.nn.maxPoolAntialiased(o)],
    ['nn.mask', (o) => eq.nn.mask(o)],
    ['omega.attention', (o) => eq.omega.attention(o)],
    ['groups.cyclic', (o) => eq.groups.cyclic(o)],
    ['groups.dihedral', (o) => eq.groups.dihedral(o)],
    ['groups.symmetric', (o) => eq.groups.symmetric(o)],
    ['groups.se2.lift', (o, r) => eq.groups.se2().lift(r.chance(0.5) ? [1, 2, 3, 4] : o, o)],
    ['groups.so3.lift', (o, r) => eq.groups.so3().lift(r.chance(0.5) ? [1, 2, 3] : o, o)],
    ['tensor', (o, r) => eq.tensor(r.chance(0.5) ? [1, 2, 3, 4] : o, r.chance(0.5) ? o : [r.pick([4, 2, 1e9, -1, 1.5])])],
    ['zeros', (o) => eq.zeros(o)],
    ['setParameters', (o) => {
      const l = eq.nn.linear({ in: 2, out: 2 });
      try {
        l.setParameters(o);
      } finally {
        l.dispose();
      }
    }],
    ['p4.act', (o, r) => {
      const x = eq.zeros([1, 1, 3, 3]);
      try {
        return p4.act(r.chance(0.5) ? p4.rotation(1) : o, r.chance(0.5) ? x : o);
      } finally {
        x.dispose();
      }
    }],
    ['setLimits', (o) => {
      const before = eq.setLimits(typeof o === 'object' && o !== null ? o : { maxDimension: o });
      eq.setLimits(before);
    }],
  ];
}

/** Options objects for a constructor: mostly plausible keys with hostile values. */
function optionsFor(r) {
  if (r.chance(0.15)) return hostile(r);
  const keys = ['in', 'out', 'kernel', 'size', 'stride', 'padding', 'bias', 'eps', 'channels', 'reduce', 'heads', 'dim', 'content', 'group', 'name', 'seed', 'omega', 'lift', 'samples', 'rng', 'algorithm', 'inType', 'dilation', 'sigma', 'rings', 'frequencies', 'frequenciesCutoff', 'basis', 'function', 'gates', 'margin'];
  const o = {};
  for (let i = 0, n = r.int(6); i < n; i++) o[r.pick(keys)] = hostile(r);
  if (r.chance(0.5)) { o.in = r.pick([1, 2, 3]); o.out = r.pick([1, 2, 4]); }
  if (r.chance(0.3)) o.group = r.pick(['p4', 'p4m', 'C4', 'D3', 'S3', 'z2']);
  if (r.chance(0.3)) o.channels = r.pick([1, 2, 3]);
  return o;
}

function isTyped(eq, e) {
  return e instanceof eq.EquivariantError;
}

function describeError(e) {
  if (e instanceof Error) return `${e.name}: ${e.message.slice(0, 300)}`;
  return String(e);
}

/** A record of one campaign. */
function report(name) {
  return { target: name, cases: 0, ok: 0, typed: {}, untyped: [], slowest: 0 };
}

function record(rep, eq, e, ms, label) {
  rep.cases++;
  rep.slowest = Math.max(rep.slowest, ms);
  if (e === undefined) rep.ok++;
  else if (isTyped(eq, e)) rep.typed[e.constructor.name] = (rep.typed[e.constructor.name] ?? 0) + 1;
  else rep.untyped.push(`${label}: ${describeError(e)}`);
}

/** Fails the case when it took longer than `limit` ms (a synchronous case cannot be interrupted). */
function checkTime(rep, ms, limit, label) {
  if (ms > limit) rep.untyped.push(`${label}: took ${ms.toFixed(0)} ms (limit ${limit} ms)`);
}

/** The known-good model and the hash of its output on a fixed input. */
export async function knownGood(eq) {
  const model = await eq.loadModel({ config: `${fx}p4cnn.json`, weights: `${fx}p4cnn.safetensors` });
  const x = eq.tensor(Float32Array.from({ length: 3 * 784 }, (_, i) => Math.sin(i * 0.37)), [3, 1, 28, 28]);
  const y = model.run(x);
  const bytes = new Uint8Array(y.toArray().buffer);
  y.dispose();
  x.dispose();
  const { createHash } = await import('node:crypto');
  return { model, hash: createHash('sha256').update(bytes).digest('hex') };
}

export async function hashOf(eq, model) {
  const x = eq.tensor(Float32Array.from({ length: 3 * 784 }, (_, i) => Math.sin(i * 0.37)), [3, 1, 28, 28]);
  const y = model.run(x);
  const bytes = new Uint8Array(y.toArray().buffer);
  y.dispose();
  x.dispose();
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(bytes).digest('hex');
}

/** The safetensors parser, and loading the known-good config with the mutated weights. */
export async function fuzzSafetensors(eq, { seed = 1, cases = 1000, limit = 2000 } = {}) {
  const rep = report('safetensors');
  const good = new Uint8Array(readFileSync(`${fx}p4cnn.safetensors`));
  const config = JSON.parse(readFileSync(`${fx}p4cnn.json`, 'utf8'));
  for (let i = 0; i < cases; i++) {
    const r = rng(seed * 1_000_003 + i);
    const m = mutateSafetensors(r, good);
    const bytes = m.named ? eq.encodeSafetensors(m.named) : m;
    const t0 = performance.now();
    let err;
    try {
      eq.parseSafetensors(bytes);
      if (r.chance(0.2)) (await eq.loadModel({ config, weights: bytes })).dispose();
    } catch (e) {
      err = e;
    }
    const ms = performance.now() - t0;
    record(rep, eq, err, ms, `safetensors case ${i} (seed ${seed})`);
    checkTime(rep, ms, limit, `safetensors case ${i}`);
  }
  return rep;
}

/** The input of config case `i` of a campaign from `seed` (to replay a finding). */
export function configCase(seed, i) {
  const bases = BASE_CONFIGS.map((n) => ({ name: n, config: JSON.parse(readFileSync(`${fx}${n}.json`, 'utf8')) }));
  const r = rng(seed * 1_000_033 + i);
  const base = r.pick(bases);
  return { base: base.name, config: mutateConfig(r, base.config) };
}

/** The model-config parser (and the model it builds). */
export async function fuzzConfig(eq, { seed = 1, cases = 1000, limit = 5000 } = {}) {
  const rep = report('model config');
  const bases = BASE_CONFIGS.map((n) => ({ config: JSON.parse(readFileSync(`${fx}${n}.json`, 'utf8')), weights: new Uint8Array(readFileSync(`${fx}${n}.safetensors`)) }));
  for (let i = 0; i < cases; i++) {
    const r = rng(seed * 1_000_033 + i);
    const base = r.pick(bases);
    const config = mutateConfig(r, base.config);
    const t0 = performance.now();
    let err;
    try {
      const m = await eq.loadModel({ config, weights: base.weights });
      m.dispose();
    } catch (e) {
      err = e;
    }
    const ms = performance.now() - t0;
    record(rep, eq, err, ms, `config case ${i} (seed ${seed})`);
    checkTime(rep, ms, limit, `config case ${i}`);
  }
  return rep;
}

/** The options of every public constructor (and a few functions that take sizes). */
export async function fuzzConstructors(eq, { seed = 1, cases = 1000, limit = 2000 } = {}) {
  const rep = report('constructor options');
  const list = constructors(eq);
  for (let i = 0; i < cases; i++) {
    const r = rng(seed * 1_000_037 + i);
    const [name, make] = list[i % list.length];
    const o = optionsFor(r);
    const t0 = performance.now();
    let err;
    try {
      const made = make(o, r);
      if (made && typeof made.dispose === 'function') made.dispose();
    } catch (e) {
      err = e;
    }
    const ms = performance.now() - t0;
    record(rep, eq, err, ms, `${name} case ${i} (seed ${seed})`);
    checkTime(rep, ms, limit, `${name} case ${i}`);
  }
  return rep;
}

/** createPool options (rarely valid: pools are expensive) and pool.run on a loaded pool. */
export async function fuzzPool(eq, { seed = 1, cases = 1000, limit = 20_000 } = {}) {
  const rep = report('createPool / pool.run');
  const within = (p, ms) => Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`hang: still pending after ${ms} ms`)), ms))]);
  const pool = await eq.createPool({ workers: 2 });
  await pool.load({ config: `${fx}gconv_D4.json`, weights: `${fx}gconv_D4.safetensors` });
  try {
    for (let i = 0; i < cases; i++) {
      const r = rng(seed * 1_000_039 + i);
      const t0 = performance.now();
      let err;
      const created = [];
      try {
        if (i % 10 === 0) {
          // createPool with hostile options; valid ones (rare) start a real pool.
          const o = r.chance(0.3) ? hostile(r) : { workers: r.pick([1, 2, 0, -1, 1.5, 257, 1e9, '2', null]), maxQueue: r.pick([undefined, 1, 0, NaN, '1']), workerUrl: r.pick([undefined, undefined, 'nope', 42, new URL('file:///nonexistent/worker.js')]) };
          const p = await within(eq.createPool(o), limit);
          created.push(p);
        } else {
          const shape = r.chance(0.7) ? [1 + r.int(5), 2, 8] : r.pick([[0, 2, 8], [1, 3, 8], [2, 2, 7], [2, 8], [], [1, 2, 8, 1]]);
          const x = r.chance(0.9) ? eq.zeros(shape) : hostile(r);
          if (x instanceof eq.Tensor && r.chance(0.05)) x.dispose();
          const ac = new AbortController();
          const options = r.chance(0.7) ? { signal: r.chance(0.5) ? ac.signal : undefined } : r.chance(0.5) ? hostile(r) : { signal: hostile(r) };
          try {
            const run = pool.run(x, options);
            if (r.chance(0.1)) ac.abort('fuzz');
            const y = await within(run, limit);
            y.dispose();
          } finally {
            if (x instanceof eq.Tensor) x.dispose();
          }
        }
      } catch (e) {
        err = e;
      } finally {
        for (const p of created) await p.close();
      }
      const ms = performance.now() - t0;
      record(rep, eq, err, ms, `pool case ${i} (seed ${seed})`);
    }
    // The pool still answers correctly after all of that.
    const x = eq.tensor(Float32Array.from({ length: 2 * 2 * 8 }, (_, i) => Math.cos(i)), [2, 2, 8]);
    const model = await eq.loadModel({ config: `${fx}gconv_D4.json`, weights: `${fx}gconv_D4.safetensors` });
    const ya = model.run(x);
    const yb = await within(pool.run(x), limit);
    const a = ya.toArray(), b = yb.toArray();
    ya.dispose();
    yb.dispose();
    if (a.length !== b.length || a.some((v, j) => Object.is(v, b[j]) === false)) rep.untyped.push('pool: output after the campaign differs from model.run');
    model.dispose();
    x.dispose();
  } finally {
    await pool.close();
  }
  return rep;
}

export const TARGETS = { safetensors: fuzzSafetensors, config: fuzzConfig, constructors: fuzzConstructors, pool: fuzzPool };
