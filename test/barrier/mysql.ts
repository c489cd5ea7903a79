/**
 * The SQL branch barrier on MariaDB/MySQL (dtm-protocol.md §7.1), against the local server
 * (root, no password, 127.0.0.1:3306). The file creates its own database, with the barrier
 * table under a configured name, and drops it at the end.
 */
import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';
import t from 'tap';
import { createBranchBarrier, msgBarrier, type BranchBarrier } from '../../src/client/barrier/branch-barrier.js';
import { callMysql, mysqlQueryPrepared } from '../../src/client/barrier/mysql.js';
import { createBarrierTable, MYSQL_BARRIER_DDL, mysqlBarrierDdl } from '../../src/client/barrier/sql.js';

const DB = `dtmb_mysql_${process.pid}`;
const TABLE = `${DB}.barrier`;
const MYSQL_URL = process.env['MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306';

let root: Pool;
let pool: Pool;

t.before(async () => {
  root = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 2 });
  await root.query(`drop database if exists ${DB}`);
  await root.query(`create database ${DB}`);
  pool = mysql.createPool({ uri: `${MYSQL_URL}/${DB}`, connectionLimit: 8 });
  await createBarrierTable(pool, 'mysql', { table: TABLE });
  await pool.query('create table account (id int primary key, balance int not null)');
});
t.teardown(async () => {
  await pool?.end();
  await root?.query(`drop database if exists ${DB}`);
  await root?.end();
});

let n = 0;
/** A fresh gid and an account row for it (balance 100). */
async function account(): Promise<{ gid: string; id: number }> {
  n += 1;
  const id = n;
  await pool.query('insert into account values (?, 100)', [id]);
  return { gid: `g-${process.pid}-${id}`, id };
}

async function balance(id: number): Promise<number> {
  const [rows] = await pool.query<RowDataPacket[]>('select balance from account where id = ?', [id]);
  return Number(rows[0]?.['balance']);
}

async function rows(gid: string): Promise<string[]> {
  const [r] = await pool.query<RowDataPacket[]>(`select trans_type, branch_id, op, barrier_id, reason from ${TABLE} where gid = ? order by id`, [gid]);
  return r.map((x) => `${x['trans_type']}/${x['branch_id']}/${x['op']}/${x['barrier_id']}/${x['reason']}`);
}

const bb = (gid: string, op: string, transType = 'tcc', branchId = '01'): BranchBarrier => createBranchBarrier({ transType, gid, branchId, op });
const add =
  (id: number, amount: number) =>
  async (conn: mysql.Connection): Promise<void> => {
    await conn.query('update account set balance = balance + ? where id = ?', [amount, id]);
  };

t.test("the DDL is DTM's: its columns and UNIQUE(gid, branch_id, op, barrier_id)", async (t) => {
  t.match(MYSQL_BARRIER_DDL, /create database if not exists dtm_barrier/, 'default DDL creates the dtm_barrier database');
  t.match(MYSQL_BARRIER_DDL, /create table if not exists dtm_barrier\.barrier\(/, 'and the dtm_barrier.barrier table');
  t.throws(() => mysqlBarrierDdl('x; drop table y'), /bad barrier table name/, 'table names are plain identifiers only');
  const [cols] = await pool.query<RowDataPacket[]>(
    'select column_name as c from information_schema.columns where table_schema = ? and table_name = ? order by ordinal_position',
    [DB, 'barrier'],
  );
  t.strictSame(
    cols.map((c) => c['c']),
    ['id', 'trans_type', 'gid', 'branch_id', 'op', 'barrier_id', 'reason', 'create_time', 'update_time'],
    'columns',
  );
  const [idx] = await pool.query<RowDataPacket[]>(
    'select column_name as c from information_schema.statistics where table_schema = ? and table_name = ? and non_unique = 0 and index_name <> ? order by seq_in_index',
    [DB, 'barrier', 'PRIMARY'],
  );
  t.strictSame(
    idx.map((c) => c['c']),
    ['gid', 'branch_id', 'op', 'barrier_id'],
    'the unique key',
  );
  await createBarrierTable(pool, 'mysql', { table: TABLE });
  t.pass('createBarrierTable is idempotent');
});

t.test('tcc: try then confirm run once each; a repeated confirm is skipped (idempotency)', async (t) => {
  const { gid, id } = await account();
  t.equal(await callMysql(bb(gid, 'try'), pool, add(id, -30), { table: TABLE }), 'ran', 'try ran');
  t.equal(await callMysql(bb(gid, 'confirm'), pool, add(id, 1), { table: TABLE }), 'ran', 'confirm ran');
  t.equal(await callMysql(bb(gid, 'confirm'), pool, add(id, 1), { table: TABLE }), 'duplicate', 'the repeated confirm is skipped');
  t.equal(await balance(id), 71, 'try and one confirm applied');
  t.strictSame(await rows(gid), ['tcc/01/try/01/try', 'tcc/01/confirm/01/confirm'], 'one row per op, reason = op');
});

t.test('tcc: a cancel before its try is a null compensation, and the late try hangs (is skipped)', async (t) => {
  const { gid, id } = await account();
  t.equal(await callMysql(bb(gid, 'cancel'), pool, add(id, 30), { table: TABLE }), 'null-compensation', 'cancel skipped its business');
  t.strictSame(await rows(gid), ['tcc/01/try/01/cancel', 'tcc/01/cancel/01/cancel'], 'the cancel inserted the try row itself, reason cancel');
  t.equal(await callMysql(bb(gid, 'try'), pool, add(id, -30), { table: TABLE }), 'duplicate', 'the late try is skipped (hanging)');
  t.equal(await balance(id), 100, 'nothing applied');
});

t.test('tcc: try then cancel compensates once; a repeated cancel is skipped', async (t) => {
  const { gid, id } = await account();
  await callMysql(bb(gid, 'try'), pool, add(id, -30), { table: TABLE });
  t.equal(await callMysql(bb(gid, 'cancel'), pool, add(id, 30), { table: TABLE }), 'ran', 'cancel ran');
  t.equal(await callMysql(bb(gid, 'cancel'), pool, add(id, 30), { table: TABLE }), 'duplicate', 'the repeated cancel is skipped');
  t.equal(await balance(id), 100, 'try undone exactly once');
});

t.test('saga: compensate before action is a null compensation; workflow rollback too', async (t) => {
  const { gid, id } = await account();
  t.equal(await callMysql(bb(gid, 'compensate', 'saga'), pool, add(id, 30), { table: TABLE }), 'null-compensation', 'compensate first');
  t.equal(await callMysql(bb(gid, 'action', 'saga'), pool, add(id, -30), { table: TABLE }), 'duplicate', 'the late action is skipped');
  const w = await account();
  t.equal(await callMysql(bb(w.gid, 'rollback', 'workflow'), pool, add(w.id, 30), { table: TABLE }), 'null-compensation', 'workflow rollback first');
  t.equal(await callMysql(bb(w.gid, 'action', 'workflow'), pool, add(w.id, -30), { table: TABLE }), 'duplicate', 'the late workflow action is skipped');
  t.equal((await balance(id)) + (await balance(w.id)), 200, 'nothing applied');
});

t.test('a business error rolls back the barrier rows too, so a retry runs the business', async (t) => {
  const { gid, id } = await account();
  await t.rejects(
    callMysql(
      bb(gid, 'action', 'saga'),
      pool,
      async (conn) => {
        await add(id, -30)(conn);
        throw new Error('boom');
      },
      { table: TABLE },
    ),
    { message: 'boom' },
    'the business error is rethrown',
  );
  t.strictSame(await rows(gid), [], 'no barrier row kept');
  t.equal(await balance(id), 100, 'the business write rolled back');
  t.equal(await callMysql(bb(gid, 'action', 'saga'), pool, add(id, -30), { table: TABLE }), 'ran', 'the retry runs');
  t.equal(await balance(id), 70, 'applied once');
});

t.test('several barriers in one handler get barrier ids 01, 02', async (t) => {
  const { gid, id } = await account();
  const b = bb(gid, 'action', 'saga');
  await callMysql(b, pool, add(id, -1), { table: TABLE });
  await callMysql(b, pool, add(id, -1), { table: TABLE });
  t.strictSame(await rows(gid), ['saga/01/action/01/action', 'saga/01/action/02/action'], 'two rows, distinct barrier ids');
  t.equal(await balance(id), 98, 'both ran');
});

t.test('works on a single connection too (not only a pool)', async (t) => {
  const { gid, id } = await account();
  const conn = await mysql.createConnection({ uri: `${MYSQL_URL}/${DB}` });
  t.teardown(() => conn.end());
  t.equal(await callMysql(bb(gid, 'try'), conn, add(id, -5), { table: TABLE }), 'ran', 'try on a connection');
  t.equal(await callMysql(bb(gid, 'try'), conn, add(id, -5), { table: TABLE }), 'duplicate', 'repeat on a connection');
  t.equal(await balance(id), 95, 'applied once');
});

t.test('msg: a repeated DoAndSubmit business → DuplicatedError, rolled back', async (t) => {
  const { gid, id } = await account();
  t.equal(await callMysql(msgBarrier(gid), pool, add(id, -1), { table: TABLE }), 'ran', 'first run');
  await t.rejects(callMysql(msgBarrier(gid), pool, add(id, -1), { table: TABLE }), { name: 'DuplicatedError' }, 'second run is DUPLICATED');
  t.equal(await balance(id), 99, 'applied once');
  t.strictSame(await rows(gid), ['msg/00/msg/01/msg'], 'one msg row');
});

t.test('msg QueryPrepared: before the business → FAILURE and the business can no longer run; after → success', async (t) => {
  const before = await account();
  const q = { transType: 'msg', gid: before.gid, branchId: '00', op: 'msg' };
  await t.rejects(mysqlQueryPrepared(q, pool, { table: TABLE }), { name: 'FailureError', status: 409 }, 'no business yet → FAILURE');
  await t.rejects(mysqlQueryPrepared(q, pool, { table: TABLE }), { name: 'FailureError', status: 409 }, 'asked again → still FAILURE');
  t.strictSame(await rows(before.gid), ['msg/00/msg/01/rollback'], 'the rollback row');
  await t.rejects(callMysql(msgBarrier(before.gid), pool, add(before.id, -1), { table: TABLE }), { name: 'DuplicatedError' }, 'a late business is refused');
  t.equal(await balance(before.id), 100, 'not applied');

  const after = await account();
  await callMysql(msgBarrier(after.gid), pool, add(after.id, -1), { table: TABLE });
  await mysqlQueryPrepared({ ...q, gid: after.gid }, pool, { table: TABLE });
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
    const business = callMysql(
      msgBarrier(gid),
      pool,
      async (conn) => {
        await add(id, -1)(conn);
        entered();
        await gate;
        if (outcome === 'rollback') throw new Error('business failed');
      },
      { table: TABLE },
    ).catch((e: unknown) => e);
    await inBusiness;
    let answered = false;
    const query = mysqlQueryPrepared({ transType: 'msg', gid, branchId: '00', op: 'msg' }, pool, { table: TABLE }).then(
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
  // InnoDB may pick one of the two as a deadlock victim; it is rolled back whole and answered
  // with an error, which the coordinator (cancel) or the application (try) retries.
  const retried = async (b: () => Promise<string>): Promise<string> => {
    for (;;) {
      try {
        return await b();
      } catch (err) {
        if ((err as { code?: string }).code !== 'ER_LOCK_DEADLOCK') throw err;
      }
    }
  };
  for (let i = 0; i < 20; i++) {
    const { gid, id } = await account();
    const results = await Promise.all([
      retried(() => callMysql(bb(gid, 'try'), pool, add(id, -30), { table: TABLE })),
      retried(() => callMysql(bb(gid, 'cancel'), pool, add(id, 30), { table: TABLE })),
    ]);
    t.equal(await balance(id), 100, `round ${i}: balance restored (try ${results[0]}, cancel ${results[1]})`);
    t.ok(results.join() === 'ran,ran' || results.join() === 'duplicate,null-compensation', `round ${i}: both ran, or the cancel came first`);
  }
});
