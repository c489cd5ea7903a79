/**
 * XA (dtm-protocol.md §4.6): each resource manager registers its phase-2 URL; submit commits and
 * abort or a timeout rolls back, in registration order, always with a POST and an empty body.
 */
import { assertBranchUrl } from './branch-target.js';
import { phase2Defaults, processPhase2 } from './phase2.js';
import type { TransStrategy } from './strategy.js';

export const xa: TransStrategy = {
  ...phase2Defaults,
  branchesOf: () => [],
  registeredBranchesOf({ branch_id, fields, protocol }) {
    const url = fields['url'] ?? '';
    assertBranchUrl(url, 'url', protocol);
    return [
      { branch_id, op: 'rollback', url, data: '', status: 'prepared' },
      { branch_id, op: 'commit', url, data: '', status: 'prepared' },
    ];
  },
  postBranchCalls: 'always',
  processRound: (round) => processPhase2(round, { forwardOp: 'commit', backwardOp: 'rollback', order: 'forward' }),
};
