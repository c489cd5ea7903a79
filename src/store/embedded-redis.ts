/**
 * A private `redis-server` child process, started with the project's `redis.conf`. Used by
 * `npm start` (through data-dir-redis.ts) when no Redis is configured, and by the tests and
 * benchmarks, which never touch a Redis they did not start.
 *
 * On Linux the child is started through `setpriv --pdeathsig KILL` (util-linux, an essential
 * package on Debian, so present even on a minimal install): the kernel kills it when this process
 * dies, even by SIGKILL, so a crashed coordinator or test never leaves a server behind. Where
 * setpriv is missing (macOS) the child can outlive a SIGKILL; data-dir-redis.ts then finds and
 * reuses it instead of starting a second one on the same data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

const REDIS_CONF = fileURLToPath(new URL(import.meta.url.includes('/dist/src/') ? '../../../redis.conf' : '../../redis.conf', import.meta.url));

export interface EmbeddedRedis {
  readonly port: number;
  readonly url: string;
  /** The redis-server process itself (setpriv execs it, so the pid is the server's). */
  readonly process: ChildProcess;
  /** True when the kernel kills the server if this process dies (setpriv was found). */
  readonly diesWithParent: boolean;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starting the private redis-server failed. `portTaken`: another process holds its port. */
export class EmbeddedRedisError extends Error {
  constructor(
    message: string,
    readonly portTaken = false,
  ) {
    super(`[DTM_EMBEDDED_REDIS] ${message}`);
    this.name = 'EmbeddedRedisError';
  }
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

/** What answers on a loopback port. */
export type PortProbe =
  /** Nothing: the connection was refused. */
  | { readonly kind: 'free' }
  /** A Redis server; `pid` and `dir` are undefined when it would not say (e.g. it wants a password). */
  | { readonly kind: 'redis'; readonly pid: number | undefined; readonly dir: string | undefined }
  /** Something that is not a Redis server, or does not answer. */
  | { readonly kind: 'other'; readonly detail: string };

/** Asks what listens on 127.0.0.1:`port`: nothing, a Redis server (its pid and data dir), or something else. */
export async function probePort(port: number, timeoutMs = 1000): Promise<PortProbe> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // A failed connect rejects with a generic "Connection is closed"; the socket's error says why.
  let socketError: NodeJS.ErrnoException | undefined;
  client.on('error', (err: NodeJS.ErrnoException) => {
    socketError ??= err;
  });
  try {
    try {
      await client.connect();
    } catch (err) {
      const cause = socketError ?? (err as NodeJS.ErrnoException);
      return cause.code === 'ECONNREFUSED' ? { kind: 'free' } : { kind: 'other', detail: cause.message };
    }
    let info: string;
    try {
      info = await client.info('server');
    } catch (err) {
      const message = (err as Error).message;
      // NOAUTH and friends: a Redis server, just not one that talks to strangers.
      return /^(NOAUTH|WRONGPASS|NOPERM|LOADING)/.test(message) ? { kind: 'redis', pid: undefined, dir: undefined } : { kind: 'other', detail: message };
    }
    const pid = /^process_id:(\d+)/m.exec(info)?.[1];
    if (!/^redis_version:/m.test(info)) return { kind: 'other', detail: 'not a Redis server' };
    let dir: string | undefined;
    try {
      dir = (await client.config('GET', 'dir'))[1];
    } catch {
      // CONFIG disabled or renamed: the caller cannot tell whose data this server holds
    }
    return { kind: 'redis', pid: pid === undefined ? undefined : Number(pid), dir };
  } finally {
    client.disconnect();
  }
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

let setprivPath: string | null | undefined;

/** The `setpriv` executable on PATH (Linux only), or undefined; looked up once. */
function setpriv(): string | undefined {
  if (setprivPath === undefined) {
    setprivPath = null;
    if (process.platform === 'linux') {
      for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
        if (dir === '') continue;
        try {
          accessSync(join(dir, 'setpriv'), constants.X_OK);
          setprivPath = join(dir, 'setpriv');
          break;
        } catch {
          // not in this directory
        }
      }
    }
  }
  return setprivPath ?? undefined;
}

/**
 * Starts `redis-server redis.conf --port P --dir D` and resolves once that very process (checked
 * by its pid, not just an open port) answers on P.
 * @throws EmbeddedRedisError when it exits first (`portTaken` when another process holds P) or
 * does not answer within 10 s.
 */
export async function startEmbeddedRedis(opts: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  mkdirSync(opts.dir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const args = [REDIS_CONF, '--port', String(port), '--dir', opts.dir, ...(opts.extraArgs ?? [])];
  const binary = opts.binary ?? 'redis-server';
  const wrapper = setpriv();
  // With the kernel tying its life to ours, the server also gets its own session, so a terminal's
  // Ctrl-C reaches only the coordinator, which drains its work before it stops Redis.
  const child =
    wrapper === undefined
      ? spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(wrapper, ['--pdeathsig', 'KILL', '--', binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
  for (;;) {
    if (exited) {
      throw new EmbeddedRedisError(`redis-server exited before listening on ${port}: ${output.trim()}`, /Address already in use/.test(output));
    }
    if (await isListening('127.0.0.1', port)) {
      const probe = await probePort(port);
      // Another process's server on this port: ours cannot bind it and is about to exit.
      if (probe.kind === 'redis' && (probe.pid === undefined || probe.pid === child.pid)) break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new EmbeddedRedisError(`redis-server did not answer on ${port} within 10 s: ${output.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: child,
    diesWithParent: wrapper !== undefined,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    },
  };
}
