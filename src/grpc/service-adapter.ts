/**
 * The gRPC front's view of the coordinator (service.ts in this folder) over the transport-neutral
 * service: each RPC's plain body goes through the same parsers as an HTTP body (trans/request.ts),
 * with the gRPC protocol, so gids, types, URLs and headers are checked the same way.
 */
import { parseAbortBody, parseRegisterBody, parseTransBody } from '../trans/request.js';
import type { DtmService as Service } from '../trans/service.js';
import type { DtmService } from './service.js';

export function grpcServiceOver(service: Service): DtmService {
  return {
    newGid: () => service.newGid(),
    prepare: (body) => service.prepare(parseTransBody(body)),
    submit: (body) => service.submit(parseTransBody(body)),
    abort: (body) => service.abort(parseAbortBody(body)),
    registerBranch: (fields, payload) => service.registerBranch(parseRegisterBody(fields, payload, 'grpc')),
    async prepareWorkflow(body) {
      const t = await service.prepareWorkflow(parseTransBody(body));
      return {
        // DTM v1.19 leaves `result` empty on gRPC; the SDK reads it as an already-succeeded workflow's return value.
        transaction: { gid: t.gid, status: t.status, rollback_reason: t.rollback_reason, result: t.result },
        progresses: t.branches.map((b) => ({
          status: b.status,
          bin_data: Buffer.isBuffer(b.data) ? b.data : Buffer.from(b.data),
          branch_id: b.branch_id,
          op: b.op,
        })),
      };
    },
    subscribe: (topic, url, remark) => service.subscribe(topic, url, remark),
    unsubscribe: (topic, url) => service.unsubscribe(topic, url),
    deleteTopic: (topic) => service.deleteTopic(topic),
  };
}
