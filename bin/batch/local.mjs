// `equivariant batch` without --queue: the chunks not yet finished run through a local worker
// pool (eq.createPool), two in flight so reading, copying and writing overlap the compute.
// Each finished chunk is kept at once (store.put), so an interruption loses at most the chunks
// in flight. A chunk whose worker thread died is tried again (the pool replaces the thread).
import * as eq from '../../dist/index.js';
import { ChunkFailedError, describeError } from './errors.mjs';

const RETRIES = 2;

/** Runs the pending chunks of `store`. Resolves when all are kept, or when `signal` aborts. */
export async function runLocal({ input, itemShape, files, store, batch, workers, progress, signal }) {
  const pool = await eq.createPool({ workers });
  try {
    await pool.load({ config: files.config, weights: files.weights });
    progress.begin();
    const pending = store.pending();
    const failures = [];
    const next = async () => {
      while (pending.length && !signal.aborted && !failures.length) {
        const k = pending.shift();
        const start = k * batch, count = Math.min(batch, input.items - start);
        for (let attempt = 0; ; attempt++) {
          const x = eq.tensor(input.read(start, count), [count, ...itemShape]);
          try {
            const y = await pool.run(x, { signal });
            const out = y.toArray();
            y.dispose();
            store.put(k, out);
            progress.tick(count);
            break;
          } catch (e) {
            if (signal.aborted) return;
            if (e instanceof eq.WorkerCrashedError && attempt < RETRIES) {
              progress.note(`chunk ${k} (items ${start}..${start + count - 1}): ${describeError(e)}; trying it again`);
              continue;
            }
            failures.push({ chunk: k, first: start, last: start + count - 1, error: e.name, message: e.message, attempts: attempt + 1 });
            return;
          } finally {
            x.dispose();
          }
        }
      }
    };
    await Promise.all([next(), next()]);
    if (failures.length) {
      const f = failures[0];
      throw new ChunkFailedError(`chunk ${f.chunk} (items ${f.first}..${f.last}) failed: ${f.error}: ${f.message}; the ${store.done.size} chunks finished are kept, rerun to resume`, failures);
    }
  } finally {
    await pool.close();
  }
}
