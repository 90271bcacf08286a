#!/usr/bin/env node
// Makes a fresh checkout ready: npm dependencies, the Rust->wasm toolchain, the wasm module and
// the bundle, each only when missing or out of date. `npm test`, `npm run demo` and
// `npm run bench` call it first, so a fresh machine needs no other command.
// With --browser it also makes sure Debian's chromium is there for the browser tests; with
// --testing it also builds the test build of the kernels (ts/gen-test/: the production module
// plus test-only exports, which the production module never has); with --redis Debian's
// redis-server for the tests of `equivariant batch --queue` (each test starts its own server on a
// free loopback port; nothing is started here).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { root, log, aptInstall, SetupError } from './toolchain.mjs';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    log(`\`${cmd} ${args.join(' ')}\` failed; see the messages above.`);
    process.exit(r.status ?? 1);
  }
}

/** Newest modification time under the given paths (files or directories). */
function newest(paths) {
  let t = 0;
  const visit = (p) => {
    if (!existsSync(p)) return;
    const s = statSync(p);
    if (s.isDirectory()) for (const e of readdirSync(p)) visit(join(p, e));
    else t = Math.max(t, s.mtimeMs);
  };
  for (const p of paths) visit(join(root, p));
  return t;
}
const mtime = (p) => (existsSync(join(root, p)) ? statSync(join(root, p)).mtimeMs : 0);

if (!existsSync(join(root, 'node_modules', '.package-lock.json')) || mtime('package-lock.json') > mtime('node_modules/.package-lock.json')) {
  log('installing npm dependencies (npm ci) ...');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}
if (newest(['crate', 'Cargo.toml', 'Cargo.lock']) > mtime('ts/gen/equivariant_bg.wasm')) {
  log('building the wasm kernels ...');
  run(process.execPath, [join(root, 'tools', 'build-wasm.mjs')]);
}
if (process.argv.includes('--testing') && newest(['crate', 'Cargo.toml', 'Cargo.lock']) > mtime('ts/gen-test/equivariant_bg.wasm')) {
  log('building the test build of the wasm kernels (ts/gen-test/) ...');
  run(process.execPath, [join(root, 'tools', 'build-wasm.mjs'), '--testing']);
}
if (Math.max(newest(['ts']), mtime('rollup.config.mjs'), mtime('tsconfig.json')) > mtime('dist/index.js')) {
  log('bundling the TypeScript facade (rollup) ...');
  run(process.execPath, [join(root, 'node_modules', 'rollup', 'dist', 'bin', 'rollup'), '-c', '--silent']);
}

if (process.argv.includes('--browser') && !existsSync('/usr/bin/chromium')) {
  try {
    aptInstall(['chromium'], 'the browser tests (headless Chromium driven by playwright-core)');
  } catch (e) {
    if (!(e instanceof SetupError)) throw e;
    log(e.message);
    process.exit(1);
  }
}

if (process.argv.includes('--redis') && spawnSync('redis-server', ['--version']).status !== 0) {
  try {
    aptInstall(['redis-server'], 'the tests of `equivariant batch --queue` and `equivariant worker` (BullMQ on a real Redis)');
  } catch (e) {
    if (!(e instanceof SetupError)) throw e;
    log(`${e.message}\n  (Elsewhere: install Redis so that redis-server is on PATH.)`);
    process.exit(1);
  }
}

if (process.argv.includes('--data') && !existsSync('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz')) {
  try {
    aptInstall(['dataset-fashion-mnist'], 'the demo on the full Fashion-MNIST test set (without it, the demo uses the 1,000-image sample shipped in models/)');
  } catch (e) {
    if (!(e instanceof SetupError)) throw e;
    log(`${e.message}\n  Going on with the shipped sample.`);
  }
}
