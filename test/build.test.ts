// The build (wasm-pack in no-install mode, then wasm-opt from npm binaryen): two builds of the
// same source, in different target directories, give byte-identical output (the .wasm and its
// glue); the production module exports no test-only function, the test build does.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
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
      const r = spawnSync(process.execPath, [join(root, 'tools/build-wasm.mjs'), '--out', join(dir, 'out'), '--target-dir', join(dir, 'target')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      // Built through wasm-pack, in its no-install mode, with the pinned wasm-bindgen from PATH.
      expect(r.stderr).toMatch(/wasm-pack 0\.15\.1 build --mode no-install --no-opt, wasm-bindgen \S+ from PATH/);
      expect(r.stderr).toContain('Compiling to Wasm');
      for (const f of ['equivariant_bg.wasm', 'equivariant.js']) {
        expect(sha(join(dir, 'out', f)), f).toBe(sha(join(root, 'ts/gen', f)));
      }
      expect(readFileSync(join(root, 'dist/equivariant_bg.wasm'))).toEqual(readFileSync(join(dir, 'out/equivariant_bg.wasm')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('is SIMD128 code with the documented exports and no test-only ones', () => {
    const mod = new WebAssembly.Module(readFileSync(join(root, 'dist/equivariant_bg.wasm')));
    const names = WebAssembly.Module.exports(mod).map((e) => e.name);
    for (const n of ['memory', '__stack_pointer', 'tensor_alloc', 'tensor_address', 'tensor_free', 'max_alloc_bytes', 'gemm', 'pack_b', 'peak']) expect(names).toContain(n);
    const testOnly = ['trap_for_test', 'gemm_reference', 'conv2d_reference', 'exp_reference'];
    for (const n of testOnly) expect(names, n).not.toContain(n);
    expect(readFileSync(join(root, 'ts/gen/equivariant.js'), 'utf8')).not.toContain('trap_for_test');
    const test = WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(join(root, 'ts/gen-test/equivariant_bg.wasm')))).map((e) => e.name);
    for (const n of testOnly) expect(test, n).toContain(n);
    // The test build is the production one plus those exports, nothing else.
    expect(test.filter((n) => !testOnly.includes(n)).sort()).toEqual([...names].sort());
    // A module that uses v128 fails validation without SIMD; check the opcode prefix is there.
    expect(readFileSync(join(root, 'dist/equivariant_bg.wasm')).includes(Buffer.from([0xfd]))).toBe(true);
  });
});
