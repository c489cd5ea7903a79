/** Structured JSON logs (pino). Components take child loggers; nothing is logged per successful request. */
import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino replaces with `[redacted]` wherever a caller logs them: the secrets of the
 * configuration and the credentials of a request. Nothing logs these on purpose; this is the net
 * under a future `log.info({ config })` or `log.warn({ headers })`.
 */
export const REDACT_PATHS = [
  'adminToken',
  'apiToken',
  'redisPassword',
  'token',
  'authorization',
  'cookie',
  '*.adminToken',
  '*.apiToken',
  '*.redisPassword',
  '*.token',
  '*.authorization',
  '*.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
];

export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'dtm-redis' }, timestamp: pino.stdTimeFunctions.isoTime, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
