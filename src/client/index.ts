/**
 * The public entry of the DTM client SDK (`import { Saga, Msg, … } from 'dtm-redis-coordinator'`).
 *
 * This is the one barrel allowed under `src/` (DESIGN.md §1 forbids the others): a package needs
 * one entry point, and nothing inside `src/client/` imports it, so it cannot close an import
 * cycle. The SDK imports nothing from the coordinator's code, so it can be used on its own.
 *
 * Barriers: the identity (`branch-barrier`), the SQL barriers for MySQL/MariaDB (mysql2) and
 * PostgreSQL (pg), the Redis barrier and flash-sale deduction (ioredis, Lua in `lua/client/`),
 * and the XA resource-manager side (`xa-rm`).
 */
export { DtmClientError, FailureError, OngoingError, branchResponseError, dtmResponseError, errorText, isFailure, isOngoing } from './errors.js';
export {
  callBranchUrl,
  callDtm,
  closeDtmHttp,
  configureDtmHttp,
  encodePayload,
  genGid,
  httpCall,
  newGid,
  type DtmCall,
  type DtmHttpConfig,
  type HttpCall,
  type HttpReply,
} from './http.js';
export { TransOptionsBuilder, type TransOptions } from './options.js';
export { createBranchIdGen, type BranchIdGen } from './branch-id.js';
export { Saga, type SagaStep } from './saga.js';
export { MSG_TOPIC_PREFIX, Msg, type MsgBusiCall } from './msg.js';
export { tccFromQuery, tccGlobalTransaction, type Tcc } from './tcc.js';
export { xaGlobalTransaction, type Xa } from './xa.js';
export {
  createWorkflowRegistry,
  executeWorkflow,
  registerWorkflow,
  workflowResumeHandler,
  type Workflow,
  type WorkflowBranch,
  type WorkflowHandler,
  type WorkflowOptions,
  type WorkflowPhase2Fn,
  type WorkflowRegistry,
  type WorkflowResult,
  type WorkflowStepFn,
} from './workflow.js';
export { parseCallback, resultToHttp, type BranchCallback, type HttpAnswer } from './business.js';
export {
  FIRST_BARRIER_ID,
  MSG_BRANCH_ID,
  MSG_OP,
  ORIGIN_OP,
  barrierFromQuery,
  createBranchBarrier,
  msgBarrier,
  type BarrierIdentity,
  type BarrierOutcome,
  type BranchBarrier,
} from './barrier/branch-barrier.js';
export { BarrierFailureError, DuplicatedError, isBarrierFailure, isDuplicated } from './barrier/errors.js';
export {
  DEFAULT_BARRIER_TABLE,
  MYSQL_BARRIER_DDL,
  POSTGRES_BARRIER_DDL,
  createBarrierTable,
  mysqlBarrierDdl,
  postgresBarrierDdl,
  type SqlBarrierOptions,
  type SqlDialect,
} from './barrier/sql.js';
export { callMysql, mysqlQueryPrepared, type MysqlDb } from './barrier/mysql.js';
export { callPostgres, postgresQueryPrepared, type PostgresDb } from './barrier/postgres.js';
export { defineBarrierScripts, redisBarrierKey, redisCheckAdjustAmount, redisQueryPrepared, type RedisClient } from './barrier/redis.js';
export {
  registerXaBranch,
  xaBranchFromQuery,
  xaId,
  xaLocalMysql,
  xaLocalPostgres,
  xaPhase2Mysql,
  xaPhase2Postgres,
  type XaBranch,
  type XaOptions,
  type XaQuery,
} from './xa-rm.js';
