/**
 * The listing index keeps pace with the finish rate: at a sustained rate, with finished records
 * expiring after 1 s, the index never holds more than the live records plus what one prune
 * period finishes, and it empties once the records have expired.
 */
import t from 'tap';
import { Pool } from 'undici';
import { sleep } from '../../src/clock.js';
import { startTestApp, type TestApp } from '../fixtures/app.js';

/** The rate asked for; a loaded machine may reach less, and the bound follows what it reached. */
const RATE_PER_S = 300;
/** Keep submitting for at least this long (records expire after 1 s) and until MIN_SAGAS went in. */
const MIN_SECONDS = 4;
const MIN_SAGAS = 600;
const MAX_SECONDS = 15;
const PRUNE_INTERVAL_S = 0.25;

let dtm: TestApp;
t.before(async () => {
  dtm = await startTestApp({
    realClock: true,
    poll: true,
    env: { STORE_FINISHED_DATA_EXPIRE: '1', INDEX_PRUNE_INTERVAL: String(PRUNE_INTERVAL_S), TRANS_CRON_INTERVAL: '0.2' },
  });
});
t.teardown(() => dtm.stop());

/**
 * Entries in every bucket's listing index, and how many of `gids` still have a record, read in
 * one MULTI so that no record expires between the two counts.
 */
async function snapshotCounts(gids: readonly string[]): Promise<{ idx: number; live: number }> {
  const keys = dtm.app.store.keys;
  const m = dtm.redis.client.multi();
  for (let b = 0; b < keys.buckets; b++) m.zcard(keys.idx(b));
  for (let i = 0; i < gids.length; i += 1000) m.exists(...gids.slice(i, i + 1000).map((g) => keys.trans(g)));
  const counts = ((await m.exec()) ?? []).map(([, n]) => Number(n));
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  return { idx: sum(counts.slice(0, keys.buckets)), live: sum(counts.slice(keys.buckets)) };
}

t.test('at a sustained rate the index is the live records plus at most one prune period', async (t) => {
  const pool = new Pool(dtm.base, { connections: 8 });
  const gids: string[] = [];
  const excess: number[] = [];
  const started = Date.now();
  const elapsedS = (): number => (Date.now() - started) / 1000;
  let submitted = 0;
  while ((elapsedS() < MIN_SECONDS || gids.length < MIN_SAGAS) && elapsedS() < MAX_SECONDS) {
    // Submit what the rate owes so far: empty-URL sagas, which finish at once.
    const owed = Math.min(50, Math.floor(((Date.now() - started) / 1000) * RATE_PER_S) - submitted);
    const batch = Array.from({ length: owed }, () => `prune-${submitted++}`);
    await Promise.all(
      batch.map(async (gid) => {
        const body = JSON.stringify({ gid, trans_type: 'saga', steps: [{ action: '', compensate: '' }], payloads: [''] });
        const res = await pool.request({ path: '/api/dtmsvr/submit', method: 'POST', body });
        await res.body.dump();
        if (res.statusCode === 200) gids.push(gid);
      }),
    );
    // Once records have started to expire, the index must keep up with them.
    if (Date.now() - started > 1500) {
      const { idx, live } = await snapshotCounts(gids);
      excess.push(idx - live);
    }
    await sleep(20);
  }
  await pool.close();
  const rate = gids.length / elapsedS();
  t.ok(gids.length >= MIN_SAGAS, `submitted ${gids.length} sagas at ${Math.round(rate)}/s`);
  t.ok(excess.length >= 5, `sampled the index ${excess.length} times under load`);
  // What finishes in one prune period, doubled for the pass itself and timer jitter on a busy
  // box; without pruning that keeps pace the excess grows by the whole rate every second.
  const slack = Math.ceil(rate * PRUNE_INTERVAL_S * 2) + 20;
  const worst = Math.max(...excess);
  t.ok(worst <= slack, `the index never exceeded the live records by more than one prune period (worst ${worst}, bound ${slack})`);
  const deadline = Date.now() + 5000;
  let end = await snapshotCounts(gids);
  while (end.idx > 0 && Date.now() < deadline) {
    await sleep(100);
    end = await snapshotCounts(gids);
  }
  t.equal(end.idx, 0, 'once every record has expired the index is empty');
  t.equal(end.live, 0, 'and so are the records');
});
