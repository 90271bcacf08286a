// Helpers of the batch tests: data sets written in each input format, the reference output
// (model.run on the whole input, in this process), and the command line as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as eq from '../../dist/index.js';
export { random } from '../helpers.js';

export const root = new URL('../../', import.meta.url).pathname;
export const cli = `${root}bin/equivariant.mjs`;
export const p4cnn = { config: `${root}models/p4cnn-fashion.json`, weights: `${root}models/p4cnn-fashion.safetensors` };
export const modelArgs = ['--config', p4cnn.config, '--weights', p4cnn.weights];
export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** `n` Fashion-MNIST test images as stored (uint8 pixels, 784 each): the shipped sample, repeated. */
export function pixels(n: number): Uint8Array {
  const raw = gunzipSync(readFileSync(`${root}models/fashion-sample.bin.gz`));
  const have = raw.readUInt32LE(0);
  const sample = raw.subarray(4, 4 + have * 784);
  const out = new Uint8Array(n * 784);
  for (let i = 0; i < n; i++) out.set(sample.subarray((i % have) * 784, (i % have + 1) * 784), i * 784);
  return out;
}

/** An IDX file (big-endian header; type 0x08 uint8 or 0x0d float32), gzipped when `gz`. */
export function writeIdx(path: string, data: Uint8Array | Float32Array, dims: number[], gz = false): void {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = data instanceof Uint8Array ? 0x08 : 0x0d;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  let body: Buffer;
  if (data instanceof Uint8Array) body = Buffer.from(data);
  else {
    body = Buffer.alloc(data.length * 4);
    data.forEach((v, i) => body.writeFloatBE(v, 4 * i));
  }
  const bytes = Buffer.concat([head, body]);
  writeFileSync(path, gz ? gzipSync(bytes) : bytes);
}

/** A .npy (version 1.0) of the given descr ('<f4', '|u1', '>i2', ...) with raw bytes. */
export function writeNpy(path: string, descr: string, shape: number[], raw: Uint8Array): void {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64) header += ' ';
  header += '\n';
  const pre = Buffer.alloc(10);
  pre[0] = 0x93;
  pre.write('NUMPY', 1, 'latin1');
  pre[6] = 1;
  pre.writeUInt16LE(header.length, 8);
  writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'), raw]));
}

/** A safetensors file of raw tensors `{ name: { dtype, shape, raw } }` (any dtype). */
export function writeSafetensors(path: string, tensors: Record<string, { dtype: string; shape: number[]; raw: Uint8Array }>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.raw.length] };
    offset += t.raw.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, ...Object.values(tensors).map((t) => t.raw)]));
}

export const f32bytes = (x: Float32Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);

/**
 * The SHA-256 of what `batch` must write for these inputs: model.run over the whole input in
 * this process, encoded by eq.encodeSafetensors as the tensor `output`.
 */
export async function referenceSha(values: Float32Array, shape: number[]): Promise<{ sha: string; output: Float32Array }> {
  await eq.init();
  const model = await eq.loadModel(p4cnn);
  const x = eq.tensor(values, shape);
  const y = model.run(x);
  const output = y.toArray();
  const sha = sha256(eq.encodeSafetensors({ output: { shape: [...y.shape], data: output } }));
  x.dispose();
  y.dispose();
  model.dispose();
  return { sha, output };
}

export interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (or the signal's name). */
  exit: Promise<number | string>;
  /** Resolves when `re` matches the output so far (stdout + stderr), rejects after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
}

/** Starts `node bin/equivariant.mjs ...args` and collects its output. */
export function start(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { child, stdout: '', stderr: '' } as Run;
  const watchers: (() => void)[] = [];
  child.stdout!.on('data', (d) => { run.stdout += d; [...watchers].forEach((w) => w()); });
  child.stderr!.on('data', (d) => { run.stderr += d; [...watchers].forEach((w) => w()); });
  run.exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal!)));
  run.waitFor = (re, ms = 30_000) => new Promise((resolve, reject) => {
    const check = () => {
      const m = (run.stdout + run.stderr).match(re);
      if (m) { clearTimeout(timer); watchers.splice(watchers.indexOf(check), 1); resolve(m); }
    };
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${re} in:\n${run.stdout}\n${run.stderr}`)), ms);
    watchers.push(check);
    check();
  });
  return run;
}

/** Runs the command to its end: `{ code, stdout, stderr }`. */
export async function cliRun(args: string[], env: Record<string, string> = {}): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const r = start(args, env);
  const code = await r.exit;
  return { code, stdout: r.stdout, stderr: r.stderr };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; rejects after `ms`. */
export async function until<T>(fn: () => T | Promise<T>, what: string, ms = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}
