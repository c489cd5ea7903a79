/** Structured JSON logs (pino). Components take child loggers; nothing is logged per successful request. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'dtm-redis' }, timestamp: pino.stdTimeFunctions.isoTime });
}
