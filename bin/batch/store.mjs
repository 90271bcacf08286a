// Where `equivariant batch` keeps its work: finished chunks in a directory beside the output
// (`Y.safetensors.partial/`), and at the end the output itself.
//
// Everything is written to a temporary name and renamed, so a crash at any moment leaves either
// the old state or the new one, never half a file under a final name:
//   state.json              what run these chunks belong to (its fingerprint); written once
//   <k>.<sha256>.f32        the outputs of chunk k (float32, little-endian), named by their digest
//   lock                    the pid and host of the process writing here
// On a rerun with the same fingerprint, chunks whose bytes still match their name are kept and
// the others are computed again; so chunk files need no fsync (after a power cut, one whose data
// did not reach the disk fails its digest and is redone). state.json and the output are flushed
// (fsync) before their rename. The output is assembled into a temporary file in the same
// directory and renamed over `Y.safetensors` only when complete; then the directory is removed.
import { closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeSync, accessSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { hostname } from 'node:os';
import { BusyError, OutputError, StateMismatchError } from './errors.mjs';
import { sha256 } from './util.mjs';

const STATE_FORMAT = 'equivariant.batch-state';
const bytesOf = (f32) => new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);

/** Writes `bytes` to `path` through a temporary file and a rename (flushed first when `sync`). */
export function writeAtomic(path, bytes, { sync = true } = {}) {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    if (sync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function fsyncDir(dir) {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks, before any work, that `output` can be written: its directory exists and is writable,
 * it is not a directory, and it does not exist yet (unless `overwrite`).
 */
export function checkOutput(output, { overwrite = false } = {}) {
  if (!/\.safetensors$/i.test(output)) throw new OutputError(`output ${output}: expected a path ending in .safetensors`);
  const dir = dirname(resolve(output));
  if (!existsSync(dir)) throw new OutputError(`output ${output}: its directory ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new OutputError(`output ${output}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new OutputError(`output ${output}: its directory ${dir} is not writable`);
  }
  if (existsSync(output)) {
    if (statSync(output).isDirectory()) throw new OutputError(`output ${output}: is a directory`);
    if (!overwrite) throw new OutputError(`output ${output}: already exists; it is left as it is (remove it, choose another --output, or pass --overwrite)`);
  }
}

/** The safetensors bytes before the data of one F32 tensor `output` (as eq.encodeSafetensors writes it). */
export function outputHeader(shape) {
  const count = shape.reduce((a, b) => a * b, 1);
  let json = JSON.stringify({ output: { dtype: 'F32', shape, data_offsets: [0, 4 * count] } });
  while ((8 + json.length) % 8) json += ' ';
  const head = Buffer.alloc(8 + json.length);
  head.writeBigUInt64LE(BigInt(json.length), 0);
  head.write(json, 8, 'latin1');
  return head;
}

export class ChunkStore {
  /**
   * Opens (or creates) the state beside `output` for a run described by `meta`
   * (`{ fingerprint, items, batch, outItemShape, ... }`). State of another run is an error,
   * unless `overwrite`, which discards it. `notes` receives what was found and repaired.
   */
  constructor(output, meta, { overwrite = false, notes = () => {} } = {}) {
    this.output = output;
    this.dir = `${output}.partial`;
    this.meta = meta;
    this.chunks = Math.ceil(meta.items / meta.batch);
    this.outItemSize = meta.outItemShape.reduce((a, b) => a * b, 1);
    try {
      // The parent recursively, then this one alone: Node's recursive mkdir loops forever where
      // mkdir says ENOENT under a parent that exists (in /proc, for one).
      mkdirSync(dirname(this.dir), { recursive: true });
      try {
        mkdirSync(this.dir);
      } catch (e) {
        if (e.code !== 'EEXIST') throw e;
      }
    } catch (e) {
      throw new OutputError(`output ${output}: cannot create the resume state ${this.dir} (${e.message})`);
    }
    this.#lock();
    try {
      this.#loadState(overwrite, notes);
    } catch (e) {
      this.release();
      throw e;
    }
  }

  #lock() {
    const lock = join(this.dir, 'lock');
    const mine = `${process.pid} ${hostname()}`;
    for (let tries = 0; tries < 2; tries++) {
      try {
        const fd = openSync(lock, 'wx');
        writeSync(fd, mine);
        closeSync(fd);
        this.locked = lock;
        return;
      } catch (e) {
        if (e.code !== 'EEXIST') throw new OutputError(`output ${this.output}: cannot write in ${this.dir} (${e.message})`);
      }
      const [pid, host] = readFileSync(lock, 'utf8').split(' ');
      let alive = host !== hostname();
      if (!alive) {
        try {
          process.kill(Number(pid), 0);
          alive = true;
        } catch (e) {
          alive = e.code === 'EPERM';
        }
      }
      if (alive) throw new BusyError(`output ${this.output}: another batch (pid ${pid} on ${host}) is writing it (lock ${lock}); wait for it, or stop it`);
      unlinkSync(lock); // left by a process that died: take over
    }
    throw new BusyError(`output ${this.output}: could not take the lock ${lock}`);
  }

  #loadState(overwrite, notes) {
    const statePath = join(this.dir, 'state.json');
    let state;
    if (existsSync(statePath)) {
      try {
        state = JSON.parse(readFileSync(statePath, 'utf8'));
        if (state?.format !== STATE_FORMAT) throw new Error(`format ${JSON.stringify(state?.format)}`);
      } catch (e) {
        notes(`the resume state ${statePath} is unreadable (${e.message}); starting over`);
        state = undefined;
      }
    }
    if (state && state.fingerprint !== this.meta.fingerprint) {
      if (!overwrite) {
        throw new StateMismatchError(`output ${this.output}: the partial results in ${this.dir} belong to another run ` +
          `(input ${state.input}, model ${state.model}, --batch ${state.batch}); remove that directory or pass --overwrite to discard them`);
      }
      notes(`discarding the partial results of another run in ${this.dir} (--overwrite)`);
      state = undefined;
    }
    if (!state) {
      for (const f of readdirSync(this.dir)) if (f !== 'lock') rmSync(join(this.dir, f), { recursive: true, force: true });
      writeAtomic(statePath, Buffer.from(JSON.stringify({ format: STATE_FORMAT, version: 1, ...this.meta, created: new Date().toISOString() }, null, 1)));
      fsyncDir(this.dir);
    }
    // Finished chunks: kept when their bytes match their name and size; anything else goes.
    this.done = new Map();
    let damaged = 0;
    for (const f of readdirSync(this.dir)) {
      const m = f.match(/^(\d+)\.([0-9a-f]{64})\.f32$/);
      if (!m) {
        if (f.includes('.tmp-')) rmSync(join(this.dir, f), { force: true }); // a write cut short
        continue;
      }
      const k = Number(m[1]);
      const bytes = k < this.chunks ? readFileSync(join(this.dir, f)) : null;
      if (!bytes || this.done.has(k) || bytes.length !== this.#count(k) * this.outItemSize * 4 || sha256(bytes) !== m[2]) {
        rmSync(join(this.dir, f), { force: true });
        damaged++;
        continue;
      }
      this.done.set(k, f);
    }
    if (damaged) notes(`${damaged} damaged chunk file(s) in ${this.dir} removed; they are computed again`);
  }

  #count(k) {
    return Math.min(this.meta.batch, this.meta.items - k * this.meta.batch);
  }

  has(k) {
    return this.done.has(k);
  }

  /** Chunks not finished yet, in order. */
  pending() {
    return Array.from({ length: this.chunks }, (_, k) => k).filter((k) => !this.done.has(k));
  }

  /** Keeps chunk `k`'s outputs (a Float32Array of its items' outputs, in order). */
  put(k, f32) {
    if (this.done.has(k)) return false;
    const want = this.#count(k) * this.outItemSize;
    if (f32.length !== want) throw new OutputError(`chunk ${k}: ${f32.length} output values, expected ${want}`);
    const bytes = bytesOf(f32);
    const name = `${String(k).padStart(6, '0')}.${sha256(bytes)}.f32`;
    try {
      writeAtomic(join(this.dir, name), bytes, { sync: false }); // its name is its digest: checked on resume
    } catch (e) {
      throw new OutputError(`cannot keep chunk ${k} in ${this.dir} (${e.message}); the chunks already kept stay, rerun to resume`);
    }
    this.done.set(k, name);
    return true;
  }

  /**
   * Writes the output (`output` [N, ...outItemShape] F32) from the kept chunks, checking each
   * against its digest once more; renames it into place and removes the state. Returns its SHA-256.
   */
  assemble() {
    const shape = [this.meta.items, ...this.meta.outItemShape];
    const tmp = join(this.dir, `output.tmp-${process.pid}`);
    const hash = createHash('sha256');
    const fd = openSync(tmp, 'w');
    const write = (bytes) => {
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
      hash.update(bytes);
    };
    try {
      write(outputHeader(shape));
      for (let k = 0; k < this.chunks; k++) {
        const name = this.done.get(k);
        if (!name) throw new OutputError(`chunk ${k} is missing from ${this.dir}`);
        const bytes = readFileSync(join(this.dir, name));
        if (sha256(bytes) !== name.split('.')[1]) {
          rmSync(join(this.dir, name), { force: true });
          this.done.delete(k);
          throw new OutputError(`chunk ${k} in ${this.dir} changed on disk since it was written (removed; rerun to compute it again)`);
        }
        write(bytes);
      }
      fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw e instanceof OutputError ? e : new OutputError(`cannot write the output through ${tmp} (${e.message}); the chunks are kept, rerun to resume`);
    }
    closeSync(fd);
    try {
      renameSync(tmp, this.output);
      fsyncDir(dirname(resolve(this.output)));
    } catch (e) {
      throw new OutputError(`cannot move the finished output into place at ${this.output} (${e.message}); the chunks are kept, rerun to resume`);
    }
    rmSync(this.dir, { recursive: true, force: true });
    this.locked = undefined;
    return { shape, sha256: hash.digest('hex') };
  }

  /** Releases the lock (the state stays for a rerun). */
  release() {
    if (this.locked) rmSync(this.locked, { force: true });
    this.locked = undefined;
  }
}
