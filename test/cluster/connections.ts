/** The coordinator's Redis client on a cluster: the start-up checks ask every master. */
import type { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { createKeys } from '../../src/store/keys.js';
import { checkRedis, createRedis } from '../../src/store/redis.js';
import { startTestCluster, type TestCluster } from '../fixtures/cluster.js';

let cluster: TestCluster;

t.before(async () => {
  cluster = await startTestCluster();
});
t.teardown(async () => {
  await cluster?.stop();
});

/** A client as the coordinator makes it for `STORE_HOST` with every node, not yet connected. */
function clusterClient(): Cluster {
  return createRedis(loadConfig({ STORE_HOST: cluster.seeds }, [])) as Cluster;
}

/** Runs checkRedis on a fresh client; returns the warnings it logged, or the error it threw. */
async function check(patch?: (node: Redis) => void): Promise<{ warnings: { msg: string; server: string }[]; error?: Error }> {
  const warnings: { msg: string; server: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line) as { msg: string; server: string }) });
  const client = clusterClient();
  if (patch !== undefined) client.on('+node', patch);
  try {
    await checkRedis(client, createKeys(`chk${process.pid}`, 64), log);
    return { warnings };
  } catch (err) {
    return { warnings, error: err as Error };
  } finally {
    client.disconnect();
  }
}

t.test('checkRedis checks every master: a bad setting or an old version on any one of them is reported, naming it', async (t) => {
  const clean = await check();
  t.strictSame(clean, { warnings: [] }, 'with redis.conf on every node: no warning, no error');

  for (const m of await cluster.masters()) {
    await m.admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await m.admin.config('SET', 'hash-max-listpack-value', '64');
    let res: Awaited<ReturnType<typeof check>>;
    try {
      res = await check();
    } finally {
      await m.admin.config('SET', 'maxmemory-policy', 'noeviction');
      await m.admin.config('SET', 'hash-max-listpack-value', '256');
    }
    t.equal(res.error, undefined, `${m.address} misconfigured: start-up goes on`);
    t.match(
      res.warnings,
      [
        { msg: /maxmemory-policy is not noeviction/, server: m.address, policy: 'allkeys-lru' },
        { msg: /hash-max-listpack-value is below 256/, server: m.address, value: '64' },
      ],
      `${m.address} misconfigured: both warnings name it`,
    );
    t.equal(res.warnings.length, 2, `${m.address} misconfigured: no warning about the others`);

    // The version of a Redis 6 on this master alone (Redis 7 is what runs here, so its INFO is faked).
    const old = await check((node) => {
      if (node.options.port !== m.port) return;
      // Only INFO server: ioredis's own ready check calls INFO too, with a callback.
      const info = node.info.bind(node) as (...a: unknown[]) => Promise<string>;
      (node as unknown as { info: (...a: unknown[]) => Promise<string> }).info = (...args) =>
        args[0] === 'server' ? Promise.resolve('# Server\r\nredis_version:6.2.14\r\n') : info(...args);
    });
    t.match(old.error?.message, `Redis 6.2 at ${m.address} is too old`, `${m.address} on Redis 6: start-up stops, naming it`);
  }
});
