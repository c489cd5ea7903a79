/**
 * Graceful shutdown of the whole process tree: SIGINT (as Ctrl-C sends it) to a primary running
 * `--workers 2` over its private redis-server stops the worker and the server, and exits 0.
 * (SIGTERM with workers: test/e2e/workers.ts; SIGTERM with the private server:
 * test/process/embedded-redis.ts.) Linux only.
 */
import t from 'tap';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../fixtures/app.js';
import { spawnCoordinator } from '../fixtures/process.js';
import { alive, redisServersIn } from '../fixtures/redis-servers.js';

t.test('--workers 2 and SIGINT: the primary stops the worker and the redis-server, and exits 0', async (t) => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'dtm-shutdown-')));
  const c = await spawnCoordinator({ REDIS_URL: '', STORE_HOST: '', DTM_DATA_DIR: dir, LOG_LEVEL: 'info', STORE_REDIS_PREFIX: `sd${process.pid}` }, [
    '--workers',
    '2',
  ]);
  let worker = 0;
  let server = 0;
  t.teardown(() => {
    for (const pid of [c.child.pid!, worker, server]) if (pid !== 0 && alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await waitFor(() => /"msg":"worker ready"/.test(c.output()), 15_000, `the worker:\n${c.output()}`);
  worker = Number(/"child":(\d+),"msg":"worker ready"/.exec(c.output())?.[1]);
  t.ok(alive(worker), 'the worker runs');
  const servers = redisServersIn(dir);
  t.equal(servers.length, 1, 'one redis-server runs');
  server = servers[0]!;

  const exited = new Promise<number | null>((r) => c.child.once('exit', (code) => r(code)));
  c.child.kill('SIGINT');
  t.equal(await exited, 0, 'the primary exits 0');
  await waitFor(() => !alive(worker), 5000, 'the worker to exit');
  t.notOk(alive(worker), 'the worker is gone');
  t.same(redisServersIn(dir), [], 'the redis-server is gone');
});
