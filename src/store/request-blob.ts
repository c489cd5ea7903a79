/**
 * The stored form of a transaction's immutable request: msgpack of DTM's field names, with every
 * field at its default left out (most transactions set few options, and each record is kept for
 * FinishedDataExpire, so bytes here are memory across millions of records).
 */
import { pack, unpack } from '../codec.js';
import { StoreContractError } from '../errors.js';
import type { TransOptions, TransRequest } from '../types.js';

const DEFAULT_OPTIONS: TransOptions = {
  wait_result: false,
  timeout_to_fail: 0,
  request_timeout: 0,
  retry_interval: 0,
  branch_headers: {},
  concurrent: false,
  retry_limit: 0,
};

export function encodeRequest(req: TransRequest): Buffer {
  const options: Partial<TransOptions> = {};
  for (const [k, v] of Object.entries(req.options) as [keyof TransOptions, TransOptions[keyof TransOptions]][]) {
    const isDefault = k === 'branch_headers' ? Object.keys(v as object).length === 0 : v === DEFAULT_OPTIONS[k];
    if (!isDefault) (options as Record<string, unknown>)[k] = v;
  }
  const out: Record<string, unknown> = {};
  if (req.protocol !== 'http') out['protocol'] = req.protocol;
  if (req.query_prepared !== '') out['query_prepared'] = req.query_prepared;
  if (req.custom_data !== '') out['custom_data'] = req.custom_data;
  if (Object.keys(options).length > 0) out['options'] = options;
  return pack(out);
}

export function decodeRequest(buf: Buffer, gid: string): TransRequest {
  const r = unpack(buf) as { protocol?: string; query_prepared?: string; custom_data?: string; options?: Partial<TransOptions> } | null;
  if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new StoreContractError(`trans ${gid}: bad req blob`);
  return {
    protocol: r.protocol ?? 'http',
    query_prepared: r.query_prepared ?? '',
    custom_data: r.custom_data ?? '',
    options: { ...DEFAULT_OPTIONS, ...r.options },
  };
}
