/**
 * The composition root: the only file that knows every component. `createApp(config)` wires
 * Redis, store, engine, poller, HTTP and metrics, and returns start/stop.
 */
import { readFileSync } from 'node:fs';
import { createAlerter } from './alert.js';
import { systemClock, type Clock } from './clock.js';
import { primaryExposition, workerExposition } from './cluster-metrics.js';
import type { Config } from './config.js';
import { createAdminApi } from './http/admin-api.js';
import { createApi } from './http/api.js';
import type { Handler } from './http/handler.js';
import { createJsonRpc } from './http/json-rpc.js';
import { createRouter } from './http/route.js';
import { listen, type HttpServer } from './http/server.js';
import { createTopicsApi } from './http/topics-api.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createPoller, type Poller } from './poller.js';
import { createPruner, type Pruner } from './pruner.js';
import { createKeys } from './store/keys.js';
import { createKvStore } from './store/kv.js';
import { checkRedis, createRedis, type RedisClient } from './store/redis.js';
import { createStore, type Store } from './store/store.js';
import { createBranchDispatcher } from './trans/branch-call.js';
import { createEngine, type Engine } from './trans/engine.js';
import type { ProcessObserver } from './trans/round.js';
import { createService, type DtmService } from './trans/service.js';
import { createTopics } from './trans/topics.js';

export interface AppOptions {
  clock?: Clock;
  logger?: Logger;
  /** Redis URL overriding the configuration (e.g. the embedded server's). */
  redisUrl?: string;
  /** Start the background poller and index pruner. @default true */
  poll?: boolean;
  /**
   * This process's part in a `--workers` group, for `/api/metrics`: a worker forwards scrapes to
   * the primary, which answers with the group's sum and alone reads the cluster-wide gauges.
   * @default 'single'
   */
  role?: 'single' | 'primary' | 'worker';
}

export interface App {
  readonly config: Config;
  readonly store: Store;
  readonly service: DtmService;
  readonly engine: Engine;
  readonly poller: Poller;
  readonly pruner: Pruner;
  readonly metrics: Metrics;
  readonly redis: RedisClient;
  readonly log: Logger;
  /** The bound HTTP port, once started. */
  port(): number;
  start(): Promise<void>;
  /** Stops accepting, drains requests and rounds (bounded), then closes Redis. */
  stop(): Promise<void>;
}

/** The package version, reported by `/version`. */
export function packageVersion(): string {
  const url = new URL(import.meta.url.includes('/dist/src/') ? '../../package.json' : '../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

export function createApp(config: Config, opts: AppOptions = {}): App {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? createLogger(config.logLevel);
  const keys = createKeys(config.prefix, config.buckets);
  const redis = createRedis(config, opts.redisUrl);
  const dispatcher = createBranchDispatcher();
  const metrics = createMetrics({ version: packageVersion() });
  const store = createStore(redis, keys, clock, { finishedDataExpireS: config.finishedDataExpireS, observe: metrics.script, readFailed: metrics.readFailed });
  const role = opts.role ?? 'single';
  // The backlog is the dataset's, not this process's: one process of a group reads it.
  if (role !== 'worker') metrics.watchBacklog(() => store.backlog(), clock);
  const exposition = role === 'primary' ? primaryExposition(metrics, log) : role === 'worker' ? workerExposition(metrics) : () => metrics.render();
  // Processing reports to the metrics, and its backoffs to DTM's alert webhook as well.
  const alert = createAlerter(config, dispatcher, log.child({ c: 'alert' }), (delivered) => metrics.alertSent(delivered));
  const observer: ProcessObserver = {
    ...metrics.process,
    backedOff(trans, retryCount, branchUrl, error) {
      metrics.process.backedOff(trans, retryCount, branchUrl, error);
      alert(trans, retryCount, branchUrl, error);
    },
  };
  const engine = createEngine({ store, config, clock, dispatcher, log: log.child({ c: 'engine' }), observer });
  const poller = createPoller({ store, engine, config, log: log.child({ c: 'poller' }), onClaimed: (n) => metrics.claimed(n) });
  const pruner = createPruner({ store, config, log: log.child({ c: 'pruner' }) });
  const kv = createKvStore(redis, keys, clock, metrics.script, metrics.readFailed);
  const service = createService({ store, engine, config, clock, topics: createTopics(kv), kv });
  const routes: Record<string, Handler> = {
    ...createApi(service, packageVersion()),
    ...createAdminApi(service),
    ...createTopicsApi(service),
    'POST /api/json-rpc': createJsonRpc(service),
    'GET /api/metrics': async () => ({ status: 200, body: await exposition() }),
  };
  const router = createRouter(routes, {
    rawBodyRoutes: new Set(['POST /api/json-rpc']),
    maxBodyBytes: config.maxBodyBytes,
    maxInflight: config.maxInflightRequests,
    log: log.child({ c: 'http' }),
    observe: (api, status, s) => metrics.request(api, status, s),
    onShed: (reason) => metrics.shed(reason),
  });
  let server: HttpServer | undefined;

  return {
    config,
    store,
    service,
    engine,
    poller,
    pruner,
    metrics,
    redis,
    log,
    port: () => server?.port ?? 0,
    async start() {
      await checkRedis(redis, keys, log, { clock, finishedDataExpireS: config.finishedDataExpireS });
      server = await listen(config.httpHost, config.httpPort, (app) => router.register(app), log);
      if (opts.poll !== false) {
        poller.start();
        pruner.start();
      }
    },
    async stop() {
      server?.close();
      const deadline = Date.now() + 5000;
      while (router.inflight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await Promise.all([poller.stop(), pruner.stop()]);
      while (engine.active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await dispatcher.close();
      redis.disconnect();
    },
  };
}
