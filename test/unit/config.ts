import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig, type Config } from '../../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'dtm-config-test-'));
t.teardown(() => {
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
/** Writes a YAML file into the test's temp dir and returns its path. */
function yamlFile(text: string): string {
  const file = join(dir, `conf-${files++}.yml`);
  writeFileSync(file, text);
  return file;
}

const DEFAULTS: Config = {
  httpPort: 36789,
  grpcPort: 36790,
  grpcMaxReceiveBytes: 4 * 1024 * 1024,
  httpHost: '0.0.0.0',
  httpBackend: 'auto',
  redisUrl: undefined,
  clusterNodes: [],
  redisPassword: undefined,
  prefix: 'dtm',
  buckets: 64,
  dataExpireS: 604800,
  finishedDataExpireS: 86400,
  storeWaitReplicas: 0,
  storeWaitTimeoutMs: 1000,
  retryIntervalMs: 10_000,
  timeoutToFailMs: 35_000,
  requestTimeoutMs: 3000,
  cronIntervalMs: 1000,
  indexPruneIntervalMs: 5000,
  logLevel: 'info',
  maxBodyBytes: 1024 * 1024,
  maxInflightRequests: 10_000,
  maxInflightRounds: 1024,
  pollerConcurrency: 1024,
  alertWebHook: '',
  alertRetryLimit: 3,
  branchUrlDeny: ['169.254.0.0/16', 'fd00:ec2::254'],
  branchUrlAllow: [],
  updateBranchSync: false,
  dataDir: undefined,
  workers: 1,
  redisAutoPipelining: false,
  adminToken: undefined,
  apiToken: undefined,
  adminProtectReads: false,
  adminProtectMetrics: false,
  adminSessionMs: 12 * 3_600_000,
};

t.test('with nothing set, every setting has its documented default', async (t) => {
  const config = loadConfig({}, []);
  t.strictSame(config, DEFAULTS, 'defaults');
  t.ok(Object.isFrozen(config), 'the config is frozen');
  t.ok(Object.isFrozen(config.clusterNodes), 'and so is its node list');
  t.strictSame(
    loadConfig({ RETRY_INTERVAL: '', STORE_BUCKETS: '  ', STORE_REDIS_PREFIX: ' ', DTM_DATA_DIR: ' ', DTM_WORKERS: '' }, []),
    DEFAULTS,
    'blank values mean unset',
  );
});

t.test('each environment variable sets its setting', async (t) => {
  const rows: [env: Record<string, string>, want: Partial<Config>][] = [
    [{ HTTP_PORT: '8080' }, { httpPort: 8080 }],
    [{ HTTP_HOST: '127.0.0.1' }, { httpHost: '127.0.0.1' }],
    [{ HTTP_BACKEND: 'node' }, { httpBackend: 'node' }],
    [{ HTTP_BACKEND: ' UWS ' }, { httpBackend: 'uws' }],
    [{ HTTP_BACKEND: 'auto' }, { httpBackend: 'auto' }],
    [{ REDIS_URL: 'redis://r.test:6380/2' }, { redisUrl: 'redis://r.test:6380/2' }],
    [{ REDIS_URL: 'rediss://r.test:6380' }, { redisUrl: 'rediss://r.test:6380' }],
    [{ STORE_HOST: 'r.test' }, { redisUrl: 'redis://r.test:6379' }],
    [{ STORE_HOST: 'r.test', STORE_PORT: '7000' }, { redisUrl: 'redis://r.test:7000' }],
    [{ STORE_HOST: 'a:7000, b:7001,c:7002' }, { clusterNodes: ['a:7000', 'b:7001', 'c:7002'] }],
    [{ STORE_PASSWORD: 's3cret' }, { redisPassword: 's3cret' }],
    [{ UPDATE_BRANCH_SYNC: '1' }, { updateBranchSync: true }],
    [{ UPDATE_BRANCH_SYNC: '0' }, { updateBranchSync: false }],
    [{ STORE_REDIS_PREFIX: 'my-app.prod:v2' }, { prefix: 'my-app.prod:v2' }],
    [{ STORE_BUCKETS: '16' }, { buckets: 16 }],
    [{ STORE_BUCKETS: '1' }, { buckets: 1 }],
    [{ STORE_DATA_EXPIRE: '3600' }, { dataExpireS: 3600 }],
    [{ STORE_FINISHED_DATA_EXPIRE: '60' }, { finishedDataExpireS: 60 }],
    [{ RETRY_INTERVAL: '2' }, { retryIntervalMs: 2000 }],
    [{ RETRY_INTERVAL: '0.5' }, { retryIntervalMs: 500 }],
    [{ TIMEOUT_TO_FAIL: '60' }, { timeoutToFailMs: 60_000 }],
    [{ REQUEST_TIMEOUT: '1.5' }, { requestTimeoutMs: 1500 }],
    [{ INDEX_PRUNE_INTERVAL: '0.5' }, { indexPruneIntervalMs: 500 }],
    [
      { STORE_WAIT_REPLICAS: '1', STORE_WAIT_TIMEOUT_MS: '250' },
      { storeWaitReplicas: 1, storeWaitTimeoutMs: 250 },
    ],
    [{ TRANS_CRON_INTERVAL: '0.2' }, { cronIntervalMs: 200 }],
    [{ LOG_LEVEL: 'DEBUG' }, { logLevel: 'debug' }],
    [{ MAX_BODY_BYTES: '4096' }, { maxBodyBytes: 4096 }],
    [{ MAX_INFLIGHT_REQUESTS: '50' }, { maxInflightRequests: 50 }],
    [{ POLLER_CONCURRENCY: '8' }, { pollerConcurrency: 8 }],
    [{ MAX_INFLIGHT_ROUNDS: '4' }, { maxInflightRounds: 4, pollerConcurrency: 4 }],
    [
      { MAX_INFLIGHT_ROUNDS: '4000', POLLER_CONCURRENCY: '100' },
      { maxInflightRounds: 4000, pollerConcurrency: 100 },
    ],
    [{ ALERT_WEB_HOOK: 'https://hooks.test/x' }, { alertWebHook: 'https://hooks.test/x' }],
    [{ ALERT_RETRY_LIMIT: '5' }, { alertRetryLimit: 5 }],
    [{ DTM_DATA_DIR: '/var/lib/dtm' }, { dataDir: '/var/lib/dtm' }],
    [{ DTM_DATA_DIR: 'rel/dir' }, { dataDir: resolve('rel/dir') }],
    [{ DTM_WORKERS: '4' }, { workers: 4 }],
    [{ DTM_WORKERS: '256' }, { workers: 256 }],
    [{ REDIS_AUTOPIPELINING: '1' }, { redisAutoPipelining: true }],
    [{ REDIS_AUTOPIPELINING: '0' }, { redisAutoPipelining: false }],
  ];
  for (const [env, want] of rows) {
    t.strictSame(loadConfig(env, []), { ...DEFAULTS, ...want }, JSON.stringify(env));
  }
});

t.test('a DTM YAML file given with -c sets settings under DTM key names and overrides the environment', async (t) => {
  const file = yamlFile(
    [
      'Store:',
      '  Driver: redis',
      '  Host: yaml.test',
      '  Port: 6390',
      '  Password: yamlpw',
      '  RedisPrefix: yamlp',
      '  Buckets: 32',
      '  DataExpire: 100',
      '  FinishedDataExpire: 50',
      '  MaxOpenConns: 500',
      'RetryInterval: 3',
      'TimeoutToFail: 9',
      'RequestTimeout: 2',
      'TransCronInterval: 0.5',
      'LogLevel: warn',
      'AlertRetryLimit: 7',
      'AlertWebHook: http://alert.test',
      'HttpPort: 9999',
      'UpdateBranchSync: 1',
      'MaxInflightRounds: 64',
      'MicroService:',
      '  Driver: dtm-driver-gozero',
      '',
    ].join('\n'),
  );
  const env = { STORE_REDIS_PREFIX: 'envp', RETRY_INTERVAL: '7', STORE_BUCKETS: '8', LOG_LEVEL: 'error', MAX_BODY_BYTES: '2048' };
  t.strictSame(
    loadConfig(env, ['-c', file]),
    {
      ...DEFAULTS,
      redisUrl: 'redis://yaml.test:6390',
      redisPassword: 'yamlpw',
      prefix: 'yamlp',
      buckets: 32,
      dataExpireS: 100,
      finishedDataExpireS: 50,
      retryIntervalMs: 3000,
      timeoutToFailMs: 9000,
      requestTimeoutMs: 2000,
      cronIntervalMs: 500,
      logLevel: 'warn',
      alertRetryLimit: 7,
      alertWebHook: 'http://alert.test',
      httpPort: 9999,
      maxBodyBytes: 2048,
      updateBranchSync: true,
      maxInflightRounds: 64,
      pollerConcurrency: 64,
    },
    'YAML wins over the environment; env-only settings and unknown DTM keys are kept or ignored',
  );
  t.strictSame(
    loadConfig({ STORE_REDIS_PREFIX: 'envp' }, ['-c', yamlFile('RetryInterval: 4\n')]),
    { ...DEFAULTS, prefix: 'envp', retryIntervalMs: 4000 },
    'a key the YAML does not set keeps its env value',
  );
  t.strictSame(loadConfig({}, ['--other', '-c', yamlFile('')]), DEFAULTS, 'an empty YAML file changes nothing');
});

interface BadRow {
  name: string;
  env?: Record<string, string>;
  yaml?: string;
  argv?: string[];
  key: string;
}

t.test('an invalid value throws a ConfigError whose message names the key', async (t) => {
  const rows: BadRow[] = [
    { name: 'RETRY_INTERVAL=abc', env: { RETRY_INTERVAL: 'abc' }, key: 'RETRY_INTERVAL' },
    { name: 'RETRY_INTERVAL=0', env: { RETRY_INTERVAL: '0' }, key: 'RETRY_INTERVAL' },
    { name: "STORE_REDIS_PREFIX='{a}'", env: { STORE_REDIS_PREFIX: '{a}' }, key: 'STORE_REDIS_PREFIX' },
    { name: 'STORE_REDIS_PREFIX with a space', env: { STORE_REDIS_PREFIX: 'a b' }, key: 'STORE_REDIS_PREFIX' },
    { name: 'STORE_REDIS_PREFIX too long', env: { STORE_REDIS_PREFIX: 'p'.repeat(33) }, key: 'STORE_REDIS_PREFIX' },
    { name: 'STORE_BUCKETS=3', env: { STORE_BUCKETS: '3' }, key: 'STORE_BUCKETS' },
    { name: 'STORE_BUCKETS=0', env: { STORE_BUCKETS: '0' }, key: 'STORE_BUCKETS' },
    { name: 'STORE_BUCKETS=2.5', env: { STORE_BUCKETS: '2.5' }, key: 'STORE_BUCKETS' },
    { name: 'STORE_BUCKETS=32768', env: { STORE_BUCKETS: '32768' }, key: 'STORE_BUCKETS' },
    { name: 'TIMEOUT_TO_FAIL < RETRY_INTERVAL', env: { RETRY_INTERVAL: '20', TIMEOUT_TO_FAIL: '10' }, key: 'TIMEOUT_TO_FAIL' },
    { name: 'HTTP_PORT out of range', env: { HTTP_PORT: '70000' }, key: 'HTTP_PORT' },
    { name: 'HTTP_BACKEND unknown', env: { HTTP_BACKEND: 'fallback' }, key: 'HTTP_BACKEND' },
    { name: 'HTTP_PORT fractional', env: { HTTP_PORT: '80.5' }, key: 'HTTP_PORT' },
    { name: 'STORE_PORT not a number', env: { STORE_HOST: 'h', STORE_PORT: 'x' }, key: 'STORE_PORT' },
    { name: 'STORE_HOST cluster node without port', env: { STORE_HOST: 'a:1,b' }, key: 'STORE_HOST' },
    { name: 'REDIS_URL not a redis URL', env: { REDIS_URL: 'http://r.test' }, key: 'REDIS_URL' },
    { name: 'LOG_LEVEL unknown', env: { LOG_LEVEL: 'loud' }, key: 'LOG_LEVEL' },
    { name: 'ALERT_WEB_HOOK not http', env: { ALERT_WEB_HOOK: 'ftp://x' }, key: 'ALERT_WEB_HOOK' },
    { name: 'STORE_FINISHED_DATA_EXPIRE=0', env: { STORE_FINISHED_DATA_EXPIRE: '0' }, key: 'STORE_FINISHED_DATA_EXPIRE' },
    { name: 'MAX_BODY_BYTES too small', env: { MAX_BODY_BYTES: '10' }, key: 'MAX_BODY_BYTES' },
    { name: 'POLLER_CONCURRENCY=0', env: { POLLER_CONCURRENCY: '0' }, key: 'POLLER_CONCURRENCY' },
    { name: 'MAX_INFLIGHT_ROUNDS=0', env: { MAX_INFLIGHT_ROUNDS: '0' }, key: 'MAX_INFLIGHT_ROUNDS' },
    { name: 'MAX_INFLIGHT_ROUNDS=1.5', env: { MAX_INFLIGHT_ROUNDS: '1.5' }, key: 'MAX_INFLIGHT_ROUNDS' },
    { name: 'YAML MaxInflightRounds: none', yaml: 'MaxInflightRounds: none\n', key: 'MaxInflightRounds' },
    { name: 'UPDATE_BRANCH_SYNC=2', env: { UPDATE_BRANCH_SYNC: '2' }, key: 'UPDATE_BRANCH_SYNC' },
    { name: 'UPDATE_BRANCH_SYNC=yes', env: { UPDATE_BRANCH_SYNC: 'yes' }, key: 'UPDATE_BRANCH_SYNC' },
    { name: 'DTM_WORKERS=0', env: { DTM_WORKERS: '0' }, key: 'DTM_WORKERS' },
    { name: 'DTM_WORKERS=257', env: { DTM_WORKERS: '257' }, key: 'DTM_WORKERS' },
    { name: 'DTM_WORKERS=1.5', env: { DTM_WORKERS: '1.5' }, key: 'DTM_WORKERS' },
    { name: 'REDIS_AUTOPIPELINING=yes', env: { REDIS_AUTOPIPELINING: 'yes' }, key: 'REDIS_AUTOPIPELINING' },
    { name: 'YAML Store.Driver: mysql', yaml: 'Store:\n  Driver: mysql\n', key: 'Store.Driver' },
    { name: 'YAML RetryInterval: abc', yaml: 'RetryInterval: abc\n', key: 'RetryInterval' },
    { name: "YAML Store.RedisPrefix: '{a}'", yaml: "Store:\n  RedisPrefix: '{a}'\n", key: 'Store.RedisPrefix' },
    { name: 'YAML TimeoutToFail below an env RETRY_INTERVAL', env: { RETRY_INTERVAL: '5' }, yaml: 'TimeoutToFail: 1\n', key: 'TimeoutToFail' },
    { name: '-c without a file', argv: ['-c'], key: '-c' },
    { name: '-c with a missing file', argv: ['-c', join(dir, 'missing.yml')], key: '-c' },
  ];
  for (const row of rows) {
    const argv = row.argv ?? (row.yaml === undefined ? [] : ['-c', yamlFile(row.yaml)]);
    t.throws(
      () => loadConfig(row.env ?? {}, argv),
      { name: 'ConfigError', key: row.key, message: new RegExp(`^\\[DTM_CONFIG\\] ${row.key.replace('.', '\\.')}: `) },
      `${row.name}: a ConfigError naming ${row.key}`,
    );
    t.throws(() => loadConfig(row.env ?? {}, argv), ConfigError, `${row.name}: an instance of ConfigError`);
  }
});

t.test('a YAML file that is not a mapping is a ConfigError naming the file', async (t) => {
  for (const [name, text] of [
    ['a list', '- a\n- b\n'],
    ['a scalar', 'just text\n'],
    ['broken YAML', 'a: [1, 2\n'],
  ] as const) {
    const file = yamlFile(text);
    t.throws(() => loadConfig({}, ['-c', file]), { name: 'ConfigError', key: file }, `${name}: names the file`);
  }
});

t.test('console tokens: from the environment or the YAML file, validated without ever showing the value', async (t) => {
  const env = loadConfig(
    { ADMIN_TOKEN: 's3cret-admin', API_TOKEN: 's3cret-api', ADMIN_PROTECT_READS: '1', ADMIN_PROTECT_METRICS: '1', ADMIN_SESSION_HOURS: '0.5' },
    [],
  );
  t.match(env, { adminToken: 's3cret-admin', apiToken: 's3cret-api', adminProtectReads: true, adminProtectMetrics: true, adminSessionMs: 1_800_000 });
  const yaml = loadConfig({ ADMIN_TOKEN: 'from-env' }, ['-c', yamlFile('AdminToken: from-yaml\nApiToken: api-yaml\n')]);
  t.match(yaml, { adminToken: 'from-yaml', apiToken: 'api-yaml' }, 'the YAML keys override the environment');
  t.equal(loadConfig({ ADMIN_TOKEN: '' }, []).adminToken, undefined, 'an empty token is unset');
  for (const [key, value] of [
    ['ADMIN_TOKEN', 'has space'],
    ['API_TOKEN', 'tab\there'],
    ['ADMIN_TOKEN', 'naïve'],
  ] as const) {
    let err: unknown;
    try {
      loadConfig({ [key]: value }, []);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof ConfigError && err.key === key, `${key} with ${JSON.stringify(value)} is refused`);
    t.notOk((err as Error).message.includes(value), 'and the message does not show the value');
  }
  t.throws(() => loadConfig({}, ['-c', yamlFile('AdminToken: "a b"\n')]), { message: /AdminToken: must be printable ASCII/ }, 'named as the YAML key');
  t.throws(() => loadConfig({ ADMIN_PROTECT_READS: '2' }, []), { message: /ADMIN_PROTECT_READS/ });
});
