// `equivariant batch --queue redis://HOST:PORT`: the producer. It puts the job's manifest and
// the model's two files (once, by content) in Redis, enqueues the chunks as BullMQ jobs with
// ids `<name>#<k>` (adding one that exists is a no-op, so re-enqueueing is idempotent), keeps at
// most --window chunks' inputs in Redis at a time, and collects each result as it arrives:
// checked against the SHA-256, item count and shape the worker reported, kept in the local
// store (where a chunk is written once, whoever computed it), then removed from Redis.
//
// Failures: BullMQ retries a failing chunk (--attempts) and puts back a chunk whose worker died
// (stalled-job handling); a chunk that still fails is reported with its items and its typed
// error, and a rerun submits it again. A result that does not match its digest is a
// CorruptResultError, reported the same way. If Redis comes back without the job (restarted
// without its data), the chunks not yet collected are submitted again; if it stays away longer
// than --redis-timeout, the run stops with a QueueConnectionError. Nothing is written to the
// output until every chunk is in.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import { BusyError, ChunkFailedError, JobFinishedError, JobMismatchError, QueueConnectionError } from './errors.mjs';
import { QUEUE, bullConnection, connect, jobId, keys, readManifest } from './redis.mjs';
import { fmt, sha256 } from './util.mjs';

export { parseQueueUrl, NAME_RE } from './redis.mjs';

const LOCK_MS = 15_000;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const FINISH_BLOB = `redis.call('srem', KEYS[2], ARGV[1]) if redis.call('scard', KEYS[2]) == 0 then redis.call('del', KEYS[1]) end return 1`;

/**
 * Connects, claims the job `name` (default: from the fingerprint, so rerunning the same command
 * finds the same job) and checks it: a finished job or one of another run is refused, before
 * anything is changed. Returns the job handle used by runQueued.
 */
export async function openJob({ queue, name, meta, files, redisTimeout, note }) {
  name ??= `batch-${meta.fingerprint.slice(0, 16)}`;
  const redis = await connect(queue, 'batch');
  const token = `${hostname()} ${process.pid} ${randomUUID()}`;
  let renew;
  const job = {
    name, queue, redis, meta, files, redisTimeout, note,
    chunks: Math.ceil(meta.items / meta.batch),
    async close() {
      clearInterval(renew);
      if (redis.status === 'ready') await Promise.race([redis.eval(RELEASE, 1, keys.producer(name), token).catch(() => {}), sleep(1000)]);
      redis.disconnect();
    },
    /** Claims the producer lock again if it lapsed (e.g. Redis restarted); false if another took it. */
    async reclaim() {
      if (await redis.eval(RENEW, 1, keys.producer(name), token, LOCK_MS)) return true;
      return (await redis.set(keys.producer(name), token, 'PX', LOCK_MS, 'NX')) === 'OK';
    },
    /** Writes the manifest and uploads the model files (each once per content; damaged copies replaced). */
    async submitManifest() {
      for (const [sha, bytes, what] of [[meta.config, files.config, 'config'], [meta.weights, files.weights, 'weights']]) {
        const stored = await redis.getBuffer(keys.blob(sha));
        if (stored && sha256(stored) !== sha) note(`the model's ${what} in Redis (blob ${sha.slice(0, 12)}) was damaged; uploading it again`);
        if (!stored || sha256(stored) !== sha) await redis.set(keys.blob(sha), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        await redis.sadd(keys.blobJobs(sha), name);
      }
      await redis.hset(keys.job(name), {
        fingerprint: meta.fingerprint, state: 'running', model: meta.model, config: meta.config, weights: meta.weights,
        items: meta.items, batch: meta.batch, chunks: job.chunks, itemShape: JSON.stringify(meta.itemShape),
        outItemShape: JSON.stringify(meta.outItemShape), input: meta.input, created: new Date().toISOString(),
      });
    },
    /** Marks the job finished (its name is then refused) and removes everything else it had in Redis. */
    finish: (done) => answered(job.finishNow(done), redisTimeout, queue.display),
    async finishNow({ output, sha256: digest }) {
      await redis.hset(keys.job(name), { state: 'finished', finished: new Date().toISOString(), output, host: hostname(), outputSha: digest });
      for (const sha of [meta.config, meta.weights]) await redis.eval(FINISH_BLOB, 2, keys.blob(sha), keys.blobJobs(sha), name);
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${keys.job(name)}:*`, 'COUNT', 1000);
        const stale = found.filter((k) => k !== keys.producer(name));
        if (stale.length) await redis.del(...stale);
        cursor = next;
      } while (cursor !== '0');
    },
  };
  // The commands wait while Redis is away (the client reconnects); give up after the limit.
  const check = async () => {
    if ((await redis.set(keys.producer(name), token, 'PX', LOCK_MS, 'NX')) !== 'OK') {
      const holder = ((await redis.get(keys.producer(name))) ?? '? ?').split(' ');
      throw new BusyError(`job '${name}' is being collected by another producer (pid ${holder[1]} on ${holder[0]}); wait for it or stop it (its claim lapses ${LOCK_MS / 1000} s after it stops)`);
    }
    renew = setInterval(() => void job.reclaim().catch(() => {}), LOCK_MS / 3);
    renew.unref();
    const m = await readManifest(redis, name);
    if (m?.state === 'finished') {
      throw new JobFinishedError(`job '${name}' in ${queue.display} finished on ${m.finished} (its output, SHA-256 ${m.outputSha}, was written to ${m.output} on ${m.host}); ` +
        'nothing was changed; pass another --name to run it again');
    }
    if (m && m.fingerprint !== meta.fingerprint) {
      throw new JobMismatchError(`job '${name}' in ${queue.display} was submitted for another run (model '${m.model}', ${m.items} items of ${fmt(m.itemShape)}, --batch ${m.batch}, input ${m.input}); ` +
        'pass another --name, or rerun that job with its own model, input and --batch');
    }
    if (m && (m.config !== meta.config || m.weights !== meta.weights || m.items !== meta.items || m.batch !== meta.batch || m.chunks !== job.chunks ||
      fmt(m.itemShape) !== fmt(meta.itemShape) || fmt(m.outItemShape) !== fmt(meta.outItemShape))) {
      note(`the manifest of job '${name}' in Redis disagrees with its own fingerprint (altered or damaged); writing it again`);
      job.repair = true;
    }
    note(`queue: job '${name}' on ${queue.display} (${m ? 'resuming' : 'new'}); start workers with: npx equivariant worker --queue ${queue.display}`);
  };
  try {
    await answered(check(), redisTimeout, queue.display);
    return job;
  } catch (e) {
    await job.close();
    throw e;
  }
}

/** A timeout for races (unref'd: it never keeps the process alive by itself). */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms).unref());
/** `promise`, or a QueueConnectionError when Redis has not answered within `seconds`. */
const answered = (promise, seconds, display) => Promise.race([promise, sleep(seconds * 1000).then(() => {
  throw new QueueConnectionError(`Redis at ${display} did not answer for ${seconds} s (--redis-timeout)`);
})]);
const STATE_BATCH = 256;

/** Submits and collects the chunks of `store` not finished yet. */
export async function runQueued({ job, input, itemShape, store, batch, window, attempts, progress, signal }) {
  const { name, redis, meta, note } = job;
  const count = (k) => Math.min(batch, meta.items - k * batch);
  const range = (k) => `${k * batch}..${k * batch + count(k) - 1}`;
  const connection = bullConnection(job.queue);
  const queue = new Queue(QUEUE, { connection });
  const events = new QueueEvents(QUEUE, { connection });
  queue.on('error', () => {});
  events.on('error', () => {});
  const inbox = [];
  let wake = () => {};
  const chunkOf = (id) => (id.startsWith(`${name}#`) ? Number(id.slice(name.length + 1)) : -1);
  events.on('completed', ({ jobId: id }) => { if (chunkOf(id) >= 0) { inbox.push(chunkOf(id)); wake(); } });
  events.on('failed', ({ jobId: id }) => { if (chunkOf(id) >= 0) { inbox.push(chunkOf(id)); wake(); } });
  events.on('stalled', ({ jobId: id }) => {
    const k = chunkOf(id);
    if (k >= 0) progress.note(`chunk ${k} (items ${range(k)}) stalled: its worker stopped renewing its lock (killed?); BullMQ puts it back in the queue`);
  });

  const outItemSize = meta.outItemShape.reduce((a, b) => a * b, 1);
  const todo = store.pending();
  const inflight = new Set(), failures = new Map(), recovered = [];
  let fatal;

  const submit = async (k) => {
    const x = input.read(k * batch, count(k));
    const bytes = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    await redis.set(keys.input(name, k), bytes);
    await queue.add('chunk', { job: name, chunk: k, start: k * batch, count: count(k), sha256: sha256(bytes) }, {
      jobId: jobId(name, k), attempts, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: false, removeOnFail: false,
    });
    inflight.add(k);
  };

  const drop = async (k, bullJob) => {
    await redis.del(keys.input(name, k), keys.output(name, k));
    await bullJob?.remove().catch(() => {});
    inflight.delete(k);
  };

  /** Chunk k finished or failed in BullMQ (or its job vanished): take its result or its error. */
  const settle = async (k) => {
    if (!inflight.has(k) || store.has(k)) return;
    const bullJob = await queue.getJob(jobId(name, k));
    const state = bullJob ? await bullJob.getState() : 'unknown';
    if (state === 'unknown') {
      progress.note(`chunk ${k} (items ${range(k)}) is no longer in the queue (lost by Redis?); submitting it again`);
      inflight.delete(k);
      todo.unshift(k);
      return;
    }
    if (state === 'failed') {
      const reason = bullJob.failedReason ?? '';
      const [, type, message] = /stalled more than allowable limit/.test(reason)
        ? [null, 'WorkerCrashedError', `the workers running it stopped (killed or crashed) ${bullJob.stalledCounter} times (BullMQ: ${reason})`]
        : reason.match(/^(\w+): ([\s\S]*)$/) ?? [null, 'Error', reason];
      failures.set(k, { chunk: k, first: k * batch, last: k * batch + count(k) - 1, error: type, message, attempts: bullJob.attemptsMade });
      progress.note(`chunk ${k} (items ${range(k)}) failed after ${bullJob.attemptsMade} attempt(s): ${type}: ${message}`);
      inflight.delete(k); // the failed BullMQ job stays for inspection; a rerun removes and resubmits it
      return;
    }
    if (state !== 'completed') return;
    const rv = bullJob.returnvalue ?? {};
    const out = await redis.getBuffer(keys.output(name, k));
    if (!out) {
      progress.note(`chunk ${k} (items ${range(k)}): its result is missing from Redis (lost?); submitting it again`);
      await drop(k, bullJob);
      todo.unshift(k);
      return;
    }
    const want = [count(k), ...meta.outItemShape];
    const digest = sha256(out);
    const problem = digest !== rv.sha256 ? `its result's SHA-256 is ${digest}, but the worker reported ${rv.sha256}`
      : !(Array.isArray(rv.shape) && fmt(rv.shape) === fmt(want)) ? `the worker reported shape ${fmt(rv.shape ?? [])}, expected ${fmt(want)}`
        : out.length !== count(k) * outItemSize * 4 ? `its result has ${out.length} bytes, expected ${count(k) * outItemSize * 4}` : null;
    if (problem) {
      const message = `chunk ${k} (items ${range(k)}) from worker ${rv.worker}: ${problem} (damaged in Redis or in transit)`;
      failures.set(k, { chunk: k, first: k * batch, last: k * batch + count(k) - 1, error: 'CorruptResultError', message, attempts: bullJob.attemptsMade });
      progress.note(`CorruptResultError: ${message}`);
      await drop(k, bullJob); // a rerun computes it again
      return;
    }
    store.put(k, new Float32Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.length)));
    if (bullJob.stalledCounter > 0 || bullJob.attemptsStarted > 1) recovered.push({ chunk: k, stalled: bullJob.stalledCounter, started: bullJob.attemptsStarted, worker: rv.worker });
    await drop(k, bullJob);
    progress.tick(count(k));
  };

  /** Redis still holds the job; if it lost it (restarted without its data), it is submitted again. */
  const ensureJob = async () => {
    if (await redis.exists(keys.job(name))) return;
    progress.note(`Redis no longer holds job '${name}' (restarted without its data?); submitting again the ${inflight.size + todo.length} chunk(s) not collected`);
    if (!(await job.reclaim())) throw new BusyError(`job '${name}': another producer claimed it while Redis was away`);
    await job.submitManifest();
    todo.unshift(...[...inflight].sort((a, b) => a - b));
    inflight.clear();
  };

  /** Every few seconds: the state of each chunk out, in case an event was missed. */
  const reconcile = async () => {
    const ids = [...inflight];
    let active = 0, waiting = 0;
    for (let i = 0; i < ids.length; i += STATE_BATCH) {
      const states = await Promise.all(ids.slice(i, i + STATE_BATCH).map((k) => queue.getJobState(jobId(name, k))));
      states.forEach((s, j) => {
        if (s === 'completed' || s === 'failed' || s === 'unknown') inbox.push(ids[i + j]);
        else if (s === 'active') active++;
        else waiting++;
      });
    }
    progress.status(active ? `${active} chunk(s) running, ${waiting} queued` : inflight.size ? `${waiting} chunk(s) queued, none running: are workers up? npx equivariant worker --queue ${job.queue.display}` : '');
  };

  const loop = async () => {
    await events.waitUntilReady();
    const existed = await redis.exists(keys.job(name));
    if (!existed || job.repair) await job.submitManifest();
    else {
      for (const sha of [meta.config, meta.weights]) {
        const stored = await redis.getBuffer(keys.blob(sha));
        if (!stored || sha256(stored) !== sha) { await job.submitManifest(); break; }
      }
    }
    if (existed) {
      // A rerun. Chunks kept by an earlier run that stopped before removing them from the queue:
      const kept = [...store.done.keys()];
      for (let i = 0; i < kept.length; i += STATE_BATCH) {
        await Promise.all(kept.slice(i, i + STATE_BATCH).map((k) => queue.remove(jobId(name, k)).catch(() => {})));
      }
      // The others may have finished, failed or vanished meanwhile.
      const pending = todo.splice(0);
      for (let i = 0; i < pending.length; i += STATE_BATCH) {
        const part = pending.slice(i, i + STATE_BATCH);
        const states = await Promise.all(part.map((k) => queue.getJobState(jobId(name, k))));
        for (const [j, s] of states.entries()) {
          const k = part[j];
          if (s === 'failed') {
            await (await queue.getJob(jobId(name, k)))?.remove();
            todo.push(k);
          } else if (s === 'unknown') {
            todo.push(k);
          } else {
            inflight.add(k);
            if (s === 'completed') inbox.push(k);
          }
        }
      }
      if (inflight.size) note(`queue: ${inflight.size} chunk(s) of this job were already in the queue`);
    }
    progress.begin();
    let lastCheck = performance.now();
    while (!signal.aborted && !fatal) {
      await ensureJob();
      while (inbox.length && !fatal) await settle(inbox.shift());
      while (todo.length && inflight.size < window && !signal.aborted && !fatal) await submit(todo.shift());
      if (!todo.length && !inflight.size) return;
      if (performance.now() - lastCheck > 2000) {
        await reconcile();
        lastCheck = performance.now();
      }
      if (!inbox.length) {
        await new Promise((r) => {
          const timer = setTimeout(() => wake(), 500);
          wake = () => { clearTimeout(timer); wake = () => {}; r(); };
        });
      }
    }
  };

  // The loop's Redis calls wait while Redis is away (the clients reconnect by themselves); the
  // watchdog ends the wait once Redis has been away longer than the limit.
  let watchdog;
  const lost = new Promise((_, reject) => {
    watchdog = setInterval(() => {
      const down = redis.downFor();
      if (down > job.redisTimeout && !fatal) {
        fatal = new QueueConnectionError(`lost Redis at ${job.queue.display} for ${Math.round(down)} s (${redis.lastError()?.message ?? 'disconnected'}); ` +
          `the ${store.done.size} chunk(s) collected are kept; rerun the same command to resume once Redis is back`);
        reject(fatal);
      }
    }, 250);
  });
  const onAbort = () => wake();
  signal.addEventListener('abort', onAbort);
  try {
    await Promise.race([loop(), lost]);
  } finally {
    clearInterval(watchdog);
    signal.removeEventListener('abort', onAbort);
    if (fatal) for (const c of [events, queue]) c.disconnect().catch(() => {}); // Redis is gone: nothing to close gracefully
    else await Promise.race([Promise.allSettled([events.close(), queue.close()]), sleep(2000)]);
  }
  if (recovered.length) {
    progress.note(`${recovered.length} chunk(s) were recovered by BullMQ and collected once: ` +
      recovered.map((r) => `chunk ${r.chunk} (started ${r.started} times${r.stalled ? `, stalled ${r.stalled}` : ''}; finished by ${r.worker})`).join(', '));
  }
  if (failures.size && !signal.aborted) {
    const list = [...failures.values()].sort((a, b) => a.chunk - b.chunk);
    const lines = list.slice(0, 10).map((f) => `  chunk ${f.chunk} (items ${f.first}..${f.last}): ${f.error}: ${f.message} (after ${f.attempts} attempt(s))`);
    if (list.length > 10) lines.push(`  ... and ${list.length - 10} more`);
    throw new ChunkFailedError(`${list.length} of ${job.chunks} chunk(s) failed; nothing was written to the output. The ${store.done.size} chunk(s) finished are kept; ` +
      `rerun the same command to retry the failed ones:\n${lines.join('\n')}`, list);
  }
}
