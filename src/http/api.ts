/**
 * DTM's client endpoints (dtm-protocol.md §1.4): parse the body with trans/request.ts, call the
 * service, answer DTM's JSON. route.ts does the HTTP plumbing and turns thrown DtmErrors into
 * DTM's status codes and bodies.
 */
import { parseAbortBody, parseRegisterBody, parseTransBody } from '../trans/request.js';
import type { DtmService } from '../trans/service.js';
import { ok, type Handler } from './handler.js';
import { branchView, transView } from './views.js';

/** The transaction endpoints DTM's SDKs call; keys are `METHOD /path`. */
export function createApi(service: DtmService, version: string): Record<string, Handler> {
  const registerBranch: Handler = async (req) => {
    await service.registerBranch(parseRegisterBody(req.body));
    return ok();
  };

  return {
    'ANY /api/ping': () => ok({ msg: 'pong' }),

    'GET /api/dtmsvr/newGid': () => ok({ gid: service.newGid(), dtm_result: 'SUCCESS' }),

    'GET /api/dtmsvr/version': () => ok({ version }),

    'POST /api/dtmsvr/prepare': async (req) => {
      await service.prepare(parseTransBody(req.body));
      return ok();
    },

    'POST /api/dtmsvr/submit': async (req) => {
      await service.submit(parseTransBody(req.body));
      return ok();
    },

    'POST /api/dtmsvr/abort': async (req) => {
      await service.abort(parseAbortBody(req.body));
      return ok();
    },

    'POST /api/dtmsvr/registerBranch': registerBranch,
    'POST /api/dtmsvr/registerTccBranch': registerBranch,
    'POST /api/dtmsvr/registerXaBranch': registerBranch,

    'POST /api/dtmsvr/prepareWorkflow': async (req) => {
      const t = await service.prepareWorkflow(parseTransBody(req.body));
      return ok({ transaction: transView(t), progresses: t.branches.map((b) => branchView(t, b)) });
    },
  };
}
