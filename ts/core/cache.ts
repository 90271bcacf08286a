/**
 * What the library derives once and keeps in wasm memory: group-action index tables, neighbour
 * lists. Entries are keyed by the identity of the object they came from (a group, a domain),
 * never by a name two objects could share. The cache holds at most `MAX_CACHED_BYTES`, least
 * recently used first out; an entry larger than that is built, used once and freed.
 */
import { IndexTable } from './ops.js';

export const MAX_CACHED_BYTES = 64 * 1024 * 1024;

/** Something a cache can hold: its size and how to free it. */
export interface Cacheable {
  readonly bytes: number;
  readonly disposed?: boolean;
  dispose(): void;
}

const cache = new Map<string, Cacheable>();
let cachedBytes = 0;

const ids = new WeakMap<object, number>();
let nextId = 1;
/** A number unique to `owner` for as long as it lives. */
export function identity(owner: object): number {
  let id = ids.get(owner);
  if (id === undefined) ids.set(owner, (id = nextId++));
  return id;
}

/** The live entry for (`owner`, `key`) if the cache holds one (marked as just used), else undefined. */
export function cachedEntry<T extends Cacheable>(owner: object, key: string): T | undefined {
  const k = `${identity(owner)}/${key}`;
  const t = cache.get(k) as T | undefined;
  if (!t || t.disposed) return undefined;
  cache.delete(k); // re-insert: the Map's order is least recently used first
  cache.set(k, t);
  return t;
}

/**
 * Runs `use` with the entry for (`owner`, `key`), built by `build` when not cached. `build` must
 * make its buffers unscoped (`scoped = false`): the cache, not a `tidy()` scope, owns them.
 */
export function withCached<T extends Cacheable, R>(owner: object, key: string, build: () => T, use: (entry: T) => R): R {
  const hit = cachedEntry<T>(owner, key);
  if (hit) return use(hit);
  const k = `${identity(owner)}/${key}`;
  const t = build();
  if (t.bytes > MAX_CACHED_BYTES) {
    try {
      return use(t);
    } finally {
      t.dispose();
    }
  }
  for (const [old, entry] of cache) {
    if (cachedBytes + t.bytes <= MAX_CACHED_BYTES) break;
    cachedBytes -= entry.bytes;
    entry.dispose();
    cache.delete(old);
  }
  cache.set(k, t);
  cachedBytes += t.bytes;
  return use(t);
}

/** `withCached` for an index table built from `build`'s indices. */
export function withTable<R>(owner: object, key: string, build: () => Int32Array, use: (t: IndexTable) => R): R {
  return withCached(owner, `table/${key}`, () => new IndexTable(build(), false), use);
}

/** Frees what is cached for `owner` (an object that will not be used again, e.g. a cloud lifted for one run). */
export function release(owner: object): void {
  const id = ids.get(owner);
  if (id === undefined) return;
  const prefix = `${id}/`;
  for (const [k, entry] of cache) {
    if (!k.startsWith(prefix)) continue;
    cachedBytes -= entry.bytes;
    entry.dispose();
    cache.delete(k);
  }
}

/** Frees everything cached (it is rebuilt on demand). */
export function clearCaches(): void {
  for (const t of cache.values()) t.dispose();
  cache.clear();
  cachedBytes = 0;
}

/** Bytes held by the cache. */
export function cacheBytes(): number {
  return cachedBytes;
}
