/**
 * Endpoints of the client-driven modes: `registerBranch` (TCC, XA, workflow progress, with the
 * old SDKs' aliases) and `prepareWorkflow` (dtm-protocol.md §1.4.6, §1.4.7).
 */
import { baseInterval } from '../backoff.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { BadRequestError, FailureError, InternalError } from '../errors.js';
import { sanitizeGid } from '../gid.js';
import type { RegisteredBranch, Store } from '../store/store.js';
import { assertBranchUrl, parseTransBody } from '../trans/request.js';
import { branchView, transView } from '../trans/view.js';
import { parseWorkflowData } from '../trans/workflow.js';
import type { Handler, Reply } from './api.js';

export interface RegisterApiDeps {
  store: Store;
  config: Config;
  clock: Clock;
}

/** registerBranch's body: a flat object of strings (DTM binds it to map[string]string). */
function flatStrings(raw: unknown): Record<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new BadRequestError('[DTM_BAD_BODY] the body must be a JSON object of strings');
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new BadRequestError(`[DTM_BAD_FIELD] ${k} must be a string`);
  }
  return raw as Record<string, string>;
}

/** The branches one registration appends, in DTM's list order. */
function branchesOf(b: Record<string, string>): RegisteredBranch[] {
  const branchId = b['branch_id'] ?? '';
  if (branchId === '') throw new BadRequestError('[DTM_BAD_FIELD] branch_id is required');
  const data = b['data'] ?? '';
  switch (b['trans_type']) {
    case 'tcc': {
      const cancel = b['cancel'] ?? '';
      const confirm = b['confirm'] ?? '';
      assertBranchUrl(cancel, 'cancel');
      assertBranchUrl(confirm, 'confirm');
      return [
        { branch_id: branchId, op: 'cancel', url: cancel, data, status: 'prepared' },
        { branch_id: branchId, op: 'confirm', url: confirm, data, status: 'prepared' },
      ];
    }
    case 'xa': {
      const url = b['url'] ?? '';
      assertBranchUrl(url, 'url');
      return [
        { branch_id: branchId, op: 'rollback', url, data: '', status: 'prepared' },
        { branch_id: branchId, op: 'commit', url, data: '', status: 'prepared' },
      ];
    }
    case 'workflow': {
      const op = b['op'] ?? '';
      const status = b['status'];
      if (op === '') throw new BadRequestError('[DTM_BAD_FIELD] op is required for a workflow branch');
      if (status !== 'succeed' && status !== 'failed') throw new BadRequestError('[DTM_BAD_FIELD] status must be "succeed" or "failed" for a workflow branch');
      return [{ branch_id: branchId, op, url: '', data, status }];
    }
    default:
      throw new InternalError(`unknow trans type: ${b['trans_type'] ?? ''}`);
  }
}

export function createRegisterApi(deps: RegisterApiDeps): Record<string, Handler> {
  const { store, config, clock } = deps;

  const registerBranch: Handler = async (req): Promise<Reply> => {
    const body = flatStrings(req.body);
    const gid = sanitizeGid(body['gid']);
    const r = await store.registerBranch(gid, branchesOf(body));
    switch (r.tag) {
      case 'OK':
        return { status: 200, body: { dtm_result: 'SUCCESS' } };
      case 'NOT_FOUND':
      case 'STALE':
        throw new FailureError(`no trans with gid: ${gid} status: prepared found FAILURE`);
      case 'DUP':
        throw new InternalError('storage: UniqueKeyConflict');
      default:
        return r satisfies never;
    }
  };

  return {
    'POST /api/dtmsvr/registerBranch': registerBranch,
    'POST /api/dtmsvr/registerTccBranch': registerBranch,
    'POST /api/dtmsvr/registerXaBranch': registerBranch,

    'POST /api/dtmsvr/prepareWorkflow': async (req) => {
      const body = parseTransBody(req.body);
      parseWorkflowData(body.req.custom_data);
      const interval = baseInterval(body.req.options, config);
      const now = clock.now();
      const created = await store.createTrans(
        {
          gid: body.gid,
          trans_type: body.trans_type,
          status: 'prepared',
          req: body.req,
          branches: [],
          next_cron_interval: interval,
          next_cron_time: now + interval * 1000,
        },
        'prepare',
      );
      // New or not, answer with the stored record and its recorded progress.
      const t = created.tag === 'OK' ? await store.getTrans(body.gid) : created.trans;
      if (t === undefined) throw new InternalError(`no TransGlobal with gid: ${body.gid} found`);
      return { status: 200, body: { transaction: transView(t), progresses: t.branches.map((b) => branchView(t, b)) } };
    },
  };
}
