/** The processor registry: one strategy per DTM transaction type. */
import type { TransType } from '../types.js';
import { processMsg } from './msg.js';
import type { Round } from './round.js';
import { processTcc, processXa } from './phase2.js';
import { processSaga } from './saga.js';
import { processWorkflow } from './workflow.js';

/** Runs one round of one transaction type; all writes go through the round. */
export type Processor = (round: Round) => Promise<void>;

export const processors = {
  saga: processSaga,
  msg: processMsg,
  tcc: processTcc,
  xa: processXa,
  workflow: processWorkflow,
} satisfies { [K in TransType]: Processor };
