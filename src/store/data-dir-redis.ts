/**
 * One private redis-server per data directory, ever: what `npm start` uses when no Redis is
 * configured.
 *
 * A directory's server always listens on the same loopback port, chosen once and kept in
 * `<dir>/redis.port`, so the kernel's bind is the lock: of two servers started on one directory
 * (two coordinators started at once, or a restart racing a server that outlived its coordinator)
 * only one binds the port, and the other exits before it reads or writes any data (redis-server
 * binds its port before it loads the AOF). The lock needs no cleanup after a crash: the port is
 * free again the moment its holder dies.
 *
 * So a coordinator first asks what answers on the directory's port. The directory's own server
 * (Redis reports its `dir`) is reused: another coordinator's, or one that outlived its
 * coordinator where setpriv is missing (see embedded-redis.ts). Nothing there means start one.
 * Anything else is an error that names the port file.
 */
import { linkSync, mkdirSync, readFileSync, realpathSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { EmbeddedRedisError, probePort, startEmbeddedRedis } from './embedded-redis.js';

export interface DataDirRedis {
  /** The data directory, resolved (symlinks followed, as Redis reports it). */
  readonly dir: string;
  readonly port: number;
  readonly url: string;
  /** The server's pid, when it says. */
  readonly pid: number | undefined;
  /**
   * `started`: this process started the server, and `stop()` stops it. `reused`: it was already
   * running (another coordinator's, or one that outlived its coordinator); `stop()` leaves it be.
   */
  readonly origin: 'started' | 'reused';
  /** The server dies with this process, even by SIGKILL (started here, with setpriv). */
  readonly diesWithParent: boolean;
  stop(): Promise<void>;
}

export interface DataDirRedisOptions {
  /** The data directory; created if missing. */
  dir: string;
  /** @default 'redis-server' */
  binary?: string;
}

/** The file in the data directory that keeps its server's port. */
export const PORT_FILE = 'redis.port';

/**
 * Where a new directory's port is drawn from: below the ephemeral ranges (Linux 32768+, BSD and
 * Windows 49152+), so no outgoing connection or port-0 listener (every test's Redis) takes it
 * while the server is down.
 */
const PORT_MIN = 20000;
const PORT_MAX = 32767;

/** How often a start that lost the port to a server being born or dying looks again. */
const MAX_ATTEMPTS = 20;

/**
 * Returns the data directory's server: the one already running there, or a new child.
 * @throws EmbeddedRedisError when the directory's port is taken by something else, or the server
 * does not start.
 */
export async function openDataDirRedis(opts: DataDirRedisOptions): Promise<DataDirRedis> {
  mkdirSync(opts.dir, { recursive: true });
  const dir = realpathSync(opts.dir);
  const file = join(dir, PORT_FILE);
  const port = await dirPort(file);
  const url = `redis://127.0.0.1:${port}`;
  for (let attempt = 1; ; attempt++) {
    const probe = await probePort(port);
    if (probe.kind === 'redis') {
      if (probe.dir === dir) {
        return { dir, port, url, pid: probe.pid, origin: 'reused', diesWithParent: false, stop: () => Promise.resolve() };
      }
      const whose = probe.dir === undefined ? 'a Redis server that does not say its data directory' : `the redis-server of ${probe.dir}`;
      throw new EmbeddedRedisError(
        `127.0.0.1:${port}, the port ${file} keeps for this data directory, is taken by ${whose}; stop it, or delete ${file} to choose another port`,
      );
    }
    if (probe.kind === 'other') {
      throw new EmbeddedRedisError(
        `127.0.0.1:${port}, the port ${file} keeps for this data directory, is taken by something that is not a Redis server (${probe.detail}); stop it, or delete ${file} to choose another port`,
      );
    }
    try {
      const server = await startEmbeddedRedis({ dir, port, ...(opts.binary !== undefined ? { binary: opts.binary } : {}) });
      return { dir, port, url, pid: server.process.pid, origin: 'started', diesWithParent: server.diesWithParent, stop: () => server.stop() };
    } catch (err) {
      // Lost the port to a server started at the same moment (look again: it is the one to reuse)
      // or to one still dying (it is free again in a moment).
      if (!(err instanceof EmbeddedRedisError && err.portTaken) || attempt >= MAX_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The port `file` keeps, or a new one written there if it keeps none (atomically: first writer wins). */
async function dirPort(file: string): Promise<number> {
  for (;;) {
    const kept = readPortFile(file);
    if (kept !== undefined) return kept;
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${await unusedPort()}\n`);
    try {
      // link() fails if the file exists, and readers never see it half written.
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
}

function readPortFile(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const port = Number(text.trim());
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new EmbeddedRedisError(`${file} must hold a port number, not ${JSON.stringify(text.trim())}; delete it to choose a new port`);
  }
  return port;
}

/** A random port in [PORT_MIN, PORT_MAX] that nothing listens on now. */
async function unusedPort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = randomInt(PORT_MIN, PORT_MAX + 1);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new EmbeddedRedisError(`no free port between ${PORT_MIN} and ${PORT_MAX} on 127.0.0.1`);
}
