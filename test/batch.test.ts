// `equivariant batch` with the local pool, run as a user runs it (a child process): the output
// equals model.run on the whole input byte for byte, for every input format, chunk size and
// worker count; Ctrl-C, kill -9 and damaged state resume to the same bytes; bad input is refused
// at once with typed errors and nothing is overwritten. (Across machines: batch-queue.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as eq from '../dist/index.js';
import { openInput } from '../bin/batch/input.mjs';
import { progressBar } from '../bin/batch/progress.mjs';
import { firstBitDifference } from './helpers.js';
import { cliRun, f32bytes, modelArgs, pixels, random, referenceSha, root, sha256, start, until, writeIdx, writeNpy, writeSafetensors } from './support/batch.js';

const dir = mkdtempSync(join(tmpdir(), 'eq-batch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const N = 600;
const px = pixels(N);
let ref: { sha: string; output: Float32Array };
beforeAll(async () => {
  ref = await referenceSha(Float32Array.from(px), [N, 1, 28, 28]);
}, 60_000);

describe('equivariant batch, local pool', () => {
  it('writes the bytes of model.run on the whole input, in order, from IDX, .npy and safetensors, for any --batch and --workers', async () => {
    writeIdx(`${dir}/x.idx.gz`, px, [N, 28, 28], true);
    writeNpy(`${dir}/x.npy`, '<f4', [N, 1, 28, 28], f32bytes(Float32Array.from(px)));
    writeSafetensors(`${dir}/x.safetensors`, { labels: { dtype: 'U8', shape: [N], raw: new Uint8Array(N) }, images: { dtype: 'U8', shape: [N, 1, 28, 28], raw: px } });
    const runs = [
      ['--input', `${dir}/x.idx.gz`, '--batch', '64', '--workers', '2'],
      ['--input', `${dir}/x.npy`, '--batch', '7', '--workers', '1'],
      ['--input', `${dir}/x.safetensors`, '--tensor', 'images', '--batch', '600', '--workers', '3'],
    ];
    for (const [i, r] of runs.entries()) {
      const out = `${dir}/y${i}.safetensors`;
      const res = await cliRun(['batch', ...modelArgs, ...r, '--output', out]);
      expect(res.code, res.stderr).toBe(0);
      expect(sha256(readFileSync(out)), r.join(' ')).toBe(ref.sha);
      expect(res.stdout).toContain(`SHA-256 ${ref.sha}`);
      expect(existsSync(`${out}.partial`)).toBe(false);
      if (i === 0) {
        // IDX images have no channel axis: read as [1, 28, 28], the same bytes.
        expect(res.stderr).toContain('IDX (gzipped), uint8 [600, 28, 28] (items [28, 28] read as [1, 28, 28]');
        // Not a terminal: plain progress lines with the rate and the time left.
        expect(res.stderr.match(/^batch: +[1-9]\d%  \d+\/600 items  [\d,]+ items\/s  ETA \d+s$/gm)!.length).toBeGreaterThanOrEqual(5);
        expect(res.stderr).toMatch(/^batch: 100%  600\/600 items  [\d,]+ items\/s  ETA 0s$/m);
      }
    }
    // A plain safetensors file: the library reads it back.
    const { tensors } = eq.parseSafetensors(readFileSync(`${dir}/y0.safetensors`));
    expect([...tensors.keys()]).toEqual(['output']);
    expect(tensors.get('output')!.shape).toEqual([N, 10]);
    expect(firstBitDifference(tensors.get('output')!.data, ref.output)).toBe(-1);
  }, 60_000);

  it('IDX images into a steerable model (a field type on the plane): read as [1, 28, 28], the bytes of model.run', async () => {
    const n = 9, c8 = { config: `${root}models/c8-fashion.json`, weights: `${root}models/c8-fashion.safetensors` };
    writeIdx(`${dir}/c8.idx`, px.subarray(0, n * 784), [n, 28, 28]);
    const out = `${dir}/c8.safetensors`;
    const res = await cliRun(['batch', '--config', c8.config, '--weights', c8.weights, '--input', `${dir}/c8.idx`, '--output', out, '--workers', '1']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('read as [1, 28, 28]');
    const model = await eq.loadModel(c8);
    const want = eq.tidy(() => model.run(eq.tensor(Float32Array.from(px.subarray(0, n * 784)), [n, 1, 28, 28])).toArray());
    model.dispose();
    expect(firstBitDifference(eq.parseSafetensors(readFileSync(out)).tensors.get('output')!.data, want)).toBe(-1);
  }, 60_000);

  it('writes whatever shape the model gives per item: a lifting layer, float64 input, 37 items in chunks of 5', async () => {
    const fx = `${root}test/fixtures/lifting_p4_same`;
    const x = new Float64Array(random(37 * 2 * 9 * 9, 7));
    writeNpy(`${dir}/lift.npy`, '<f8', [37, 2, 9, 9], new Uint8Array(x.buffer));
    const out = `${dir}/lift.safetensors`;
    const r = await cliRun(['batch', '--config', `${fx}.json`, '--weights', `${fx}.safetensors`, '--input', `${dir}/lift.npy`, '--output', out, '--batch', '5', '--workers', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('float64 [37, 2, 9, 9] (items [2, 9, 9], as float32 values as stored) -> items [3, 4, 9, 9]; 8 chunk(s) of 5');
    await eq.init();
    const model = await eq.loadModel({ config: `${fx}.json`, weights: `${fx}.safetensors` });
    const want = eq.tidy(() => model.run(eq.tensor(Float32Array.from(x), [37, 2, 9, 9])).toArray());
    model.dispose();
    const got = eq.parseSafetensors(readFileSync(out)).tensors.get('output')!;
    expect(got.shape).toEqual([37, 3, 4, 9, 9]);
    expect(firstBitDifference(got.data, want)).toBe(-1);
  }, 60_000);

  it('shows progress with items/s and the time left: a bar redrawn in place on a terminal, plain lines elsewhere', () => {
    const sink = (isTTY: boolean) => ({ isTTY, text: '', write(s: string) { this.text += s; return true; } });
    const tty = sink(true), log = sink(false);
    for (const stream of [tty, log]) {
      const bar = progressBar({ total: 1000, done: 200, stream: stream as never });
      for (let i = 0; i < 8; i++) bar.tick(100);
      bar.end();
    }
    expect(tty.text.startsWith('\rbatch [######------------------------]  20%  200/1,000 items  - items/s  ETA ?')).toBe(true);
    expect(tty.text).toMatch(/\rbatch \[#{30}\] 100%  1,000\/1,000 items  [\d,]+ items\/s  ETA 0s\x1b\[K\n$/);
    expect(tty.text).not.toContain('\nbatch');
    const lines = log.text.trim().split('\n');
    expect(lines).toHaveLength(9); // the start (20%), then each tenth: 30% .. 100%
    expect(lines[0]).toBe('batch:  20%  200/1,000 items  - items/s  ETA ?');
    expect(lines[4]).toMatch(/^batch:  60%  600\/1,000 items  [\d,]+ items\/s  ETA \d+s$/);
    expect(lines[8]).toMatch(/^batch: 100%  1,000\/1,000 items  [\d,]+ items\/s  ETA 0s$/);
  });

  it('reads items as stored: integers and float64 become float32 values, big-endian included, gzipped or not', () => {
    const vals = [0, 1, -2, 300, 2048, -7];
    const be16 = Buffer.alloc(12);
    vals.forEach((v, i) => be16.writeInt16BE(v, 2 * i));
    writeNpy(`${dir}/i2.npy`, '>i2', [3, 2], be16);
    expect(Array.from(openInput(`${dir}/i2.npy`).read(0, 3))).toEqual(vals);
    const f8 = new Float64Array([0.1, -1e-3, 1e39, 2.5]);
    writeNpy(`${dir}/f8.npy`, '<f8', [4], new Uint8Array(f8.buffer));
    expect(openInput(`${dir}/f8.npy`).read(1, 3)).toEqual(Float32Array.from([-1e-3, 1e39, 2.5]));
    const f = Float32Array.from([1.5, -0.25, 3e-5, 7]);
    writeIdx(`${dir}/f.idx`, f, [2, 2]);
    writeIdx(`${dir}/f.idx.gz`, f, [2, 2], true);
    for (const p of ['f.idx', 'f.idx.gz']) {
      const x = openInput(`${dir}/${p}`);
      expect({ shape: x.shape, dtype: x.dtype, data: x.read(0, 2) }).toEqual({ shape: [2, 2], dtype: 'float32', data: f });
    }
    const i64 = new BigInt64Array([-3n, 1n << 40n]);
    const f16 = new Uint16Array([0x3c00, 0xc000]); // 1, -2
    const bf16 = new Uint16Array([0x3f80, 0x4049]); // 1, 3.140625
    writeSafetensors(`${dir}/mixed.safetensors`, {
      a: { dtype: 'I64', shape: [2], raw: new Uint8Array(i64.buffer) },
      b: { dtype: 'F16', shape: [2, 1], raw: new Uint8Array(f16.buffer) },
      c: { dtype: 'BF16', shape: [1, 2], raw: new Uint8Array(bf16.buffer) },
      d: { dtype: 'BOOL', shape: [3], raw: new Uint8Array([0, 1, 1]) },
    });
    const read = (tensor: string) => Array.from(openInput(`${dir}/mixed.safetensors`, { tensor }).read(0, 1));
    expect(openInput(`${dir}/mixed.safetensors`, { tensor: 'a' }).read(0, 2)).toEqual(Float32Array.from([-3, 2 ** 40]));
    expect([read('b'), read('c'), read('d')]).toEqual([[1], [1, 3.140625], [0]]);
  });

  it('Ctrl-C stops cleanly; reruns resume from the kept chunks (after kill -9 too), redo damaged ones, and write the same bytes', async () => {
    const n = 3000, p = pixels(n);
    writeIdx(`${dir}/big.idx`, p, [n, 28, 28]);
    const want = await referenceSha(Float32Array.from(p), [n, 1, 28, 28]);
    const out = `${dir}/big.safetensors`, state = `${out}.partial`;
    const args = ['batch', ...modelArgs, '--input', `${dir}/big.idx`, '--output', out, '--batch', '100', '--workers', '1'];
    const chunkFiles = () => (existsSync(state) ? readdirSync(state).filter((f) => f.endsWith('.f32')) : []);

    const first = start(args);
    await until(() => chunkFiles().length >= 3, 'three chunks kept');
    first.child.kill('SIGINT');
    expect(await first.exit).toBe(130);
    expect(first.stderr).toMatch(/interrupted: \d+ of 30 chunks are finished and kept in .*big\.safetensors\.partial; run the same command again to resume/);
    expect(existsSync(out)).toBe(false);
    const kept = chunkFiles().length;
    expect(kept).toBeGreaterThanOrEqual(3);
    expect(kept).toBeLessThan(30);

    // The kept chunks belong to --batch 100: another chunk size is refused, and nothing is lost.
    const other = await cliRun([...args.slice(0, -4), '--batch', '50']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('StateMismatchError: output');
    expect(other.stderr).toContain('--batch 100); remove that directory or pass --overwrite');
    expect(chunkFiles().length).toBe(kept);

    // kill -9 in the middle of a rerun leaves its lock behind (the next run takes it over).
    const second = start(args);
    await second.waitFor(new RegExp(`resuming: ${kept} of 30 chunks`));
    await until(() => chunkFiles().length >= kept + 2, 'two more chunks');
    second.child.kill('SIGKILL');
    await second.exit;
    expect(existsSync(`${state}/lock`)).toBe(true);
    // Damage a kept chunk and leave a write cut short: both are found and dealt with.
    const victim = `${state}/${chunkFiles()[1]}`;
    const bytes = readFileSync(victim);
    bytes[5] ^= 0xff;
    writeFileSync(victim, bytes);
    writeFileSync(`${state}/000029.${'0'.repeat(64)}.f32.tmp-99999`, 'half a chunk');

    const third = await cliRun(args);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toMatch(/resuming: \d+ of 30 chunks were already finished/);
    expect(third.stderr).toContain('1 damaged chunk file(s)');
    expect(third.stdout).toMatch(/30 chunk\(s\) of 100: \d+ computed here, \d+ resumed/);
    expect(sha256(readFileSync(out))).toBe(want.sha);
    expect(existsSync(state)).toBe(false);
  }, 90_000);

  it('refuses bad input at once with typed errors, and overwrites nothing', async () => {
    const batch = (...a: string[]) => cliRun(['batch', ...modelArgs, ...a]);
    writeNpy(`${dir}/rgb.npy`, '<f4', [2, 3, 28, 28], new Uint8Array(2 * 3 * 784 * 4));
    let r = await batch('--input', `${dir}/rgb.npy`, '--output', `${dir}/rgb.safetensors`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`equivariant batch: ItemShapeError: input ${dir}/rgb.npy: its items are [3, 28, 28] (the array is [2, 3, 28, 28]), but the model 'P4CNN (Fashion-MNIST)' takes items [1, 28, 28]`);
    expect(existsSync(`${dir}/rgb.safetensors`) || existsSync(`${dir}/rgb.safetensors.partial`)).toBe(false);

    writeNpy(`${dir}/ok.npy`, '<f4', [1, 1, 28, 28], new Uint8Array(784 * 4));
    r = await batch('--input', `${dir}/ok.npy`, '--output', `${dir}/no/such/dir/y.safetensors`);
    expect(r.stderr.trim()).toBe(`equivariant batch: OutputError: output ${dir}/no/such/dir/y.safetensors: its directory ${dir}/no/such/dir does not exist`);
    r = await batch('--input', `${dir}/ok.npy`, '--output', `${dir}/ok.npy/y.safetensors`);
    expect(r.stderr.trim()).toBe(`equivariant batch: OutputError: output ${dir}/ok.npy/y.safetensors: ${dir}/ok.npy is not a directory`);
    mkdirSync(`${dir}/adir.safetensors`);
    r = await batch('--input', `${dir}/ok.npy`, '--output', `${dir}/adir.safetensors`);
    expect(r.stderr).toContain('OutputError: output');
    expect(r.stderr).toContain('adir.safetensors: is a directory');
    writeFileSync(`${dir}/precious.safetensors`, 'precious');
    r = await batch('--input', `${dir}/ok.npy`, '--output', `${dir}/precious.safetensors`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('precious.safetensors: already exists; it is left as it is');
    expect(readFileSync(`${dir}/precious.safetensors`, 'utf8')).toBe('precious');

    writeSafetensors(`${dir}/two.safetensors`, { a: { dtype: 'F32', shape: [1, 1, 28, 28], raw: new Uint8Array(3136) }, b: { dtype: 'U8', shape: [1], raw: new Uint8Array(1) } });
    const cases: [string[], string][] = [
      [['--input', `${dir}/two.safetensors`], `InputError: input ${dir}/two.safetensors: holds 2 tensors (a, b); pick one with --tensor NAME`],
      [['--input', `${dir}/two.safetensors`, '--tensor', 'c'], "has no tensor 'c' (it has a, b)"],
      [['--input', `${dir}/ok.npy`, '--tensor', 'a'], 'UsageError: --tensor picks a tensor of a safetensors input'],
      [['--input', `${dir}/missing.npy`], `InputError: input ${dir}/missing.npy: cannot open it (no such file)`],
      [['--input', `${dir}/ok.npy`, '--batch', '0'], "UsageError: --batch must be an integer in 1..1048576, got '0'"],
      [['--input', `${dir}/ok.npy`, '--bach', '5'], 'UsageError: unknown option --bach'],
      [['--input', `${dir}/ok.npy`, '--name', 'x'], 'UsageError: --name applies to --queue runs only'],
    ];
    writeIdx(`${dir}/trunc.idx`, new Uint8Array(4984), [3000, 28, 28]);
    cases.push([['--input', `${dir}/trunc.idx`], `InputError: input ${dir}/trunc.idx: the IDX array [3000, 28, 28] of uint8 needs 2352000 bytes of data, the file has 4984 (truncated?)`]);
    for (const [a, msg] of cases) {
      r = await batch(...a, '--output', `${dir}/z.safetensors`);
      expect(r.code, a.join(' ')).toBe(2);
      expect(r.stderr, a.join(' ')).toContain(msg);
    }
    expect(existsSync(`${dir}/z.safetensors`) || existsSync(`${dir}/z.safetensors.partial`)).toBe(false);
  }, 60_000);
});
