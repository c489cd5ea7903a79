/**
 * DTM's alert webhook (dtm-protocol.md §5.2): after a backoff, when the retry count
 * ⌊log2(interval / base)⌋ reaches AlertRetryLimit, POST {gid, status, branch, error, retry_count}
 * to AlertWebHook. The hook's answer is not read; a failing hook (no answer, or a status other than
 * 2xx) is logged and counted, never retried.
 */
import { request, type Dispatcher } from 'undici';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Trans } from './types.js';

export type Alerter = (trans: Trans, retryCount: number, branchUrl: string, error: string) => void;

/** Told of each POST to the hook: delivered (a 2xx answer) or not; for metrics. */
export type AlertSentObserver = (delivered: boolean) => void;

export function createAlerter(
  config: Pick<Config, 'alertWebHook' | 'alertRetryLimit' | 'requestTimeoutMs'>,
  dispatcher: Dispatcher,
  log: Logger,
  onSent: AlertSentObserver = () => undefined,
): Alerter {
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
      .then(async (res) => {
        await res.body.dump();
        const delivered = res.statusCode >= 200 && res.statusCode < 300;
        if (!delivered) log.warn({ gid: trans.gid, status: res.statusCode }, 'alert webhook answered with an error status');
        onSent(delivered);
      })
      .catch((err: unknown) => {
        log.warn({ gid: trans.gid, err: (err as Error).message }, 'alert webhook failed');
        onSent(false);
      });
  };
}
