/**
 * Validates a DTM transaction body (dtm-protocol.md §1.2) and turns it into the record to create.
 * Unknown fields are ignored and JSON null is the zero value, as in DTM; anything that could never
 * be processed (bad gid, unknown type, steps without payloads, a non-http URL) is a 400.
 */
import { BadRequestError, InternalError } from '../errors.js';
import { sanitizeGid } from '../gid.js';
import type { NewBranch } from '../store/store.js';
import { TransType, type TransOptions, type TransRequest } from '../types.js';
import { parseSagaLayout } from './saga.js';
import { TOPIC_PREFIX } from './topics.js';
import { parseWorkflowData } from './workflow.js';

/** A parsed transaction body. */
export interface TransBody {
  gid: string;
  trans_type: TransType;
  req: TransRequest;
  steps: Record<string, string>[];
  payloads: string[];
  rollback_reason: string;
  retry_count: number;
}

const TYPES = new Set<string>(Object.values(TransType));
/** Most steps one transaction may have; DTM's SDKs cap branch ids at 99 per level. */
export const MAX_STEPS = 1000;

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

/** @throws BadRequestError unless `url` is empty or an absolute http(s) URL. */
export function assertBranchUrl(url: string, what: string): void {
  if (url === '') return;
  if (!/^https?:\/\/[^\s/]+/i.test(url)) throw new BadRequestError(`[DTM_BAD_URL] ${what} must be an http(s) URL, got ${JSON.stringify(url.slice(0, 200))}`);
}

/** Parses the common transaction body; the gid is sanitised as DTM does. */
export function parseTransBody(raw: unknown): TransBody {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new BadRequestError('[DTM_BAD_BODY] the body must be a JSON object');
  const body = raw as Record<string, unknown>;
  const gid = sanitizeGid(body['gid']);
  const transType = body['trans_type'];
  if (typeof transType !== 'string' || !TYPES.has(transType)) {
    throw new BadRequestError(`[DTM_BAD_TRANS_TYPE] trans_type must be one of ${[...TYPES].join(', ')}, got ${JSON.stringify(transType)}`);
  }

  const options: TransOptions = {
    wait_result: field(body, 'wait_result', 'boolean', false),
    timeout_to_fail: field(body, 'timeout_to_fail', 'number', 0),
    request_timeout: field(body, 'request_timeout', 'number', 0),
    retry_interval: field(body, 'retry_interval', 'number', 0),
    branch_headers: stringMap(body['branch_headers'], 'branch_headers'),
    concurrent: field(body, 'concurrent', 'boolean', false),
    retry_limit: field(body, 'retry_limit', 'number', 0),
  };
  const protocol = field(body, 'protocol', 'string', '') || 'http';
  const queryPrepared = field(body, 'query_prepared', 'string', '');
  assertBranchUrl(queryPrepared, 'query_prepared');

  const rawSteps = body['steps'] ?? [];
  if (!Array.isArray(rawSteps)) throw new BadRequestError('[DTM_BAD_STEPS] steps must be an array');
  if (rawSteps.length > MAX_STEPS) throw new BadRequestError(`[DTM_BAD_STEPS] at most ${MAX_STEPS} steps`);
  const steps = rawSteps.map((s, i) => stringMap(s, `steps[${i}]`));
  const rawPayloads = body['payloads'] ?? [];
  if (!Array.isArray(rawPayloads) || !rawPayloads.every((p) => typeof p === 'string')) {
    throw new BadRequestError('[DTM_BAD_PAYLOADS] payloads must be an array of strings');
  }
  // DTM's setupPayloads: `payloads` first, then the legacy non-empty steps[i].data.
  const payloads = [...rawPayloads, ...steps.map((s) => s['data'] ?? '').filter((d) => d !== '')];
  if (steps.length > 0 && payloads.length !== steps.length) {
    throw new BadRequestError(`[DTM_BAD_PAYLOADS] ${steps.length} steps but ${payloads.length} payloads`);
  }

  return {
    gid,
    trans_type: transType as TransType,
    req: { protocol, query_prepared: queryPrepared, custom_data: field(body, 'custom_data', 'string', ''), options },
    steps,
    payloads,
    rollback_reason: field(body, 'rollback_reason', 'string', ''),
    retry_count: field(body, 'retry_count', 'number', 0),
  };
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** The distinct topic names of a msg's `topic://<name>` steps, for the caller to resolve. */
export function topicNames(body: TransBody): string[] {
  if (body.trans_type !== 'msg') return [];
  const names = new Set<string>();
  for (const s of body.steps) {
    const action = s['action'] ?? '';
    if (action.startsWith(TOPIC_PREFIX)) names.add(action.slice(TOPIC_PREFIX.length));
  }
  return [...names];
}

/**
 * The branches a transaction starts with: saga → (compensate, action) per step; msg → one action
 * per step, or per subscriber of a `topic://<name>` step (dtm-protocol.md §4.7): branch ids
 * `%02d` for one subscriber, `%02d-%02d` for several, all with the step's payload.
 * @param topics the subscriber URLs of the body's topics (see `topicNames`), resolved beforehand.
 * @throws InternalError `topic not found` (DTM's 500) for a topic with no subscriber.
 */
export function generateBranches(body: TransBody, topics?: ReadonlyMap<string, readonly string[]>): NewBranch[] {
  const out: NewBranch[] = [];
  switch (body.trans_type) {
    case 'saga':
      parseSagaLayout(body.req.custom_data, body.steps.length);
      body.steps.forEach((s, i) => {
        const action = s['action'] ?? '';
        const compensate = s['compensate'] ?? '';
        assertBranchUrl(action, `steps[${i}].action`);
        assertBranchUrl(compensate, `steps[${i}].compensate`);
        const data = body.payloads[i] ?? '';
        out.push({ branch_id: pad2(i + 1), op: 'compensate', url: compensate, data });
        out.push({ branch_id: pad2(i + 1), op: 'action', url: action, data });
      });
      return out;
    case 'msg':
      if (body.req.custom_data !== '') {
        try {
          JSON.parse(body.req.custom_data);
        } catch {
          throw new BadRequestError('[DTM_BAD_CUSTOM_DATA] custom_data is not valid JSON');
        }
      }
      body.steps.forEach((s, i) => {
        const action = s['action'] ?? '';
        if (action.startsWith(TOPIC_PREFIX)) {
          const name = action.slice(TOPIC_PREFIX.length);
          const urls = topics?.get(name) ?? [];
          if (urls.length === 0) throw new InternalError('topic not found');
          urls.forEach((url, j) => {
            assertBranchUrl(url, `subscriber ${j + 1} of topic ${name}`);
            out.push({ branch_id: urls.length > 1 ? `${pad2(i + 1)}-${pad2(j + 1)}` : pad2(i + 1), op: 'action', url, data: body.payloads[i] ?? '' });
          });
          return;
        }
        assertBranchUrl(action, `steps[${i}].action`);
        out.push({ branch_id: pad2(i + 1), op: 'action', url: action, data: body.payloads[i] ?? '' });
      });
      return out;
    case 'workflow':
      parseWorkflowData(body.req.custom_data);
      return out;
    case 'tcc':
    case 'xa':
      return out;
    default:
      return body.trans_type satisfies never;
  }
}
