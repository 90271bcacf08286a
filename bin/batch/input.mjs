// Inputs of `equivariant batch`: a data set of N items as one array [N, ...item], read from
//   - safetensors (the only tensor in the file, or the one named by --tensor),
//   - NumPy .npy (versions 1-3, C order),
//   - IDX, the format of MNIST and Fashion-MNIST,
// each gzipped or not. Items are read a chunk at a time and converted to float32 *as stored*:
// an integer becomes the float32 of the same value (a pixel 255 becomes 255.0, not 1.0), float64
// is rounded to the nearest float32, float16 and bfloat16 are exact. No scaling is applied.
// Uncompressed files are read in place (positioned reads); gzipped ones are inflated in memory.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { InputError, UsageError } from './errors.mjs';
import { fmt } from './util.mjs';

// Element types: byte size and how one element is read (DataView, byte offset, little-endian?).
const DTYPES = {
  float64: [8, (v, o, le) => v.getFloat64(o, le)],
  float32: [4, (v, o, le) => v.getFloat32(o, le)],
  float16: [2, (v, o, le) => half(v.getUint16(o, le))],
  bfloat16: [2, (v, o, le) => bfloat(v.getUint16(o, le))],
  int64: [8, (v, o, le) => Number(v.getBigInt64(o, le))],
  uint64: [8, (v, o, le) => Number(v.getBigUint64(o, le))],
  int32: [4, (v, o, le) => v.getInt32(o, le)],
  uint32: [4, (v, o, le) => v.getUint32(o, le)],
  int16: [2, (v, o, le) => v.getInt16(o, le)],
  uint16: [2, (v, o, le) => v.getUint16(o, le)],
  int8: [1, (v, o) => v.getInt8(o)],
  uint8: [1, (v, o) => v.getUint8(o)],
  bool: [1, (v, o) => (v.getUint8(o) ? 1 : 0)],
};
const bitsToFloat = new DataView(new ArrayBuffer(4));
function bfloat(h) {
  bitsToFloat.setUint32(0, h << 16);
  return bitsToFloat.getFloat32(0);
}
function half(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

const SAFETENSORS_DTYPES = { F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16', I64: 'int64', U64: 'uint64', I32: 'int32', U32: 'uint32', I16: 'int16', U16: 'uint16', I8: 'int8', U8: 'uint8', BOOL: 'bool' };
const NPY_KINDS = { f2: 'float16', f4: 'float32', f8: 'float64', i1: 'int8', i2: 'int16', i4: 'int32', i8: 'int64', u1: 'uint8', u2: 'uint16', u4: 'uint32', u8: 'uint64', b1: 'bool' };
const IDX_TYPES = { 0x08: 'uint8', 0x09: 'int8', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };

/** Bytes of a file, read in place. */
function fileSource(path) {
  let fd;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new InputError(`input ${path}: cannot open it (${e.code === 'ENOENT' ? 'no such file' : e.message})`);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new InputError(`input ${path}: not a regular file`);
  }
  return {
    size: st.size,
    readAt(pos, len) {
      const buf = Buffer.allocUnsafe(len);
      for (let got = 0; got < len;) {
        const n = readSync(fd, buf, got, len - got, pos + got);
        if (n === 0) throw new InputError(`input ${path}: the file shrank while being read (expected ${len} bytes at offset ${pos})`);
        got += n;
      }
      return buf;
    },
    close: () => closeSync(fd),
  };
}

const memorySource = (buf) => ({ size: buf.length, readAt: (pos, len) => buf.subarray(pos, pos + len), close() {} });

const product = (dims) => dims.reduce((a, b) => a * b, 1);

/**
 * Opens a data set. Returns `{ path, format, dtype, shape, items, itemShape, itemSize,
 * read(start, count), sha256(), close() }`; `read` gives items `start .. start + count - 1` as
 * one Float32Array (row-major). `tensor` picks a safetensors tensor by name.
 */
export function openInput(path, { tensor } = {}) {
  const file = fileSource(path);
  try {
    let src = file, gz = false;
    const head = file.readAt(0, Math.min(16, file.size));
    if (head[0] === 0x1f && head[1] === 0x8b) {
      try {
        src = memorySource(gunzipSync(file.readAt(0, file.size)));
      } catch (e) {
        throw new InputError(`input ${path}: starts like gzip but does not inflate (${e.message})`);
      }
      gz = true;
    }
    const layout = parse(src, path, tensor);
    if (tensor !== undefined && layout.format !== 'safetensors') throw new UsageError(`--tensor picks a tensor of a safetensors input; ${path} is ${layout.format}`);
    const { shape, dtype } = layout;
    if (shape.length < 1 || shape[0] < 1) throw new InputError(`input ${path}: expected an array [N, ...item] with N >= 1 items, got ${fmt(shape)}`);
    const [size, get] = DTYPES[dtype];
    const itemShape = shape.slice(1), itemSize = product(itemShape);
    const itemBytes = itemSize * size;
    return {
      path,
      format: gz ? `${layout.format} (gzipped)` : layout.format,
      dtype,
      shape,
      items: shape[0],
      itemShape,
      itemSize,
      read(start, count) {
        if (!(start >= 0 && count >= 1 && start + count <= shape[0])) throw new RangeError(`read(${start}, ${count}) outside [0, ${shape[0]})`);
        const bytes = src.readAt(layout.offset + start * itemBytes, count * itemBytes);
        const n = count * itemSize;
        if (dtype === 'float32' && layout.littleEndian) return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * 4));
        if (dtype === 'uint8') return Float32Array.from(bytes);
        const out = new Float32Array(n), view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        for (let i = 0; i < n; i++) out[i] = get(view, i * size, layout.littleEndian);
        return out;
      },
      /** SHA-256 of the file as stored (what a rerun must find unchanged to resume). */
      sha256() {
        const h = createHash('sha256'), block = 1 << 22;
        for (let pos = 0; pos < file.size; pos += block) h.update(file.readAt(pos, Math.min(block, file.size - pos)));
        return h.digest('hex');
      },
      close: () => file.close(),
    };
  } catch (e) {
    file.close();
    throw e;
  }
}

/** The array's layout: `{ format, dtype, shape, offset, littleEndian }`, every size checked. */
function parse(src, path, tensor) {
  const head = src.readAt(0, Math.min(16, src.size));
  const lower = path.toLowerCase().replace(/\.gz$/, '');
  if (head.length >= 6 && head[0] === 0x93 && head.subarray(1, 6).toString('latin1') === 'NUMPY') return parseNpy(src, path);
  if (lower.endsWith('.safetensors') || (head.length >= 9 && head[8] === 0x7b /* { */)) return parseSafetensors(src, path, tensor);
  if (head.length >= 4 && head[0] === 0 && head[1] === 0 && head[2] in IDX_TYPES && head[3] >= 1) return parseIdx(src, path);
  throw new InputError(`input ${path}: not a safetensors, NumPy .npy or IDX file (gzipped or not); it starts with bytes ${[...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`);
}

function checkData(path, what, dims, dtype, offset, available) {
  const need = product(dims) * DTYPES[dtype][0];
  if (available < need) throw new InputError(`input ${path}: ${what} ${fmt(dims)} of ${dtype} needs ${need} bytes of data, the file has ${available} (truncated?)`);
  return need;
}

function parseNpy(src, path) {
  if (src.size < 10) throw new InputError(`input ${path}: a .npy file of ${src.size} bytes is truncated (its header alone takes at least 10)`);
  const head = src.readAt(0, 12);
  const major = head[6];
  if (major < 1 || major > 3) throw new InputError(`input ${path}: .npy format version ${major}.${head[7]} is not supported (1.0 to 3.0 are)`);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const offset = 8 + lenBytes + headerLen;
  if (offset > src.size) throw new InputError(`input ${path}: the .npy header claims ${headerLen} bytes, the file is shorter (truncated?)`);
  const header = src.readAt(8 + lenBytes, headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = header.match(/'descr'\s*:\s*'([<>|=])?([a-zA-Z]\d+)'/);
  const fortran = header.match(/'fortran_order'\s*:\s*(True|False)/);
  const shapeText = header.match(/'shape'\s*:\s*\(([^)]*)\)/);
  if (!descr || !fortran || !shapeText) throw new InputError(`input ${path}: the .npy header is not a plain array's ({'descr': ..., 'fortran_order': ..., 'shape': (...)}), got ${JSON.stringify(header.trim().slice(0, 120))}`);
  const dtype = NPY_KINDS[descr[2]];
  if (!dtype) throw new InputError(`input ${path}: .npy dtype '${descr[1] ?? ''}${descr[2]}' is not supported; expected one of ${Object.keys(NPY_KINDS).join(', ')} (little- or big-endian)`);
  if (fortran[1] === 'True') throw new InputError(`input ${path}: the array is stored in Fortran (column-major) order; save it in C order (numpy.ascontiguousarray) first`);
  const shape = shapeText[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new InputError(`input ${path}: .npy shape (${shapeText[1]}) is not a tuple of non-negative integers`);
  const need = checkData(path, 'the array', shape, dtype, offset, src.size - offset);
  if (src.size - offset > need) throw new InputError(`input ${path}: ${src.size - offset - need} bytes follow the array ${fmt(shape)} (not a single .npy array?)`);
  return { format: 'npy', dtype, shape, offset, littleEndian: descr[1] !== '>' };
}

function parseIdx(src, path) {
  const head = src.readAt(0, 4);
  const dtype = IDX_TYPES[head[2]], ndim = head[3];
  const offset = 4 + 4 * ndim;
  if (src.size < offset) throw new InputError(`input ${path}: the IDX header names ${ndim} dimensions but the file has only ${src.size} bytes (truncated?)`);
  const dimBytes = src.readAt(4, 4 * ndim);
  const shape = Array.from({ length: ndim }, (_, i) => dimBytes.readUInt32BE(4 * i));
  const need = checkData(path, 'the IDX array', shape, dtype, offset, src.size - offset);
  if (src.size - offset > need) throw new InputError(`input ${path}: ${src.size - offset - need} bytes follow the IDX array ${fmt(shape)}`);
  return { format: 'IDX', dtype, shape, offset, littleEndian: false };
}

function parseSafetensors(src, path, tensor) {
  if (src.size < 8) throw new InputError(`input ${path}: a safetensors file of ${src.size} bytes is truncated (it starts with an 8-byte header length)`);
  const headerLen = Number(src.readAt(0, 8).readBigUInt64LE(0));
  if (8 + headerLen > src.size) throw new InputError(`input ${path}: the safetensors header claims ${headerLen} bytes, the file has ${src.size - 8} after the length (truncated?)`);
  let header;
  try {
    header = JSON.parse(src.readAt(8, headerLen).toString('utf8'));
  } catch (e) {
    throw new InputError(`input ${path}: the safetensors header is not valid JSON (${e.message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new InputError(`input ${path}: the safetensors header must be a JSON object`);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  let name = tensor;
  if (name === undefined) {
    if (names.length !== 1) throw new InputError(`input ${path}: holds ${names.length} tensors (${names.join(', ') || 'none'}); pick one with --tensor NAME`);
    name = names[0];
  } else if (!names.includes(name)) {
    throw new InputError(`input ${path}: has no tensor '${name}' (it has ${names.join(', ') || 'none'})`);
  }
  const e = header[name];
  const dtype = SAFETENSORS_DTYPES[e?.dtype];
  if (!dtype) throw new InputError(`input ${path}: tensor '${name}' has dtype ${JSON.stringify(e?.dtype)}; expected one of ${Object.keys(SAFETENSORS_DTYPES).join(', ')}`);
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new InputError(`input ${path}: tensor '${name}' has shape ${JSON.stringify(e.shape)}; expected an array of non-negative integers`);
  const off = e.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
    throw new InputError(`input ${path}: tensor '${name}' has data_offsets ${JSON.stringify(off)}; expected [begin, end] with 0 <= begin <= end`);
  }
  const dataStart = 8 + headerLen;
  if (dataStart + off[1] > src.size) throw new InputError(`input ${path}: tensor '${name}' ends at byte ${off[1]} of the data, which has only ${src.size - dataStart} bytes (truncated?)`);
  const need = checkData(path, `tensor '${name}'`, e.shape, dtype, dataStart + off[0], off[1] - off[0]);
  if (off[1] - off[0] !== need) throw new InputError(`input ${path}: tensor '${name}' ${fmt(e.shape)} of ${e.dtype} needs ${need} bytes, its offsets span ${off[1] - off[0]}`);
  return { format: 'safetensors', dtype, shape: e.shape, offset: dataStart + off[0], littleEndian: true, tensor: name };
}
