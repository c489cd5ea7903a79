/**
 * The composition root: the only file that knows every component. `createApp(config)` wires
 * Redis, store, engine, poller, HTTP and metrics, and returns start/stop.
 */
import { createAlerter } from './alert.js';
import { systemClock, type Clock } from './clock.js';
import { primaryExposition, workerExposition } from './cluster-metrics.js';
import type { Config } from './config.js';
import { accessOf } from './http/access.js';
import { createAdminApi } from './http/admin-api.js';
import { createApi } from './http/api.js';
import { createAuth } from './http/auth.js';
import { createConsoleApi } from './http/console-api.js';
import { createConsoleAssets } from './http/console-assets.js';
import type { Handler } from './http/handler.js';
import { createHealthApi } from './http/health-api.js';
import { createLiveStats, readProcessCounters } from './http/live-stats.js';
import { createJsonRpc } from './http/json-rpc.js';
import { createRouter } from './http/route.js';
import { listen, type HttpBackendName, type HttpServer } from './http/server.js';
import { createTopicsApi } from './http/topics-api.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createPoller, type Poller } from './poller.js';
import { createPruner, type Pruner } from './pruner.js';
import { createKeys } from './store/keys.js';
import { createKvStore } from './store/kv.js';
import { checkRedis, createRedis, type RedisClient } from './store/redis.js';
import { loadScripts, storeNotReadyReason } from './store/readiness.js';
import { createStore, type Store } from './store/store.js';
import { createBranchDispatcher } from './trans/branch-call.js';
import { createEngine, type Engine } from './trans/engine.js';
import type { ProcessObserver } from './trans/round.js';
import { createService, type DtmService } from './trans/service.js';
import { createTopics } from './trans/topics.js';
import { createBranchCaller } from './trans/branch-caller.js';
import { createGrpcBranchCaller } from './trans/grpc-branch-call.js';
import { grpcLibraryVersion, startGrpcServer, type GrpcServer } from './grpc/server.js';
import { grpcServiceOver } from './grpc/service-adapter.js';
import { grpcAccessOf } from './grpc/access.js';
import { createUrlFence } from './url-fence.js';
import { packageVersion } from './version.js';

export interface AppOptions {
  clock?: Clock;
  logger?: Logger;
  /** Redis URL overriding the configuration (e.g. the embedded server's). */
  redisUrl?: string;
  /** Start the background poller and index pruner. @default true */
  poll?: boolean;
  /** Share the HTTP port with the other `--workers` processes (SO_REUSEPORT); else it is exclusive. @default false */
  sharePort?: boolean;
  /**
   * This process's part in a `--workers` group, for `/api/metrics`: a worker forwards scrapes to
   * the primary, which answers with the group's sum and alone reads the cluster-wide gauges.
   * @default 'single'
   */
  role?: 'single' | 'primary' | 'worker';
  /** Where the console's built files are. @default dist/console */
  consoleDir?: string;
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
  /** The bound gRPC port, once started; 0 when the gRPC server is off. */
  grpcPort(): number;
  /** The HTTP backend serving, once started. */
  httpBackend(): HttpBackendName | undefined;
  start(): Promise<void>;
  /** Stops accepting, drains requests and rounds (bounded), then closes Redis. */
  stop(): Promise<void>;
}

export function createApp(config: Config, opts: AppOptions = {}): App {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? createLogger(config.logLevel);
  const keys = createKeys(config.prefix, config.buckets);
  const redis = createRedis(config, opts.redisUrl);
  const fence = createUrlFence({ deny: config.branchUrlDeny, allow: config.branchUrlAllow });
  const dispatcher = createBranchDispatcher(fence);
  const metrics = createMetrics({ version: packageVersion(), ...(config.grpcPort !== 0 ? { grpcVersion: grpcLibraryVersion() } : {}) });
  // With STORE_WAIT_REPLICAS, acknowledged writes and their WAITs get a connection of their own.
  const ackRedis = config.storeWaitReplicas > 0 ? createRedis(config, opts.redisUrl) : undefined;
  const store = createStore(redis, keys, clock, {
    finishedDataExpireS: config.finishedDataExpireS,
    observe: metrics.script,
    readFailed: metrics.readFailed,
    ...(ackRedis === undefined ? {} : { durability: { replicas: config.storeWaitReplicas, timeoutMs: config.storeWaitTimeoutMs, ackRedis } }),
  });
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
  const grpcCaller = createGrpcBranchCaller();
  const caller = createBranchCaller({ dispatcher, grpc: grpcCaller, fence });
  const engine = createEngine({ store, config, clock, caller, log: log.child({ c: 'engine' }), observer });
  metrics.watchRounds(engine.slots);
  const poller = createPoller({ store, engine, config, log: log.child({ c: 'poller' }), onClaimed: (n) => metrics.claimed(n) });
  const pruner = createPruner({ store, config, log: log.child({ c: 'pruner' }) });
  const kv = createKvStore(redis, keys, clock, metrics.script, metrics.readFailed);
  const service = createService({ store, engine, config, clock, topics: createTopics(kv), kv, fence });
  /** Set once stop() begins: /readyz then answers 503 while in-flight work drains. */
  let draining = false;
  const version = packageVersion();
  const dtmRoutes: Record<string, Handler> = {
    ...createApi(service, version),
    ...createAdminApi(service),
    ...createTopicsApi(service),
    'POST /api/json-rpc': createJsonRpc(service),
    ...createHealthApi({ notReadyReason: async () => (draining ? 'draining: the process is shutting down' : storeNotReadyReason(redis)) }),
    'GET /api/metrics': async () => ({ status: 200, body: await exposition() }),
  };
  // Each DTM route behind the token its access level needs; only the guarded ones read headers.
  const auth = createAuth({ adminToken: config.adminToken, apiToken: config.apiToken, sessionTtlMs: config.adminSessionMs, now: () => clock.now() });
  const routes: Record<string, Handler> = {};
  const headerRoutes = new Set<string>();
  for (const [key, handler] of Object.entries(dtmRoutes)) {
    const level = accessOf(key, config);
    routes[key] = auth.guard(handler, level);
    if (auth.required(level)) headerRoutes.add(key);
  }
  // The console: its files (public: they hold no data) and its API (admin, audited).
  const assets = createConsoleAssets(opts.consoleDir);
  const stats = createLiveStats({ counters: () => readProcessCounters(metrics.registry), service, clock });
  const consoleRoutes: Record<string, Handler> = {
    'GET /': () => ({ status: 302, body: '', headers: { location: '/admin/' } }),
    'GET /admin': assets.index,
    'GET /admin/*': assets.files,
    ...createConsoleApi({ service, auth, stats, log: log.child({ c: 'admin' }), version, now: () => clock.now() }),
  };
  for (const [key, handler] of Object.entries(consoleRoutes)) {
    routes[key] = handler;
    headerRoutes.add(key);
  }
  const router = createRouter(routes, {
    headerRoutes,
    rawBodyRoutes: new Set(['POST /api/json-rpc']),
    maxBodyBytes: config.maxBodyBytes,
    maxInflight: config.maxInflightRequests,
    log: log.child({ c: 'http' }),
    observe: (api, status, s) => metrics.request(api, status, s),
    onShed: (reason) => metrics.shed(reason),
  });
  let server: HttpServer | undefined;
  let grpcServer: GrpcServer | undefined;
  /** The gRPC port cannot be shared: in a `--workers` group only the primary serves gRPC. */
  const servesGrpc = config.grpcPort !== 0 && role !== 'worker';

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
    grpcPort: () => grpcServer?.port ?? 0,
    httpBackend: () => server?.backend,
    async start() {
      await checkRedis(redis, keys, log, { clock, finishedDataExpireS: config.finishedDataExpireS });
      await ackRedis?.connect();
      // Loaded on every master now, so the first transitions need no NOSCRIPT round trip.
      await loadScripts(redis);
      server = await listen(router, {
        host: config.httpHost,
        port: config.httpPort,
        sharePort: opts.sharePort ?? false,
        backend: config.httpBackend,
        log: log.child({ c: 'http' }),
      });
      if (servesGrpc) {
        try {
          grpcServer = await startGrpcServer({
            service: grpcServiceOver(service),
            log: log.child({ c: 'grpc' }),
            observe: (api, ok, s) => metrics.grpcRequest(api, ok, s),
            host: config.httpHost,
            port: config.grpcPort,
            maxReceiveBytes: config.grpcMaxReceiveBytes,
            maxInflight: config.maxInflightRequests,
            authorize(api, authorization) {
              const level = grpcAccessOf(api);
              if (auth.required(level)) auth.check({ headers: authorization === undefined ? {} : { authorization }, remote: '' }, level);
            },
          });
        } catch (err) {
          server.close();
          server.closeConnections();
          throw err;
        }
      }
      if (opts.poll !== false) {
        poller.start();
        pruner.start();
      }
    },
    async stop() {
      draining = true;
      server?.close();
      const deadline = Date.now() + 5000;
      // gRPC calls drain beside the HTTP requests, within the same deadline.
      const grpcClosed = grpcServer?.close(Math.max(0, deadline - Date.now()));
      while (router.inflight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await grpcClosed;
      await Promise.all([poller.stop(), pruner.stop()]);
      server?.closeConnections();
      while (engine.active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await dispatcher.close();
      grpcCaller.close();
      redis.disconnect();
      ackRedis?.disconnect();
    },
  };
}
