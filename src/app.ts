/**
 * The composition root: the only file that knows every component. `createApp(config)` wires
 * Redis, store, engine, poller, HTTP and metrics, and returns start/stop.
 */
import { readFileSync } from 'node:fs';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { createApi, type Handler } from './http/api.js';
import { createTopicsApi } from './http/topics-api.js';
import { createJsonRpc } from './http/json-rpc.js';
import { createRegisterApi } from './http/register-api.js';
import { createAlerter } from './alert.js';
import { createRouter } from './http/route.js';
import { listen, type HttpBackendName, type HttpServer } from './http/server.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createPoller, type Poller } from './poller.js';
import { createKeys } from './store/keys.js';
import { createKvStore } from './store/kv.js';
import { checkRedis, createRedis, type RedisClient } from './store/redis.js';
import { createStore, type Store } from './store/store.js';
import { createBranchDispatcher } from './trans/branch-call.js';
import { createEngine, type Engine } from './trans/process.js';
import { createTopics } from './trans/topics.js';

export interface AppOptions {
  clock?: Clock;
  logger?: Logger;
  /** Redis URL overriding the configuration (e.g. the embedded server's). */
  redisUrl?: string;
  /** Start the background poller. @default true */
  poll?: boolean;
  /** Share the HTTP port with the other `--workers` processes (SO_REUSEPORT); else it is exclusive. @default false */
  sharePort?: boolean;
}

export interface App {
  readonly config: Config;
  readonly store: Store;
  readonly engine: Engine;
  readonly poller: Poller;
  readonly metrics: Metrics;
  readonly redis: RedisClient;
  readonly log: Logger;
  /** The bound HTTP port, once started. */
  port(): number;
  /** The HTTP backend serving, once started. */
  httpBackend(): HttpBackendName | undefined;
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
  // eslint-disable-next-line prefer-const -- assigned after metrics, whose collector reads it lazily
  let store: Store | undefined;
  const metrics = createMetrics({
    onAlert: createAlerter(config, dispatcher, log.child({ c: 'alert' })),
    countDue: () => (store === undefined ? Promise.resolve([]) : store.countDue()),
  });
  store = createStore(redis, keys, clock, { finishedDataExpireS: config.finishedDataExpireS, observe: metrics.script });
  const engine = createEngine({ store, config, clock, dispatcher, log: log.child({ c: 'engine' }), observer: metrics.process });
  const poller = createPoller({ store, engine, config, log: log.child({ c: 'poller' }), onClaimed: (n) => metrics.claimed(n) });
  const kv = createKvStore(redis, keys, clock, metrics.script);
  const topics = createTopics(kv);
  const routes: Record<string, Handler> = {
    ...createApi({ store, engine, config, clock, version: packageVersion(), topics }),
    ...createTopicsApi({ topics, kv }),
    ...createRegisterApi({ store, config, clock }),
    'GET /api/metrics': async () => ({ status: 200, body: await metrics.render() }),
  };
  routes['POST /api/json-rpc'] = createJsonRpc(routes);
  const router = createRouter(routes, {
    rawBodyRoutes: new Set(['POST /api/json-rpc']),
    maxBodyBytes: config.maxBodyBytes,
    maxInflight: config.maxInflightRequests,
    log: log.child({ c: 'http' }),
    observe: (api, status, s) => metrics.request(api, status, s),
  });
  let server: HttpServer | undefined;

  return {
    config,
    store,
    engine,
    poller,
    metrics,
    redis,
    log,
    port: () => server?.port ?? 0,
    httpBackend: () => server?.backend,
    async start() {
      await checkRedis(redis, keys, log);
      server = await listen(router, {
        host: config.httpHost,
        port: config.httpPort,
        sharePort: opts.sharePort ?? false,
        backend: config.httpBackend,
        log: log.child({ c: 'http' }),
      });
      if (opts.poll !== false) poller.start();
    },
    async stop() {
      server?.close();
      const deadline = Date.now() + 5000;
      while (router.inflight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await poller.stop();
      server?.closeConnections();
      while (engine.active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await dispatcher.close();
      redis.disconnect();
    },
  };
}
