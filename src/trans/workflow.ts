/**
 * Workflow (dtm-protocol.md §4.8): the orchestration lives in the client, which records its
 * progress with registerBranch and finishes with a submit. The server only resumes a workflow
 * left prepared, by calling its `query_prepared` URL every RetryInterval (fixed, as DTM does).
 */
import { BadRequestError } from '../errors.js';
import type { Round } from './round.js';

export interface WorkflowData {
  name: string;
  /** The workflow's input bytes, base64-decoded. */
  input: string;
}

/**
 * Reads `custom_data` = `{"name":"<workflow>","data":"<base64 input>"}`.
 * @throws BadRequestError when it is not that shape.
 */
export function parseWorkflowData(customData: string): WorkflowData {
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
  return { name: o.name, input: Buffer.from(typeof o.data === 'string' ? o.data : '', 'base64').toString('utf8') };
}

export async function processWorkflow(round: Round): Promise<void> {
  const t = round.trans;
  if (t.status !== 'prepared') return;
  const now = round.deps.clock.now();
  round.scheduleAt(now + round.deps.config.retryIntervalMs);
  if (t.req.query_prepared === '') return;
  const wf = parseWorkflowData(t.req.custom_data);
  // The resume handler re-runs the workflow; its answer changes nothing here.
  await round.callUrl(t.req.query_prepared, '00', wf.name, wf.input);
}
