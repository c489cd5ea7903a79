/**
 * DTM's alert webhook (dtm-protocol.md §5.2): after a backoff, when the retry count
 * ⌊log2(interval / base)⌋ reaches AlertRetryLimit, POST {gid, status, branch, error, retry_count}
 * to AlertWebHook. The hook's answer is ignored; a failing hook is logged, never retried.
 */
import { request, type Dispatcher } from 'undici';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Trans } from './types.js';

export type Alerter = (trans: Trans, retryCount: number, branchUrl: string, error: string) => void;

export function createAlerter(config: Pick<Config, 'alertWebHook' | 'alertRetryLimit' | 'requestTimeoutMs'>, dispatcher: Dispatcher, log: Logger): Alerter {
  return (trans, retryCount, branchUrl, error) => {
    if (config.alertWebHook === '' || retryCount < config.alertRetryLimit) return;
    const body = JSON.stringify({ gid: trans.gid, status: trans.status, branch: branchUrl, error, retry_count: retryCount });
    request(config.alertWebHook, {
      dispatcher,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      headersTimeout: config.requestTimeoutMs,
      bodyTimeout: config.requestTimeoutMs,
    })
      .then((res) => res.body.dump())
      .catch((err: unknown) => log.warn({ gid: trans.gid, err: (err as Error).message }, 'alert webhook failed'));
  };
}
