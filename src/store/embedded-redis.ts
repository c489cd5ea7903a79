/**
 * A private `redis-server` child process, started with the project's `redis.conf`. Used by
 * `npm start` when no Redis is configured and none answers on 127.0.0.1:6379, and by the tests,
 * which never touch a Redis they did not start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';

const REDIS_CONF = fileURLToPath(new URL(import.meta.url.includes('/dist/src/') ? '../../../redis.conf' : '../../redis.conf', import.meta.url));

export interface EmbeddedRedis {
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Finds a free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when something accepts TCP connections on host:port within `timeoutMs`. */
export function isListening(host: string, port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export interface EmbeddedRedisOptions {
  /** Data directory (AOF); created if missing. */
  dir: string;
  /** @default a free port */
  port?: number;
  /** Extra `--name value` arguments appended after redis.conf. */
  extraArgs?: readonly string[];
  /** @default 'redis-server' */
  binary?: string;
}

/** Starts `redis-server redis.conf --port P --dir D` and resolves once it accepts connections. */
export async function startEmbeddedRedis(opts: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  mkdirSync(opts.dir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const args = [REDIS_CONF, '--port', String(port), '--dir', opts.dir, ...(opts.extraArgs ?? [])];
  const child = spawn(opts.binary ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  });
  child.stderr?.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (err) => {
      exited = true;
      output += String(err);
      resolve();
    });
  });
  const deadline = Date.now() + 10_000;
  while (!(await isListening('127.0.0.1', port))) {
    if (exited) throw new Error(`redis-server exited before listening on ${port}: ${output.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not listen on ${port} within 10 s: ${output.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: child,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    },
  };
}
