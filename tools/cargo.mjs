#!/usr/bin/env node
// Runs cargo for the host (tests) with whichever cargo this machine has: rustup's on PATH, or
// Debian's /usr/bin/cargo. Usage: node tools/cargo.mjs <cargo args...>
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { root, log } from './toolchain.mjs';

const onPath = spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status === 0;
const cargo = onPath ? 'cargo' : existsSync('/usr/bin/cargo') ? '/usr/bin/cargo' : null;
if (!cargo) {
  log('cargo was not found: install Rust (https://rustup.rs, or apt-get install cargo-web rustc-web)');
  process.exit(1);
}
const env = onPath ? process.env : { ...process.env, RUSTC: '/usr/bin/rustc' };
const r = spawnSync(cargo, process.argv.slice(2), { stdio: 'inherit', cwd: root, env });
process.exit(r.status ?? 1);
