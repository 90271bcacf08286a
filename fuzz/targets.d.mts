// Types of fuzz/targets.mjs for the test suite.
export interface FuzzReport {
  target: string;
  cases: number;
  ok: number;
  typed: Record<string, number>;
  untyped: string[];
  slowest: number;
}
type Eq = typeof import('../dist/index.js');
type Target = (eq: Eq, options?: { seed?: number; cases?: number; limit?: number }) => Promise<FuzzReport>;
export const TARGETS: Record<'safetensors' | 'config' | 'constructors' | 'pool', Target>;
export function knownGood(eq: Eq): Promise<{ model: import('../dist/index.js').Model; hash: string }>;
export function hashOf(eq: Eq, model: import('../dist/index.js').Model): Promise<string>;
export function rng(seed: number): { next(): number; int(n: number): number; pick<T>(xs: T[]): T; chance(p: number): boolean };
