// Command-line options for `batch` and `worker`: `--name value` pairs and flags, every value
// checked, unknown options refused (a typo must not silently fall back to a default).
import { UsageError } from './errors.mjs';

/**
 * `spec` maps option names (without `--`) to `{ type: 'string' | 'int' | 'flag', default, min, max }`.
 * Returns an object of the values; `usage` is appended to every error.
 */
export function parseArgs(args, spec, usage) {
  const out = {};
  for (const [k, s] of Object.entries(spec)) out[k] = s.type === 'flag' ? false : s.default;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const key = a.startsWith('--') ? a.slice(2) : null;
    const s = key !== null ? spec[key] : undefined;
    if (!s) throw new UsageError(`${key !== null ? `unknown option ${a}` : `unexpected argument '${a}'`}\n${usage}`);
    if (s.type === 'flag') {
      out[key] = true;
      continue;
    }
    const v = args[++i];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value\n${usage}`);
    if (s.type === 'int') {
      const n = Number(v);
      const lo = s.min ?? 1, hi = s.max ?? Number.MAX_SAFE_INTEGER;
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < lo || n > hi) throw new UsageError(`${a} must be an integer in ${lo}..${hi === Number.MAX_SAFE_INTEGER ? '' : hi}, got '${v}'`);
      out[key] = n;
    } else {
      out[key] = v;
    }
  }
  return out;
}

/** Throws a UsageError naming the first of `names` that is missing. */
export function required(opts, names, usage) {
  const missing = names.filter((n) => opts[n] === undefined);
  if (missing.length) throw new UsageError(`missing ${missing.map((n) => `--${n}`).join(', ')}\n${usage}`);
}
