/**
 * `/api/metrics` under `--workers 2` (issue 10 item 5): whichever process a scrape reaches, it
 * answers with the sum over the group; 20 scrapes in a row, each on a new connection, never see
 * a counter or histogram series decrease; the cluster-wide and info gauges are not multiplied by
 * the number of processes; and a worker killed with SIGKILL leaves its counts in the sum.
 */
import t from 'tap';
import { waitFor } from '../fixtures/app.js';
import { alive, childrenOf, listeningPids, spawnCoordinator, type CoordinatorProcess } from '../fixtures/process.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';

let redis: TestRedis;
let dtm: CoordinatorProcess;
t.before(async () => {
  redis = await startTestRedis();
  dtm = await spawnCoordinator({ REDIS_URL: redis.url, STORE_REDIS_PREFIX: `wm${process.pid}`, LOG_LEVEL: 'info' }, ['--workers', '2']);
});
t.teardown(async () => {
  const workers = childrenOf(dtm.child.pid!);
  await dtm.stop();
  for (const pid of workers) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await redis.stop();
});

/** Every request on a new connection, so the kernel spreads them over both listeners. */
const fresh = { connection: 'close' };

interface Scrape {
  /** Counter and histogram series (`name{labels}` → value). */
  cumulative: Map<string, number>;
  all: Map<string, number>;
}

async function scrape(): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${dtm.port}/api/metrics`, { headers: fresh });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`scrape: ${res.status} ${text}`);
  const types = new Map<string, string>();
  const cumulative = new Map<string, number>();
  const all = new Map<string, number>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types.set(type[1]!, type[2]!);
    const m = /^(([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m === null) continue;
    all.set(m[1]!, Number(m[3]));
    const family = types.get(m[2]!) ?? types.get(m[2]!.replace(/_(bucket|sum|count)$/, ''));
    if (family === 'counter' || family === 'histogram') cumulative.set(m[1]!, Number(m[3]));
  }
  return { cumulative, all };
}

async function submit(gid: string): Promise<number> {
  const body = JSON.stringify({ gid, trans_type: 'saga', wait_result: true, steps: [{ action: '', compensate: '' }], payloads: ['{}'] });
  const res = await fetch(`${dtm.dtm}/submit`, { method: 'POST', body, headers: fresh });
  await res.text();
  return res.status;
}

/** Series that went down from `a` to `b`, or disappeared. */
function decreases(a: Scrape, b: Scrape): string[] {
  const out: string[] = [];
  for (const [series, v] of a.cumulative) {
    const w = b.cumulative.get(series);
    if (w === undefined || w < v) out.push(`${series}: ${v} → ${w}`);
  }
  return out;
}

const SUBMITS = 'dtm_server_process_total{type="http",api="submit",status="ok"}';

t.test('20 scrapes in a row: the sum over both processes, no counter ever decreasing', async (t) => {
  await waitFor(() => listeningPids(dtm.output(), dtm.port).size === 2, 20_000, `two processes listening:\n${dtm.output()}`);
  const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => submit(`wm-${process.pid}-${i}`)));
  t.same([...new Set(statuses)], [200], '40 submits succeeded');
  for (let i = 0; i < 3; i++) {
    const body = JSON.stringify({ gid: `wm-${process.pid}-msg-${i}`, trans_type: 'msg', steps: [{ action: 'http://127.0.0.1:9/x' }], payloads: ['{}'] });
    t.equal((await fetch(`${dtm.dtm}/prepare`, { method: 'POST', body, headers: fresh })).status, 200, `msg ${i} prepared`);
  }
  // The backlog read is cached for a second.
  await new Promise((r) => setTimeout(r, 1100));

  let previous = await scrape();
  for (let i = 1; i < 20; i++) {
    const next = await scrape();
    t.strictSame(decreases(previous, next), [], `scrape ${i + 1}: no counter or histogram series decreased`);
    t.equal(next.all.get(SUBMITS), 40, `scrape ${i + 1}: the 40 submits, whichever process served them or the scrape`);
    t.equal(next.all.get('dtm_transactions_unfinished{status="prepared"}'), 3, `scrape ${i + 1}: 3 prepared, not 3 × 2`);
    t.equal(next.all.get('dtm_server_info{gin_version="none",grpc_version="none"}'), 1, `scrape ${i + 1}: one server info, not two`);
    previous = next;
  }
  t.ok((previous.all.get('dtm_server_process_total{type="http",api="metrics",status="ok"}') ?? 0) >= 19, 'the scrapes themselves are counted');
});

t.test('a worker killed with SIGKILL leaves its counts in the sum', async (t) => {
  const [worker] = childrenOf(dtm.child.pid!);
  t.ok(worker !== undefined, 'a worker');
  const before = await scrape();
  process.kill(worker!, 'SIGKILL');
  await waitFor(() => childrenOf(dtm.child.pid!).some((p) => p !== worker), 10_000, 'a replacement worker');
  const replacement = childrenOf(dtm.child.pid!).find((p) => p !== worker)!;
  await waitFor(() => listeningPids(dtm.output(), dtm.port).has(replacement), 20_000, `the replacement listening:\n${dtm.output()}`);
  const statuses = await Promise.all(Array.from({ length: 10 }, (_, i) => submit(`wm-${process.pid}-after-${i}`)));
  t.same([...new Set(statuses)], [200], '10 more submits succeeded');
  let previous = before;
  for (let i = 0; i < 5; i++) {
    const next = await scrape();
    t.strictSame(decreases(previous, next), [], `scrape ${i + 1} after the kill: no counter or histogram series decreased`);
    t.equal(next.all.get(SUBMITS), 50, `scrape ${i + 1}: all 50 submits, the dead worker's included`);
    previous = next;
  }
});
