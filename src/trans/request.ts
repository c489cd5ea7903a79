/**
 * Validates a DTM transaction body (dtm-protocol.md §1.2) and turns it into the record to create.
 * Unknown fields are ignored and JSON null is the zero value, as in DTM; anything that could never
 * be processed (bad gid, unknown type, steps without payloads, a non-http URL) is a 400.
 */
import { BadRequestError } from '../errors.js';
import { parseGid } from '../gid.js';
import { assertBranchHeaders, assertBranchUrl } from './branch-target.js';
import { isTransType, TransType, type TransOptions, type TransRequest } from '../types.js';

/** A parsed transaction body. */
export interface TransBody {
  gid: string;
  trans_type: TransType;
  req: TransRequest;
  steps: Record<string, string>[];
  /** Text from JSON; bytes, kept exact, from gRPC's BinPayloads. */
  payloads: (string | Buffer)[];
  rollback_reason: string;
  retry_count: number;
  /** A workflow submit's outcome: `status`, `rollback_reason`, `result` (base64). */
  req_extra: Record<string, string>;
}

/** Most steps one transaction may have; DTM's SDKs cap branch ids at 99 per level. */
const MAX_STEPS = 1000;

function field<T>(body: Record<string, unknown>, name: string, kind: 'string' | 'boolean' | 'number', dflt: T): T {
  const v = body[name];
  if (v === undefined || v === null) return dflt;
  if (kind === 'number') {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new BadRequestError(`[DTM_BAD_FIELD] ${name} must be a non-negative integer`);
    return v as T;
  }
  if (typeof v !== kind) throw new BadRequestError(`[DTM_BAD_FIELD] ${name} must be a ${kind}`);
  return v as T;
}

function stringMap(v: unknown, name: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new BadRequestError(`[DTM_BAD_FIELD] ${name} must be an object of strings`);
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw new BadRequestError(`[DTM_BAD_FIELD] ${name}.${k} must be a string`);
  }
  return v as Record<string, string>;
}

/** `branch_headers`: strings only, and each one a header the branch call can send. */
function branchHeaders(v: unknown): Record<string, string> {
  const headers = stringMap(v, 'branch_headers');
  assertBranchHeaders(headers);
  return headers;
}

/** A workflow submit's `req_extra`: an object; values that are not strings read as unset. */
function reqExtra(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new BadRequestError('[DTM_BAD_FIELD] req_extra must be an object of strings');
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Parses the common transaction body. */
export function parseTransBody(raw: unknown): TransBody {
  const body = asObject(raw);
  const gid = parseGid(body['gid']);
  const transType = body['trans_type'];
  if (!isTransType(transType)) {
    throw new BadRequestError(`[DTM_BAD_TRANS_TYPE] trans_type must be one of ${Object.values(TransType).join(', ')}, got ${JSON.stringify(transType)}`);
  }

  const options: TransOptions = {
    wait_result: field(body, 'wait_result', 'boolean', false),
    timeout_to_fail: field(body, 'timeout_to_fail', 'number', 0),
    request_timeout: field(body, 'request_timeout', 'number', 0),
    retry_interval: field(body, 'retry_interval', 'number', 0),
    branch_headers: branchHeaders(body['branch_headers']),
    concurrent: field(body, 'concurrent', 'boolean', false),
    retry_limit: field(body, 'retry_limit', 'number', 0),
  };
  const protocol = field(body, 'protocol', 'string', '') || 'http';
  const queryPrepared = field(body, 'query_prepared', 'string', '');
  assertBranchUrl(queryPrepared, 'query_prepared', protocol);

  const rawSteps = body['steps'] ?? [];
  if (!Array.isArray(rawSteps)) throw new BadRequestError('[DTM_BAD_STEPS] steps must be an array');
  if (rawSteps.length > MAX_STEPS) throw new BadRequestError(`[DTM_BAD_STEPS] at most ${MAX_STEPS} steps`);
  const steps = rawSteps.map((s, i) => stringMap(s, `steps[${i}]`));
  const rawPayloads = body['payloads'] ?? [];
  // Strings from JSON; Buffers from gRPC's BinPayloads, which must reach the branch byte for byte.
  if (!Array.isArray(rawPayloads) || !rawPayloads.every((p) => typeof p === 'string' || Buffer.isBuffer(p))) {
    throw new BadRequestError('[DTM_BAD_PAYLOADS] payloads must be an array of strings');
  }
  // DTM's setupPayloads: `payloads` first, then the legacy non-empty steps[i].data.
  const payloads = [...rawPayloads, ...steps.map((s) => s['data'] ?? '').filter((d) => d !== '')];
  if (steps.length > 0 && payloads.length !== steps.length) {
    throw new BadRequestError(`[DTM_BAD_PAYLOADS] ${steps.length} steps but ${payloads.length} payloads`);
  }

  return {
    gid,
    trans_type: transType,
    req: { protocol, query_prepared: queryPrepared, custom_data: field(body, 'custom_data', 'string', ''), options },
    steps,
    payloads,
    rollback_reason: field(body, 'rollback_reason', 'string', ''),
    retry_count: field(body, 'retry_count', 'number', 0),
    req_extra: transType === 'workflow' ? reqExtra(body['req_extra']) : {},
  };
}

/** A branch id: two digits, as DTM's SDKs number branches. */
export const pad2 = (n: number): string => String(n).padStart(2, '0');

/** The parsed body of `abort` (DTM reads only these fields of it). */
export interface AbortBody {
  gid: string;
  /** The type the caller names; DTM checks it rather than the stored one for TCC/XA rollbacks. */
  trans_type: string;
  rollback_reason: string;
}

/** Parses an abort body; the gid is checked as everywhere. */
export function parseAbortBody(raw: unknown): AbortBody {
  const body = asObject(raw);
  const transType = body['trans_type'];
  const reason = body['rollback_reason'];
  return {
    gid: parseGid(body['gid']),
    trans_type: typeof transType === 'string' ? transType : '',
    rollback_reason: typeof reason === 'string' ? reason : '',
  };
}

/** The gid of a body that carries nothing else we read (forceStop, resetNextCronTime). */
export function parseGidBody(raw: unknown): string {
  return parseGid(asObject(raw)['gid']);
}

/** A registerBranch body: a flat object of strings (DTM binds it to map[string]string). */
export interface RegisterBody {
  gid: string;
  trans_type: string;
  branch_id: string;
  /** How its URLs are called: the front end's (`http`, or `grpc` for the gRPC API). */
  protocol: string;
  /** Every field, as sent. */
  fields: Record<string, string>;
  /** The branch payload: the `data` field, or the bytes gRPC sends beside the map. */
  payload: string | Buffer;
}

/** Parses a registerBranch body; `payload` overrides `data` (gRPC's BusiPayload). */
export function parseRegisterBody(raw: unknown, payload?: Buffer, protocol = 'http'): RegisterBody {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new BadRequestError('[DTM_BAD_BODY] the body must be a JSON object of strings');
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new BadRequestError(`[DTM_BAD_FIELD] ${k} must be a string`);
  }
  const fields = raw as Record<string, string>;
  const branchId = fields['branch_id'] ?? '';
  if (branchId === '') throw new BadRequestError('[DTM_BAD_FIELD] branch_id is required');
  return {
    gid: parseGid(fields['gid']),
    trans_type: fields['trans_type'] ?? '',
    branch_id: branchId,
    protocol,
    fields,
    payload: payload ?? fields['data'] ?? '',
  };
}

function asObject(raw: unknown): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new BadRequestError('[DTM_BAD_BODY] the body must be a JSON object');
  return raw as Record<string, unknown>;
}
