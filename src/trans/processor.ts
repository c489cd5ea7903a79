/** The processor registry: one strategy per DTM transaction type. */
import type { TransType } from '../types.js';
import { processMsg } from './msg.js';
import type { Round } from './round.js';
import { processSaga } from './saga.js';

/** Runs one round of one transaction type; all writes go through the round. */
export type Processor = (round: Round) => Promise<void>;

/** Types not listed here are refused at the API with a clear error. */
export const processors: Partial<Record<TransType, Processor>> = {
  saga: processSaga,
  msg: processMsg,
};
