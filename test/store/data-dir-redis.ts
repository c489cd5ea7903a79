/**
 * openDataDirRedis in-process: one server per data directory however many ask at once, the port
 * kept in redis.port, and an unreadable port file refused. (Across processes, with kill -9 and
 * without setpriv: test/process/embedded-redis.ts.)
 */
import t from 'tap';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataDirRedis, PORT_FILE, type DataDirRedis } from '../../src/store/data-dir-redis.js';
import { EmbeddedRedisError } from '../../src/store/embedded-redis.js';
import { alive, redisServersIn } from '../fixtures/redis-servers.js';

const root = mkdtempSync(join(tmpdir(), 'dtm-data-dir-'));
const opened: DataDirRedis[] = [];
t.teardown(async () => {
  for (const r of opened) await r.stop();
  rmSync(root, { recursive: true, force: true });
});

t.test('three opens at once: one server started, reused by the others, on the port redis.port keeps', async (t) => {
  const dir = join(root, 'a');
  const all = await Promise.all([1, 2, 3].map(() => openDataDirRedis({ dir })));
  opened.push(...all);
  const real = realpathSync(dir);
  t.same(all.map((r) => r.origin).sort(), ['reused', 'reused', 'started'], 'one started');
  const servers = redisServersIn(real);
  t.equal(servers.length, 1, 'one redis-server runs in the directory');
  for (const r of all) t.match(r, { dir: real, pid: servers[0], port: Number(readFileSync(join(real, PORT_FILE), 'utf8')) }, 'each names it');
  const started = all.find((r) => r.origin === 'started')!;
  t.equal(started.diesWithParent, true, 'started through setpriv');
  t.ok(started.port >= 20000 && started.port <= 32767, 'on a port below the ephemeral range');

  for (const r of all.filter((r) => r.origin === 'reused')) await r.stop();
  t.ok(alive(servers[0]!), 'stopping a reused handle leaves the server running');
  await started.stop();
  t.notOk(alive(servers[0]!), 'stopping the starter stops it');

  const again = await openDataDirRedis({ dir });
  opened.push(again);
  t.match(again, { origin: 'started', port: started.port }, 'a later open starts it again on the same port');
  await again.stop();
});

t.test('a port file that holds no port is refused, naming the file', async (t) => {
  const dir = join(root, 'b');
  await openDataDirRedis({ dir }).then((r) => r.stop());
  const file = join(realpathSync(dir), PORT_FILE);
  writeFileSync(file, 'banana\n');
  await t.rejects(openDataDirRedis({ dir }), new EmbeddedRedisError(`${file} must hold a port number, not "banana"; delete it to choose a new port`));
  t.same(redisServersIn(realpathSync(dir)), [], 'nothing started');
});
