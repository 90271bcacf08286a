// The command line: check and basis (demo and bench have their own tests and records).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

  it('check on point-cloud models: the layers after the lift invariant for SE(3) models, a plain model caught', () => {
    const models = new URL('../models/', import.meta.url).pathname;
    const ok = run('check', '--config', `${fx}lietransformer_model.json`, '--weights', `${fx}lietransformer_model.safetensors`, '--elements', '4');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('the layers after the lift are invariant over 4 elements');
    expect(ok.stdout.match(/ ok$/gm)).toHaveLength(4);
    const bad = run('check', '--config', `${models}tetris-plain.json`, '--weights', `${models}tetris-plain.safetensors`, '--elements', '3');
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('NOT invariant after the lift');
  });

  it('check on steerable models: exact on the grid symmetries; --all reports the resampled rotations without failing', () => {
    const models = new URL('../models/', import.meta.url).pathname;
    const r = run('check', '--config', `${models}d8-fashion.json`, '--weights', `${models}d8-fashion.safetensors`, '--batch', '2', '--all');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('is equivariant under D8 over 8 elements');
    expect(r.stdout.match(/ ok$/gm)).toHaveLength(8);
    const resampled = r.stdout.slice(r.stdout.indexOf('resampled'));
    expect(resampled.match(/^ {2}r\d( f)? +abs /gm)).toHaveLength(8);
  });

  it('basis: dimensions from characters and from the null space', () => {
    const r = run('basis', 'S4', 'perm*perm', 'perm*perm');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('dimension: 15 (character formula: 15)');
    const c = run('basis', 'S4', 'perm*perm', 'perm*perm', '--method', 'constraints');
    expect(c.stdout).toContain('dimension: 15 (character formula: 15)');
    expect(c.stdout).toContain('(constraints 1)');
  });

  it('basis: the new solver\'s sizes (S4 on 4 x 4 x 4: 4,096 unknowns), time, a summary and --json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eq-cli-'));
    try {
      const file = join(dir, 'basis.json');
      const r = run('basis', 'S4', 'perm*perm*perm', 'perm*perm*perm', '--json', file);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('Hom_S4(perm*perm*perm [dim 64], perm*perm*perm [dim 64]): 4,096 unknowns');
      expect(r.stdout).toContain('dimension: 187 (character formula: 187)');
      expect(r.stdout).toMatch(/time: [\d.]+ m?s/);
      expect(r.stdout).toContain('basis: 187 orthonormal 64 x 64 matrices, 4,096 nonzero entries in all');
      const j = JSON.parse(readFileSync(file, 'utf8'));
      expect(j).toMatchObject({ group: 'S4', unknowns: 4096, dimension: 187, characterDimension: 187 });
      // The sparse basis: every coordinate once (the orbits partition them), orthonormal indicators.
      expect(new Set(j.basis.index).size).toBe(4096);
      const norms = new Float64Array(187);
      j.basis.element.forEach((e: number, k: number) => (norms[e] += j.basis.value[k] ** 2));
      expect(Math.max(...norms.map((v) => Math.abs(v - 1)))).toBeLessThan(1e-12);
      const lie = run('basis', 'SO(3)', 'V^3', 'V^2');
      expect(lie.stdout).toContain('dimension: 6 (Haar integral of the character: 6)');
      expect(lie.stdout).toContain('rank gap (projector)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('basis --help lists the built-in groups and representations', () => {
    const r = run('basis', '--help');
    expect(r.status).toBe(0);
    for (const s of ['C<n>', 'D<n>', 'S<n>', 'p4, p4m', 'SO(2), SO(3)', 'O(3)', 'regular', 'perm', 'standard', 'irrep:<k>', 'defining, V', 'det, P', '--json FILE']) expect(r.stdout).toContain(s);
  });

  it('emlp: the shipped equivariant MLPs beside plain MLPs: test error, equivariance error, agreement with PyTorch', () => {
    const r = run('emlp');
    expect(r.status).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\| (invariant|inertia) +\| (EMLP|MLP)/.test(l));
    expect(rows).toHaveLength(4);
    const eqErr = (l: string) => Number(l.split('|')[6]);
    for (const l of rows) expect(eqErr(l) < 1e-5).toBe(/EMLP/.test(l));
  });

  it('says what is wrong, briefly, with a non-zero exit', () => {
    const bad = run('basis', 'S3', 'perm', 'bogus');
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe("equivariant basis: ArgumentError: rep 'bogus': unknown representation 'bogus' (known: trivial (S), regular, sign, standard, perm, irrep:<k>, defining (V), det (P); combine with +, *, ^ and parentheses)");
    expect(run('basis', 'S4', 'perm^6', 'perm^5').stderr).toContain('limits.maxBasisUnknowns');
    expect(run('basis', 'S4', 'perm', 'perm', '--frobnicate').status).toBe(2);
    expect(run('check').status).toBe(2);
    expect(run('frobnicate').status).toBe(2);
    expect(run('help').status).toBe(0);
    expect(run('--help').status).toBe(0);
    // Options of check and emlp by name and kind: a usage error, not NaN or a RangeError inside.
    const model = ['--config', `${fx}p4mcnn.json`, '--weights', `${fx}p4mcnn.safetensors`];
    for (const [args, message] of [[['--batch', 'abc'], "--batch must be an integer in 1..4096, got 'abc'"], [['--batch', '1000000000'], 'got \'1000000000\''], [['--frobnicate'], 'unknown option --frobnicate'], [['--tolerance', 'abc'], "--tolerance must be a positive number, got 'abc'"]] as const) {
      const r = run('check', ...model, ...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
    expect(run('emlp', '--bogus').status).toBe(2);
    // A file it cannot write: the system's one line, no stack trace.
    const dir = mkdtempSync(join(tmpdir(), 'eq-cli-'));
    try {
      const r = run('basis', 'S3', 'perm', 'perm', '--json', join(dir, 'missing', 'x.json'));
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('ENOENT');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('check on the shipped O(3) models: rep-field inputs sized from the model, random elements of O(3); a vacuous check says so', () => {
    const models = new URL('../models/', import.meta.url).pathname;
    for (const m of ['emlp-inertia', 'emlp-invariant']) {
      const r = run('check', '--config', `${models}${m}.json`, '--weights', `${models}${m}.safetensors`, '--elements', '6');
      expect(r.status, m).toBe(0);
      expect(r.stdout, m).toContain('is equivariant under O(3) over 6 elements');
    }
    const plain = run('check', '--config', `${models}mlp-inertia.json`, '--weights', `${models}mlp-inertia.safetensors`, '--elements', '3');
    expect(plain.status).toBe(0);
    expect(plain.stdout).toContain('this check cannot fail');
  });
});
