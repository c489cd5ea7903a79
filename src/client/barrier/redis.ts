/**
 * The branch barrier on Redis with ioredis (dtm-protocol.md §7.2): DTM's RedisCheckAdjustAmount
 * (the flash-sale deduction) and RedisQueryPrepared, each one atomic Lua script from
 * `lua/client/`. The scripts are defined on the caller's client with `defineCommand` (EVALSHA,
 * resent as EVAL on NOSCRIPT) the first time it is used.
 *
 * Keys are DTM's: barrier keys are `<gid>-<branch_id>-<op>-<barrier_id>`, with no prefix, so a
 * service can switch between DTM's SDKs and this one. **Redis Cluster**: a script's keys must
 * hash to one slot, so the gid and the amount key must share a hash tag, the first `{…}` of the
 * key: e.g. gid `{a}-<uuid>` and stock key `{a}--stock-1` (DTM's flash-sale recipe). The
 * coordinator accepts braces in gids. Without a cluster, any names work.
 *
 * The SDK reads its own scripts; it does not import the coordinator's code.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';
import { FIRST_BARRIER_ID, MSG_BRANCH_ID, MSG_OP, ORIGIN_OP, type BarrierIdentity, type BarrierOutcome, type BranchBarrier } from './branch-barrier.js';
import { BarrierFailureError, DuplicatedError } from './errors.js';

/** A standalone or cluster ioredis client. */
export type RedisClient = Redis | Cluster;

/** The SDK's Redis scripts: file name in `lua/client/` = ioredis command name. */
export const REDIS_BARRIER_SCRIPTS = [
  { name: 'redisCheckAdjustAmount', keys: ['amount', 'current', 'origin'] },
  { name: 'redisQueryPrepared', keys: ['msg'] },
] as const;

/** Reply tags of the scripts (their headers list them). */
export type RedisBarrierTag = 'OK' | 'NULL_COMPENSATION' | 'FAILURE' | 'DUPLICATE';

// `src/client/barrier/` in development and tests, `dist/src/client/barrier/` once built.
const LUA_CLIENT_DIR = fileURLToPath(new URL(import.meta.url.includes('/dist/src/') ? '../../../../lua/client/' : '../../../lua/client/', import.meta.url));

/** The directory of the SDK's scripts. */
export function clientLuaDir(): string {
  return LUA_CLIENT_DIR;
}

const sources = new Map<string, string>();

/** The source of one of the SDK's scripts (read once). */
function clientScriptSource(name: string): string {
  let src = sources.get(name);
  if (src === undefined) {
    src = readFileSync(`${LUA_CLIENT_DIR}${name}.lua`, 'utf8');
    if (!src.startsWith('#!lua')) throw new Error(`lua/client/${name}.lua must start with a #!lua shebang line`);
    sources.set(name, src);
  }
  return src;
}

interface BarrierCommands {
  redisCheckAdjustAmount(amountKey: string, currentKey: string, originKey: string, amount: string, originOp: string, expire: string): Promise<unknown>;
  redisQueryPrepared(msgKey: string, expire: string): Promise<unknown>;
}

const defined = new WeakSet<object>();

/**
 * Defines the barrier scripts on a client (done on first use by the functions below; call it
 * yourself to load them before serving).
 */
export function defineBarrierScripts(redis: RedisClient): void {
  if (defined.has(redis)) return;
  for (const s of REDIS_BARRIER_SCRIPTS) redis.defineCommand(s.name, { numberOfKeys: s.keys.length, lua: clientScriptSource(s.name) });
  defined.add(redis);
}

function commands(redis: RedisClient): BarrierCommands {
  defineBarrierScripts(redis);
  return redis as unknown as BarrierCommands;
}

/** DTM's barrier key: `<gid>-<branch_id>-<op>-<barrier_id>`. */
export function redisBarrierKey(gid: string, branchId: string, op: string, barrierId: string): string {
  return `${gid}-${branchId}-${op}-${barrierId}`;
}

/** The last expiry validated and its text: callers pass the same TTL on every call. */
let lastExpire = Number.NaN;
let lastExpireText = '';

function checkExpire(expireSeconds: number): string {
  if (expireSeconds === lastExpire) return lastExpireText;
  if (!Number.isInteger(expireSeconds) || expireSeconds < 1)
    throw new RangeError(`[DTM_BARRIER] expireSeconds must be a whole number ≥ 1, got ${expireSeconds}`);
  lastExpireText = String(expireSeconds);
  lastExpire = expireSeconds;
  return lastExpireText;
}

function tagOf(reply: unknown, script: string): RedisBarrierTag {
  if (Array.isArray(reply)) {
    const tag: unknown = reply[0];
    if (tag === 'OK' || tag === 'NULL_COMPENSATION' || tag === 'FAILURE' || tag === 'DUPLICATE') return tag;
  }
  throw new Error(`[DTM_BARRIER] unexpected reply from ${script}: ${JSON.stringify(reply)}`);
}

/**
 * Adds `amount` to the integer at `key` behind the barrier, atomically (§7.2): a deduction
 * (amount < 0) happens only if the result stays ≥ 0, and at most once per gid/branch/op/barrier;
 * a compensation (op cancel/compensate/rollback, amount > 0 to give back) that arrives before
 * its forward op adjusts nothing and makes the late forward op a no-op. Each call takes the
 * barrier's next barrier id.
 *
 * Ops: as the op of the barrier, e.g. `msg` in a DoAndSubmit, `action`/`compensate` in a saga,
 * `try`/`cancel` in TCC. The origin map is the SQL barrier's (cancel→try, compensate→action,
 * rollback→action); DTM's Redis barrier leaves out workflow's rollback, which is a gap there.
 *
 * @param key the amount key; with Redis Cluster it must share the gid's hash tag
 * @param amount whole number to add, negative to deduct
 * @param expireSeconds TTL of the barrier keys (DTM's flash bench uses 86400)
 * @returns `ran` (adjusted), `null-compensation` or `duplicate` (nothing adjusted)
 * @throws BarrierFailureError when `key` is missing or the result would be < 0 (answer 409)
 * @throws DuplicatedError for op `msg` when the msg key is already there (DoAndSubmit repeated,
 *   or the check-back came first)
 */
export async function redisCheckAdjustAmount(
  redis: RedisClient,
  barrier: BranchBarrier,
  key: string,
  amount: number,
  expireSeconds: number,
): Promise<BarrierOutcome> {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`[DTM_BARRIER] amount must be a safe integer, got ${amount}`);
  const expire = checkExpire(expireSeconds);
  const barrierId = barrier.nextBarrierId();
  const { gid, branchId, op } = barrier;
  const originOp = ORIGIN_OP[op] ?? '';
  const reply = await commands(redis).redisCheckAdjustAmount(
    key,
    redisBarrierKey(gid, branchId, op, barrierId),
    redisBarrierKey(gid, branchId, originOp, barrierId),
    String(amount),
    originOp,
    expire,
  );
  const tag = tagOf(reply, 'redisCheckAdjustAmount');
  switch (tag) {
    case 'OK':
      return 'ran';
    case 'NULL_COMPENSATION':
      return 'null-compensation';
    case 'FAILURE':
      throw BarrierFailureError.outcome(`not enough left at ${key} to add ${amount}`);
    case 'DUPLICATE':
      if (op === MSG_OP) throw new DuplicatedError();
      return 'duplicate';
    default:
      return tag satisfies never;
  }
}

/**
 * The msg check-back (`query_prepared`) on Redis (§7.2): if DoAndSubmit's deduction has not set
 * the msg key `<gid>-00-msg-01`, sets it to `rollback` (so the deduction can no longer happen)
 * and fails.
 * @param barrier the identity from the check-back's query (only `gid` is used)
 * @param expireSeconds TTL of the key when it is created here
 * @throws BarrierFailureError when the msg was (or is now) rolled back: answer 409
 */
export async function redisQueryPrepared(redis: RedisClient, barrier: BarrierIdentity, expireSeconds: number): Promise<void> {
  const expire = checkExpire(expireSeconds);
  const reply = await commands(redis).redisQueryPrepared(redisBarrierKey(barrier.gid, MSG_BRANCH_ID, MSG_OP, FIRST_BARRIER_ID), expire);
  const tag = tagOf(reply, 'redisQueryPrepared');
  if (tag === 'FAILURE') throw new BarrierFailureError(`msg ${barrier.gid} was rolled back`);
  if (tag !== 'OK') throw new Error(`[DTM_BARRIER] unexpected reply from redisQueryPrepared: ${tag}`);
}
