/**
 * The branch barrier on PostgreSQL with pg (dtm-protocol.md §7.1); same algorithm as the
 * MySQL one, with `insert … on conflict on constraint uniq_barrier do nothing` as insert-ignore.
 *
 * Only types are imported: the caller's pg is used.
 */
import type { Client, Pool, PoolClient } from 'pg';
import { FIRST_BARRIER_ID, MSG_BRANCH_ID, MSG_OP, ORIGIN_OP, type BarrierIdentity, type BarrierOutcome, type BranchBarrier } from './branch-barrier.js';
import { BarrierFailureError, DuplicatedError } from './errors.js';
import { barrierDecision, barrierTable, insertBarrierSql, selectReasonSql, type BarrierRow, type SqlBarrierOptions } from './sql.js';

/** A pg pool (a client is checked out for the call) or a connected client (used as is). */
export type PostgresDb = Pool | PoolClient | Client;

/** A client that can run queries (a pool, a pooled client or a client). */
type Queryable = Pick<Client, 'query'>;

function isPool(db: PostgresDb): db is Pool {
  return 'totalCount' in db && typeof db.connect === 'function';
}

/**
 * Inserts one barrier row, ignoring a conflict on `uniq_barrier`; returns the affected count.
 * A row being inserted by another open transaction makes this wait for it.
 */
export async function postgresInsertBarrier(db: Queryable | Pool, table: string, row: BarrierRow): Promise<number> {
  const res = await db.query(insertBarrierSql('postgres', table), [...row]);
  return res.rowCount ?? 0;
}

/**
 * Runs `business` behind the barrier, in one local transaction (`BEGIN` … `COMMIT`) on `db`
 * (§7.1 Call); see callMysql for the steps. Rolls back and rethrows on any error.
 * @param business gets the client that holds the local transaction; do every write on it
 * @returns what the barrier did
 */
export async function callPostgres(
  barrier: BranchBarrier,
  db: PostgresDb,
  business: (client: PoolClient | Client) => Promise<unknown>,
  opts?: SqlBarrierOptions,
): Promise<BarrierOutcome> {
  const table = barrierTable(opts);
  const barrierId = barrier.nextBarrierId();
  const client: PoolClient | Client = isPool(db) ? await db.connect() : db;
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      const { transType, gid, branchId, op } = barrier;
      const origin = ORIGIN_OP[op];
      const originAffected = origin === undefined ? 0 : await postgresInsertBarrier(client, table, [transType, gid, branchId, origin, barrierId, op]);
      const currentAffected = await postgresInsertBarrier(client, table, [transType, gid, branchId, op, barrierId, op]);
      const decision = barrierDecision(op, originAffected, currentAffected);
      if (decision === 'duplicated') throw new DuplicatedError();
      if (decision === 'run') await business(client);
      await client.query('COMMIT');
      return decision === 'run' ? 'ran' : decision;
    } catch (err) {
      broken = await rollbackQuietly(client);
      throw err;
    }
  } finally {
    if (isPool(db)) (client as PoolClient).release(broken);
  }
}

/**
 * The msg check-back (`query_prepared`) on PostgreSQL (§7.1 QueryPrepared); see
 * mysqlQueryPrepared.
 * @throws BarrierFailureError when the msg's local transaction was rolled back (answer 409)
 */
export async function postgresQueryPrepared(barrier: BarrierIdentity, db: PostgresDb, opts?: SqlBarrierOptions): Promise<void> {
  const table = barrierTable(opts);
  const q = db as Queryable;
  await postgresInsertBarrier(q, table, [barrier.transType, barrier.gid, MSG_BRANCH_ID, MSG_OP, FIRST_BARRIER_ID, 'rollback']);
  const res = await q.query<{ reason: string }>(selectReasonSql('postgres', table), [barrier.gid, MSG_BRANCH_ID, MSG_OP, FIRST_BARRIER_ID]);
  if (res.rows[0]?.reason === 'rollback') throw new BarrierFailureError(`msg ${barrier.gid} was rolled back`);
}

/**
 * Rolls back the open transaction, keeping the caller's error the one that is thrown. Returns the
 * rollback's own error, if any: the client is then in an unknown state, and a pooled one must be
 * released as broken (discarded), not reused.
 */
export async function rollbackQuietly(client: { query(sql: string): Promise<unknown> }): Promise<Error | undefined> {
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
