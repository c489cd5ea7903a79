/**
 * Configuration, named as DTM names it so DTM users can switch: environment variables first,
 * then an optional DTM-style YAML file (`-c conf.yml`) whose keys override them.
 * Every value is validated here; an invalid one stops start-up with a message naming the key.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_DENY, parseFenceRules } from './url-fence.js';

/** HTTP_BACKEND: which HTTP server carries the API (`auto`: native uWS where it loads, else node:http). */
export const HTTP_BACKEND_CHOICES = ['auto', 'uws', 'node'] as const;
export type HttpBackendChoice = (typeof HTTP_BACKEND_CHOICES)[number];

/** A frozen, validated configuration. Durations are in milliseconds unless named `…S`. */
export interface Config {
  readonly httpPort: number;
  /** DTM's gRPC API port; 0 turns the gRPC server off. @default 36790 */
  readonly grpcPort: number;
  /** Largest gRPC request message accepted (larger ones get ResourceExhausted). @default 4 MiB */
  readonly grpcMaxReceiveBytes: number;
  readonly httpHost: string;
  /** The HTTP backend. @default 'auto' */
  readonly httpBackend: HttpBackendChoice;
  /** `redis://…` URL, or undefined when Redis was not configured (embedded default applies). */
  readonly redisUrl: string | undefined;
  /** Cluster seed nodes `host:port`, when STORE_HOST lists more than one. */
  readonly clusterNodes: readonly string[];
  readonly redisPassword: string | undefined;
  /** Key prefix inside the hash tag, e.g. `dtm` → `{dtm:17}:g:<gid>`. */
  readonly prefix: string;
  /** Bucket count B (power of two), fixed for the life of a dataset. @default 64 */
  readonly buckets: number;
  /** Accepted for DTM compatibility; unfinished transactions never expire. */
  readonly dataExpireS: number;
  /** Replicas an acknowledged write must reach (Redis WAIT) before it is answered; 0: none. @default 0 */
  readonly storeWaitReplicas: number;
  /** How long an acknowledged write waits for them before it answers 503. @default 1000 */
  readonly storeWaitTimeoutMs: number;
  /** TTL of a finished transaction's keys. @default 86400 */
  readonly finishedDataExpireS: number;
  /** Base retry interval and claim lease. @default 10000 */
  readonly retryIntervalMs: number;
  /** Default timeout of non-saga transactions. @default 35000 */
  readonly timeoutToFailMs: number;
  /** Default branch HTTP timeout. @default 3000 */
  readonly requestTimeoutMs: number;
  /** How often each process polls the retry schedules. @default 1000 */
  readonly cronIntervalMs: number;
  /** How often each process drops expired finished transactions from the listing indexes. @default 5000 */
  readonly indexPruneIntervalMs: number;
  readonly logLevel: string;
  /** Largest accepted request body; larger ones get 413. @default 1 MiB */
  readonly maxBodyBytes: number;
  /** Requests in flight per process above which new ones are shed with 503. @default 10000 */
  readonly maxInflightRequests: number;
  /**
   * Processing rounds one process drives at once, API-started and poller-started together; past
   * it, accepted transactions wait in the schedule (load-levelling). @default 1024
   */
  readonly maxInflightRounds: number;
  /** How many of those slots rounds started by the cron poller may hold. @default maxInflightRounds */
  readonly pollerConcurrency: number;
  /** Webhook URL posted to after repeated branch failures, or '' for none. */
  readonly alertWebHook: string;
  /** BRANCH_URL_DENY: CIDRs, addresses and host names branch calls may not reach. @default link-local metadata */
  readonly branchUrlDeny: readonly string[];
  /** BRANCH_URL_ALLOW: when not empty, the only CIDRs, addresses and host names branch calls may reach. */
  readonly branchUrlAllow: readonly string[];
  /** Consecutive failures (log2 of the backoff) before the alert hook fires. @default 3 */
  readonly alertRetryLimit: number;
  /**
   * DTM's UpdateBranchSync. true: each branch result is written before the next branch call (DTM
   * on Redis). false: results are written behind, with the round's next status change or after
   * at most BRANCH_WRITE_BEHIND_MS while a call is still in flight. @default false
   */
  readonly updateBranchSync: boolean;
  /**
   * The private redis-server's data directory (absolute), when DTM_DATA_DIR sets it. With no Redis
   * configured, a set directory means "use the private server in it" without probing
   * 127.0.0.1:6379; unset, the private server (in `.data/redis`) is only the fallback when nothing
   * answers there.
   */
  readonly dataDir: string | undefined;
  /** Processes on this host sharing the HTTP port (DTM_WORKERS, or `--workers N`). @default 1 */
  readonly workers: number;
  /** ioredis auto-pipelining (REDIS_AUTOPIPELINING=1); off by default, as it cost throughput on a shared 2-core host. @default false */
  readonly redisAutoPipelining: boolean;
  /**
   * ADMIN_TOKEN: when set, the console and the admin endpoints need it (Bearer, or the console's
   * session cookie). A secret: never logged. @default undefined (the admin surface is open)
   */
  readonly adminToken: string | undefined;
  /** API_TOKEN: when set, DTM's client endpoints need it (or the admin token). A secret. @default undefined (open) */
  readonly apiToken: string | undefined;
  /** ADMIN_PROTECT_READS=1: `query` needs the admin token too (else it is a client endpoint). @default false */
  readonly adminProtectReads: boolean;
  /** ADMIN_PROTECT_METRICS=1: `/api/metrics` needs the admin token (else it is open, for Prometheus). @default false */
  readonly adminProtectMetrics: boolean;
  /** ADMIN_SESSION_HOURS: how long a console login lasts. @default 12 */
  readonly adminSessionMs: number;
}

/**
 * MAX_INFLIGHT_ROUNDS by default. A round in flight costs about 20 KB of the coordinator's memory
 * (measured: 5000 rounds waiting on a slow branch raised RSS by 107 MB), so 1024 bound it to about
 * 20 MB; and with undici's 256 connections per branch origin, rounds past a few hundred per origin
 * only queue inside the HTTP client, where their lease runs down without any work being done.
 */
const DEFAULT_MAX_INFLIGHT_ROUNDS = 1024;

/** The largest `--workers` / DTM_WORKERS accepted. */
export const MAX_WORKERS = 256;

/** A configuration error; `key` names the offending setting. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`[DTM_CONFIG] ${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Source = Record<string, string | undefined>;

/** DTM YAML key path → our environment variable name. */
const YAML_KEYS: Record<string, string> = {
  HttpPort: 'HTTP_PORT',
  GrpcPort: 'GRPC_PORT',
  'Store.Host': 'STORE_HOST',
  'Store.Port': 'STORE_PORT',
  'Store.Password': 'STORE_PASSWORD',
  'Store.RedisPrefix': 'STORE_REDIS_PREFIX',
  'Store.DataExpire': 'STORE_DATA_EXPIRE',
  'Store.FinishedDataExpire': 'STORE_FINISHED_DATA_EXPIRE',
  'Store.Buckets': 'STORE_BUCKETS',
  'Store.WaitReplicas': 'STORE_WAIT_REPLICAS',
  'Store.WaitTimeoutMs': 'STORE_WAIT_TIMEOUT_MS',
  RetryInterval: 'RETRY_INTERVAL',
  TimeoutToFail: 'TIMEOUT_TO_FAIL',
  RequestTimeout: 'REQUEST_TIMEOUT',
  TransCronInterval: 'TRANS_CRON_INTERVAL',
  LogLevel: 'LOG_LEVEL',
  AlertRetryLimit: 'ALERT_RETRY_LIMIT',
  AlertWebHook: 'ALERT_WEB_HOOK',
  BranchUrlDeny: 'BRANCH_URL_DENY',
  BranchUrlAllow: 'BRANCH_URL_ALLOW',
  UpdateBranchSync: 'UPDATE_BRANCH_SYNC',
  MaxInflightRounds: 'MAX_INFLIGHT_ROUNDS',
  AdminToken: 'ADMIN_TOKEN',
  ApiToken: 'API_TOKEN',
};

/** A YAML scalar as the text the environment variable would hold; null is unset. */
function scalarText(v: unknown, key: string): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  throw new ConfigError(key, `must be a single value, got ${typeof v}`);
}

/**
 * A token setting: unset or empty is undefined. It must be printable ASCII without spaces (it
 * travels in an Authorization header and is typed into a form); the error never shows the value.
 */
function token(src: Source, key: string): string | undefined {
  const raw = src[key];
  if (raw === undefined || raw === '') return undefined;
  if (!/^[\x21-\x7e]+$/.test(raw)) throw new ConfigError(key, 'must be printable ASCII without spaces (its value is not shown)');
  return raw;
}

/** Flattens a YAML document into env-style names, refusing unknown shapes. */
function yamlToEnv(text: string, file: string): Source {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(file, `not valid YAML: ${(err as Error).message}`);
  }
  const out: Source = {};
  if (doc === null || doc === undefined) return out;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(file, 'must be a YAML mapping');
  const walk = (obj: Record<string, unknown>, path: string): void => {
    for (const [k, v] of Object.entries(obj)) {
      const key = path ? `${path}.${k}` : k;
      if (v !== null && typeof v === 'object') {
        if (Array.isArray(v)) throw new ConfigError(key, 'must be a single value, not a list');
        walk(v as Record<string, unknown>, key);
        continue;
      }
      if (key === 'Store.Driver') {
        if (v !== 'redis') throw new ConfigError(key, `only "redis" is supported, got ${JSON.stringify(v)}`);
        continue;
      }
      const env = YAML_KEYS[key];
      if (env === undefined) continue; // DTM keys we do not use (SQL pools, gRPC, micro-service) are ignored
      out[env] = scalarText(v, key);
    }
  };
  walk(doc as Record<string, unknown>, '');
  return out;
}

function num(src: Source, key: string, dflt: number, opts: { min: number; integer?: boolean; max?: number }): number {
  const raw = src[key];
  if (raw === undefined || raw.trim() === '') return dflt;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new ConfigError(key, `must be a number, got ${JSON.stringify(raw)}`);
  if (opts.integer === true && !Number.isInteger(value)) throw new ConfigError(key, `must be a whole number, got ${raw}`);
  if (value < opts.min) throw new ConfigError(key, `must be at least ${opts.min}, got ${raw}`);
  if (opts.max !== undefined && value > opts.max) throw new ConfigError(key, `must be at most ${opts.max}, got ${raw}`);
  return value;
}

/** A comma-separated fence list; unset means `dflt`, and `none` an empty list. */
function fenceList(src: Source, key: string, dflt: readonly string[]): readonly string[] {
  const raw = src[key]?.trim();
  if (raw === undefined || raw === '') return Object.freeze([...dflt]);
  const entries =
    raw.toLowerCase() === 'none'
      ? []
      : raw
          .split(',')
          .map((e) => e.trim())
          .filter((e) => e !== '');
  try {
    parseFenceRules(entries);
  } catch (err) {
    throw new ConfigError(key, (err as Error).message);
  }
  return Object.freeze(entries);
}

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/**
 * Builds the configuration from `env` and, when `argv` has `-c <file>`, the YAML file.
 * @throws ConfigError naming the first invalid key.
 */
export function loadConfig(env: Source = process.env, argv: readonly string[] = process.argv.slice(2)): Config {
  const src: Source = { ...env };
  let fromYaml: Source = {};
  let yamlFile = '';
  const c = argv.indexOf('-c');
  if (c !== -1) {
    const file = argv[c + 1];
    if (file === undefined) throw new ConfigError('-c', 'needs a file name');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError('-c', `cannot read ${file}: ${(err as Error).message}`);
    }
    fromYaml = yamlToEnv(text, file);
    yamlFile = file;
    Object.assign(src, fromYaml);
  }
  try {
    return buildConfig(src);
  } catch (err) {
    // Name the key the way the user wrote it: the YAML key when the value came from the file.
    if (err instanceof ConfigError && err.key in fromYaml) {
      const yamlKey = Object.entries(YAML_KEYS).find(([, env]) => env === err.key)?.[0] ?? err.key;
      throw new ConfigError(yamlKey, `${err.message.replace(`[DTM_CONFIG] ${err.key}: `, '')} (in ${yamlFile})`);
    }
    throw err;
  }
}

function buildConfig(src: Source): Config {
  const prefix = src['STORE_REDIS_PREFIX']?.trim() || 'dtm';
  if (!/^[A-Za-z0-9_.:-]{1,32}$/.test(prefix)) {
    throw new ConfigError(
      'STORE_REDIS_PREFIX',
      `must be 1-32 chars of [A-Za-z0-9_.:-] with no braces (we add the hash tag ourselves), got ${JSON.stringify(prefix)}`,
    );
  }
  const buckets = num(src, 'STORE_BUCKETS', 64, { min: 1, integer: true, max: 16384 });
  if ((buckets & (buckets - 1)) !== 0) throw new ConfigError('STORE_BUCKETS', `must be a power of two, got ${buckets}`);

  const retryIntervalS = num(src, 'RETRY_INTERVAL', 10, { min: 0.05 });
  const timeoutToFailS = num(src, 'TIMEOUT_TO_FAIL', 35, { min: 0.05 });
  if (timeoutToFailS < retryIntervalS) {
    throw new ConfigError('TIMEOUT_TO_FAIL', `must be at least RETRY_INTERVAL (${retryIntervalS}), got ${timeoutToFailS}`);
  }

  const logLevel = (src['LOG_LEVEL'] ?? 'info').trim().toLowerCase() || 'info';
  if (!LOG_LEVELS.has(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${[...LOG_LEVELS].join(', ')}, got ${logLevel}`);

  let redisUrl = src['REDIS_URL']?.trim() || undefined;
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError('REDIS_URL', `must start with redis:// or rediss://, got ${JSON.stringify(redisUrl)}`);
  }
  const host = src['STORE_HOST']?.trim() || undefined;
  let clusterNodes: string[] = [];
  if (host !== undefined) {
    if (host.includes(',')) {
      clusterNodes = host.split(',').map((h) => h.trim());
      for (const n of clusterNodes) {
        if (!/^[^\s:]+:\d+$/.test(n)) throw new ConfigError('STORE_HOST', `cluster nodes must be host:port, got ${JSON.stringify(n)}`);
      }
    } else {
      const port = num(src, 'STORE_PORT', 6379, { min: 1, max: 65535, integer: true });
      redisUrl = `redis://${host}:${port}`;
    }
  }
  const httpBackend = (src['HTTP_BACKEND']?.trim().toLowerCase() || 'auto') as HttpBackendChoice;
  if (!HTTP_BACKEND_CHOICES.includes(httpBackend)) {
    throw new ConfigError('HTTP_BACKEND', `must be one of ${HTTP_BACKEND_CHOICES.join(', ')}, got ${JSON.stringify(src['HTTP_BACKEND'])}`);
  }
  const alertWebHook = src['ALERT_WEB_HOOK']?.trim() ?? '';
  if (alertWebHook !== '' && !/^https?:\/\//.test(alertWebHook)) {
    throw new ConfigError('ALERT_WEB_HOOK', `must be an http(s) URL, got ${JSON.stringify(alertWebHook)}`);
  }

  const dataDir = src['DTM_DATA_DIR']?.trim() || undefined;
  const maxInflightRounds = num(src, 'MAX_INFLIGHT_ROUNDS', DEFAULT_MAX_INFLIGHT_ROUNDS, { min: 1, max: 1_000_000, integer: true });

  return Object.freeze({
    httpPort: num(src, 'HTTP_PORT', 36789, { min: 0, max: 65535, integer: true }),
    grpcPort: num(src, 'GRPC_PORT', 36790, { min: 0, max: 65535, integer: true }),
    grpcMaxReceiveBytes: num(src, 'GRPC_MAX_RECEIVE_BYTES', 4 * 1024 * 1024, { min: 1024, integer: true }),
    httpHost: src['HTTP_HOST']?.trim() || '0.0.0.0',
    httpBackend,
    redisUrl,
    clusterNodes: Object.freeze(clusterNodes),
    redisPassword: src['STORE_PASSWORD'] || undefined,
    prefix,
    buckets,
    dataExpireS: num(src, 'STORE_DATA_EXPIRE', 604800, { min: 1, integer: true }),
    finishedDataExpireS: num(src, 'STORE_FINISHED_DATA_EXPIRE', 86400, { min: 1, integer: true }),
    storeWaitReplicas: num(src, 'STORE_WAIT_REPLICAS', 0, { min: 0, max: 16, integer: true }),
    // WAIT blocks the connection it is sent on, so it must end well before the stall watchdog (5 s) fires.
    storeWaitTimeoutMs: num(src, 'STORE_WAIT_TIMEOUT_MS', 1000, { min: 1, max: 4000, integer: true }),
    retryIntervalMs: Math.round(retryIntervalS * 1000),
    timeoutToFailMs: Math.round(timeoutToFailS * 1000),
    requestTimeoutMs: Math.round(num(src, 'REQUEST_TIMEOUT', 3, { min: 0.01 }) * 1000),
    cronIntervalMs: Math.round(num(src, 'TRANS_CRON_INTERVAL', 1, { min: 0.01 }) * 1000),
    indexPruneIntervalMs: Math.round(num(src, 'INDEX_PRUNE_INTERVAL', 5, { min: 0.01 }) * 1000),
    logLevel,
    maxBodyBytes: num(src, 'MAX_BODY_BYTES', 1024 * 1024, { min: 1024, integer: true }),
    maxInflightRequests: num(src, 'MAX_INFLIGHT_REQUESTS', 10000, { min: 1, integer: true }),
    maxInflightRounds,
    pollerConcurrency: num(src, 'POLLER_CONCURRENCY', maxInflightRounds, { min: 1, integer: true }),
    alertWebHook,
    branchUrlDeny: fenceList(src, 'BRANCH_URL_DENY', DEFAULT_DENY),
    branchUrlAllow: fenceList(src, 'BRANCH_URL_ALLOW', []),
    alertRetryLimit: num(src, 'ALERT_RETRY_LIMIT', 3, { min: 1, integer: true }),
    updateBranchSync: num(src, 'UPDATE_BRANCH_SYNC', 0, { min: 0, max: 1, integer: true }) === 1,
    dataDir: dataDir === undefined ? undefined : resolve(dataDir),
    workers: num(src, 'DTM_WORKERS', 1, { min: 1, max: MAX_WORKERS, integer: true }),
    redisAutoPipelining: num(src, 'REDIS_AUTOPIPELINING', 0, { min: 0, max: 1, integer: true }) === 1,
    adminToken: token(src, 'ADMIN_TOKEN'),
    apiToken: token(src, 'API_TOKEN'),
    adminProtectReads: num(src, 'ADMIN_PROTECT_READS', 0, { min: 0, max: 1, integer: true }) === 1,
    adminProtectMetrics: num(src, 'ADMIN_PROTECT_METRICS', 0, { min: 0, max: 1, integer: true }) === 1,
    adminSessionMs: Math.round(num(src, 'ADMIN_SESSION_HOURS', 12, { min: 0.01, max: 24 * 30 }) * 3_600_000),
  });
}
