// The runnable examples of the guides print what the guides say they print. Each ```js example
// block is run as a module (against the built package) and its output compared with the
// ```text output block after it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const dist = new URL('../dist/index.js', import.meta.url).href;

function examples(doc: string): { title: string; code: string; output: string }[] {
  const text = readFileSync(join(root, 'docs', doc), 'utf8');
  const out: { title: string; code: string; output: string }[] = [];
  const re = /```js example\n([\s\S]*?)```\s*```text output\n([\s\S]*?)```/g;
  for (let m; (m = re.exec(text)); ) {
    const before = text.slice(0, m.index);
    const title = before.slice(before.lastIndexOf('\n### ') + 5).split('\n')[0];
    out.push({ title, code: m[1], output: m[2].trim() });
  }
  return out;
}

describe('docs/unification.md', () => {
  const list = examples('unification.md');
  it('has examples', () => expect(list.length).toBeGreaterThanOrEqual(5));
  const dir = mkdtempSync(join(tmpdir(), 'eq-docs-'));
  for (const ex of list) {
    it(`prints what it says: ${ex.title}`, () => {
      const file = join(dir, `${ex.title.replace(/\W+/g, '-')}.mjs`);
      writeFileSync(file, ex.code.replace(/from 'equivariant'/g, `from '${dist}'`));
      const printed = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 }).trim();
      expect(printed).toBe(ex.output);
    });
  }
  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
