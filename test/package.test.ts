// Packaging: `npm pack`, install the tarball into a fresh project, and use it as a user would.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

describe('npm package', () => {
  it('installs from its tarball and works: import, init, matmul, the command line, types', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eq-pack-'));
    try {
      const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8' }).trim().split('\n').at(-1)!;
      const tarball = join(dir, out);
      const app = join(dir, 'app');
      execFileSync('mkdir', ['-p', app]);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
      execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', tarball], { cwd: app, stdio: 'pipe' });
      const installed = readdirSync(join(app, 'node_modules', 'equivariant', 'dist'));
      expect(installed).toContain('equivariant_bg.wasm');
      expect(installed).toContain('index.d.ts');
      writeFileSync(join(app, 'main.mjs'), `
        import * as eq from 'equivariant';
        await eq.init();
        const a = eq.tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
        const b = eq.tensor(new Float32Array([1, 0, 0, 1, 1, 1]), [3, 2]);
        const c = eq.matmul(a, b, { relu: true });
        console.log(JSON.stringify({ shape: c.shape, data: Array.from(c.toArray()) }));
      `);
      const result = JSON.parse(execFileSync(process.execPath, ['main.mjs'], { cwd: app, encoding: 'utf8' }));
      expect(result).toEqual({ shape: [2, 2], data: [4, 5, 10, 11] });
      // The command line runs from the install, queue commands included (bullmq and ioredis are
      // dependencies): with no Redis at the address, a typed error at once.
      const worker = spawnSync(join(app, 'node_modules', '.bin', 'equivariant'), ['worker', '--queue', 'redis://127.0.0.1:1'], { cwd: app, encoding: 'utf8' });
      expect(worker.status).toBe(2);
      expect(worker.stderr).toContain('equivariant worker: QueueConnectionError: worker: cannot reach Redis at redis://127.0.0.1:1');
      // The types resolve for a TypeScript user.
      writeFileSync(join(app, 'check.ts'), `
        import * as eq from 'equivariant';
        export async function f(): Promise<readonly number[]> {
          await eq.init();
          const t: eq.Tensor = eq.zeros([2, 2]);
          return t.shape;
        }
      `);
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--lib', 'es2022,dom,esnext.disposable', 'check.ts'], { cwd: app, stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
