/**
 * The resource-manager side of XA (dtm-protocol.md §4.6, §7.1 "XA usage"), for MySQL/MariaDB
 * (mysql2) and PostgreSQL (pg): what a business service runs when the XA application calls one
 * of its branches, and when the coordinator calls its phase-2 URL.
 *
 * Phase 1 (`xaLocalMysql` / `xaLocalPostgres`), for a call with query `gid`, `trans_type=xa`,
 * `branch_id`, `op=action`, `phase2_url` (and `dtm`):
 * 1. start a local XA transaction with id `<gid>-<branch_id>` (MySQL `XA START`, PG `BEGIN`);
 * 2. insert the XA barrier row (xa, gid, branch, `action`, `01`, reason `action`): if it is
 *    already there, the branch was rolled back (or done) before this call arrived, so it fails;
 * 3. run the business on the same connection;
 * 4. register the branch with the coordinator (`POST <dtm>/registerBranch`
 *    `{gid, trans_type:"xa", branch_id, url: phase2_url}`), as DTM does, inside the transaction;
 * 5. prepare (MySQL `XA END` + `XA PREPARE`, PG `PREPARE TRANSACTION`). Any error rolls the
 *    local transaction back and is rethrown.
 *
 * Phase 2 (`xaPhase2Mysql` / `xaPhase2Postgres`), for the coordinator's POST with `op=commit` or
 * `op=rollback`: `XA COMMIT`/`XA ROLLBACK` (`COMMIT PREPARED`/`ROLLBACK PREPARED`). An id the
 * database does not know (XAER_NOTA, "does not exist") counts as done for a rollback (a repeat, or
 * a branch that never prepared), and for a commit only if the branch's action row is committed (a
 * repeat); else the commit fails and the coordinator retries. After a rollback, the rollback
 * barrier row (reason `rollback`) is inserted so a late phase 1 finds it and fails.
 *
 * MariaDB keeps a prepared XA attached to the session that prepared it until that session ends,
 * so phase 1 closes a pooled connection after XA PREPARE (DTM also uses a connection per XA).
 * Prefer passing a pool; a connection you pass must be closed by you after the call, or phase 2
 * cannot commit it.
 *
 * XA ids are `<gid>-<branch_id>`; MySQL limits them to 64 bytes, PostgreSQL to 199. PostgreSQL
 * needs `max_prepared_transactions` > 0 (its default is 0).
 *
 * Only types of mysql2 and pg are imported: the caller's drivers are used.
 */
import type { Connection, Pool as MysqlPool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Client, Pool as PgPool, PoolClient } from 'pg';
import { request } from 'undici';
import { FIRST_BARRIER_ID } from './barrier/branch-barrier.js';
import { BarrierFailureError } from './barrier/errors.js';
import { mysqlInsertBarrier } from './barrier/mysql.js';
import { postgresInsertBarrier, rollbackQuietly } from './barrier/postgres.js';
import { barrierTable, selectReasonSql, type SqlBarrierOptions } from './barrier/sql.js';

/** Query parameters of an XA branch call (URLSearchParams or a plain object). */
export type XaQuery = URLSearchParams | Readonly<Record<string, string | undefined>>;

/** The parts of an XA branch call the RM needs. */
export interface XaBranch {
  readonly gid: string;
  readonly branchId: string;
  readonly op: string;
  /** The phase-2 URL to register (query `phase2_url`); empty in phase-2 calls. */
  readonly phase2Url: string;
  /** The coordinator's base URL from the query (`dtm`), if any. */
  readonly dtm: string;
}

/** Options of the RM functions. */
export interface XaOptions extends SqlBarrierOptions {
  /** Timeout of the registerBranch call, ms. @default 10000 */
  readonly requestTimeoutMs?: number;
}

/**
 * Reads an XA branch call's query.
 * @throws Error when gid, branch_id or op is missing
 */
export function xaBranchFromQuery(query: XaQuery): XaBranch {
  const get = (k: string): string => (query instanceof URLSearchParams ? query.get(k) : query[k]) ?? '';
  const b: XaBranch = { gid: get('gid'), branchId: get('branch_id'), op: get('op'), phase2Url: get('phase2_url'), dtm: get('dtm') };
  if (b.gid === '' || b.branchId === '' || b.op === '') {
    throw new Error(`[DTM_XA] bad xa info: gid: ${b.gid} branch_id: ${b.branchId} op: ${b.op} phase2_url: ${b.phase2Url}`);
  }
  return b;
}

/** The local XA transaction id of a branch: `<gid>-<branch_id>`. */
export function xaId(b: Pick<XaBranch, 'gid' | 'branchId'>): string {
  return `${b.gid}-${b.branchId}`;
}

/**
 * Registers an XA branch with the coordinator: `POST <dtm>/registerBranch`.
 * @throws BarrierFailureError on 409/FAILURE (the global transaction is no longer prepared)
 * @throws Error on any other non-200 answer or a transport error
 */
export async function registerXaBranch(dtm: string, b: XaBranch, timeoutMs = 10_000): Promise<void> {
  if (dtm === '') throw new Error('[DTM_XA] no coordinator URL: pass dtmServer or call with a dtm query parameter');
  if (b.phase2Url === '') throw new Error('[DTM_XA] no phase2_url in the branch call');
  const res = await request(`${dtm.replace(/\/+$/, '')}/registerBranch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ gid: b.gid, trans_type: 'xa', branch_id: b.branchId, url: b.phase2Url }),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const text = await res.body.text();
  if (res.statusCode === 409 || text.includes('FAILURE')) throw new BarrierFailureError(`registerBranch of ${xaId(b)}: ${text}`);
  if (res.statusCode !== 200) throw new Error(`[DTM_XA] registerBranch of ${xaId(b)}: HTTP ${res.statusCode} ${text}`);
}

function actionRow(b: XaBranch): [string, string, string, string, string, string] {
  return ['xa', b.gid, b.branchId, 'action', FIRST_BARRIER_ID, 'action'];
}

function rollbackRow(b: XaBranch): [string, string, string, string, string, string] {
  return ['xa', b.gid, b.branchId, 'action', FIRST_BARRIER_ID, 'rollback'];
}

function phase2Op(b: XaBranch): 'commit' | 'rollback' {
  if (b.op !== 'commit' && b.op !== 'rollback') throw new Error(`[DTM_XA] phase-2 op must be commit or rollback, got ${b.op}`);
  return b.op;
}

/** An error meaning "no such XA transaction": a repeated phase 2, or a branch that never prepared. */
function isUnknownXid(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const errno = (err as { errno?: unknown }).errno;
  return errno === 1397 || /XAER_NOTA|does not exist/.test(err.message);
}

async function mysqlReason(db: Connection, table: string, b: XaBranch): Promise<unknown> {
  const [rows] = await db.query<RowDataPacket[]>(selectReasonSql('mysql', table), [b.gid, b.branchId, 'action', FIRST_BARRIER_ID]);
  return rows[0]?.['reason'];
}

async function postgresReason(db: Client, table: string, b: XaBranch): Promise<unknown> {
  const res = await db.query<{ reason: string }>(selectReasonSql('postgres', table), [b.gid, b.branchId, 'action', FIRST_BARRIER_ID]);
  return res.rows[0]?.reason;
}

/**
 * A commit whose xid the database does not know is done only if the branch's action barrier
 * row is committed with reason `action` (a repeated commit). Otherwise the branch is not
 * prepared *yet* (on MariaDB a prepared XA stays invisible to other sessions until its session
 * ends) or it never prepared: answering success would lose the branch, so this throws and the
 * coordinator calls again later.
 */
function assertCommitted(b: XaBranch, reason: unknown, cause: unknown): void {
  if (reason === 'action') return;
  throw new Error(
    `[DTM_XA] cannot commit ${xaId(b)}: the database does not know it and its action is ${reason === undefined ? 'not recorded' : `recorded as ${JSON.stringify(reason)}`}`,
    { cause },
  );
}

function isMysqlPool(db: MysqlPool | PoolConnection | Connection): db is MysqlPool {
  return typeof (db as Partial<MysqlPool>).getConnection === 'function';
}

function isPgPool(db: PgPool | PoolClient | Client): db is PgPool {
  return 'totalCount' in db && typeof db.connect === 'function';
}

/** A PostgreSQL string literal (standard_conforming_strings on, the default since 9.1). */
function pgLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * Phase 1 of an XA branch on MySQL/MariaDB: XA START, barrier row, business, registerBranch,
 * XA END, XA PREPARE (see the file comment). Rolls back and rethrows on any error.
 * @param query the branch call's query (gid, branch_id, op, phase2_url, dtm)
 * @param db a pool (a connection is taken for the call) or a connection not in a transaction
 * @param business runs inside the XA transaction; do every write on the connection it gets
 * @param dtmServer the coordinator, e.g. http://host:36789/api/dtmsvr (default: query `dtm`)
 * @throws BarrierFailureError when the branch was already rolled back, or registerBranch says
 *   the global transaction is no longer prepared
 */
export async function xaLocalMysql(
  query: XaQuery,
  db: MysqlPool | PoolConnection | Connection,
  business: (conn: Connection) => Promise<unknown>,
  dtmServer?: string,
  opts?: XaOptions,
): Promise<void> {
  const b = xaBranchFromQuery(query);
  const table = barrierTable(opts);
  const xid = xaId(b);
  const conn = isMysqlPool(db) ? await db.getConnection() : db;
  let started = false;
  let ended = false;
  // MariaDB keeps a prepared XA attached to its session until the session ends (no other
  // session can commit it, and the session cannot start another XA), so a pooled connection is
  // closed after XA PREPARE, as DTM closes its XA connection.
  let discard = false;
  try {
    await conn.query('XA START ?', [xid]);
    started = true;
    if ((await mysqlInsertBarrier(conn, table, actionRow(b))) === 0) throw new BarrierFailureError(`xa branch ${xid} was already rolled back or done`);
    await business(conn);
    await registerXaBranch(dtmServer ?? b.dtm, b, opts?.requestTimeoutMs);
    await conn.query('XA END ?', [xid]);
    ended = true;
    discard = true;
    await conn.query('XA PREPARE ?', [xid]);
  } catch (err) {
    if (started) {
      try {
        if (!ended) await conn.query('XA END ?', [xid]);
        await conn.query('XA ROLLBACK ?', [xid]);
      } catch {
        // Unknown state: a pooled connection is destroyed (the server then rolls back an XA that is not prepared).
        discard = true;
      }
    }
    throw err;
  } finally {
    if (isMysqlPool(db)) {
      const pc = conn as PoolConnection;
      if (discard) pc.destroy();
      else pc.release();
    }
  }
}

/**
 * Phase 2 of an XA branch on MySQL/MariaDB: `XA COMMIT` or `XA ROLLBACK` per the query's `op`;
 * an unknown xid counts as done; after a rollback, the rollback barrier row is inserted.
 * @param query the coordinator's callback query (gid, branch_id, op)
 */
export async function xaPhase2Mysql(query: XaQuery, db: MysqlPool | PoolConnection | Connection, opts?: SqlBarrierOptions): Promise<void> {
  const b = xaBranchFromQuery(query);
  const op = phase2Op(b);
  const table = barrierTable(opts);
  try {
    await db.query(op === 'commit' ? 'XA COMMIT ?' : 'XA ROLLBACK ?', [xaId(b)]);
  } catch (err) {
    if (!isUnknownXid(err)) throw err;
    if (op === 'commit') assertCommitted(b, await mysqlReason(db, table, b), err);
  }
  if (op === 'rollback') await mysqlInsertBarrier(db, table, rollbackRow(b));
}

/**
 * Phase 1 of an XA branch on PostgreSQL: BEGIN, barrier row, business, registerBranch,
 * PREPARE TRANSACTION (see the file comment). Rolls back and rethrows on any error.
 * @param db a pool (a client is checked out for the call) or a connected client not in a transaction
 * @param dtmServer the coordinator (default: query `dtm`)
 */
export async function xaLocalPostgres(
  query: XaQuery,
  db: PgPool | PoolClient | Client,
  business: (client: PoolClient | Client) => Promise<unknown>,
  dtmServer?: string,
  opts?: XaOptions,
): Promise<void> {
  const b = xaBranchFromQuery(query);
  const table = barrierTable(opts);
  const xid = xaId(b);
  const client: PoolClient | Client = isPgPool(db) ? await db.connect() : db;
  let started = false;
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    started = true;
    if ((await postgresInsertBarrier(client, table, actionRow(b))) === 0) throw new BarrierFailureError(`xa branch ${xid} was already rolled back or done`);
    await business(client);
    await registerXaBranch(dtmServer ?? b.dtm, b, opts?.requestTimeoutMs);
    // After PREPARE TRANSACTION the session is free again; the prepared transaction lives on its own.
    started = false;
    await client.query(`PREPARE TRANSACTION ${pgLiteral(xid)}`);
  } catch (err) {
    if (started) broken = await rollbackQuietly(client);
    throw err;
  } finally {
    if (isPgPool(db)) (client as PoolClient).release(broken);
  }
}

/**
 * Phase 2 of an XA branch on PostgreSQL: `COMMIT PREPARED` or `ROLLBACK PREPARED` per the
 * query's `op`; "does not exist" counts as done; after a rollback, the rollback barrier row is
 * inserted.
 */
export async function xaPhase2Postgres(query: XaQuery, db: PgPool | PoolClient | Client, opts?: SqlBarrierOptions): Promise<void> {
  const b = xaBranchFromQuery(query);
  const op = phase2Op(b);
  const table = barrierTable(opts);
  try {
    await db.query(`${op === 'commit' ? 'COMMIT' : 'ROLLBACK'} PREPARED ${pgLiteral(xaId(b))}`);
  } catch (err) {
    if (!isUnknownXid(err)) throw err;
    if (op === 'commit') assertCommitted(b, await postgresReason(db as Client, table, b), err);
  }
  if (op === 'rollback') await postgresInsertBarrier(db, table, rollbackRow(b));
}
