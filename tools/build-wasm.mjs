#!/usr/bin/env node
// Compiles crate/ to wasm32 + SIMD128, generates the wasm-bindgen glue, and shrinks the module
// with wasm-opt (npm `binaryen`). Output: ts/gen/ (or --out DIR). Usage:
//   node tools/build-wasm.mjs [--out DIR] [--target-dir DIR]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { homedir } from 'node:os';
import { root, log, findRust, findBindgen, SetupError } from './toolchain.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? resolve(argv[i + 1]) : dflt;
};
const outDir = opt('--out', join(root, 'ts', 'gen'));
const targetDir = opt('--target-dir', join(root, 'target'));

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new SetupError(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

try {
  const rust = findRust();
  log(`Rust: ${rust.describe}`);
  const bindgen = findBindgen();

  // Paths are remapped so the module does not depend on where the source or cargo home sit:
  // two builds from different directories are byte-identical.
  const flags = [
    '-C', 'target-feature=+simd128',
    `--remap-path-prefix=${root}=/equivariant`,
    `--remap-path-prefix=${join(homedir(), '.cargo')}=/cargo`,
    `--remap-path-prefix=${targetDir}=/target`,
    // Exported so the facade can restore the shadow stack after a trap (see ts/wasm.ts).
    '-C', 'link-arg=--export=__stack_pointer',
  ].join('\x1f');
  run(rust.cargo, ['build', '--release', '--target', 'wasm32-unknown-unknown', '-p', 'equivariant-kernels', '--target-dir', targetDir], {
    ...rust.env,
    CARGO_ENCODED_RUSTFLAGS: flags,
  });
  const raw = join(targetDir, 'wasm32-unknown-unknown', 'release', 'equivariant_kernels.wasm');
  mkdirSync(outDir, { recursive: true });
  run(bindgen, [raw, '--target', 'web', '--out-dir', outDir, '--out-name', 'equivariant']);
  const wasm = join(outDir, 'equivariant_bg.wasm');
  const wasmOpt = join(root, 'node_modules', 'binaryen', 'bin', 'wasm-opt');
  if (!existsSync(wasmOpt)) throw new SetupError('wasm-opt (npm package binaryen) is missing: run `npm ci`');
  run(process.execPath, [wasmOpt, wasm, '-O3', '--enable-simd', '--enable-bulk-memory', '--enable-nontrapping-float-to-int', '--enable-sign-ext', '--enable-mutable-globals', '-o', wasm]);
  log(`built ${wasm} (${readFileSync(wasm).length} bytes)`);
} catch (e) {
  if (e instanceof SetupError) {
    log(`build failed: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
