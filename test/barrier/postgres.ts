/**
 * The SQL branch barrier on PostgreSQL (dtm-protocol.md §7.1), against the local server (user
 * postgres, trust auth, 127.0.0.1:5432). The file creates its own database, with DTM's default
 * table dtm_barrier.barrier in it, and drops it at the end.
 */
import pg from 'pg';
import t from 'tap';
import { createBranchBarrier, msgBarrier, type BranchBarrier } from '../../src/client/barrier/branch-barrier.js';
import { callPostgres, postgresQueryPrepared } from '../../src/client/barrier/postgres.js';
import { createBarrierTable, POSTGRES_BARRIER_DDL } from '../../src/client/barrier/sql.js';

const DB = `dtmb_pg_${process.pid}`;
const TABLE = 'dtm_barrier.barrier';
const PG_URL = process.env['PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432';

let root: pg.Client;
let pool: pg.Pool;

t.before(async () => {
  root = new pg.Client({ connectionString: `${PG_URL}/postgres` });
  await root.connect();
  await root.query(`drop database if exists ${DB} with (force)`);
  await root.query(`create database ${DB}`);
  pool = new pg.Pool({ connectionString: `${PG_URL}/${DB}`, max: 8 });
  // pool.end() resolves before its sockets close: a backend dropped then must not crash the file.
  pool.on('error', () => undefined);
  await createBarrierTable(pool, 'postgres');
  await pool.query('create table account (id int primary key, balance int not null)');
});
t.teardown(async () => {
  await pool?.end();
  await root?.query(`drop database if exists ${DB} with (force)`);
  await root?.end();
});

let n = 0;
/** A fresh gid and an account row for it (balance 100). */
async function account(): Promise<{ gid: string; id: number }> {
  n += 1;
  const id = n;
  await pool.query('insert into account values ($1, 100)', [id]);
  return { gid: `g-${process.pid}-${id}`, id };
}

async function balance(id: number): Promise<number> {
  const res = await pool.query<{ balance: number }>('select balance from account where id = $1', [id]);
  return Number(res.rows[0]?.balance);
}

async function rows(gid: string): Promise<string[]> {
  const r = await pool.query<Record<string, string>>(`select trans_type, branch_id, op, barrier_id, reason from ${TABLE} where gid = $1 order by id`, [gid]);
  return r.rows.map((x) => `${x['trans_type']}/${x['branch_id']}/${x['op']}/${x['barrier_id']}/${x['reason']}`);
}

const bb = (gid: string, op: string, transType = 'tcc', branchId = '01'): BranchBarrier => createBranchBarrier({ transType, gid, branchId, op });
const add =
  (id: number, amount: number) =>
  async (client: pg.PoolClient | pg.Client): Promise<void> => {
    await client.query('update account set balance = balance + $1 where id = $2', [amount, id]);
  };

t.test("the DDL is DTM's: its columns and the uniq_barrier constraint", async (t) => {
  t.match(POSTGRES_BARRIER_DDL, /create schema if not exists dtm_barrier/, 'default DDL creates the dtm_barrier schema');
  t.match(POSTGRES_BARRIER_DDL, /CONSTRAINT uniq_barrier unique\(gid, branch_id, op, barrier_id\)/, 'with the uniq_barrier constraint');
  const cols = await pool.query<{ c: string }>(
    "select column_name as c from information_schema.columns where table_schema = 'dtm_barrier' and table_name = 'barrier' order by ordinal_position",
  );
  t.strictSame(
    cols.rows.map((c) => c.c),
    ['id', 'trans_type', 'gid', 'branch_id', 'op', 'barrier_id', 'reason', 'create_time', 'update_time'],
    'columns',
  );
  const con = await pool.query<{ def: string }>("select pg_get_constraintdef(oid) as def from pg_constraint where conname = 'uniq_barrier'");
  t.strictSame(
    con.rows.map((r) => r.def),
    ['UNIQUE (gid, branch_id, op, barrier_id)'],
    'uniq_barrier',
  );
  await createBarrierTable(pool, 'postgres');
  t.pass('createBarrierTable is idempotent');
});

t.test('tcc: try then confirm run once each; a repeated confirm is skipped (idempotency)', async (t) => {
  const { gid, id } = await account();
  t.equal(await callPostgres(bb(gid, 'try'), pool, add(id, -30)), 'ran', 'try ran');
  t.equal(await callPostgres(bb(gid, 'confirm'), pool, add(id, 1)), 'ran', 'confirm ran');
  t.equal(await callPostgres(bb(gid, 'confirm'), pool, add(id, 1)), 'duplicate', 'the repeated confirm is skipped');
  t.equal(await balance(id), 71, 'try and one confirm applied');
  t.strictSame(await rows(gid), ['tcc/01/try/01/try', 'tcc/01/confirm/01/confirm'], 'one row per op, reason = op');
});

t.test('tcc: a cancel before its try is a null compensation, and the late try hangs (is skipped)', async (t) => {
  const { gid, id } = await account();
  t.equal(await callPostgres(bb(gid, 'cancel'), pool, add(id, 30)), 'null-compensation', 'cancel skipped its business');
  t.strictSame(await rows(gid), ['tcc/01/try/01/cancel', 'tcc/01/cancel/01/cancel'], 'the cancel inserted the try row itself, reason cancel');
  t.equal(await callPostgres(bb(gid, 'try'), pool, add(id, -30)), 'duplicate', 'the late try is skipped (hanging)');
  t.equal(await balance(id), 100, 'nothing applied');
});

t.test('tcc: try then cancel compensates once; a repeated cancel is skipped', async (t) => {
  const { gid, id } = await account();
  await callPostgres(bb(gid, 'try'), pool, add(id, -30));
  t.equal(await callPostgres(bb(gid, 'cancel'), pool, add(id, 30)), 'ran', 'cancel ran');
  t.equal(await callPostgres(bb(gid, 'cancel'), pool, add(id, 30)), 'duplicate', 'the repeated cancel is skipped');
  t.equal(await balance(id), 100, 'try undone exactly once');
});

t.test('saga: compensate before action is a null compensation; workflow rollback too', async (t) => {
  const { gid, id } = await account();
  t.equal(await callPostgres(bb(gid, 'compensate', 'saga'), pool, add(id, 30)), 'null-compensation', 'compensate first');
  t.equal(await callPostgres(bb(gid, 'action', 'saga'), pool, add(id, -30)), 'duplicate', 'the late action is skipped');
  const w = await account();
  t.equal(await callPostgres(bb(w.gid, 'rollback', 'workflow'), pool, add(w.id, 30)), 'null-compensation', 'workflow rollback first');
  t.equal(await callPostgres(bb(w.gid, 'action', 'workflow'), pool, add(w.id, -30)), 'duplicate', 'the late workflow action is skipped');
  t.equal((await balance(id)) + (await balance(w.id)), 200, 'nothing applied');
});

t.test('a business error rolls back the barrier rows too, so a retry runs the business', async (t) => {
  const { gid, id } = await account();
  await t.rejects(
    callPostgres(bb(gid, 'action', 'saga'), pool, async (conn) => {
      await add(id, -30)(conn);
      throw new Error('boom');
    }),
    { message: 'boom' },
    'the business error is rethrown',
  );
  t.strictSame(await rows(gid), [], 'no barrier row kept');
  t.equal(await balance(id), 100, 'the business write rolled back');
  t.equal(await callPostgres(bb(gid, 'action', 'saga'), pool, add(id, -30)), 'ran', 'the retry runs');
  t.equal(await balance(id), 70, 'applied once');
});

t.test('several barriers in one handler get barrier ids 01, 02', async (t) => {
  const { gid, id } = await account();
  const b = bb(gid, 'action', 'saga');
  await callPostgres(b, pool, add(id, -1));
  await callPostgres(b, pool, add(id, -1));
  t.strictSame(await rows(gid), ['saga/01/action/01/action', 'saga/01/action/02/action'], 'two rows, distinct barrier ids');
  t.equal(await balance(id), 98, 'both ran');
});

t.test('works on a single client too (not only a pool)', async (t) => {
  const { gid, id } = await account();
  const conn = new pg.Client({ connectionString: `${PG_URL}/${DB}` });
  await conn.connect();
  t.equal(await callPostgres(bb(gid, 'try'), conn, add(id, -5)), 'ran', 'try on a connection');
  t.equal(await callPostgres(bb(gid, 'try'), conn, add(id, -5)), 'duplicate', 'repeat on a connection');
  t.equal(await balance(id), 95, 'applied once');
  await conn.end();
});

t.test('msg: a repeated DoAndSubmit business → DuplicatedError, rolled back', async (t) => {
  const { gid, id } = await account();
  t.equal(await callPostgres(msgBarrier(gid), pool, add(id, -1)), 'ran', 'first run');
  await t.rejects(callPostgres(msgBarrier(gid), pool, add(id, -1)), { name: 'DuplicatedError' }, 'second run is DUPLICATED');
  t.equal(await balance(id), 99, 'applied once');
  t.strictSame(await rows(gid), ['msg/00/msg/01/msg'], 'one msg row');
});

t.test('msg QueryPrepared: before the business → FAILURE and the business can no longer run; after → success', async (t) => {
  const before = await account();
  const q = { transType: 'msg', gid: before.gid, branchId: '00', op: 'msg' };
  await t.rejects(postgresQueryPrepared(q, pool), { name: 'FailureError', status: 409 }, 'no business yet → FAILURE');
  await t.rejects(postgresQueryPrepared(q, pool), { name: 'FailureError', status: 409 }, 'asked again → still FAILURE');
  t.strictSame(await rows(before.gid), ['msg/00/msg/01/rollback'], 'the rollback row');
  await t.rejects(callPostgres(msgBarrier(before.gid), pool, add(before.id, -1)), { name: 'DuplicatedError' }, 'a late business is refused');
  t.equal(await balance(before.id), 100, 'not applied');

  const after = await account();
  await callPostgres(msgBarrier(after.gid), pool, add(after.id, -1));
  await postgresQueryPrepared({ ...q, gid: after.gid }, pool);
  t.pass('after the business → success');
  t.strictSame(await rows(after.gid), ['msg/00/msg/01/msg'], 'the row keeps reason msg');
});

t.test('msg QueryPrepared waits for an open local transaction and answers from its outcome', async (t) => {
  for (const outcome of ['commit', 'rollback'] as const) {
    const { gid, id } = await account();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inBusiness = new Promise<void>((r) => (entered = r));
    const business = callPostgres(msgBarrier(gid), pool, async (conn) => {
      await add(id, -1)(conn);
      entered();
      await gate;
      if (outcome === 'rollback') throw new Error('business failed');
    }).catch((e: unknown) => e);
    await inBusiness;
    let answered = false;
    const query = postgresQueryPrepared({ transType: 'msg', gid, branchId: '00', op: 'msg' }, pool).then(
      () => 'success',
      (e: Error) => e.name,
    );
    void query.then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 150));
    t.equal(answered, false, `${outcome}: the check-back waits on the open transaction's row`);
    release();
    await business;
    t.equal(await query, outcome === 'commit' ? 'success' : 'FailureError', `${outcome}: then answers from its outcome`);
  }
});

t.test('concurrent try and cancel are serialised: the business is applied and undone, or neither', async (t) => {
  // Should the server pick a deadlock victim, it is rolled back whole and answered with an
  // error, which the coordinator (cancel) or the application (try) retries.
  const retried = async (b: () => Promise<string>): Promise<string> => {
    for (;;) {
      try {
        return await b();
      } catch (err) {
        if ((err as { code?: string }).code !== '40P01') throw err;
      }
    }
  };
  for (let i = 0; i < 20; i++) {
    const { gid, id } = await account();
    const results = await Promise.all([
      retried(() => callPostgres(bb(gid, 'try'), pool, add(id, -30))),
      retried(() => callPostgres(bb(gid, 'cancel'), pool, add(id, 30))),
    ]);
    t.equal(await balance(id), 100, `round ${i}: balance restored (try ${results[0]}, cancel ${results[1]})`);
    t.ok(results.join() === 'ran,ran' || results.join() === 'duplicate,null-compensation', `round ${i}: both ran, or the cancel came first`);
  }
});
