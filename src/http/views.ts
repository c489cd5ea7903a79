/** DTM's JSON shapes for `query`, `all` and `prepareWorkflow` (dtm-protocol.md §0.2, §0.3). */
import type { Branch, Trans } from '../types.js';

/** Formats ms as Go's RFC 3339 JSON time in the server's local zone, or null. */
export function formatTime(ms: number | undefined): string | null {
  if (ms === undefined || !Number.isFinite(ms)) return null;
  const d = new Date(ms);
  const offsetMin = -d.getTimezoneOffset();
  if (offsetMin === 0) return d.toISOString().replace('.000Z', 'Z');
  const local = new Date(ms + offsetMin * 60_000)
    .toISOString()
    .slice(0, -1)
    .replace(/\.000$/, '');
  const sign = offsetMin > 0 ? '+' : '-';
  const abs = Math.abs(offsetMin);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * Copies the entries of `fields` that Go's `omitempty` would keep: not '', 0, false, null,
 * undefined or an empty object. DTM's JSON omits them, and JavaScript clients testing for a
 * field's presence can tell.
 */
function omitEmpty(out: Record<string, unknown>, fields: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(fields)) {
    if (v === '' || v === 0 || v === false || v === null || v === undefined) continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out;
}

/**
 * The global record as DTM's `TransGlobalStore` JSON (`id`, `create_time` and `update_time`
 * always, everything else omitempty, `concurrent` always), plus `retries` (rounds that ended in a
 * backoff), which DTM clients ignore.
 */
export function transView(t: Trans): Record<string, unknown> {
  const o = t.req.options;
  const view: Record<string, unknown> = { id: 0, create_time: formatTime(t.create_time), update_time: formatTime(t.update_time) };
  omitEmpty(view, {
    gid: t.gid,
    trans_type: t.trans_type,
    status: t.status,
    query_prepared: t.req.query_prepared,
    protocol: t.req.protocol,
    finish_time: formatTime(t.finish_time),
    rollback_time: formatTime(t.rollback_time),
    rollback_reason: t.rollback_reason,
    options: JSON.stringify({ ...omitZero(o), concurrent: o.concurrent }),
    custom_data: t.req.custom_data,
    next_cron_interval: t.next_cron_interval,
    next_cron_time: formatTime(t.next_cron_time),
    result: t.result,
    ...omitZero(o),
    retry_count: t.retry_count,
    retries: t.retries,
  });
  view['concurrent'] = o.concurrent;
  return view;
}

/** Go's omitempty over the flattened TransOptions. */
function omitZero(o: Trans['req']['options']): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (o.wait_result) out['wait_result'] = true;
  if (o.timeout_to_fail) out['timeout_to_fail'] = o.timeout_to_fail;
  if (o.request_timeout) out['request_timeout'] = o.request_timeout;
  if (o.retry_interval) out['retry_interval'] = o.retry_interval;
  if (Object.keys(o.branch_headers).length > 0) out['branch_headers'] = o.branch_headers;
  if (o.retry_limit) out['retry_limit'] = o.retry_limit;
  return out;
}

/**
 * One branch as DTM's `TransBranchStore` JSON (`bin_data` is base64 of the payload; omitempty as
 * in DTM), plus what an operator needs when it fails: `attempts`, `last_attempt_time` and
 * `last_error`, which DTM clients ignore.
 */
export function branchView(t: Trans, b: Branch): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: 0,
    create_time: formatTime(t.create_time),
    update_time: formatTime(b.finish_time ?? t.create_time),
  };
  return omitEmpty(view, {
    gid: t.gid,
    url: b.url,
    bin_data: Buffer.from(b.data).toString('base64'),
    branch_id: b.branch_id,
    op: b.op,
    status: b.status,
    finish_time: formatTime(b.finish_time),
    attempts: b.attempts,
    last_attempt_time: formatTime(b.last_attempt_time),
    last_error: b.last_error,
  });
}
