// Finds (and, where it can, installs) what the wasm build needs: a Rust toolchain with the
// wasm32-unknown-unknown standard library, a wasm linker, the wasm-bindgen CLI at the exact
// version Cargo.lock pins, and wasm-pack at the version pinned below. See docs/building.md for
// the why of each step.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, copyFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir, homedir } from 'node:os';

export const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const TARGET = 'wasm32-unknown-unknown';

export function log(msg) {
  process.stderr.write(`[equivariant] ${msg}\n`);
}

export class SetupError extends Error {}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new SetupError(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

function capture(cmd, args, env) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env }).trim();
  } catch {
    return null;
  }
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = () => existsSync('/usr/bin/apt-get');

let aptUpdated = false;
export function aptInstall(pkgs, why) {
  if (!isRoot() || !hasApt()) {
    throw new SetupError(`${why} needs the Debian packages: ${pkgs.join(' ')}.\n` +
      `  Install them (as root: apt-get install -y ${pkgs.join(' ')}) and run again.`);
  }
  log(`installing ${pkgs.join(' ')} (${why}) ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) { run('apt-get', ['update', '-qq'], { env }); aptUpdated = true; }
  run('apt-get', ['install', '-y', '-qq', ...pkgs], { env });
}

/** The rustc sysroot's directory for the wasm32 standard library. */
const wasmLibDir = (sysroot) => join(sysroot, 'lib', 'rustlib', TARGET, 'lib');
const hasWasmStd = (sysroot) => existsSync(wasmLibDir(sysroot)) && readdirSync(wasmLibDir(sysroot)).some((f) => f.startsWith('libstd-'));

function findWasmLd() {
  for (const dir of existsSync('/usr/lib') ? readdirSync('/usr/lib').filter((d) => /^llvm-\d+$/.test(d)).sort().reverse() : []) {
    const p = `/usr/lib/${dir}/bin/wasm-ld`;
    if (existsSync(p)) return p;
  }
  return capture('which', ['wasm-ld']);
}

/**
 * A toolchain that can build for wasm32: `{ cargo, env, describe }`.
 * 1. rustup (or any cargo on PATH) whose sysroot already has the wasm32 target;
 * 2. Debian's rustc-web whose sysroot has it (installed by step 3 earlier);
 * 3. as root on Debian: install rustc-web, build the wasm32 std from Debian's Rust sources
 *    (-Z build-std on a throwaway crate) and copy it into Debian's sysroot.
 */
export function findRust({ install = true } = {}) {
  const pathSysroot = capture('rustc', ['--print', 'sysroot']);
  if (pathSysroot && hasWasmStd(pathSysroot)) {
    return { cargo: 'cargo', env: {}, describe: `rustc on PATH (${capture('rustc', ['--version'])})` };
  }
  const debian = () => {
    const sysroot = capture('/usr/bin/rustc', ['--print', 'sysroot']);
    const linker = findWasmLd();
    if (!sysroot || !linker || !hasWasmStd(sysroot) || !existsSync('/usr/bin/cargo')) return null;
    return {
      cargo: '/usr/bin/cargo',
      env: { RUSTC: '/usr/bin/rustc', RUSTDOC: '/usr/bin/rustdoc', CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER: linker },
      describe: `Debian ${capture('/usr/bin/rustc', ['--version'])} with wasm-ld ${linker}`,
    };
  };
  let found = debian();
  if (found || !install) return found;

  log('no Rust toolchain with the wasm32-unknown-unknown target was found.');
  log('(rustup cannot download targets here; building the wasm32 std from Debian\'s Rust sources instead)');
  const llvm = findWasmLd() ? [] : ['lld-19'];
  if (!existsSync('/usr/bin/rustc') || !existsSync('/usr/lib/rustlib/src/rust/library') || llvm.length) {
    aptInstall(['rustc-web', 'cargo-web', 'rust-web-src', ...llvm],
      'building the wasm32 standard library (elsewhere: `rustup target add wasm32-unknown-unknown`)');
  }
  buildWasmStd();
  found = debian();
  if (!found) throw new SetupError('building the wasm32 standard library did not produce a usable toolchain');
  return found;
}

function buildWasmStd() {
  const sysroot = capture('/usr/bin/rustc', ['--print', 'sysroot']);
  const linker = findWasmLd();
  const dir = mkdtempSync(join(tmpdir(), 'eq-std-'));
  writeFileSync(join(dir, 'Cargo.toml'), '[package]\nname = "stdbuild"\nversion = "0.0.0"\nedition = "2021"\n[lib]\ncrate-type = ["cdylib"]\npath = "lib.rs"\n[profile.release]\npanic = "abort"\n');
  writeFileSync(join(dir, 'lib.rs'), '#[no_mangle] pub extern "C" fn probe(x: f32) -> f32 { x }\n');
  log(`building the wasm32 standard library from ${sysroot}/lib/rustlib/src (about a minute) ...`);
  run('/usr/bin/cargo', ['build', '--release', '--offline', '--target', TARGET, '-Z', 'build-std=std,panic_abort',
    '--config', 'source.crates-io.replace-with="rust-library-vendor"',
    '--config', `source.rust-library-vendor.directory="${sysroot}/lib/rustlib/src/rust/library/vendor"`,
    '--config', `target.${TARGET}.rustflags=["-C","target-feature=+simd128","-C","linker=${linker}"]`],
  { cwd: dir, env: { ...process.env, RUSTC_BOOTSTRAP: '1', RUSTC: '/usr/bin/rustc' } });
  const deps = join(dir, 'target', TARGET, 'release', 'deps');
  const dest = wasmLibDir(sysroot);
  if (!isRoot()) throw new SetupError(`installing the wasm32 std into ${dest} needs root`);
  mkdirSync(dest, { recursive: true });
  for (const f of readdirSync(deps).filter((f) => f.endsWith('.rlib'))) copyFileSync(join(deps, f), join(dest, f));
  rmSync(dir, { recursive: true, force: true });
  log(`installed the wasm32 standard library into ${dest}`);
}

/** The wasm-bindgen version Cargo.lock pins. */
export function pinnedBindgenVersion() {
  const lock = readFileSync(join(root, 'Cargo.lock'), 'utf8');
  const m = lock.match(/\[\[package\]\]\nname = "wasm-bindgen"\nversion = "([^"]+)"/);
  if (!m) throw new SetupError('Cargo.lock does not pin wasm-bindgen');
  return m[1];
}

/** Path of a wasm-bindgen CLI at the pinned version, installing it with cargo when missing. */
export function findBindgen({ install = true } = {}) {
  const want = pinnedBindgenVersion();
  const candidates = ['wasm-bindgen', join(homedir(), '.cargo', 'bin', 'wasm-bindgen')];
  for (const c of candidates) {
    const v = capture(c, ['--version']);
    if (v && v.split(/\s+/)[1] === want) return c;
  }
  if (!install) return null;
  const cargo = capture('cargo', ['--version']) ? 'cargo' : existsSync('/usr/bin/cargo') ? '/usr/bin/cargo' : null;
  if (!cargo) throw new SetupError(`wasm-bindgen ${want} is missing and no cargo was found to build it: install Rust (https://rustup.rs) or apt-get install cargo-web`);
  log(`building wasm-bindgen-cli ${want} from crates.io (a few minutes, once) ...`);
  // Not --locked: the CLI's lock file names a crate version this registry mirror lacks.
  run(cargo, ['install', '--force', 'wasm-bindgen-cli', '--version', want]);
  const p = join(homedir(), '.cargo', 'bin', 'wasm-bindgen');
  const v = capture(p, ['--version']);
  if (!v || v.split(/\s+/)[1] !== want) throw new SetupError(`wasm-bindgen ${want} was installed but ${p} reports ${v}`);
  return p;
}

/** The wasm-pack release the build is written against (crates.io). */
export const WASM_PACK_VERSION = '0.15.1';

/** Path of wasm-pack at the pinned version, installing it with cargo when missing. */
export function findWasmPack({ install = true } = {}) {
  const want = WASM_PACK_VERSION;
  for (const c of ['wasm-pack', join(homedir(), '.cargo', 'bin', 'wasm-pack')]) {
    const v = capture(c, ['--version']);
    if (v && v.split(/\s+/)[1] === want) return c;
  }
  if (!install) return null;
  const cargo = capture('cargo', ['--version']) ? 'cargo' : existsSync('/usr/bin/cargo') ? '/usr/bin/cargo' : null;
  if (!cargo) throw new SetupError(`wasm-pack ${want} is missing and no cargo was found to build it: install Rust (https://rustup.rs) or apt-get install cargo-web`);
  log(`building wasm-pack ${want} from crates.io (about 10 minutes on 2 cores, once) ...`);
  // --locked works here (unlike wasm-bindgen-cli): every crate its lock file names is on the
  // registry mirror, so the build is the one wasm-pack released.
  run(cargo, ['install', '--force', '--locked', 'wasm-pack', '--version', want]);
  const p = join(homedir(), '.cargo', 'bin', 'wasm-pack');
  const v = capture(p, ['--version']);
  if (!v || v.split(/\s+/)[1] !== want) throw new SetupError(`wasm-pack ${want} was installed but ${p} reports ${v}`);
  return p;
}
