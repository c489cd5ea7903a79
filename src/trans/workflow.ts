/**
 * Workflow (dtm-protocol.md §4.8): the orchestration lives in the client, which records its
 * progress with registerBranch and finishes with a submit. The server only resumes a workflow
 * left prepared, by calling its `query_prepared` URL every RetryInterval (fixed, as DTM does).
 */
import { BadRequestError } from '../errors.js';
import { branchTransport } from './branch-transport.js';
import { encodeWorkflowData } from './grpc-branch-call.js';
import type { Round } from './round.js';
import { noTopics, type TransStrategy } from './strategy.js';

export interface WorkflowData {
  name: string;
  /** The workflow's input bytes, base64-decoded. */
  input: Buffer;
}

/**
 * Reads `custom_data` = `{"name":"<workflow>","data":"<base64 input>"}`.
 * @throws BadRequestError when it is not that shape.
 */
function parseWorkflowData(customData: string): WorkflowData {
  let raw: unknown;
  try {
    raw = JSON.parse(customData === '' ? '{}' : customData);
  } catch {
    throw new BadRequestError('[DTM_BAD_CUSTOM_DATA] workflow custom_data is not valid JSON');
  }
  const o = raw as { name?: unknown; data?: unknown };
  if (typeof o.name !== 'string' || o.name === '') throw new BadRequestError('[DTM_BAD_CUSTOM_DATA] workflow custom_data needs a "name"');
  if (o.data !== undefined && o.data !== null && typeof o.data !== 'string')
    throw new BadRequestError('[DTM_BAD_CUSTOM_DATA] workflow custom_data "data" must be base64 text');
  return { name: o.name, input: Buffer.from(typeof o.data === 'string' ? o.data : '', 'base64') };
}

async function processWorkflow(round: Round): Promise<void> {
  const t = round.trans;
  if (t.status !== 'prepared') return;
  // Resumed every RetryInterval, fixed: DTM neither backs off nor uses the transaction's interval here.
  round.scheduleAt(round.deps.clock.now() + round.deps.config.retryIntervalMs);
  if (t.req.query_prepared === '') return;
  const wf = parseWorkflowData(t.req.custom_data);
  // Over gRPC the resume call is workflow.Workflow/Execute, whose request is WorkflowData{Data}.
  const body = branchTransport(t.req.protocol, t.req.query_prepared) === 'grpc' ? encodeWorkflowData(wf.input) : wf.input;
  // The resume handler re-runs the workflow; its answer changes nothing here.
  await round.callUrl(t.req.query_prepared, '00', wf.name, body);
}

export const workflow: TransStrategy = {
  topicsOf: noTopics,
  branchesOf(body) {
    parseWorkflowData(body.req.custom_data);
    return [];
  },
  registeredBranchesOf({ branch_id, fields, payload }) {
    // A workflow branch is a recorded step result, final at once.
    const op = fields['op'] ?? '';
    const status = fields['status'];
    if (op === '') throw new BadRequestError('[DTM_BAD_FIELD] op is required for a workflow branch');
    if (status !== 'succeed' && status !== 'failed') throw new BadRequestError('[DTM_BAD_FIELD] status must be "succeed" or "failed" for a workflow branch');
    return [{ branch_id, op, url: '', data: payload, status }];
  },
  defaultTimeoutS: (config) => config.timeoutToFailMs / 1000,
  preparedWait: 'interval',
  abort: 'refuse',
  submit: 'record',
  postBranchCalls: 'withBody',
  processRound: processWorkflow,
};
