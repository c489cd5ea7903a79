/**
 * The private redis-server of `npm start` (no Redis configured), with real coordinator processes:
 * exactly one server per data directory, ever. It dies with its coordinator even by kill -9
 * (setpriv), a restart or a second coordinator started at once uses the one server, one that
 * outlived its coordinator (no setpriv) is reused, SIGTERM stops it, and a directory whose port is
 * taken by something else is refused with a clear message. (SIGINT with workers: shutdown.ts.)
 *
 * Each coordinator gets DTM_DATA_DIR, so none probes 127.0.0.1:6379: the file passes whether or
 * not something listens there. Linux only (it finds servers through /proc).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../fixtures/app.js';
import { spawnCoordinator, type CoordinatorProcess } from '../fixtures/process.js';
import { startTestRedis } from '../fixtures/redis.js';
import { alive, redisServersIn } from '../fixtures/redis-servers.js';

const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'dtm-embedded-'));
/** Servers this file must not leave behind: pids of every redis-server seen in its directories. */
const seen = new Set<number>();
const running: CoordinatorProcess[] = [];
t.teardown(async () => {
  for (const c of running) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  for (const pid of seen) if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

let dirs = 0;
function dataDir(): string {
  const dir = join(root, `d${dirs++}`);
  mkdirSync(dir);
  return realpathSync(dir);
}

/** The redis-servers in `dir`, remembered for the teardown. */
function serversIn(dir: string): number[] {
  const pids = redisServersIn(dir);
  for (const pid of pids) seen.add(pid);
  return pids;
}

/** No Redis configured, the data directory set, and logs at info (for the banner). */
function envFor(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { REDIS_URL: '', STORE_HOST: '', DTM_DATA_DIR: dir, LOG_LEVEL: 'info', STORE_REDIS_PREFIX: `emb${process.pid}`, ...extra };
}

async function start(dir: string, extra: Record<string, string> = {}, args: string[] = []): Promise<CoordinatorProcess> {
  const c = await spawnCoordinator(envFor(dir, extra), args);
  running.push(c);
  return c;
}

/** The `redis` fields of the start-up banner, logged once the coordinator serves. */
async function bannerRedis(c: CoordinatorProcess): Promise<{ mode: string; origin: string; pid: number; url: string; diesWithParent: boolean }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    for (const line of c.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      const rec = JSON.parse(line) as { msg?: string; redis?: never };
      if (rec.msg === 'dtm-redis started') return rec.redis!;
    }
    if (Date.now() > deadline) throw new Error(`no banner in:\n${c.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function ping(c: CoordinatorProcess): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${c.port}/api/ping`, { headers: { connection: 'close' } });
  await res.text();
  return res.status;
}

/** Runs the coordinator to its exit (for the refusals). */
function runToExit(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [MAIN], { env: { ...process.env, HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    }),
  );
}

t.test('SIGTERM stops the redis-server the coordinator started', async (t) => {
  const dir = dataDir();
  const c = await start(dir);
  const servers = serversIn(dir);
  t.equal(servers.length, 1, 'one redis-server in the data directory');
  const redis = await bannerRedis(c);
  t.match(redis, { mode: 'embedded', origin: 'started', diesWithParent: true, pid: servers[0] }, 'the banner names the server it started');
  t.equal(redis.url, `redis://127.0.0.1:${readFileSync(join(dir, 'redis.port'), 'utf8').trim()}`, 'on the port the data directory keeps');
  t.equal(await ping(c), 200, 'the coordinator serves');
  await c.stop();
  t.equal(c.child.exitCode, 0, 'exit 0');
  t.same(serversIn(dir), [], 'the redis-server is gone');
});

t.test('kill -9: the redis-server dies with the coordinator; a restart starts exactly one, on the same port', async (t) => {
  const dir = dataDir();
  const a = await start(dir);
  const [first] = serversIn(dir);
  t.ok(first, 'a redis-server runs');
  // Read before the kill: a line still on its way to the pipe dies with the process.
  const before = await bannerRedis(a);
  await a.kill9();
  await waitFor(() => !alive(first!), 5000, 'the orphaned redis-server to die');
  t.same(serversIn(dir), [], 'no redis-server outlives the kill -9');

  const b = await start(dir);
  const servers = serversIn(dir);
  t.equal(servers.length, 1, 'exactly one redis-server after the restart');
  t.not(servers[0], first, 'a new one');
  t.equal((await bannerRedis(b)).url, before.url, 'on the same port');
  t.equal(await ping(b), 200, 'the restarted coordinator serves');
  await b.stop();
  t.same(serversIn(dir), [], 'and stops it on SIGTERM');
});

t.test('two coordinators started at once on one data directory share one redis-server', async (t) => {
  const dir = dataDir();
  const [a, b] = await Promise.all([start(dir), start(dir)]);
  const servers = serversIn(dir);
  t.equal(servers.length, 1, 'exactly one redis-server');
  const origins = [await bannerRedis(a), await bannerRedis(b)].map((r) => r.origin).sort();
  t.same(origins, ['reused', 'started'], 'one started it, the other reuses it');
  t.equal((await bannerRedis(a)).pid, servers[0], 'both name that server');
  t.equal((await bannerRedis(b)).pid, servers[0], 'both name that server');
  t.same([await ping(a), await ping(b)], [200, 200], 'both serve');

  const [owner, user] = (await bannerRedis(a)).origin === 'started' ? [a, b] : [b, a];
  await user.stop();
  t.same(serversIn(dir), servers, 'the coordinator that reused the server leaves it running when it stops');
  await owner.stop();
  t.same(serversIn(dir), [], 'the one that started it stops it');
});

t.test('without setpriv, a redis-server that outlived a kill -9 is reused by the restart, not doubled', async (t) => {
  // A PATH with redis-server but no setpriv, as on a system without util-linux.
  const bin = join(root, 'bin-without-setpriv');
  mkdirSync(bin);
  const redisServer = (process.env['PATH'] ?? '')
    .split(':')
    .map((d) => join(d, 'redis-server'))
    .find((p) => existsSync(p));
  if (redisServer === undefined) throw new Error('redis-server not found');
  symlinkSync(redisServer, join(bin, 'redis-server'));
  const dir = dataDir();
  const a = await start(dir, { PATH: bin });
  t.match(await bannerRedis(a), { origin: 'started', diesWithParent: false }, 'started without being tied to the coordinator');
  t.match(a.output(), /setpriv \(util-linux\) not found/, 'and says so');
  const [orphan] = serversIn(dir);
  await a.kill9();
  await new Promise((r) => setTimeout(r, 200));
  t.same(serversIn(dir), [orphan], 'the redis-server outlived the kill -9');

  const b = await start(dir, { PATH: bin });
  t.match(await bannerRedis(b), { origin: 'reused', pid: orphan }, 'the restart reuses it');
  t.same(serversIn(dir), [orphan], 'still exactly one redis-server');
  t.equal(await ping(b), 200, 'the restarted coordinator serves');
  await b.stop();
  t.same(serversIn(dir), [orphan], 'a reused server is left running');
  process.kill(orphan!, 'SIGTERM');
  await waitFor(() => !alive(orphan!), 5000, 'the orphan to stop');
});

t.test('a data directory whose port is taken by something else is refused, naming the port file', async (t) => {
  const dir = dataDir();
  const squatter = createServer((s) => s.destroy());
  await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
  t.teardown(() => squatter.close());
  const port = (squatter.address() as { port: number }).port;
  writeFileSync(join(dir, 'redis.port'), `${port}\n`);
  const res = await runToExit(envFor(dir));
  t.equal(res.code, 1, 'exit 1');
  t.match(
    res.out,
    `[DTM_EMBEDDED_REDIS] 127.0.0.1:${port}, the port ${join(dir, 'redis.port')} keeps for this data directory, is taken by something that is not a Redis server`,
  );
  t.same(serversIn(dir), [], 'no redis-server started');

  const other = await startTestRedis();
  t.teardown(() => other.stop());
  writeFileSync(join(dir, 'redis.port'), `${other.server.port}\n`);
  const res2 = await runToExit(envFor(dir));
  t.equal(res2.code, 1, 'exit 1 when a redis-server of another directory holds the port');
  t.match(res2.out, /is taken by the redis-server of \/\S+; stop it, or delete/);
  t.same(serversIn(dir), [], 'no redis-server started');
});
