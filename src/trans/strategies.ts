/** The strategy registry: one per DTM transaction type, checked exhaustively against TransType. */
import type { TransType } from '../types.js';
import { msg } from './msg.js';
import { saga } from './saga.js';
import type { TransStrategy } from './strategy.js';
import { tcc } from './tcc.js';
import { workflow } from './workflow.js';
import { xa } from './xa.js';

export const strategies = { saga, msg, tcc, xa, workflow } as const satisfies { readonly [K in TransType]: TransStrategy };
