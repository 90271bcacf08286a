// A real Redis for the queue tests: Debian's redis-server (installed by `npm test`'s set-up,
// tools/ensure.mjs --redis), started on a free loopback port with its data in a temporary
// directory, and stopped by the test. No persistence unless asked: a restart then loses
// everything, as a crash of an unpersisted Redis would.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A port nothing listens on right now (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.setTimeout(500);
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { s.destroy(); resolve(String(d).startsWith('+PONG')); });
    s.on('error', () => resolve(false));
    s.on('timeout', () => { s.destroy(); resolve(false); });
  });
}

export interface RedisServer {
  port: number;
  url: string;
  /** Stops the server (SIGKILL: as a crash; SIGTERM: a clean shutdown). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and directory. */
  restart(): Promise<void>;
}

export async function startRedis({ persist = false } = {}): Promise<RedisServer> {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error('redis-server is not installed: `npm test` installs it (node tools/ensure.mjs --redis); elsewhere install Redis so that redis-server is on PATH');
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'eq-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', persist ? 'yes' : 'no',
    '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--loglevel', 'warning'];
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn('redis-server', args, { stdio: 'ignore' });
    const t0 = Date.now();
    while (!(await ping(port))) {
      if (child.exitCode !== null || Date.now() - t0 > 10_000) throw new Error(`redis-server on port ${port} did not start`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await gone;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop(signal) {
      await stop(signal);
      if (!signal) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await stop('SIGKILL');
      await launch();
    },
  };
}
