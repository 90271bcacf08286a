// The command line: check and basis (demo and bench have their own tests and records).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';

const cli = new URL('../bin/equivariant.mjs', import.meta.url).pathname;
const fx = new URL('./fixtures/', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('npx equivariant', () => {
  it('check: reports equivariance of a model element by element', () => {
    const r = run('check', '--config', `${fx}p4mcnn.json`, '--weights', `${fx}p4mcnn.safetensors`);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('is equivariant under p4m');
    expect(r.stdout.match(/ ok$/gm)).toHaveLength(8);
  });

  it('basis: dimensions from characters and from the null space', () => {
    const r = run('basis', 'S4', 'perm*perm', 'perm*perm');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('dimension from characters: 15');
    expect(r.stdout).toContain('null space of the constraints (2 generators): 15');
  });

  it('says what is wrong, briefly, with a non-zero exit', () => {
    const bad = run('basis', 'S3', 'perm', 'bogus');
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe("equivariant basis: ArgumentError: basis: unknown representation 'bogus' (trivial, regular, sign, standard, perm, irrep:<k>, defining, a*b)");
    expect(run('check').status).toBe(2);
    expect(run('frobnicate').status).toBe(2);
    expect(run('help').status).toBe(0);
  });
});
