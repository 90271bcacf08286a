/**
 * safetensors, strictly: an 8-byte little-endian header length, a JSON header mapping names to
 * `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the data that follows),
 * and the data. Everything is checked before anything is used: the header length and JSON, the
 * dtype (F32; F16, BF16 and F64 are converted), the shape, offsets that lie inside the data and
 * match the shape, no two tensors overlapping, and no byte of data left unreferenced.
 */
import { WeightsError } from '../core/errors.js';
import { describe } from '../core/limits.js';

/** A value for a message: short, and safe for any nesting depth. */
const show = (v: unknown): string => (Array.isArray(v) && v.length <= 8 && v.every((x) => typeof x === 'number') ? `[${v.join(', ')}]` : describe(v));

export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

const SIZES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
const MAX_HEADER = 100 * 1024 * 1024;

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Parses safetensors bytes into named f32 arrays (and the `__metadata__`, if any). */
export function parseSafetensors(bytes: Uint8Array | ArrayBuffer): { tensors: Map<string, NamedArray>; metadata: Record<string, string> } {
  if (!(bytes instanceof ArrayBuffer) && !ArrayBuffer.isView(bytes)) throw new WeightsError(`safetensors: expected bytes (a Uint8Array or ArrayBuffer), got ${describe(bytes)}`);
  const buf = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8) throw new WeightsError(`safetensors: the file has ${buf.length} bytes; it must start with an 8-byte header length`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER) throw new WeightsError(`safetensors: header length ${headerLen} is implausible (at most ${MAX_HEADER})`);
  if (8 + headerLen > buf.length) throw new WeightsError(`safetensors: the header claims ${headerLen} bytes but the file has only ${buf.length - 8} after the length (truncated?)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new WeightsError(`safetensors: the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new WeightsError('safetensors: the header must be a JSON object');
  const data = buf.subarray(8 + headerLen);
  const tensors = new Map<string, NamedArray>();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Object.values(entry).some((v) => typeof v !== 'string')) throw new WeightsError('safetensors: __metadata__ must map strings to strings');
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== 'object') throw new WeightsError(`safetensors: tensor '${name}': entry must be an object with dtype, shape and data_offsets`);
    const dtype = e.dtype;
    if (typeof dtype !== 'string' || !(dtype in SIZES)) throw new WeightsError(`safetensors: tensor '${name}' has dtype ${typeof dtype === 'string' ? JSON.stringify(dtype.slice(0, 40)) : show(dtype)}; expected F32 (or F16, BF16, F64, converted to f32)`);
    if (!Array.isArray(e.shape) || e.shape.length > 32 || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new WeightsError(`safetensors: tensor '${name}' has shape ${show(e.shape)}; expected an array of non-negative integers`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
      throw new WeightsError(`safetensors: tensor '${name}' has data_offsets ${show(off)}; expected [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = off as [number, number];
    if (end > data.length) throw new WeightsError(`safetensors: tensor '${name}' ends at byte ${end} of the data, which has only ${data.length} bytes (truncated file?)`);
    const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
    const size = SIZES[dtype];
    if (!Number.isSafeInteger(count * size) || end - begin !== count * size) throw new WeightsError(`safetensors: tensor '${name}' of shape [${(e.shape as number[]).join(', ')}] and dtype ${dtype} needs ${count * size} bytes, its offsets span ${end - begin}`);
    spans.push([begin, end, name]);
    const dv = new DataView(data.buffer, data.byteOffset + begin, end - begin);
    const out = new Float32Array(count);
    // F32 on a little-endian host: one byte copy.
    if (dtype === 'F32' && LITTLE_ENDIAN) new Uint8Array(out.buffer).set(data.subarray(begin, end));
    else for (let i = 0; i < count; i++) {
      out[i] = dtype === 'F32' ? dv.getFloat32(i * 4, true)
        : dtype === 'F64' ? dv.getFloat64(i * 8, true)
          : dtype === 'F16' ? halfToFloat(dv.getUint16(i * 2, true))
            : new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0];
    }
    tensors.set(name, { shape: [...(e.shape as number[])], data: out });
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < spans.length; i++) {
    const [begin, end, name] = spans[i];
    if (begin < spans[i - 1][1]) throw new WeightsError(`safetensors: tensor '${name}' (bytes ${begin}..${end}) overlaps '${spans[i - 1][2]}'`);
  }
  let covered = 0;
  for (const [begin, end, name] of spans) {
    if (begin > covered) throw new WeightsError(`safetensors: bytes ${covered}..${begin} of the data belong to no tensor (a hole before '${name}')`);
    covered = end;
  }
  if (covered !== data.length) throw new WeightsError(`safetensors: ${data.length - covered} bytes after the last tensor belong to no tensor`);
  return { tensors, metadata };
}

/** Encodes named f32 arrays as safetensors (tensors in name order, header padded to 8 bytes). */
export function encodeSafetensors(tensors: Record<string, NamedArray>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const n of names) {
    const t = tensors[n];
    if (n === '__metadata__') throw new WeightsError("encodeSafetensors: a tensor cannot be named '__metadata__' (the format's key for metadata)");
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new WeightsError(`encodeSafetensors: '${n}' has shape [${t.shape.join(', ')}] but ${t.data.length} values`);
    // Defined, not assigned: `header['__proto__'] = ...` would set the prototype and drop the entry.
    Object.defineProperty(header, n, { value: { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * count] }, enumerable: true, writable: true, configurable: true });
    offset += 4 * count;
  }
  const json = JSON.stringify(header);
  // Padded in bytes (names need not be ASCII) so the data starts 8-aligned.
  const bytes = new TextEncoder().encode(json);
  const head = new Uint8Array(bytes.length + ((8 - ((8 + bytes.length) % 8)) % 8)).fill(0x20);
  head.set(bytes);
  const out = new Uint8Array(8 + head.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const n of names) {
    const d = tensors[n].data;
    for (let i = 0; i < d.length; i++) dv.setFloat32(at + 4 * i, d[i], true);
    at += 4 * d.length;
  }
  return out;
}
