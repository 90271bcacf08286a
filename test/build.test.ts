// The build: two builds of the same source, in different target directories, give
// byte-identical output (the .wasm and its glue).
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

const root = new URL('..', import.meta.url).pathname;
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('wasm build', () => {
  it('is byte-for-byte reproducible', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eq-repro-'));
    try {
      execFileSync(process.execPath, [join(root, 'tools/build-wasm.mjs'), '--out', join(dir, 'out'), '--target-dir', join(dir, 'target')], { stdio: 'pipe' });
      for (const f of ['equivariant_bg.wasm', 'equivariant.js']) {
        expect(sha(join(dir, 'out', f)), f).toBe(sha(join(root, 'ts/gen', f)));
      }
      expect(readFileSync(join(root, 'dist/equivariant_bg.wasm'))).toEqual(readFileSync(join(dir, 'out/equivariant_bg.wasm')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('is SIMD128 code with the documented exports and nothing else', () => {
    const mod = new WebAssembly.Module(readFileSync(join(root, 'dist/equivariant_bg.wasm')));
    const names = WebAssembly.Module.exports(mod).map((e) => e.name);
    for (const n of ['memory', '__stack_pointer', 'tensor_alloc', 'tensor_free', 'gemm', 'pack_b', 'peak']) expect(names).toContain(n);
    // A module that uses v128 fails validation without SIMD; check the opcode prefix is there.
    expect(readFileSync(join(root, 'dist/equivariant_bg.wasm')).includes(Buffer.from([0xfd]))).toBe(true);
  });
});
