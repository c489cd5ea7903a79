/**
 * The start-up banner: one log line saying what the process runs with (version, Redis, key
 * settings, HTTP server), so a log alone tells how a process was configured. Passwords are
 * redacted.
 */
import type { Config } from './config.js';
import type { RedisTarget } from './store/redis-target.js';

/** A URL with its password, if any, replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === '') return url;
    u.password = '***';
    return u.href;
  } catch {
    return '(unparsable URL)';
  }
}

function redisFields(target: RedisTarget, config: Config): Record<string, unknown> {
  const password = config.redisPassword !== undefined ? { password: '***' } : {};
  switch (target.mode) {
    case 'cluster':
      return { mode: 'cluster', nodes: target.nodes, ...password };
    case 'configured':
    case 'local':
      return { mode: target.mode, url: redactUrl(target.url), ...password };
    case 'embedded':
      return {
        mode: 'embedded',
        url: target.url,
        dir: target.server.dir,
        pid: target.server.pid,
        origin: target.server.origin,
        diesWithParent: target.server.diesWithParent,
      };
  }
}

/** The banner's fields (logged once, by the primary, before the app starts). */
export function startupBanner(config: Config, target: RedisTarget, version: string, http: string): Record<string, unknown> {
  return {
    version,
    node: process.version,
    workers: config.workers,
    redis: { ...redisFields(target, config), autoPipelining: config.redisAutoPipelining },
    prefix: config.prefix,
    buckets: config.buckets,
    timing: {
      retryIntervalMs: config.retryIntervalMs,
      timeoutToFailMs: config.timeoutToFailMs,
      requestTimeoutMs: config.requestTimeoutMs,
      cronIntervalMs: config.cronIntervalMs,
      finishedDataExpireS: config.finishedDataExpireS,
      updateBranchSync: config.updateBranchSync,
    },
    http: { backend: http, host: config.httpHost, port: config.httpPort },
  };
}
