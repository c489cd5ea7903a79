/**
 * Structured JSON logs (pino). Every line carries its level as a word, the host, the process and
 * the version, so lines from many coordinators can be told apart; secrets are redacted wherever
 * they would appear. Components take child loggers; nothing is logged per successful request.
 */
import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';
import { packageVersion } from './version.js';

export type { Logger };

/** Paths of values that must never reach a log line, at the top level or one object down. */
const SECRETS = ['password', 'redisPassword', 'adminToken', 'apiToken', 'token', 'authorization', 'cookie'];
const REDACTED_PATHS = [...SECRETS, ...SECRETS.map((s) => `*.${s}`), 'headers.authorization', 'headers.cookie', 'req.headers.authorization'];

/** The logger of a coordinator process; `destination` (default stdout) is for tests. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { svc: 'dtm-redis', version: packageVersion(), hostname: hostname(), pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: REDACTED_PATHS, censor: '***' },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
