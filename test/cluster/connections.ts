/**
 * The coordinator's Redis client on a cluster: the start-up checks ask every master, each node
 * connection coalesces its writes, and a master that stops answering (SIGSTOP) fails the commands
 * sent to it within the stall timeout with a 503, after which the client recovers by itself; so
 * do the commands queued while no node at all can be reached.
 */
import type { Socket } from 'node:net';
import type { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import t from 'tap';
import { systemClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { createKeys } from '../../src/store/keys.js';
import { checkRedis, createRedis } from '../../src/store/redis.js';
import { gidOf, sagaBody, waitFor, type TestCoordinator } from '../fixtures/app.js';
import { startBusi, type Busi } from '../fixtures/busi.js';
import { startClusterCoordinator, startTestCluster, type TestCluster } from '../fixtures/cluster.js';

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
    await checkRedis(client, createKeys(`chk${process.pid}`, 64), log, { clock: systemClock, finishedDataExpireS: 86400 });
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

t.test('each node connection coalesces the commands of one loop turn into one socket write', async (t) => {
  const client = clusterClient();
  t.teardown(() => client.disconnect());
  await client.connect();
  const masters = client.nodes('master');
  t.equal(masters.length, 3, 'three master connections');
  await Promise.all(masters.map((n) => n.ping()));

  const writes = new Map<Redis, number>();
  const restore: (() => void)[] = [];
  for (const node of masters) {
    const socket = (node as unknown as { stream: Socket & { _writeGeneric: (...a: unknown[]) => unknown } }).stream;
    const original = socket._writeGeneric;
    writes.set(node, 0);
    socket._writeGeneric = function (...args: unknown[]) {
      writes.set(node, writes.get(node)! + 1);
      return original.apply(this, args);
    };
    restore.push(() => (socket._writeGeneric = original));
  }
  const keys = Array.from({ length: 300 }, (_, i) => `coalesce:${process.pid}:${i}`);
  let replies: number[];
  try {
    replies = await Promise.all(keys.map((k) => client.incr(k)));
  } finally {
    for (const r of restore) r();
  }
  t.strictSame(replies, Array<number>(300).fill(1), 'every command got its own reply');
  const perMaster = await Promise.all(keys.map(async (k) => (await cluster.masterOfKey(k)).port));
  for (const node of masters) {
    const sent = perMaster.filter((p) => p === node.options.port).length;
    t.ok(sent > 10, `${node.options.port} was sent ${sent} commands`);
    t.equal(writes.get(node), 1, `${node.options.port}: its ${sent} commands left in one write`);
  }
});

t.test('a paused master fails the requests it holds with a 503 in about the stall timeout; the client recovers after it resumes', async (t) => {
  const busi: Busi = await startBusi();
  const dtm: TestCoordinator = await startClusterCoordinator(cluster);
  t.teardown(async () => {
    await dtm.stop();
    await busi.close();
  });
  const keys = dtm.app.store.keys;
  const gid = gidOf('cluster stall');
  t.equal((await dtm.post('submit', sagaBody(gid, busi.url, [['StOut', '']], { wait_result: true }))).status, 200, 'a saga on the master to pause');
  const master = await cluster.masterOfKey(keys.trans(gid));
  const [replica] = await cluster.replicasOf(master);
  // Keep the topology: this test is about a stalled connection, failover.ts about failovers.
  await replica!.admin.config('SET', 'cluster-replica-no-failover', 'yes');
  const oldNode = (dtm.app.redis as Cluster).nodes('master').find((n) => n.options.port === master.port);
  t.ok(oldNode, 'the client has a connection to that master');

  cluster.pause(master);
  let resumed = false;
  t.teardown(async () => {
    if (!resumed) cluster.resume(master);
    await replica!.admin.config('SET', 'cluster-replica-no-failover', 'no');
  });
  const started = Date.now();
  const stalled = await dtm.get(`query?gid=${gid}`);
  const waited = Date.now() - started;
  t.match(stalled, { status: 503, body: { message: /^\[DTM_STORE_UNAVAILABLE\] getTrans: Redis did not answer within 5000 ms/ } }, 'a clear 503');
  t.ok(waited >= 4_500 && waited < 9_000, `answered after ${waited} ms (stall timeout 5 s)`);

  cluster.resume(master);
  resumed = true;
  let recovered: { status: number; body: any } | undefined;
  await waitFor(
    async () => {
      recovered = await dtm.get(`query?gid=${gid}`);
      return recovered.status === 200;
    },
    30_000,
    'queries to answer again',
  );
  t.equal(recovered?.body.transaction.status, 'succeed', 'the saga is read back from the resumed master');
  await cluster.waitHealthy();
  t.equal((await cluster.masterOfKey(keys.trans(gid))).port, master.port, 'no failover happened: the same master serves it');

  const node = (dtm.app.redis as Cluster).nodes('master').find((n) => n.options.port === master.port)!;
  t.not(node, oldNode, 'the stalled connection was replaced by a new one');
  const socket = (node as unknown as { stream: Socket & { _writeGeneric: (...a: unknown[]) => unknown } }).stream;
  const original = socket._writeGeneric;
  let writes = 0;
  socket._writeGeneric = function (...args: unknown[]) {
    writes++;
    return original.apply(this, args);
  };
  try {
    await Promise.all(Array.from({ length: 50 }, () => node.exists(keys.trans(gid))));
  } finally {
    socket._writeGeneric = original;
  }
  t.equal(writes, 1, 'the new connection coalesces its writes too');
});

t.test('every node down: requests get a 503 in about the stall timeout, never a hang; once the nodes are back the client recovers', async (t) => {
  const busi: Busi = await startBusi();
  const dtm: TestCoordinator = await startClusterCoordinator(cluster);
  t.teardown(async () => {
    await dtm.stop();
    await busi.close();
  });
  const before = gidOf('cluster down before');
  t.equal((await dtm.post('submit', sagaBody(before, busi.url, [['DnOut', '']], { wait_result: true }))).status, 200, 'a saga before the outage');

  await Promise.all(cluster.nodes.map((n) => cluster.kill(n)));
  // Without a node to send to, the client queues commands while it reconnects: each must still fail.
  for (const i of [1, 2]) {
    const started = Date.now();
    // Bounded, so that a hang fails here rather than at the file's timeout.
    const res = await fetch(`${dtm.dtm}/query?gid=${before}`, { signal: AbortSignal.timeout(15_000) }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as unknown }),
      (err: unknown) => ({ status: 0, body: String(err) }),
    );
    const waited = Date.now() - started;
    t.match(res, { status: 503, body: { message: /^\[DTM_STORE_UNAVAILABLE\] getTrans: / } }, `request ${i}: a clear 503`);
    t.ok(waited < 9_000, `request ${i}: answered after ${waited} ms (stall timeout 5 s)`);
  }
  const during = gidOf('cluster down during');
  const refused = await dtm.post('submit', sagaBody(during, busi.url, [['DnOut', '']]));
  t.match(refused, { status: 503, body: { message: /no Redis Cluster node was reachable for 5000 ms/ } }, 'a submit: 503, naming the cause');

  for (const n of cluster.nodes) await cluster.restart(n);
  await cluster.waitHealthy();
  let back: { status: number; body: any } | undefined;
  await waitFor(
    async () => {
      back = await dtm.get(`query?gid=${before}`);
      return back.status === 200;
    },
    30_000,
    'queries to answer again',
  );
  t.equal(back?.body.transaction.status, 'succeed', 'the saga written before the outage is read back');
  t.equal((await dtm.query(during)).transaction, null, 'the refused submit wrote nothing');
  const after = gidOf('cluster down after');
  t.equal((await dtm.post('submit', sagaBody(after, busi.url, [['DnOut', '']], { wait_result: true }))).status, 200, 'submits work again');
});
