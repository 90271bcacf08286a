// `npx equivariant batch`: runs a model over every item of a data set and writes the outputs, in
// input order, as the tensor `output` of a safetensors file. Locally through a worker pool (the
// default), or across machines through BullMQ on Redis (--queue; workers: `equivariant worker`).
// See docs/scaling.md.
//
// The input is split into chunks of --batch items (chunk k = items k*batch ..), fixed by
// --batch alone, so which worker ran which chunk never shows in the output: the output equals
// model.run on the whole input, byte for byte. Finished chunks are kept beside the output
// (Y.safetensors.partial/) as they arrive; Ctrl-C stops cleanly and the same command resumes.
import { resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { parseArgs, required } from './batch/args.mjs';
import { UsageError } from './batch/errors.mjs';
import { openInput } from './batch/input.mjs';
import { probeModel, readModelFiles } from './batch/model.mjs';
import { fmt, sha256 } from './batch/util.mjs';
import { ChunkStore, checkOutput } from './batch/store.mjs';
import { progressBar } from './batch/progress.mjs';
import { runLocal } from './batch/local.mjs';

export const USAGE = `usage: equivariant batch --config M.json --weights M.safetensors --input X --output Y.safetensors
         [--tensor NAME] [--batch 256] [--workers N] [--overwrite]
         [--queue redis://HOST:PORT [--name JOB] [--window 64] [--attempts 3] [--redis-timeout 30]]`;

const SPEC = {
  config: { type: 'string' },
  weights: { type: 'string' },
  input: { type: 'string' },
  output: { type: 'string' },
  tensor: { type: 'string' },
  batch: { type: 'int', default: 256, max: 1 << 20 },
  workers: { type: 'int', max: 256 },
  overwrite: { type: 'flag' },
  queue: { type: 'string' },
  name: { type: 'string' },
  window: { type: 'int', default: 64, max: 100000 },
  attempts: { type: 'int', default: 3, max: 100 },
  'redis-timeout': { type: 'int', default: 30, max: 86400 },
};

/**
 * Runs the command. Returns `{ output, shape, sha256, items, chunks, computed, resumed, seconds }`,
 * or `{ interrupted: true, ... }` after Ctrl-C (exit code 130). Throws typed errors.
 */
export async function main(args = [], { log = (s) => console.log(s), note = (s) => process.stderr.write(`${s}\n`) } = {}) {
  const opts = parseArgs(args, SPEC, USAGE);
  required(opts, ['config', 'weights', 'input', 'output'], USAGE);
  if (!opts.queue) {
    for (const k of ['name', 'window', 'attempts', 'redis-timeout']) if (args.includes(`--${k}`)) throw new UsageError(`--${k} applies to --queue runs only`);
  } else if (args.includes('--workers')) {
    throw new UsageError('--workers sets the local pool; with --queue, each `equivariant worker` sets its own');
  }
  const queued = opts.queue ? await import('./batch/producer.mjs') : null;
  const queueUrl = queued ? queued.parseQueueUrl(opts.queue) : null;
  if (queued && opts.name !== undefined && !queued.NAME_RE.test(opts.name)) throw new UsageError(`--name must be 1-100 letters, digits, '.', '_' or '-', got '${opts.name}'`);

  // Everything that can be refused is refused here, before any work: the input, the output
  // path, the model and the input's fit to it, and (with --queue) Redis and the job name.
  const input = openInput(opts.input, { tensor: opts.tensor });
  let store, job;
  try {
    checkOutput(opts.output, { overwrite: opts.overwrite });
    const files = readModelFiles(opts.config, opts.weights);
    const probe = await probeModel(files, input);
    const batch = opts.batch;
    const meta = {
      fingerprint: sha256(JSON.stringify({ v: 1, config: files.configSha, weights: files.weightsSha, input: input.sha256(), tensor: opts.tensor ?? null, itemShape: probe.itemShape, batch })),
      input: resolve(opts.input),
      tensor: opts.tensor ?? null,
      model: probe.name,
      config: files.configSha,
      weights: files.weightsSha,
      items: input.items,
      batch,
      itemShape: probe.itemShape,
      outItemShape: probe.outItemShape,
    };
    const chunks = Math.ceil(input.items / batch);
    const reshaped = probe.itemShape.length !== input.itemShape.length ? ` read as ${fmt(probe.itemShape)}` : '';
    note(`batch: '${probe.name}' over ${input.path}: ${input.format}, ${input.dtype} ${fmt(input.shape)} (items ${fmt(input.itemShape)}${reshaped}, as float32 values as stored) -> items ${fmt(probe.outItemShape)}; ${chunks} chunk(s) of ${batch}`);
    if (queued) job = await queued.openJob({ queue: queueUrl, name: opts.name, meta, files, redisTimeout: opts['redis-timeout'], note });
    store = new ChunkStore(opts.output, meta, { overwrite: opts.overwrite, notes: note });
    const resumed = store.done.size;
    if (resumed) note(`resuming: ${resumed} of ${chunks} chunks were already finished (kept in ${store.dir})`);

    const resumedItems = [...store.done.keys()].reduce((s, k) => s + Math.min(batch, input.items - k * batch), 0);
    const progress = progressBar({ total: input.items, done: resumedItems, label: 'batch' });
    const ac = new AbortController();
    const onSignal = () => {
      if (ac.signal.aborted) process.exit(130); // a second Ctrl-C: everything kept so far is consistent
      progress.note('stopping (Ctrl-C again to quit at once) ...');
      ac.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let seconds;
    try {
      if (queued) {
        await queued.runQueued({ job, input, itemShape: probe.itemShape, store, batch, window: opts.window, attempts: opts.attempts, progress, signal: ac.signal });
      } else {
        await runLocal({ input, itemShape: probe.itemShape, files, store, batch, workers: opts.workers ?? availableParallelism(), progress, signal: ac.signal });
      }
    } finally {
      seconds = progress.end();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    const computed = store.done.size - resumed;
    if (ac.signal.aborted) {
      note(`interrupted: ${store.done.size} of ${chunks} chunks are finished and kept in ${store.dir}; run the same command again to resume` +
        (queued ? ' (chunks already queued stay in Redis, and workers go on with them)' : ''));
      process.exitCode = 130;
      return { interrupted: true, chunks, done: store.done.size, computed, resumed };
    }
    const { shape, sha256: digest } = store.assemble();
    if (queued) {
      // The output is complete and in place; marking the job finished in Redis is housekeeping.
      await job.finish({ output: resolve(opts.output), sha256: digest })
        .catch((e) => note(`could not mark job '${job.name}' finished in Redis (${e.message}); the output is complete, but the job's keys stay there`));
    }
    const rate = (input.items - resumedItems) / seconds;
    log(`wrote ${opts.output}: tensor 'output' ${fmt(shape)} float32, SHA-256 ${digest}`);
    log(`${input.items} items in ${chunks} chunk(s) of ${batch}: ${computed} computed ${queued ? `by the workers of ${queueUrl.display}` : 'here'}, ${resumed} resumed; ` +
      `${Math.round(rate)} items/s over ${seconds.toFixed(2)} s`);
    return { output: opts.output, shape, sha256: digest, items: input.items, chunks, computed, resumed, seconds };
  } finally {
    store?.release();
    await job?.close();
    input.close();
  }
}
