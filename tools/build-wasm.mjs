#!/usr/bin/env node
// Compiles crate/ to wasm32 + SIMD128 through `wasm-pack build` (cargo build, then the pinned
// wasm-bindgen CLI for the glue) in wasm-pack's no-install mode, then shrinks the module with
// wasm-opt from the npm package `binaryen`. Nothing is downloaded: wasm-pack finds the pinned
// wasm-bindgen on PATH and runs with --no-opt. Output: ts/gen/ (or --out DIR). Usage:
//   node tools/build-wasm.mjs [--out DIR] [--target-dir DIR] [--testing]
// --testing adds the test-only exports (reference kernels, a deliberate trap; cargo feature
// `testing`) and writes ts/gen-test/ by default; the production module never has them.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, copyFileSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { homedir, tmpdir } from 'node:os';
import { root, log, findRust, findBindgen, findWasmPack, pinnedBindgenVersion, WASM_PACK_VERSION, SetupError } from './toolchain.mjs';

const argv = process.argv.slice(2);
const testing = argv.includes('--testing');
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? resolve(argv[i + 1]) : dflt;
};
const outDir = opt('--out', join(root, 'ts', testing ? 'gen-test' : 'gen'));
const targetDir = opt('--target-dir', join(root, 'target'));

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new SetupError(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

try {
  const rust = findRust();
  log(`Rust: ${rust.describe}`);
  const bindgen = findBindgen();
  const wasmPack = findWasmPack();

  // Paths are remapped so the module does not depend on where the source or cargo home sit:
  // two builds from different directories are byte-identical.
  const flags = [
    '-C', 'target-feature=+simd128',
    `--remap-path-prefix=${root}=/equivariant`,
    `--remap-path-prefix=${join(homedir(), '.cargo')}=/cargo`,
    `--remap-path-prefix=${targetDir}=/target`,
    // Exported so the facade can restore the shadow stack after a trap (see ts/core/wasm.ts).
    '-C', 'link-arg=--export=__stack_pointer',
  ].join('\x1f');
  // wasm-pack finds cargo, rustc and wasm-bindgen on PATH: a directory holding only a link to
  // the pinned wasm-bindgen goes first (so no other wasm-bindgen can shadow it), then the
  // chosen cargo's directory.
  const bindgenPath = bindgen.includes('/') ? bindgen : execFileSync('which', [bindgen], { encoding: 'utf8' }).trim();
  const binDir = mkdtempSync(join(tmpdir(), 'eq-bindgen-'));
  symlinkSync(bindgenPath, join(binDir, 'wasm-bindgen'));
  const cargoDir = rust.cargo.includes('/') ? dirname(rust.cargo) : null;
  const path = [binDir, cargoDir, process.env.PATH].filter(Boolean).join(':');
  const staging = mkdtempSync(join(tmpdir(), 'eq-wasm-pack-'));
  log(`wasm-pack ${WASM_PACK_VERSION} build --mode no-install --no-opt, wasm-bindgen ${pinnedBindgenVersion()} from PATH (${bindgenPath})`);
  try {
    run(wasmPack, ['build', join(root, 'crate'), '--target', 'web', '--release', '--mode', 'no-install', '--no-opt', '--no-pack', '--no-gitignore',
      '--out-dir', staging, '--out-name', 'equivariant', '--', ...(testing ? ['--features', 'testing'] : [])], {
      ...rust.env,
      PATH: path,
      CARGO_TARGET_DIR: testing ? join(targetDir, 'testing') : targetDir,
      CARGO_ENCODED_RUSTFLAGS: flags,
    });
    mkdirSync(outDir, { recursive: true });
    for (const f of ['equivariant.js', 'equivariant.d.ts', 'equivariant_bg.wasm', 'equivariant_bg.wasm.d.ts']) {
      if (!existsSync(join(staging, f))) throw new SetupError(`wasm-pack did not write ${f}`);
      copyFileSync(join(staging, f), join(outDir, f));
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
    rmSync(binDir, { recursive: true, force: true });
  }
  const wasm = join(outDir, 'equivariant_bg.wasm');
  const wasmOpt = join(root, 'node_modules', 'binaryen', 'bin', 'wasm-opt');
  if (!existsSync(wasmOpt)) throw new SetupError('wasm-opt (npm package binaryen) is missing: run `npm ci`');
  run(process.execPath, [wasmOpt, wasm, '-O3', '--enable-simd', '--enable-bulk-memory', '--enable-nontrapping-float-to-int', '--enable-sign-ext', '--enable-mutable-globals', '-o', wasm]);
  log(`built ${wasm} (${readFileSync(wasm).length} bytes)${testing ? ' with the test-only exports' : ''}`);
} catch (e) {
  if (e instanceof SetupError) {
    log(`build failed: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
