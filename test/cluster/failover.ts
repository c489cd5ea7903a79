/**
 * A master killed with SIGKILL while sagas are being submitted: its replica takes over, every
 * saga acknowledged with a 200 reaches its final state (none lost), and a submit that meets the
 * outage gets a clear 503 JSON answer in bounded time, never a hang. Then the fixture's lagging
 * replica (SIGSTOP), which the replica-acknowledgement tests build on.
 */
import t from 'tap';
import { startBusi, type Busi } from '../fixtures/busi.js';
import { gidOf, sagaBody, type TestCoordinator } from '../fixtures/app.js';
import { startClusterCoordinator, startTestCluster, type ClusterNode, type TestCluster } from '../fixtures/cluster.js';

let cluster: TestCluster;
let busi: Busi;
let dtm: TestCoordinator;

t.before(async () => {
  cluster = await startTestCluster();
  busi = await startBusi();
  dtm = await startClusterCoordinator(cluster, { RETRY_INTERVAL: '1' });
});
t.teardown(async () => {
  await dtm?.stop();
  await busi?.close();
  await cluster?.stop();
});

/** One submit: when it started and ended (ms since the epoch) and what it answered. */
interface Submit {
  gid: string;
  started: number;
  ended: number;
  status: number;
  body: any;
}

/** How long a submit may take before it counts as a hang. */
const HANG_MS = 15_000;

async function submit(gid: string): Promise<Submit> {
  const started = Date.now();
  const res = await fetch(`${dtm.dtm}/submit`, {
    method: 'POST',
    body: JSON.stringify(
      sagaBody(gid, busi.url, [
        ['FoOut', 'FoOutRevert'],
        ['FoIn', 'FoInRevert'],
      ]),
    ),
    signal: AbortSignal.timeout(HANG_MS),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // kept as text: the assertions below will say it was not JSON
  }
  return { gid, started, ended: Date.now(), status: res.status, body };
}

/** Submits sagas from `width` concurrent loops until `stop()`; resolves to every submit made. */
function load(width: number): { done: Promise<Submit[]>; stop(): void; acknowledged(): number } {
  const all: Submit[] = [];
  let running = true;
  let n = 0;
  const loop = async (): Promise<void> => {
    while (running) all.push(await submit(gidOf(`failover ${n++}`)));
  };
  const done = Promise.all(Array.from({ length: width }, loop)).then(() => all);
  return { done, stop: () => (running = false), acknowledged: () => all.filter((s) => s.status === 200).length };
}

t.test('kill -9 of a master under load: every acknowledged saga finishes, none is lost; submits meeting the outage get a 503, never a hang', async (t) => {
  const keys = dtm.app.store.keys;
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  const traffic = load(8);
  const deadline = Date.now() + 20_000;
  while (traffic.acknowledged() < 200 && Date.now() < deadline) await sleep(20);
  t.ok(traffic.acknowledged() >= 200, `${traffic.acknowledged()} sagas acknowledged before the kill`);

  const victim: ClusterNode = (await cluster.masters())[0]!;
  const replicas = await cluster.replicasOf(victim);
  t.equal(replicas.length, 1, `${victim.address} has a replica`);
  const onVictim = new Set<number>();
  for (let b = 0; b < keys.buckets; b++) if ((await cluster.masterOfKey(keys.due(b))) === victim) onVictim.add(b);
  t.ok(onVictim.size > 0, `${victim.address} serves ${onVictim.size} of the ${keys.buckets} buckets`);

  const killed = await cluster.killMaster(victim);
  const killedAt = Date.now();
  const promoted = await cluster.waitForFailover(killed);
  const failedOverAt = Date.now();
  t.equal(promoted, replicas[0], `its replica ${promoted.address} took over after ${failedOverAt - killedAt} ms`);
  await sleep(2000);
  traffic.stop();
  const submits = await traffic.done;

  // Every answer is a 200 or a 503 with a JSON message that says what is wrong, in bounded time.
  const slowest = Math.max(...submits.map((s) => s.ended - s.started));
  t.ok(slowest < HANG_MS, `the slowest submit answered in ${slowest} ms`);
  const refused = submits.filter((s) => s.status !== 200);
  // ioredis retries a command for about 1.6 s; the failover takes longer, so some submits fail.
  t.ok(refused.length > 0, `${refused.length} submits were refused during the outage`);
  t.strictSame([...new Set(refused.map((s) => s.status))], [503], 'every submit that failed got a 503');
  t.ok(
    refused.every((s) => /^\[DTM_STORE_UNAVAILABLE\] /.test(String((s.body as { message?: unknown }).message))),
    'each 503 is a JSON body naming the store as unavailable',
  );
  const duringOutage = submits.filter((s) => onVictim.has(keys.bucketOf(s.gid)) && s.started >= killedAt && s.started < failedOverAt);
  t.ok(duringOutage.length > 0, `${duringOutage.length} submits for the killed master's buckets were made during the outage`);
  // Between the master's failure being agreed and its replica's promotion every node answers
  // CLUSTERDOWN, so a submit for another master's bucket may be refused too, but only then.
  t.ok(
    refused.every((s) => s.ended >= killedAt && s.started <= failedOverAt),
    `the ${refused.length} refused submits all met the outage`,
  );
  t.ok(
    refused.some((s) => onVictim.has(keys.bucketOf(s.gid))),
    `${refused.filter((s) => onVictim.has(keys.bucketOf(s.gid))).length} of them were for the killed master's buckets`,
  );
  const afterwards = submits.filter((s) => onVictim.has(keys.bucketOf(s.gid)) && s.started >= failedOverAt + 1000);
  t.ok(
    afterwards.length > 0 && afterwards.every((s) => s.status === 200),
    `the ${afterwards.length} submits to those buckets a second after the failover succeeded`,
  );

  // Drive everything to its end: the rounds cut by the outage are left scheduled for the poller.
  const acknowledged = submits.filter((s) => s.status === 200).map((s) => s.gid);
  t.ok(acknowledged.length > 200, `${acknowledged.length} sagas acknowledged in all`);
  const pending = new Set([...acknowledged, ...refused.map((s) => s.gid)]);
  for (let round = 0; round < 20 && pending.size > 0; round++) {
    while (dtm.app.engine.active.size > 0) await sleep(10);
    dtm.clock.advance(60_000);
    await dtm.app.poller.tick();
    for (const gid of [...pending]) {
      const q = await dtm.query(gid);
      if (q.transaction === null || q.transaction.status === 'succeed') pending.delete(gid);
    }
  }
  t.strictSame([...pending], [], 'nothing is left unfinished');

  const lost: string[] = [];
  const unfinished: string[] = [];
  for (const gid of acknowledged) {
    const q = await dtm.query(gid);
    if (q.transaction === null) lost.push(gid);
    else if (q.transaction.status !== 'succeed' || q.branches.some((b: { op: string; status: string }) => b.op === 'action' && b.status !== 'succeed')) {
      unfinished.push(gid);
    }
  }
  t.strictSame(lost, [], 'no acknowledged saga was lost');
  t.strictSame(unfinished, [], 'every acknowledged saga succeeded, both actions done');
  const stored = await Promise.all(
    acknowledged.filter((g) => onVictim.has(keys.bucketOf(g))).map(async (g) => (await promoted.admin.exists(keys.trans(g))) === 1),
  );
  t.ok(stored.length > 0 && stored.every(Boolean), `the ${stored.length} acknowledged sagas of the killed master's buckets are all on ${promoted.address}`);
  for (const s of refused) {
    const q = await dtm.query(s.gid);
    t.ok(q.transaction === null || q.transaction.status === 'succeed', `refused ${s.gid}: absent, or written before the outage and finished`);
  }

  // The killed node comes back on its data and rejoins as the replica of the one that replaced it.
  await cluster.restart(killed.node);
  await cluster.waitHealthy();
  t.strictSame(await cluster.replicasOf(promoted), [killed.node], `${killed.node.address} rejoined as the replica of ${promoted.address}`);
});

t.test('a paused replica falls behind: its master counts no acknowledgement for new writes until it resumes', async (t) => {
  const [master] = await cluster.masters();
  const [replica] = await cluster.replicasOf(master!);
  t.ok(replica, `${master!.address} has a replica`);
  let key = '';
  for (let i = 0; key === ''; i++) if ((await cluster.masterOfKey(`lag:${i}`)) === master) key = `lag:${i}`;

  cluster.pause(replica!);
  try {
    await master!.admin.set(key, 'written while the replica is paused');
    t.equal(await master!.admin.call('WAIT', '1', '300'), 0, 'WAIT 1: no replica acknowledges the write');
    const r = await cluster.replication(master!);
    const seen = r.replicas.find((x) => x.port === replica!.port);
    t.ok(seen !== undefined && seen.offset < r.masterOffset, `the replica's acknowledged offset ${seen?.offset} is behind ${r.masterOffset}`);
  } finally {
    cluster.resume(replica!);
  }
  t.equal(await master!.admin.call('WAIT', '1', '900'), 1, 'after resuming, the replica acknowledges it');
  t.equal(await replica!.admin.call('READONLY').then(() => replica!.admin.get(key)), 'written while the replica is paused', 'and holds it');
  await cluster.waitHealthy();
});

t.test('a master killed while its replica lags: with STORE_WAIT_REPLICAS=1 nothing acknowledged is lost; without it, acknowledged sagas are', async (t) => {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const keys = dtm.app.store.keys;
  const durable = await startClusterCoordinator(cluster, { RETRY_INTERVAL: '1', STORE_WAIT_REPLICAS: '1', STORE_WAIT_TIMEOUT_MS: '500' });
  t.teardown(() => durable.stop());

  const victim = (await cluster.masters())[0]!;
  const [replica] = await cluster.replicasOf(victim);
  t.ok(replica, `${victim.address} has a replica`);
  /** `n` gids whose records live on the victim. */
  const gidsOnVictim = async (stem: string, n: number): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; out.length < n; i++) if ((await cluster.masterOfKey(keys.trans(`${stem}-${i}`))) === victim) out.push(`${stem}-${i}`);
    return out;
  };
  const sagaOf = (gid: string): Record<string, unknown> => sagaBody(gid, busi.url, [['LagOut', 'LagOutRevert']]);

  const inSync = await gidsOnVictim(gidOf('lag durable in sync'), 5);
  for (const gid of inSync) t.equal((await durable.post('submit', sagaOf(gid))).status, 200, `${gid}: acknowledged with the replica in sync`);

  // The replica stops reading, and the master drops its link, so nothing written from now on reaches it.
  cluster.pause(replica!);
  await victim.admin.call('CLIENT', 'KILL', 'TYPE', 'replica');
  const control = await gidsOnVictim(gidOf('lag plain'), 10);
  const plainAnswers = await Promise.all(control.map((gid) => dtm.post('submit', sagaOf(gid))));
  t.ok(
    plainAnswers.every((a) => a.status === 200),
    'without WAIT, the submits are acknowledged while the replica lags',
  );
  const lagging = await gidsOnVictim(gidOf('lag durable lagging'), 10);
  const durableAnswers = await Promise.all(lagging.map((gid) => durable.post('submit', sagaOf(gid))));
  t.ok(
    durableAnswers.every((a) => a.status === 503 && /replicas confirmed it/.test(String(a.body.message))),
    'with WAIT, every one is refused with a 503 saying the replica did not confirm it',
  );

  const killed = await cluster.killMaster(victim);
  cluster.resume(replica!);
  const promoted = await cluster.waitForFailover(killed);
  t.equal(promoted, replica, `the lagging replica ${promoted.address} took over`);

  // Drive what is left; then count what survived.
  for (let round = 0; round < 10; round++) {
    while (dtm.app.engine.active.size > 0 || durable.app.engine.active.size > 0) await sleep(10);
    dtm.clock.advance(60_000);
    durable.clock.advance(60_000);
    await Promise.all([dtm.app.poller.tick(), durable.app.poller.tick()]);
  }
  for (const gid of inSync)
    t.match(await durable.query(gid), { transaction: { status: 'succeed' } }, `${gid}: acknowledged under WAIT, survived and succeeded`);
  const lostPlain = [];
  for (const gid of control) if ((await dtm.query(gid)).transaction === null) lostPlain.push(gid);
  t.ok(lostPlain.length > 0, `without WAIT, ${lostPlain.length} of ${control.length} acknowledged sagas were lost with the master (their actions had run)`);

  await cluster.restart(killed.node);
  await cluster.waitHealthy();
});
