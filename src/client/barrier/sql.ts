/**
 * The SQL barrier table, shared by the MySQL/MariaDB and PostgreSQL barriers: DTM's
 * `dtm_barrier.barrier` layout (dtm-protocol.md §7.1, DTM's `sqls/dtmcli.barrier.*.sql`), so a
 * service can switch between DTM's SDKs and this one without migrating.
 */

/** DTM's default barrier table. */
export const DEFAULT_BARRIER_TABLE = 'dtm_barrier.barrier';

export type SqlDialect = 'mysql' | 'postgres';

/** Options shared by the SQL barrier functions. */
export interface SqlBarrierOptions {
  /**
   * The barrier table, `schema.table` or `table` (letters, digits, `_`, `$`). DTM's
   * SetBarrierTableName. On PostgreSQL the unique constraint must be named `uniq_barrier`, so
   * there can be one barrier table per schema.
   * @default 'dtm_barrier.barrier'
   */
  readonly table?: string;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,63}(\.[A-Za-z_][A-Za-z0-9_$]{0,63})?$/;

/**
 * Checks a barrier table name; it is spliced into SQL text, so only plain identifiers pass.
 * @throws Error for anything else.
 */
export function barrierTable(opts?: SqlBarrierOptions): string {
  const table = opts?.table ?? DEFAULT_BARRIER_TABLE;
  if (!TABLE_NAME.test(table)) throw new Error(`[DTM_BARRIER] bad barrier table name ${JSON.stringify(table)}: use schema.table of plain identifiers`);
  return table;
}

/** The schema part of `schema.table`, or undefined. */
function schemaOf(table: string): string | undefined {
  const dot = table.indexOf('.');
  return dot < 0 ? undefined : table.slice(0, dot);
}

/**
 * The MySQL/MariaDB DDL for a barrier table, one statement per element (DTM's
 * `dtmcli.barrier.mysql.sql`, without its `drop table`).
 */
export function mysqlBarrierDdl(table = DEFAULT_BARRIER_TABLE): string[] {
  const t = barrierTable({ table });
  const schema = schemaOf(t);
  return [
    ...(schema === undefined ? [] : [`create database if not exists ${schema} /*!40100 DEFAULT CHARACTER SET utf8mb4 */`]),
    `create table if not exists ${t}(
  id bigint(22) PRIMARY KEY AUTO_INCREMENT,
  trans_type varchar(45) default '',
  gid varchar(128) default '',
  branch_id varchar(128) default '',
  op varchar(45) default '',
  barrier_id varchar(45) default '',
  reason varchar(45) default '' comment 'the branch type who insert this record',
  create_time datetime DEFAULT now(),
  update_time datetime DEFAULT now(),
  key(create_time),
  key(update_time),
  UNIQUE key(gid, branch_id, op, barrier_id)
)`,
  ];
}

/**
 * The PostgreSQL DDL for a barrier table, one statement per element (DTM's
 * `dtmcli.barrier.postgres.sql`, without its `drop table`). The sequence is `<table>_seq`.
 */
export function postgresBarrierDdl(table = DEFAULT_BARRIER_TABLE): string[] {
  const t = barrierTable({ table });
  const schema = schemaOf(t);
  return [
    ...(schema === undefined ? [] : [`create schema if not exists ${schema}`]),
    `create sequence if not exists ${t}_seq`,
    `create table if not exists ${t}(
  id bigint NOT NULL DEFAULT NEXTVAL ('${t}_seq'),
  trans_type varchar(45) default '',
  gid varchar(128) default '',
  branch_id varchar(128) default '',
  op varchar(45) default '',
  barrier_id varchar(45) default '',
  reason varchar(45) default '',
  create_time timestamp(0) with time zone DEFAULT NULL,
  update_time timestamp(0) with time zone DEFAULT NULL,
  PRIMARY KEY(id),
  CONSTRAINT uniq_barrier unique(gid, branch_id, op, barrier_id)
)`,
  ];
}

/** The default MySQL/MariaDB DDL (`dtm_barrier.barrier`) as one script, `;`-separated. */
export const MYSQL_BARRIER_DDL = mysqlBarrierDdl().join(';\n') + ';\n';
/** The default PostgreSQL DDL (`dtm_barrier.barrier`) as one script, `;`-separated. */
export const POSTGRES_BARRIER_DDL = postgresBarrierDdl().join(';\n') + ';\n';

/** Anything with a `query(text)`: a mysql2/promise pool or connection, a pg pool or client. */
export interface SqlQueryable {
  query(sql: string): Promise<unknown>;
}

/**
 * Creates the barrier table (and its schema/database) if it does not exist.
 * @param db a mysql2/promise pool or connection (`mysql`), or a pg pool or client (`postgres`)
 */
export async function createBarrierTable(db: SqlQueryable, dialect: SqlDialect, opts?: SqlBarrierOptions): Promise<void> {
  const table = barrierTable(opts);
  for (const stmt of dialect === 'mysql' ? mysqlBarrierDdl(table) : postgresBarrierDdl(table)) await db.query(stmt);
}

/** The insert-ignore statement of one barrier row (placeholders `?` or `$n`). */
export function insertBarrierSql(dialect: SqlDialect, table: string): string {
  return dialect === 'mysql'
    ? `insert ignore into ${table}(trans_type, gid, branch_id, op, barrier_id, reason) values(?,?,?,?,?,?)`
    : `insert into ${table}(trans_type, gid, branch_id, op, barrier_id, reason) values($1,$2,$3,$4,$5,$6) on conflict ON CONSTRAINT uniq_barrier do nothing`;
}

/** The select of a barrier row's reason (placeholders `?` or `$n`). */
export function selectReasonSql(dialect: SqlDialect, table: string): string {
  return dialect === 'mysql'
    ? `select reason from ${table} where gid=? and branch_id=? and op=? and barrier_id=?`
    : `select reason from ${table} where gid=$1 and branch_id=$2 and op=$3 and barrier_id=$4`;
}

/** The arguments of one barrier insert, in column order. */
export type BarrierRow = readonly [transType: string, gid: string, branchId: string, op: string, barrierId: string, reason: string];

/**
 * The decision of §7.1 Call after the two inserts, given the affected counts (A for the origin
 * op, C for the current op): DUPLICATED for a repeated msg, skip for a null compensation or a
 * duplicate/hanging call, else run.
 */
export function barrierDecision(op: string, originAffected: number, currentAffected: number): 'duplicated' | 'null-compensation' | 'duplicate' | 'run' {
  if (op === 'msg' && currentAffected === 0) return 'duplicated';
  if ((op === 'cancel' || op === 'compensate' || op === 'rollback') && originAffected > 0) return 'null-compensation';
  if (currentAffected === 0) return 'duplicate';
  return 'run';
}
