// `equivariant batch --queue` and `equivariant worker` on real parts: Debian's redis-server on a
// free loopback port, the producer and 2-3 workers as child processes on this machine. Workers
// are killed with kill -9 in the middle of a chunk, results are damaged in Redis, the model is
// made unloadable for the workers, Redis is killed and restarted during a job: each time the
// output is model.run's bytes (SHA-256), or the run stops with a typed error naming the chunks
// and their items, writes no output, and a rerun finishes the job.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { cliRun, modelArgs, p4cnn, pixels, referenceSha, root, sha256, start, until, writeIdx, type Run } from './support/batch.js';
import { freePort, startRedis, type RedisServer } from './support/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'eq-queue-'));
let redis: RedisServer, client: Redis;
const children: Run[] = [];
const spawnCli = (args: string[]) => {
  const r = start(args);
  children.push(r);
  return r;
};
/** A worker process with a pool of one, that gives up a dead worker's chunks after 2 s. */
const startWorker = async (url: string) => {
  const w = spawnCli(['worker', '--queue', url, '--workers', '1', '--stall-timeout', '2']);
  await w.waitFor(/serving queue 'equivariant-batch'/);
  return w;
};
const stopAll = async () => {
  await Promise.all(children.splice(0).map(async (c) => {
    if (c.child.exitCode === null && c.child.signalCode === null) {
      c.child.kill('SIGKILL');
      await c.exit;
    }
  }));
};
const keysOf = (pattern: string) => client.keys(pattern);

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.port, '127.0.0.1');
}, 30_000);
afterEach(stopAll);
afterAll(async () => {
  await stopAll();
  client?.disconnect();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** An IDX data set of `n` images and the SHA-256 that model.run on it gives. */
async function dataset(name: string, n: number) {
  const p = pixels(n);
  writeIdx(`${dir}/${name}.idx`, p, [n, 28, 28]);
  return { input: `${dir}/${name}.idx`, ...(await referenceSha(Float32Array.from(p), [n, 1, 28, 28])) };
}
const batchArgs = (input: string, output: string, url: string, ...more: string[]) =>
  ['batch', ...modelArgs, '--input', input, '--output', output, '--queue', url, ...more];

describe('equivariant batch --queue (BullMQ on Redis)', () => {
  it('three workers, one killed with -9 mid-chunk: its chunks are retried after the stall and collected once; the output is model.run\'s', async () => {
    const data = await dataset('kill', 2000);
    const out = `${dir}/kill.safetensors`;
    const workers = [await startWorker(redis.url), await startWorker(redis.url), await startWorker(redis.url)];
    const producer = spawnCli(batchArgs(data.input, out, redis.url, '--name', 'kill', '--batch', '100'));
    // The moment worker 0 starts a chunk (it has loaded the model and is computing), kill it.
    const [, chunk] = await workers[0].waitFor(/job 'kill' chunk (\d+) \(items \d+\.\.\d+\): started/);
    workers[0].child.kill('SIGKILL');
    const killedPid = workers[0].child.pid;
    expect(await producer.exit, producer.stderr).toBe(0);
    expect(sha256(readFileSync(out))).toBe(data.sha);
    expect(producer.stdout).toContain(`SHA-256 ${data.sha}`);
    expect(producer.stdout).toContain('2000 items in 20 chunk(s) of 100: 20 computed by the workers');
    // BullMQ noticed the stall and another worker finished the chunk; the producer took it once.
    expect(producer.stderr).toMatch(new RegExp(`chunk ${chunk} \\(items \\d+\\.\\.\\d+\\) stalled: its worker stopped renewing its lock`));
    const recovered = producer.stderr.match(/chunk\(s\) were recovered by BullMQ and collected once: (.*)/)![1];
    expect(recovered).toMatch(new RegExp(`chunk ${chunk} \\(started 2 times, stalled 1; finished by [^:]+:(\\d+)\\)`));
    expect(recovered).not.toContain(`:${killedPid})`);
    const done = (w: Run) => [...w.stdout.matchAll(/job 'kill' chunk (\d+) .*: done/g)].map((m) => Number(m[1]));
    const finished = [...done(workers[1]), ...done(workers[2])];
    expect(finished).toContain(Number(chunk));
    expect(done(workers[0])).not.toContain(Number(chunk));
    // Each surviving worker fetched and loaded the model once for the whole job, not per chunk.
    for (const w of workers.slice(1)) expect(w.stdout.match(/model 'P4CNN \(Fashion-MNIST\)' of job 'kill' loaded .* fetched once/g)).toHaveLength(1);
    // Redis keeps only the finished job's manifest.
    expect(await keysOf('equivariant:job:kill:*')).toEqual([]);
    expect(await client.hget('equivariant:job:kill', 'state')).toBe('finished');
    expect(await keysOf('bull:equivariant-batch:kill#*')).toEqual([]);
  }, 90_000);

  it('Ctrl-C leaves queued chunks to the workers; a damaged result is a CorruptResultError naming its items; reruns collect and redo', async () => {
    const data = await dataset('corrupt', 600);
    const out = `${dir}/corrupt.safetensors`;
    const args = batchArgs(data.input, out, redis.url, '--name', 'corrupt', '--batch', '100');
    const first = spawnCli(args);
    await until(async () => (await keysOf('equivariant:job:corrupt:in:*')).length === 6, 'six chunks queued');
    first.child.kill('SIGINT');
    expect(await first.exit).toBe(130);
    expect(first.stderr).toContain('interrupted: 0 of 6 chunks are finished');
    expect(first.stderr).toContain('chunks already queued stay in Redis, and workers go on with them');
    expect(await client.exists('equivariant:job:corrupt:producer')).toBe(0);

    const workers = [await startWorker(redis.url), await startWorker(redis.url)];
    await until(() => workers.reduce((s, w) => s + (w.stdout.match(/job 'corrupt' chunk \d+ .*: done/g)?.length ?? 0), 0) === 6, 'six chunks done');
    await until(async () => (await Promise.all([0, 1, 2, 3, 4, 5].map((k) => client.hget(`bull:equivariant-batch:corrupt#${k}`, 'finishedOn')))).every(Boolean), 'six chunks completed');
    await client.setrange('equivariant:job:corrupt:out:2', 8, Buffer.from([0xde, 0xad]));

    const second = await cliRun(args);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('equivariant batch: ChunkFailedError: 1 of 6 chunk(s) failed; nothing was written to the output. The 5 chunk(s) finished are kept');
    expect(second.stderr).toMatch(/chunk 2 \(items 200\.\.299\): CorruptResultError: chunk 2 \(items 200\.\.299\) from worker \S+: its result's SHA-256 is [0-9a-f]{64}, but the worker reported [0-9a-f]{64}/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(`${out}.partial`).filter((f) => f.endsWith('.f32'))).toHaveLength(5);

    const third = await cliRun(args);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toContain('resuming: 5 of 6 chunks were already finished');
    expect(sha256(readFileSync(out))).toBe(data.sha);
  }, 90_000);

  it('a model the workers cannot load fails its chunks with a typed ModelLoadError, reported with their items; a rerun repairs Redis and finishes', async () => {
    const data = await dataset('model', 300);
    const weightsSha = sha256(readFileSync(p4cnn.weights));
    const z2Weights = readFileSync(`${root}models/z2cnn-fashion.safetensors`);
    const run = async (name: string, damage: () => Promise<void>, cause: RegExp) => {
      const out = `${dir}/${name}.safetensors`;
      const args = batchArgs(data.input, out, redis.url, '--name', name, '--batch', '100', '--attempts', '2');
      const producer = spawnCli(args);
      await until(async () => (await keysOf(`equivariant:job:${name}:in:*`)).length === 3, 'three chunks queued');
      await damage();
      const worker = await startWorker(redis.url);
      expect(await producer.exit).toBe(2);
      expect(producer.stderr).toContain('equivariant batch: ChunkFailedError: 3 of 3 chunk(s) failed; nothing was written to the output');
      for (const [k, items] of [[0, '0..99'], [1, '100..199'], [2, '200..299']]) {
        expect(producer.stderr).toMatch(new RegExp(`^  chunk ${k} \\(items ${items}\\): ModelLoadError: job '${name}': ${cause.source} \\(after 2 attempt\\(s\\)\\)$`, 'm'));
      }
      expect(worker.stdout).toMatch(new RegExp(`job '${name}' chunk 0 \\(items 0\\.\\.99\\): failed: ModelLoadError`));
      expect(existsSync(out)).toBe(false);
      const again = await cliRun(args);
      expect(again.code, again.stderr).toBe(0);
      expect(sha256(readFileSync(out))).toBe(data.sha);
      worker.child.kill('SIGTERM'); // the next case needs workers that have not seen the model yet
      await worker.exit;
      return again;
    };
    // The manifest names other weights (altered in Redis): the loader itself refuses them.
    const a = await run('wrong-weights', async () => {
      await client.set(`equivariant:blob:${sha256(z2Weights)}`, z2Weights);
      await client.hset('equivariant:job:wrong-weights', 'weights', sha256(z2Weights));
    }, /cannot load the model 'P4CNN \(Fashion-MNIST\)': WeightsError: .+/);
    expect(a.stderr).toContain("the manifest of job 'wrong-weights' in Redis disagrees with its own fingerprint (altered or damaged); writing it again");
    // The weights' blob is damaged in Redis: the workers check it against its SHA-256.
    const b = await run('damaged-blob', async () => {
      await client.setrange(`equivariant:blob:${weightsSha}`, 100, Buffer.from('garbage'));
    }, new RegExp(`the model's weights in Redis \\(blob ${weightsSha.slice(0, 12)}\\) is damaged: its SHA-256 is [0-9a-f]{12}; rerun the producer to upload it again`));
    expect(b.stderr).toContain(`the model's weights in Redis (blob ${weightsSha.slice(0, 12)}) was damaged; uploading it again`);
  }, 90_000);

  it('Redis killed and restarted without its data mid-job: the producer submits the lost chunks again and the output is model.run\'s; Redis gone for good: a clear error', async () => {
    const own = await startRedis();
    try {
      const data = await dataset('restart', 4000);
      const out = `${dir}/restart.safetensors`;
      const workers = [await startWorker(own.url), await startWorker(own.url)];
      const producer = spawnCli(batchArgs(data.input, out, own.url, '--name', 'restart', '--batch', '100'));
      await until(() => existsSync(`${out}.partial`) && readdirSync(`${out}.partial`).filter((f) => f.endsWith('.f32')).length >= 8, 'eight chunks collected');
      await own.restart();
      expect(await producer.exit, producer.stderr).toBe(0);
      expect(producer.stderr).toMatch(/Redis no longer holds job 'restart' \(restarted without its data\?\); submitting again the \d+ chunk\(s\) not collected/);
      expect(sha256(readFileSync(out))).toBe(data.sha);
      expect(workers.every((w) => w.child.exitCode === null)).toBe(true);

      // Redis gone for longer than --redis-timeout: a clear error, no output, the chunks kept.
      await stopAll();
      const out2 = `${dir}/gone.safetensors`;
      const waiting = spawnCli(batchArgs(data.input, out2, own.url, '--name', 'gone', '--batch', '1000', '--redis-timeout', '2'));
      await waiting.waitFor(/queue: job 'gone'/);
      await own.stop('SIGKILL');
      expect(await waiting.exit).toBe(2);
      expect(waiting.stderr).toMatch(new RegExp(`QueueConnectionError: lost Redis at ${own.url} for 2 s \\(.*\\); the 0 chunk\\(s\\) collected are kept; rerun the same command to resume once Redis is back`));
      expect(existsSync(out2)).toBe(false);
    } finally {
      await stopAll();
      await own.stop();
    }
  }, 90_000);

  it('refuses at once, with typed errors and nothing overwritten: unreachable Redis, a finished job name, another run\'s job name, bad options', async () => {
    const data = await dataset('bad', 200);
    const closed = `redis://127.0.0.1:${await freePort()}`;
    const t0 = Date.now();
    let r = await cliRun(batchArgs(data.input, `${dir}/bad.safetensors`, closed));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`equivariant batch: QueueConnectionError: batch: cannot reach Redis at ${closed} \\(connect ECONNREFUSED [^)]+\\); expected a running Redis server there`));
    r = await cliRun(['worker', '--queue', closed]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`equivariant worker: QueueConnectionError: worker: cannot reach Redis at ${closed}`);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(existsSync(`${dir}/bad.safetensors`) || existsSync(`${dir}/bad.safetensors.partial`)).toBe(false);

    // A finished job's name is refused; the output of that job and the new path stay as they are.
    const worker = await startWorker(redis.url);
    const args = (out: string, ...more: string[]) => batchArgs(data.input, `${dir}/${out}`, redis.url, '--name', 'once', ...more);
    expect((await cliRun(args('once.safetensors'))).code).toBe(0);
    const before = readFileSync(`${dir}/once.safetensors`);
    r = await cliRun(args('again.safetensors'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`JobFinishedError: job 'once' in ${redis.url} finished on \\S+ \\(its output, SHA-256 ${data.sha}, was written to ${dir}/once.safetensors on \\S+\\); nothing was changed; pass another --name to run it again`));
    expect(existsSync(`${dir}/again.safetensors`) || existsSync(`${dir}/again.safetensors.partial`)).toBe(false);
    expect(readFileSync(`${dir}/once.safetensors`).equals(before)).toBe(true);
    worker.child.kill('SIGTERM');
    expect(await worker.exit).toBe(0);
    expect(worker.stdout).toContain('stopping: finishing the chunks in hand');

    // A job name in use by another run (other --batch) is refused before anything changes.
    const pending = spawnCli(batchArgs(data.input, `${dir}/p1.safetensors`, redis.url, '--name', 'taken', '--batch', '50'));
    await until(async () => (await keysOf('equivariant:job:taken:in:*')).length === 4, 'four chunks queued');
    r = await cliRun(batchArgs(data.input, `${dir}/p2.safetensors`, redis.url, '--name', 'taken', '--batch', '40'));
    expect(r.stderr).toContain("BusyError: job 'taken' is being collected by another producer");
    pending.child.kill('SIGINT');
    expect(await pending.exit).toBe(130);
    r = await cliRun(batchArgs(data.input, `${dir}/p2.safetensors`, redis.url, '--name', 'taken', '--batch', '40'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("JobMismatchError: job 'taken' in");
    expect(r.stderr).toContain('was submitted for another run (model \'P4CNN (Fashion-MNIST)\', 200 items of [1, 28, 28], --batch 50');
    expect(await client.hget('equivariant:job:taken', 'batch')).toBe('50');
    expect((await keysOf('equivariant:job:taken:in:*')).length).toBe(4);

    for (const [a, msg] of [
      [['--queue', 'http://127.0.0.1:1'], "UsageError: --queue must be a redis:// or rediss:// URL, got 'http://127.0.0.1:1'"],
      [['--queue', redis.url, '--workers', '2'], 'UsageError: --workers sets the local pool; with --queue, each `equivariant worker` sets its own'],
      [['--queue', redis.url, '--name', 'a b'], "UsageError: --name must be 1-100 letters, digits, '.', '_' or '-', got 'a b'"],
    ] as [string[], string][]) {
      r = await cliRun(['batch', ...modelArgs, '--input', data.input, '--output', `${dir}/u.safetensors`, ...a]);
      expect(r.code, a.join(' ')).toBe(2);
      expect(r.stderr).toContain(msg);
    }
  }, 90_000);
});
