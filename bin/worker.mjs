// `npx equivariant worker --queue redis://HOST:PORT [--workers N]`: serves the chunks of queued
// batch jobs (`equivariant batch --queue`) until stopped. One process runs one pool of N workers
// (eq.createPool) and a BullMQ worker taking `--concurrency` chunks at a time (default N + 1, so
// the next chunk's input arrives while the pool computes). See docs/scaling.md.
//
// Per job, the model's files are fetched from Redis once (by their SHA-256, checked), loaded
// once on this thread to check them, then sent to the pool; chunks of another model wait until
// the chunks in hand finish, so no chunk ever runs on the wrong model. Per chunk: the input is
// checked against its SHA-256, run, and the output stored in Redis under the chunk's key; the
// job's return value carries the output's SHA-256 and shape, which the producer checks.
// A chunk that fails is thrown back to BullMQ as `Name: message` (its failedReason keeps only
// text), which retries it (--attempts of the producer) and finally marks it failed.
import { hostname, availableParallelism } from 'node:os';
import { Worker } from 'bullmq';
import * as eq from '../dist/index.js';
import { parseArgs, required } from './batch/args.mjs';
import { CorruptInputError, ModelLoadError, describeError } from './batch/errors.mjs';
import { QUEUE, bullConnection, connect, keys, parseQueueUrl, readManifest } from './batch/redis.mjs';
import { fmt, sha256 } from './batch/util.mjs';

export const USAGE = 'usage: equivariant worker --queue redis://HOST:PORT [--workers N] [--concurrency C] [--stall-timeout 30] [--quiet]';
const SPEC = {
  queue: { type: 'string' },
  workers: { type: 'int', max: 256 },
  concurrency: { type: 'int', max: 1024 },
  'stall-timeout': { type: 'int', default: 30, max: 3600 },
  quiet: { type: 'flag' },
};

/** The pool's model: switched only when no chunk is running, loaded once per (config, weights). */
class Models {
  #pool; #redis; #log; #blobs = new Map(); #key; #active = 0; #loading; #waiters = [];

  constructor(pool, redis, log) {
    this.#pool = pool;
    this.#redis = redis;
    this.#log = log;
  }

  /** Waits until the pool holds the model of manifest `m`; returns the release function. */
  async acquire(name, m) {
    const key = `${m.config}/${m.weights}`;
    for (;;) {
      if (this.#loading) {
        await this.#loading.catch(() => {});
      } else if (this.#key === key) {
        this.#active++;
        return () => { this.#active--; this.#wake(); };
      } else if (this.#active > 0) {
        await new Promise((r) => this.#waiters.push(r));
      } else {
        this.#loading = this.#load(name, m, key);
        try {
          await this.#loading;
        } finally {
          this.#loading = undefined;
          this.#wake();
        }
      }
    }
  }

  #wake() {
    for (const w of this.#waiters.splice(0)) w();
  }

  async #blob(name, sha, what) {
    if (this.#blobs.has(sha)) return this.#blobs.get(sha);
    const b = await this.#redis.getBuffer(keys.blob(sha));
    if (!b) throw new ModelLoadError(`job '${name}': the model's ${what} (blob ${sha.slice(0, 12)}) is not in Redis (lost or evicted); the producer uploads it again when rerun`);
    const got = sha256(b);
    if (got !== sha) throw new ModelLoadError(`job '${name}': the model's ${what} in Redis (blob ${sha.slice(0, 12)}) is damaged: its SHA-256 is ${got.slice(0, 12)}; rerun the producer to upload it again`);
    const bytes = new Uint8Array(b); // a copy of its own (ioredis may hand out a view of a larger buffer)
    this.#blobs.set(sha, bytes);
    if (this.#blobs.size > 4) this.#blobs.delete(this.#blobs.keys().next().value);
    return bytes;
  }

  async #load(name, m, key) {
    const config = await this.#blob(name, m.config, 'config');
    const weights = await this.#blob(name, m.weights, 'weights');
    try {
      (await eq.loadModel({ config, weights })).dispose();
    } catch (e) {
      throw new ModelLoadError(`job '${name}': cannot load the model '${m.model}': ${describeError(e)}`);
    }
    await this.#pool.load({ config, weights });
    this.#key = key;
    this.#log(`model '${m.model}' of job '${name}' loaded (config ${m.config.slice(0, 12)}, weights ${m.weights.slice(0, 12)}: ${config.length + weights.length} bytes fetched once)`);
  }
}

export async function main(args = []) {
  const opts = parseArgs(args, SPEC, USAGE);
  required(opts, ['queue'], USAGE);
  const workers = opts.workers ?? availableParallelism();
  const concurrency = opts.concurrency ?? workers + 1;
  const queue = parseQueueUrl(opts.queue);
  const me = `${hostname()}:${process.pid}`;
  const log = (s) => process.stdout.write(`worker ${me}: ${s}\n`);
  const chunkLog = opts.quiet ? () => {} : log;
  const redis = await connect(queue, 'worker');
  await eq.init();
  const pool = await eq.createPool({ workers });
  const models = new Models(pool, redis, log);
  const manifests = new Map();

  const process_ = async (job) => {
    const { job: name, chunk: k, start, count, sha256: inputSha } = job.data;
    const what = `job '${name}' chunk ${k} (items ${start}..${start + count - 1})`;
    const t0 = performance.now();
    chunkLog(`${what}: started`);
    try {
      let m = manifests.get(name);
      if (!m) {
        m = await readManifest(redis, name);
        if (!m) throw new ModelLoadError(`job '${name}' has no manifest in Redis (lost, or the job was removed)`);
        manifests.set(name, m);
        if (manifests.size > 16) manifests.delete(manifests.keys().next().value);
      }
      const release = await models.acquire(name, m);
      try {
        const buf = await redis.getBuffer(keys.input(name, k));
        const itemSize = m.itemShape.reduce((a, b) => a * b, 1);
        if (!buf) throw new CorruptInputError(`${what}: its input is not in Redis (lost?); the producer submits it again when rerun`);
        if (buf.length !== count * itemSize * 4 || sha256(buf) !== inputSha) {
          throw new CorruptInputError(`${what}: its input in Redis (${buf.length} bytes) does not match its SHA-256 or size (${count} x ${fmt(m.itemShape)} float32)`);
        }
        const values = buf.byteOffset % 4 === 0 ? new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4) : new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
        const x = eq.tensor(values, [count, ...m.itemShape]); // copied into wasm memory
        let y;
        try {
          y = await pool.run(x);
        } finally {
          x.dispose();
        }
        const out = y.toArray(), shape = [...y.shape];
        y.dispose();
        const bytes = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
        await redis.set(keys.output(name, k), bytes);
        const ms = performance.now() - t0;
        chunkLog(`${what}: done in ${(ms / 1000).toFixed(2)} s`);
        return { sha256: sha256(bytes), shape, worker: me, ms: Math.round(ms) };
      } finally {
        release();
      }
    } catch (e) {
      manifests.delete(name); // read it again next time (it may have been re-created)
      chunkLog(`${what}: failed: ${describeError(e)}`);
      throw new Error(describeError(e));
    }
  };

  const stall = opts['stall-timeout'] * 1000;
  const worker = new Worker(QUEUE, process_, {
    connection: bullConnection(queue), concurrency, name: me,
    lockDuration: stall, stalledInterval: stall, maxStalledCount: 2,
  });
  let lastError = '';
  worker.on('error', (e) => {
    if (e.message !== lastError) log(`(BullMQ) ${e.message}${/ECONNREFUSED|Connection is closed/.test(e.message) ? ' — waiting for Redis to come back' : ''}`);
    lastError = e.message;
  });
  await worker.waitUntilReady();
  log(`serving queue '${QUEUE}' on ${queue.display}: a pool of ${workers} worker(s), ${concurrency} chunk(s) at a time; Ctrl-C stops after the chunks in hand`);

  await new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(130));
      log('stopping: finishing the chunks in hand (Ctrl-C again to quit now; their chunks would then be retried elsewhere)');
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await worker.close();
  await pool.close();
  redis.disconnect();
  log('stopped');
}
