import t from 'tap';
import { redactUrl, startupBanner } from '../../src/banner.js';
import { loadConfig } from '../../src/config.js';
import type { DataDirRedis } from '../../src/store/data-dir-redis.js';

t.test('redactUrl hides the password and keeps the rest', async (t) => {
  t.equal(redactUrl('redis://:s3cret@r.test:6380/2'), 'redis://:***@r.test:6380/2');
  t.equal(redactUrl('rediss://user:s3cret@r.test:6380'), 'rediss://user:***@r.test:6380');
  t.equal(redactUrl('redis://r.test:6380'), 'redis://r.test:6380', 'no password: unchanged');
  t.equal(redactUrl('not a url'), '(unparsable URL)', 'an unparsable value is not echoed');
});

t.test('the banner: version, Redis (passwords redacted), prefix, buckets, timing, HTTP backend', async (t) => {
  const config = loadConfig(
    { REDIS_URL: 'redis://:s3cret@r.test:6380', STORE_PASSWORD: 'pw2', STORE_REDIS_PREFIX: 'bp', STORE_BUCKETS: '16', RETRY_INTERVAL: '2' },
    [],
  );
  const banner = startupBanner(config, { mode: 'configured', url: config.redisUrl! }, '9.9.9', 'uws');
  t.match(banner, {
    version: '9.9.9',
    workers: 1,
    redis: { mode: 'configured', url: 'redis://:***@r.test:6380', password: '***', autoPipelining: false },
    prefix: 'bp',
    buckets: 16,
    timing: { retryIntervalMs: 2000, timeoutToFailMs: 35_000, requestTimeoutMs: 3000, cronIntervalMs: 1000, updateBranchSync: false },
    http: { backend: 'uws', port: 36789 },
  });
  t.notMatch(JSON.stringify(banner), /s3cret|pw2/, 'no password appears anywhere');

  const cluster = startupBanner(loadConfig({ STORE_HOST: 'a:7000,b:7001' }, []), { mode: 'cluster', nodes: ['a:7000', 'b:7001'] }, '1', 'x');
  t.match(cluster, { redis: { mode: 'cluster', nodes: ['a:7000', 'b:7001'] } }, 'cluster: the seed nodes');

  const server: DataDirRedis = {
    dir: '/d',
    port: 21000,
    url: 'redis://127.0.0.1:21000',
    pid: 42,
    origin: 'started',
    diesWithParent: true,
    stop: async () => {},
  };
  const embedded = startupBanner(loadConfig({}, []), { mode: 'embedded', url: server.url, server, dirFromConfig: false }, '1', 'x');
  t.match(embedded, { redis: { mode: 'embedded', url: server.url, dir: '/d', pid: 42, origin: 'started', diesWithParent: true } }, 'embedded: the server');
});
