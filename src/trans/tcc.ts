/**
 * TCC (dtm-protocol.md §4.5): the client registers a (cancel, confirm) pair per Try; submit
 * confirms and abort or a timeout cancels, last registered first.
 */
import { assertBranchUrl } from './branch-target.js';
import { phase2Defaults, processPhase2 } from './phase2.js';
import type { TransStrategy } from './strategy.js';

export const tcc: TransStrategy = {
  ...phase2Defaults,
  branchesOf: () => [],
  registeredBranchesOf({ branch_id, fields, payload, protocol }) {
    const cancel = fields['cancel'] ?? '';
    const confirm = fields['confirm'] ?? '';
    assertBranchUrl(cancel, 'cancel', protocol);
    assertBranchUrl(confirm, 'confirm', protocol);
    // Both phase-2 calls get the Try's payload again.
    return [
      { branch_id, op: 'cancel', url: cancel, data: payload, status: 'prepared' },
      { branch_id, op: 'confirm', url: confirm, data: payload, status: 'prepared' },
    ];
  },
  postBranchCalls: 'withBody',
  processRound: (round) => processPhase2(round, { forwardOp: 'confirm', backwardOp: 'cancel', order: 'reverse' }),
};
