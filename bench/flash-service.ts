/**
 * The flash-sale business service: DTM's `benchFlashSales` (performance.md §b, DTM's
 * docs app/flash), written on the client SDK's public API (`src/client/index.ts`, the package
 * `dtm-redis-client`) the way we recommend a flash service be written. Runnable on its own and
 * used by `npm run bench -- flash-fail|flash-ok` and test/e2e/flash.ts.
 *
 * `GET /flash[?gid=]` — one buyer: `new Msg(dtm, gid).add(order, '{}').doAndSubmit(queryPrepared,
 * (barrier) => redisCheckAdjustAmount(redis, barrier, stock, -1, expire))`:
 *   1. prepare the 2-phase message (one step: create the order);
 *   2. inside the msg barrier (trans_type msg, branch `00`, op `msg`), take one from the stock;
 *   3. sold out (the barrier's FailureError) → the SDK aborts the msg; answer 409 FAILURE;
 *      another error → the SDK asks `queryPrepared` (below) and submits or aborts on its answer,
 *      or leaves the msg prepared for the coordinator's check-back; answer 500;
 *   4. else the SDK submits; answer 200 {"dtm_result":"SUCCESS","gid":…}.
 * The gid is `{a}-<random>` (the hash tag of the stock key, so that every key of the deduction
 * and of the order is in one Redis Cluster slot), or the `gid` query parameter, which must start
 * with that tag.
 *
 * `POST /flash/order` — the msg's step, called by the coordinator (op `action`, branch `01`):
 * behind a barrier, INCR the orders counter (redisCheckAdjustAmount(orders, +1)), and SADD the
 * gid to the order set. The two are sent together (one socket write, one Redis round trip), which
 * is safe because the SADD is idempotent: a retried call finds its barrier key and counts nothing
 * twice, and its SADD changes nothing. (The counter cannot make the barrier fail: it only adds,
 * and it exists from the start.)
 *
 * `GET /flash/queryPrepared` — the check-back: redisQueryPrepared (200, or 409 when the
 * deduction did not happen, which it then never will).
 *
 * `POST /flash/reset?stock=N` sets the stock and empties the orders; `GET /flash/stats`
 * answers {stock, orders, order_set, …}.
 *
 * Keys (default tag `{a}`, as in DTM's recipe): stock `{a}--stock-1`, orders counter
 * `{a}--orders-1`, order set `{a}--order-gids-1`, and the barrier keys `<gid>-<branch>-<op>-01`.
 *
 * The calls to the coordinator go through the SDK's keep-alive HTTP client; its Redis barrier
 * scripts run with EVALSHA. Two things here are the server's rather than the SDK's: the HTTP
 * front (the coordinator's router, so the service serves on the same backend: native uWS where it
 * loads) and the Redis write coalescing (one socket write per event-loop turn for every buyer's
 * script); a service of your own uses its own HTTP framework, and ioredis as it likes.
 *
 * Run: `node dist/bench/flash-service.js` with PORT (8083), REDIS_URL (redis://127.0.0.1:6379),
 * DTM (http://127.0.0.1:36789/api/dtmsvr), STOCK (optional: reset to it at start), PUBLIC_URL
 * (how the coordinator reaches this service; default http://127.0.0.1:PORT). Under run.ts (an IPC
 * channel) it sends {type:'ready', port} and answers {type:'stats'}.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { pino } from 'pino';
// The SDK's public entry, as a service imports the package.
import {
  BarrierFailureError,
  barrierFromQuery,
  closeDtmHttp,
  defineBarrierScripts,
  isBarrierFailure,
  Msg,
  redisCheckAdjustAmount,
  redisQueryPrepared,
} from '../src/client/index.js';
import type { Handler, Reply } from '../src/http/handler.js';
import { createRouter } from '../src/http/route.js';
import { listen } from '../src/http/server.js';
import { coalesceRedisWrites } from '../src/store/write-coalescing.js';

export interface FlashServiceOptions {
  /** The business Redis: a client (not closed by the service) or a URL. */
  readonly redis: Redis | string;
  /** The coordinator's API base, e.g. http://127.0.0.1:36789/api/dtmsvr. */
  readonly dtm: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** How the coordinator reaches this service. @default http://<host>:<port> */
  readonly publicUrl?: string;
  /** The hash tag of every key and gid. @default '{a}' */
  readonly tag?: string;
  /** TTL of the barrier keys, s. @default 86400 (DTM's bench) */
  readonly expireSeconds?: number;
}

export interface FlashKeys {
  readonly stock: string;
  readonly orders: string;
  readonly orderSet: string;
}

export interface FlashStats {
  /** Buy answers: 200 (stock taken, msg submitted), 409 (sold out, msg aborted), 5xx. */
  bought: number;
  soldOut: number;
  errors: number;
  /** Order steps that created an order, and those a barrier skipped (retries). */
  ordersCreated: number;
  orderRepeats: number;
  checkBacks: number;
}

export interface FlashService {
  /** http://host:port */
  readonly url: string;
  readonly port: number;
  readonly keys: FlashKeys;
  readonly stats: FlashStats;
  /** Sets the stock and empties the orders. */
  reset(stock: number): Promise<void>;
  close(): Promise<void>;
}

/** The keys of a flash sale under a hash tag. */
export function flashKeys(tag = '{a}'): FlashKeys {
  return { stock: `${tag}--stock-1`, orders: `${tag}--orders-1`, orderSet: `${tag}--order-gids-1` };
}

const SUCCESS: Reply = { status: 200, body: { dtm_result: 'SUCCESS' } };
const GID = /^[\x21-\x7e]{1,128}$/;

/** Starts the service; resolves once it listens. */
export async function startFlashService(opts: FlashServiceOptions): Promise<FlashService> {
  const tag = opts.tag ?? '{a}';
  const keys = flashKeys(tag);
  const expire = opts.expireSeconds ?? 86400;
  const ownRedis = typeof opts.redis === 'string';
  let redis: Redis;
  if (typeof opts.redis === 'string') {
    redis = new Redis(opts.redis, { maxRetriesPerRequest: 2, lazyConnect: true });
    // As the coordinator does: one socket write per loop turn for all buyers' barrier scripts.
    coalesceRedisWrites(redis);
    await redis.connect();
  } else {
    redis = opts.redis;
  }
  defineBarrierScripts(redis);
  await redis.set(keys.orders, '0', 'NX');

  const dtm = opts.dtm;
  const stats: FlashStats = { bought: 0, soldOut: 0, errors: 0, ordersCreated: 0, orderRepeats: 0, checkBacks: 0 };
  // The msg's step and check-back, set once the port is known.
  let orderUrl = '';
  let queryPreparedUrl = '';

  /** One buyer, DTM's DoAndSubmit. Resolves true when stock was taken (msg submitted), false when sold out (msg aborted). */
  async function buy(gid: string): Promise<boolean> {
    try {
      await new Msg(dtm, gid).add(orderUrl, '{}').doAndSubmit(queryPreparedUrl, (barrier) => redisCheckAdjustAmount(redis, barrier, keys.stock, -1, expire));
      return true;
    } catch (err) {
      // Sold out is the barrier's own failure; a FailureError from the coordinator is not.
      if (err instanceof BarrierFailureError) return false;
      throw err;
    }
  }

  /** The msg step: count the order once, and record its gid (idempotent, so sent alongside). */
  async function order(q: URLSearchParams): Promise<void> {
    const barrier = barrierFromQuery(q);
    const [outcome] = await Promise.all([redisCheckAdjustAmount(redis, barrier, keys.orders, 1, expire), redis.sadd(keys.orderSet, barrier.gid)]);
    if (outcome === 'ran') stats.ordersCreated++;
    else stats.orderRepeats++;
  }

  /** A barrier failure is DTM's 409 FAILURE; anything else a 500. */
  function failure(err: unknown): Reply {
    if (isBarrierFailure(err)) return { status: 409, body: { dtm_result: 'FAILURE', message: (err as Error).message } };
    return { status: 500, body: { message: err instanceof Error ? err.message : String(err) } };
  }

  // Transport-free handlers behind the coordinator's router, so the service serves on the same
  // HTTP backend as the coordinator (native uWS where it loads, else node:http).
  const routes: Record<string, Handler> = {
    'GET /flash': async (req) => {
      const asked = req.query.get('gid');
      let gid: string;
      if (asked === null || asked === '') gid = `${tag}-${randomBytes(16).toString('base64url')}`;
      else if (!GID.test(asked) || !asked.startsWith(tag))
        return { status: 400, body: { message: `gid must be 1-128 printable characters starting with ${tag}` } };
      else gid = asked;
      try {
        const took = await buy(gid);
        if (took) stats.bought++;
        else stats.soldOut++;
        return took ? { status: 200, body: { dtm_result: 'SUCCESS', gid } } : { status: 409, body: { dtm_result: 'FAILURE', message: 'sold out', gid } };
      } catch (err) {
        stats.errors++;
        return failure(err);
      }
    },
    'POST /flash/order': (req) => order(req.query).then(() => SUCCESS, failure),
    'GET /flash/queryPrepared': (req) => {
      stats.checkBacks++;
      let barrier;
      try {
        barrier = barrierFromQuery(req.query);
      } catch (err) {
        return { status: 400, body: { message: (err as Error).message } };
      }
      return redisQueryPrepared(redis, barrier, expire).then(() => SUCCESS, failure);
    },
    'POST /flash/reset': (req) => {
      const stock = Number(req.query.get('stock') ?? '0');
      if (!Number.isSafeInteger(stock) || stock < 0) return { status: 400, body: { dtm_result: 'FAILURE' } };
      return service.reset(stock).then(() => SUCCESS, failure);
    },
    'GET /flash/stats': async () => {
      const r = await redis.multi().get(keys.stock).get(keys.orders).scard(keys.orderSet).exec();
      const v = (i: number): number => Number(r?.[i]?.[1] ?? NaN);
      return { status: 200, body: { stock: v(0), orders: v(1), order_set: v(2), ...stats } };
    },
  };
  const log = pino({ level: 'silent' });
  const router = createRouter(routes, { maxBodyBytes: 1024 * 1024, maxInflight: 1_000_000, log, observe: () => undefined });
  const server = await listen(router, { host: opts.host ?? '127.0.0.1', port: opts.port ?? 0, sharePort: false, backend: 'auto', log });
  const port = server.port;
  const publicUrl = opts.publicUrl ?? `http://${opts.host ?? '127.0.0.1'}:${port}`;
  orderUrl = `${publicUrl}/flash/order`;
  queryPreparedUrl = `${publicUrl}/flash/queryPrepared`;

  const service: FlashService = {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    keys,
    stats,
    async reset(stock) {
      await redis.multi().set(keys.stock, String(stock)).set(keys.orders, '0').del(keys.orderSet).exec();
    },
    async close() {
      server.close();
      server.closeConnections();
      if (ownRedis) redis.disconnect();
    },
  };
  return service;
}

/** Run as a program (node dist/bench/flash-service.js). */
async function main(): Promise<void> {
  const env = process.env;
  const port = Number(env['PORT'] ?? (process.send ? '0' : '8083'));
  const svc = await startFlashService({
    redis: env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    dtm: env['DTM'] ?? 'http://127.0.0.1:36789/api/dtmsvr',
    port,
    ...(env['PUBLIC_URL'] !== undefined ? { publicUrl: env['PUBLIC_URL'] } : {}),
  });
  if (env['STOCK'] !== undefined) await svc.reset(Number(env['STOCK']));
  if (process.send) {
    process.send({ type: 'ready', port: svc.port });
    process.on('message', (m: unknown) => {
      // As the stub answers: branch calls by name (run.ts's branch_calls_per_tx), plus the service's counters.
      if ((m as { type?: string }).type === 'stats') {
        const s = svc.stats;
        process.send?.({ type: 'stats', calls: { order: s.ordersCreated + s.orderRepeats, queryPrepared: s.checkBacks }, flash: { ...s } });
      }
    });
    process.on('disconnect', () => process.exit(0));
  } else {
    process.stdout.write(`flash service on ${svc.url} (GET /flash), coordinator ${env['DTM'] ?? 'http://127.0.0.1:36789/api/dtmsvr'}\n`);
  }
  const stop = (): void => {
    void svc
      .close()
      .then(closeDtmHttp)
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`flash service failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
