/**
 * XA on the resource-manager side (src/client/xa-rm.ts, dtm-protocol.md §4.6) against our
 * coordinator and the real databases: a tiny node:http RM service runs phase 1 with
 * xaLocalMysql/xaLocalPostgres and phase 2 with xaPhase2Mysql/xaPhase2Postgres; the test plays
 * the XA application (prepare → branch calls → submit, or abort) over HTTP.
 *
 * PostgreSQL needs max_prepared_transactions > 0, which its default (0) is not. When the server
 * at PG_XA_URL (default: the local service) has 0, the file starts a private PostgreSQL cluster
 * (initdb + pg_ctl from /usr/lib/postgresql/<v>/bin, run as the `postgres` user when we are root,
 * on a free port, with max_prepared_transactions=10) and stops it at the end, as the Redis
 * fixture does for Redis; if that is not possible, the PostgreSQL cases are skipped with the reason.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql, { type Pool as MysqlPool, type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import t from 'tap';
import { createBarrierTable } from '../../src/client/barrier/sql.js';
import { BarrierFailureError } from '../../src/client/barrier/errors.js';
import { xaLocalMysql, xaLocalPostgres, xaPhase2Mysql, xaPhase2Postgres } from '../../src/client/xa-rm.js';
import { freePort } from '../../src/store/embedded-redis.js';
import { gidOf, startTestApp, type TestApp } from '../fixtures/app.js';

const DB = `dtmb_xa_${process.pid}`;
const MYSQL_URL = process.env['MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306';
let PG_URL = process.env['PG_XA_URL'] ?? process.env['PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432';

/** A private PostgreSQL cluster with prepared transactions enabled; stop() removes it. */
interface PrivatePg {
  url: string;
  stop(): void;
}

/** Starts a private PostgreSQL cluster, or explains why it cannot. */
async function startPrivatePostgres(): Promise<PrivatePg | string> {
  const base = '/usr/lib/postgresql';
  const version = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a))[0] : undefined;
  if (version === undefined) return 'no PostgreSQL binaries under /usr/lib/postgresql';
  const bin = join(base, version, 'bin');
  const dir = mkdtempSync(join(tmpdir(), 'dtm-test-pg-'));
  const data = join(dir, 'data');
  const root = process.getuid?.() === 0;
  // PostgreSQL refuses to run as root: run its tools as the postgres user then.
  const run = (cmd: string, args: string[]): void => {
    execFileSync(root ? 'runuser' : cmd, root ? ['-u', 'postgres', '--', cmd, ...args] : args, { stdio: 'pipe', timeout: 60_000 });
  };
  try {
    if (root)
      chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), Number(execFileSync('id', ['-g', 'postgres']).toString().trim()));
    run(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    const port = await freePort();
    run(join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-l',
      join(dir, 'log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_prepared_transactions=10 -c fsync=off`,
      'start',
    ]);
    let stopped = false;
    return {
      url: `postgres://postgres@127.0.0.1:${port}`,
      stop() {
        if (stopped) return;
        stopped = true;
        try {
          run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot start a private PostgreSQL: ${(err as Error).message.split('\n')[0]}`;
  }
}

let privatePg: PrivatePg | undefined;

/** On MySQL the barrier table lives in the test's own database (a configured name); on PG it is DTM's default. */
const MY_TABLE = `${DB}.barrier`;

let dtm: TestApp;
let rm: Server;
let rmUrl: string;
let myRoot: MysqlPool;
let my: MysqlPool;
let pgRoot: pg.Client;
let pgPool: pg.Pool | undefined;
let pgSkip: string | false = false;

type Db = 'mysql' | 'pg';

/** The RM: POST /<db>/action (phase 1, body {id, amount, fail?}) and POST /<db>/phase2. */
function startRm(): Promise<void> {
  rm = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const [, db, step] = u.pathname.split('/');
      const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString()) as { id: number; amount: number; fail?: boolean }) : undefined;
      const run = async (): Promise<void> => {
        if (step === 'action') {
          const { id, amount, fail } = body!;
          if (db === 'mysql') {
            await xaLocalMysql(
              u.searchParams,
              my,
              async (conn) => {
                await conn.query('update account set balance = balance + ? where id = ?', [amount, id]);
                if (fail === true) throw new BarrierFailureError('not enough balance');
              },
              undefined,
              { table: MY_TABLE },
            );
          } else {
            await xaLocalPostgres(u.searchParams, pgPool!, async (client) => {
              await client.query('update account set balance = balance + $1 where id = $2', [amount, id]);
              if (fail === true) throw new BarrierFailureError('not enough balance');
            });
          }
        } else if (step === 'phase2') {
          if (db === 'mysql') await xaPhase2Mysql(u.searchParams, my, { table: MY_TABLE });
          else await xaPhase2Postgres(u.searchParams, pgPool!);
        } else throw new Error(`no route ${u.pathname}`);
      };
      run().then(
        () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"dtm_result":"SUCCESS"}'),
        (err: Error) => {
          const failure = err.name === 'FailureError';
          res
            .writeHead(failure ? 409 : 500, { 'content-type': 'application/json' })
            .end(JSON.stringify({ dtm_result: failure ? 'FAILURE' : undefined, message: err.message }));
        },
      );
    });
  });
  return new Promise((r) =>
    rm.listen(0, '127.0.0.1', () => {
      rmUrl = `http://127.0.0.1:${(rm.address() as AddressInfo).port}`;
      r();
    }),
  );
}

t.before(async () => {
  dtm = await startTestApp();
  await startRm();
  myRoot = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 2 });
  await myRoot.query(`drop database if exists ${DB}`);
  await myRoot.query(`create database ${DB}`);
  my = mysql.createPool({ uri: `${MYSQL_URL}/${DB}`, connectionLimit: 8 });
  await createBarrierTable(my, 'mysql', { table: `${DB}.barrier` });
  await my.query('create table account (id int primary key, balance int not null)');

  pgRoot = new pg.Client({ connectionString: `${PG_URL}/postgres` });
  await pgRoot.connect();
  const mpt = Number((await pgRoot.query<{ max_prepared_transactions: string }>('show max_prepared_transactions')).rows[0]?.max_prepared_transactions);
  if (mpt === 0) {
    await pgRoot.end();
    const started = await startPrivatePostgres();
    if (typeof started === 'string') {
      pgSkip = `PostgreSQL at ${PG_URL} has max_prepared_transactions = 0, and ${started}`;
    } else {
      privatePg = started;
      PG_URL = started.url;
    }
    pgRoot = new pg.Client({ connectionString: `${privatePg?.url ?? PG_URL}/postgres` });
    await pgRoot.connect();
  }
  if (pgSkip === false) {
    await pgRoot.query(`drop database if exists ${DB} with (force)`);
    await pgRoot.query(`create database ${DB}`);
    pgPool = new pg.Pool({ connectionString: `${PG_URL}/${DB}`, max: 8 });
    // pool.end() resolves before its sockets close: a backend dropped then must not crash the file.
    pgPool.on('error', () => undefined);
    await createBarrierTable(pgPool, 'postgres');
    await pgPool.query('create table account (id int primary key, balance int not null)');
  }
});
t.teardown(async () => {
  rm?.close();
  await dtm?.stop();
  await my?.end();
  await myRoot?.query(`drop database if exists ${DB}`);
  await myRoot?.end();
  await pgPool?.end();
  if (pgSkip === false) await pgRoot?.query(`drop database if exists ${DB} with (force)`);
  await pgRoot?.end();
  privatePg?.stop();
});
process.on('exit', () => {
  // A failed teardown must not leave the private cluster running.
  if (privatePg !== undefined) {
    try {
      privatePg.stop();
    } catch {
      // already stopped
    }
  }
});

let nextId = 0;
async function accounts(db: Db, count: number): Promise<number[]> {
  const ids = Array.from({ length: count }, () => ++nextId);
  for (const id of ids) {
    if (db === 'mysql') await my.query('insert into account values (?, 100)', [id]);
    else await pgPool!.query('insert into account values ($1, 100)', [id]);
  }
  return ids;
}

async function balances(db: Db, ids: number[]): Promise<number[]> {
  const out: number[] = [];
  for (const id of ids) {
    if (db === 'mysql') out.push(Number((await my.query<RowDataPacket[]>('select balance from account where id = ?', [id]))[0][0]?.['balance']));
    else out.push(Number((await pgPool!.query<{ balance: number }>('select balance from account where id = $1', [id])).rows[0]?.balance));
  }
  return out;
}

async function barrierRows(db: Db, gid: string): Promise<string[]> {
  const sql = `select branch_id, op, barrier_id, reason from ${db === 'mysql' ? MY_TABLE : 'dtm_barrier.barrier'} where gid = ${db === 'mysql' ? '?' : '$1'} order by branch_id, id`;
  const rows =
    db === 'mysql'
      ? ((await my.query<RowDataPacket[]>(sql, [gid]))[0] as Record<string, string>[])
      : (await pgPool!.query<Record<string, string>>(sql, [gid])).rows;
  return rows.map((r) => `${r['branch_id']}/${r['op']}/${r['barrier_id']}/${r['reason']}`);
}

/** Prepared XA transactions left in the database for a gid. */
async function prepared(db: Db, gid: string): Promise<number> {
  if (db === 'mysql') {
    const [rows] = await my.query<RowDataPacket[]>('XA RECOVER');
    return rows.filter((r) => String(r['data']).startsWith(gid)).length;
  }
  return (await pgPool!.query('select gid from pg_prepared_xacts where gid like $1', [`${gid}%`])).rowCount ?? 0;
}

/** Calls one XA branch on the RM, as the XA application does. */
async function callBranch(db: Db, gid: string, branchId: string, body: { id: number; amount: number; fail?: boolean }): Promise<number> {
  const q = new URLSearchParams({ gid, trans_type: 'xa', branch_id: branchId, op: 'action', phase2_url: `${rmUrl}/${db}/phase2`, dtm: dtm.dtm });
  const res = await fetch(`${rmUrl}/${db}/action?${q}`, { method: 'POST', body: JSON.stringify(body) });
  await res.text();
  return res.status;
}

for (const db of ['mysql', 'pg'] as const) {
  t.test(`${db}: xa commit — two branches prepared, registered, then committed by the coordinator`, async (t) => {
    if (db === 'pg' && pgSkip !== false) return t.plan(0, pgSkip);
    const gid = gidOf(t.name).slice(0, 40);
    const [a, b] = await accounts(db, 2);
    t.equal((await dtm.post('prepare', { gid, trans_type: 'xa' })).status, 200, 'prepare');
    t.equal(await callBranch(db, gid, '01', { id: a!, amount: -30 }), 200, 'branch 01 (TransOut)');
    t.equal(await callBranch(db, gid, '02', { id: b!, amount: 30 }), 200, 'branch 02 (TransIn)');
    t.equal(await prepared(db, gid), 2, 'two local XA transactions prepared');
    t.strictSame(await balances(db, [a!, b!]), [100, 100], 'nothing visible before phase 2');
    t.strictSame(await dtm.post('submit', { gid, trans_type: 'xa', wait_result: true }), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'submit');
    const q = await dtm.waitStatus(gid, 'succeed');
    t.strictSame(
      q.branches.map((x: { op: string; status: string }) => `${x.op}:${x.status}`),
      ['rollback:prepared', 'commit:succeed', 'rollback:prepared', 'commit:succeed'],
      'DTM branch statuses',
    );
    t.strictSame(await balances(db, [a!, b!]), [70, 130], 'committed');
    t.equal(await prepared(db, gid), 0, 'no prepared XA left');
    t.strictSame(await barrierRows(db, gid), ['01/action/01/action', '02/action/01/action'], 'the action barrier rows committed with the branches');
    const again = new URLSearchParams({ gid, trans_type: 'xa', branch_id: '01', op: 'commit' });
    const res = await fetch(`${rmUrl}/${db}/phase2?${again}`, { method: 'POST' });
    t.equal(res.status, 200, 'a repeated commit is answered 200 (already done)');
  });

  t.test(`${db}: xa rollback — the second branch fails, the application aborts, the first is rolled back`, async (t) => {
    if (db === 'pg' && pgSkip !== false) return t.plan(0, pgSkip);
    const gid = gidOf(t.name).slice(0, 40);
    const [a, b] = await accounts(db, 2);
    await dtm.post('prepare', { gid, trans_type: 'xa' });
    t.equal(await callBranch(db, gid, '01', { id: a!, amount: -30 }), 200, 'branch 01 prepared');
    t.equal(await callBranch(db, gid, '02', { id: b!, amount: 30, fail: true }), 409, 'branch 02 fails (409)');
    t.equal(await prepared(db, gid), 1, 'only branch 01 is prepared; 02 was rolled back locally');
    t.strictSame(await dtm.post('abort', { gid, trans_type: 'xa', wait_result: true }), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'abort');
    const q = await dtm.waitStatus(gid, 'failed');
    t.strictSame(
      q.branches.map((x: { op: string; status: string }) => `${x.op}:${x.status}`),
      ['rollback:succeed', 'commit:prepared'],
      'only branch 01 registered, rolled back',
    );
    t.strictSame(await balances(db, [a!, b!]), [100, 100], 'nothing applied');
    t.equal(await prepared(db, gid), 0, 'no prepared XA left');
    t.strictSame(await barrierRows(db, gid), ['01/action/01/rollback'], 'the rollback row of branch 01');
  });

  t.test(`${db}: a rollback before the branch ran records it; the late branch call fails and applies nothing`, async (t) => {
    if (db === 'pg' && pgSkip !== false) return t.plan(0, pgSkip);
    const gid = gidOf(t.name).slice(0, 40);
    const [a] = await accounts(db, 1);
    await dtm.post('prepare', { gid, trans_type: 'xa' });
    const rb = new URLSearchParams({ gid, trans_type: 'xa', branch_id: '01', op: 'rollback' });
    t.equal((await fetch(`${rmUrl}/${db}/phase2?${rb}`, { method: 'POST' })).status, 200, 'rollback of an unknown xid is done');
    t.strictSame(await barrierRows(db, gid), ['01/action/01/rollback'], 'rollback row recorded');
    t.equal(await callBranch(db, gid, '01', { id: a!, amount: -30 }), 409, 'the late branch call fails (hanging)');
    t.strictSame(await balances(db, [a!]), [100], 'nothing applied');
    t.equal(await prepared(db, gid), 0, 'nothing prepared');
    t.equal((await dtm.query(gid)).branches.length, 0, 'and nothing registered');
    await dtm.post('abort', { gid, trans_type: 'xa' });
  });

  t.test(`${db}: a commit for an xid the database does not know, with no action recorded, fails (the coordinator retries)`, async (t) => {
    if (db === 'pg' && pgSkip !== false) return t.plan(0, pgSkip);
    const q = new URLSearchParams({ gid: `nope-${db}-${process.pid}`, trans_type: 'xa', branch_id: '01', op: 'commit' });
    const res = await fetch(`${rmUrl}/${db}/phase2?${q}`, { method: 'POST' });
    t.equal(res.status, 500, '500, not success');
    t.match(await res.text(), /cannot commit/, 'says why');
  });

  t.test(`${db}: registerBranch refused (the global transaction is no longer prepared) → 409, rolled back locally`, async (t) => {
    if (db === 'pg' && pgSkip !== false) return t.plan(0, pgSkip);
    const gid = gidOf(t.name).slice(0, 40);
    const [a] = await accounts(db, 1);
    await dtm.post('prepare', { gid, trans_type: 'xa' });
    await dtm.post('abort', { gid, trans_type: 'xa', wait_result: true });
    t.equal(await callBranch(db, gid, '01', { id: a!, amount: -30 }), 409, 'the branch call answers 409');
    t.strictSame(await balances(db, [a!]), [100], 'nothing applied');
    t.equal(await prepared(db, gid), 0, 'nothing prepared');
    t.strictSame(await barrierRows(db, gid), [], 'no barrier row');
  });
}
