/**
 * The start-up migration of a schema-1 dataset: it builds each bucket's `fin` and `stats` from
 * the listing index, drops index entries whose record is gone, and runs once even when two
 * coordinators start together.
 */
import { pino } from 'pino';
import t from 'tap';
import { migrateSchema, SCHEMA_VERSION } from '../../src/store/migrate.js';
import { TRANS_FIELD } from '../../src/store/schema.js';
import { seed, startStoreHarness, T0, zmembers, type StoreHarness } from '../fixtures/store.js';

const log = pino({ level: 'silent' });
const TTL_S = 3600;

/** A schema-1 dataset: records as the old scripts left them, without fin or stats. */
async function oldDataset(h: StoreHarness): Promise<void> {
  h.clock.set(T0);
  await seed(h, 'm-prepared', 'prepared');
  await seed(h, 'm-submitted', 'submitted');
  await seed(h, 'm-aborting', 'aborting');
  await seed(h, 'm-done', 'succeed');
  await seed(h, 'm-gone', 'succeed');
  await h.client.del(h.keys.trans('m-gone'));
  // Schema 1 had neither structure.
  for (let b = 0; b < h.keys.buckets; b++) await h.client.del(h.keys.fin(b), h.keys.stats(b));
  await h.client.hset(h.keys.meta(), 'buckets', String(h.keys.buckets), 'schema', '1');
}

t.test('a schema-1 dataset gets fin and stats, loses dead index entries, and is marked schema 2', async (t) => {
  const h = await startStoreHarness('migrate');
  t.teardown(() => h.redis.stop());
  await oldDataset(h);
  await migrateSchema(h.client, h.keys, h.clock, log, TTL_S);
  t.equal(await h.client.hget(h.keys.meta(), 'schema'), SCHEMA_VERSION, 'schema 2');
  const byStatus = (await h.store.backlog()).byStatus;
  t.strictSame(byStatus, { prepared: 1, submitted: 1, aborting: 1 }, 'the unfinished ones are counted by status');
  const b = (gid: string): number => h.keys.bucketOf(gid);
  t.notOk((await zmembers(h.client, h.keys.idx(b('m-gone'))))['m-gone'], 'the entry of a vanished record left the index');
  const fin = await zmembers(h.client, h.keys.fin(b('m-done')));
  const pttl = await h.client.pttl(h.keys.trans('m-done'));
  t.ok(fin['m-done'] !== undefined && Math.abs(fin['m-done'] - (T0 + pttl)) < 5000, 'the finished one is in fin at (about) its expiry');
  t.equal(await h.client.hget(h.keys.trans('m-done'), TRANS_FIELD.status), 'succeed', 'records are untouched');
  const again = await h.store.backlog();
  await migrateSchema(h.client, h.keys, h.clock, log, TTL_S);
  t.strictSame(await h.store.backlog(), again, 'a second start finds schema 2 and does nothing');
});

t.test('two coordinators starting together migrate once', async (t) => {
  const h = await startStoreHarness('migrate-twice');
  t.teardown(() => h.redis.stop());
  await oldDataset(h);
  await Promise.all([migrateSchema(h.client, h.keys, h.clock, log, TTL_S), migrateSchema(h.client, h.keys, h.clock, log, TTL_S)]);
  t.strictSame((await h.store.backlog()).byStatus, { prepared: 1, submitted: 1, aborting: 1 }, 'counted once');
  t.equal(await h.client.exists(h.keys.migrationLock()), 0, 'the lock is released');
});

t.test('a dataset of an unknown schema stops start-up', async (t) => {
  const h = await startStoreHarness('migrate-unknown');
  t.teardown(() => h.redis.stop());
  await h.client.hset(h.keys.meta(), 'schema', '9');
  await t.rejects(migrateSchema(h.client, h.keys, h.clock, log, TTL_S), /dataset schema 9 is not one this build/, 'refused with the schema named');
});
