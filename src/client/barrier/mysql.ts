/**
 * The branch barrier on MySQL/MariaDB with mysql2 (dtm-protocol.md §7.1): the barrier rows and
 * the business run in one local transaction, so a branch's effect is applied at most once, a
 * compensation that arrives before its forward op does nothing (null compensation), and a
 * forward op that arrives after its compensation does nothing (hanging).
 *
 * Uses the promise API (`mysql2/promise`). Only types are imported: the caller's mysql2 is used.
 */
import type { Connection, Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { FIRST_BARRIER_ID, MSG_BRANCH_ID, MSG_OP, ORIGIN_OP, type BarrierOutcome, type BranchBarrier, type BarrierIdentity } from './branch-barrier.js';
import { BarrierFailureError, DuplicatedError } from './errors.js';
import { barrierDecision, barrierTable, insertBarrierSql, selectReasonSql, type BarrierRow, type SqlBarrierOptions } from './sql.js';

/** A mysql2/promise pool (a connection is taken for the call) or a connection (used as is). */
export type MysqlDb = Pool | PoolConnection | Connection;

function isPool(db: MysqlDb): db is Pool {
  return typeof (db as Partial<Pool>).getConnection === 'function';
}

/**
 * Inserts one barrier row with `insert ignore`; returns the affected count (1 new, 0 present).
 * A row being inserted by another open transaction makes this wait for it (the unique-key lock).
 */
export async function mysqlInsertBarrier(conn: Connection | Pool, table: string, row: BarrierRow): Promise<number> {
  const [res] = await conn.query<ResultSetHeader>(insertBarrierSql('mysql', table), [...row]);
  return res.affectedRows;
}

/**
 * Runs `business` behind the barrier, in one local transaction on `db` (§7.1 Call):
 * 1. insert-ignore the origin op's row (cancel→try, compensate→action, rollback→action);
 * 2. insert-ignore the current op's row;
 * 3. op `msg` whose row was there → {@link DuplicatedError} (rolled back);
 * 4. a compensation whose origin row was new → null compensation: commit, skip the business;
 * 5. the current row was there → duplicate or hanging: commit, skip the business;
 * 6. else run the business on the same connection; commit on success, roll back on error and
 *    rethrow it.
 *
 * Each call takes the barrier's next barrier id (`01`, `02`, …).
 * @param business gets the connection that holds the local transaction; do every write on it
 * @returns what the barrier did
 */
export async function callMysql(
  barrier: BranchBarrier,
  db: MysqlDb,
  business: (conn: Connection) => Promise<unknown>,
  opts?: SqlBarrierOptions,
): Promise<BarrierOutcome> {
  const table = barrierTable(opts);
  const barrierId = barrier.nextBarrierId();
  const conn = isPool(db) ? await db.getConnection() : db;
  let broken = false;
  try {
    await conn.beginTransaction();
    try {
      const { transType, gid, branchId, op } = barrier;
      const origin = ORIGIN_OP[op];
      const originAffected = origin === undefined ? 0 : await mysqlInsertBarrier(conn, table, [transType, gid, branchId, origin, barrierId, op]);
      const currentAffected = await mysqlInsertBarrier(conn, table, [transType, gid, branchId, op, barrierId, op]);
      const decision = barrierDecision(op, originAffected, currentAffected);
      if (decision === 'duplicated') throw new DuplicatedError();
      if (decision === 'run') await business(conn);
      await conn.commit();
      return decision === 'run' ? 'ran' : decision;
    } catch (err) {
      try {
        await conn.rollback();
      } catch {
        // The connection is in an unknown state: a pooled one is destroyed, not reused.
        broken = true;
      }
      throw err;
    }
  } finally {
    if (isPool(db)) {
      const pc = conn as PoolConnection;
      if (broken) pc.destroy();
      else pc.release();
    }
  }
}

/**
 * The msg check-back (`query_prepared`) on MySQL/MariaDB (§7.1 QueryPrepared): inserts the msg
 * barrier row (gid, `00`, `msg`, `01`) with reason `rollback` unless it is there, then reads its
 * reason. If DoAndSubmit's local transaction is still open, the insert waits for it, so the
 * answer is always definitive.
 * @throws BarrierFailureError when the reason is `rollback` (the local transaction did not
 *   commit, and now never will): answer 409, the coordinator fails the message
 */
export async function mysqlQueryPrepared(barrier: BarrierIdentity, db: MysqlDb, opts?: SqlBarrierOptions): Promise<void> {
  const table = barrierTable(opts);
  const q = db;
  await mysqlInsertBarrier(q, table, [barrier.transType, barrier.gid, MSG_BRANCH_ID, MSG_OP, FIRST_BARRIER_ID, 'rollback']);
  const [rows] = await q.query<RowDataPacket[]>(selectReasonSql('mysql', table), [barrier.gid, MSG_BRANCH_ID, MSG_OP, FIRST_BARRIER_ID]);
  const reason: unknown = rows[0]?.['reason'];
  if (reason === 'rollback') throw new BarrierFailureError(`msg ${barrier.gid} was rolled back`);
}
