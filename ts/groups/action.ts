/**
 * Index tables of group actions, built once per (group object, element, shape) and kept in wasm
 * memory for the gather kernel. Keyed by the group's identity, never by its name: two groups
 * that happen to share a name never share tables. The cache holds at most `MAX_CACHED_BYTES`,
 * least recently used first out; a table larger than that is built, used once and freed.
 */
import { IndexTable } from '../core/ops.js';

const MAX_CACHED_BYTES = 64 * 1024 * 1024;
const cache = new Map<string, IndexTable>();
let cachedBytes = 0;

const ids = new WeakMap<object, number>();
let nextId = 1;
/** A number unique to `owner` for as long as it lives. */
export function identity(owner: object): number {
  let id = ids.get(owner);
  if (id === undefined) ids.set(owner, (id = nextId++));
  return id;
}

/** Runs `use` with the table for (`owner`, `key`), built by `build` when not cached. */
export function withTable<R>(owner: object, key: string, build: () => Int32Array, use: (t: IndexTable) => R): R {
  const k = `${identity(owner)}/${key}`;
  let t = cache.get(k);
  if (t && !t.disposed) {
    cache.delete(k); // re-insert: the Map's order is least recently used first
    cache.set(k, t);
    return use(t);
  }
  const idx = build();
  if (idx.length * 4 > MAX_CACHED_BYTES) {
    const once = new IndexTable(idx);
    try {
      return use(once);
    } finally {
      once.dispose();
    }
  }
  t = new IndexTable(idx, false);
  for (const [old, table] of cache) {
    if (cachedBytes + t.bytes <= MAX_CACHED_BYTES) break;
    cachedBytes -= table.bytes;
    table.dispose();
    cache.delete(old);
  }
  cache.set(k, t);
  cachedBytes += t.bytes;
  return use(t);
}

/** Frees the cached index tables (they are rebuilt on demand). */
export function clearCaches(): void {
  for (const t of cache.values()) t.dispose();
  cache.clear();
  cachedBytes = 0;
}

/** Bytes held by cached index tables. */
export function cacheBytes(): number {
  return cachedBytes;
}
