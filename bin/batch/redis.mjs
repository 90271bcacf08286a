// What the producer (`batch --queue`) and the workers (`worker`) share in Redis.
//
//   BullMQ queue `equivariant-batch`    one BullMQ job per chunk, id `<job name>#<chunk>`
//   equivariant:blob:<sha256>           a model file (config or weights), stored once per content
//   equivariant:blob:<sha256>:jobs      the job names that use it (deleted with the last one)
//   equivariant:job:<name>              the job's manifest (hash): model digests, item shapes,
//                                       chunk size, fingerprint, state (running | finished)
//   equivariant:job:<name>:producer     the producer collecting it (a lock that expires)
//   equivariant:job:<name>:in:<k>       chunk k's input, float32 little-endian
//   equivariant:job:<name>:out:<k>      chunk k's output, float32 little-endian, until collected
import { Redis } from 'ioredis';
import { QueueConnectionError, UsageError } from './errors.mjs';

export const QUEUE = 'equivariant-batch';
export const keys = {
  blob: (sha) => `equivariant:blob:${sha}`,
  blobJobs: (sha) => `equivariant:blob:${sha}:jobs`,
  job: (name) => `equivariant:job:${name}`,
  producer: (name) => `equivariant:job:${name}:producer`,
  input: (name, k) => `equivariant:job:${name}:in:${k}`,
  output: (name, k) => `equivariant:job:${name}:out:${k}`,
};
export const jobId = (name, k) => `${name}#${k}`;
export const NAME_RE = /^[A-Za-z0-9_.-]{1,100}$/;

/** `redis://[user:password@]host[:port][/db]` (or rediss:// for TLS) as connection options. */
export function parseQueueUrl(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--queue must be a URL redis://HOST:PORT, got '${text}'`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`--queue must be a redis:// or rediss:// URL, got '${text}'`);
  if (!url.hostname) throw new UsageError(`--queue ${text}: no host`);
  const db = url.pathname && url.pathname !== '/' ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new UsageError(`--queue ${text}: the database must be a number (redis://HOST:PORT/DB), got '${url.pathname.slice(1)}'`);
  const options = { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : 6379, db };
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') options.tls = {};
  return { options, display: `${url.protocol}//${url.host}${db ? `/${db}` : ''}` };
}

/**
 * A client for our own keys. Refuses at once when Redis cannot be reached (QueueConnectionError);
 * once connected, it reconnects by itself, and `downFor()` tells for how many seconds it has been
 * disconnected (0 when connected), so callers can give up after a limit instead of hanging.
 */
export async function connect(queue, what) {
  let connected = false, downSince = 0;
  const client = new Redis({
    ...queue.options,
    lazyConnect: true,
    connectTimeout: 5000,
    maxRetriesPerRequest: null,
    retryStrategy: (times) => (connected ? Math.min(100 * times, 1000) : null),
  });
  let lastError;
  client.on('error', (e) => { lastError = e; });
  client.on('close', () => { if (connected && !downSince) downSince = performance.now(); });
  client.on('ready', () => { downSince = 0; });
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    client.disconnect();
    const why = (lastError ?? e)?.message ?? String(e);
    throw new QueueConnectionError(`${what}: cannot reach Redis at ${queue.display} (${why}); expected a running Redis server there (--queue redis://HOST:PORT)`);
  }
  connected = true;
  client.downFor = () => (downSince ? (performance.now() - downSince) / 1000 : 0);
  client.lastError = () => lastError;
  return client;
}

/** Connection options for BullMQ's own clients. */
export const bullConnection = (queue) => ({ ...queue.options });

/** The manifest of job `name` as an object, or undefined. */
export async function readManifest(redis, name) {
  const h = await redis.hgetall(keys.job(name));
  if (!h || !h.fingerprint) return undefined;
  return {
    ...h,
    items: Number(h.items),
    batch: Number(h.batch),
    chunks: Number(h.chunks),
    itemShape: JSON.parse(h.itemShape),
    outItemShape: JSON.parse(h.outItemShape),
  };
}
