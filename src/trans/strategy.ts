/**
 * What differs between DTM's transaction types, in one object per type (saga.ts, msg.ts, tcc.ts,
 * xa.ts, workflow.ts), gathered in strategies.ts. Everything else (storage, scheduling, the
 * round's writes, the front ends) is shared.
 */
import type { Config } from '../config.js';
import { InternalError } from '../errors.js';
import type { NewBranch, RegisteredBranch } from '../store/trans-scripts.js';
import type { TransBody } from './request.js';
import type { Round } from './round.js';
import type { PreparedWait } from './schedule.js';

/** A registerBranch call: its flat string fields (DTM binds the body to map[string]string) and payload. */
export interface BranchRegistration {
  gid: string;
  branch_id: string;
  /** How the registered URLs are called (`http`, or `grpc` through the gRPC API). */
  protocol: string;
  /** The other fields: tcc `confirm`/`cancel`, xa `url`, workflow `op`/`status`. */
  fields: Readonly<Record<string, string>>;
  /** The branch's payload: HTTP's `data` text, or gRPC's `BusiPayload` bytes. */
  payload: string | Buffer;
}

export interface TransStrategy {
  /**
   * Names of the topics whose subscribers `branchesOf` needs (msg `topic://` steps), so the
   * caller can read them before creating the transaction.
   */
  topicsOf(body: TransBody): string[];
  /**
   * The branches a new transaction starts with, in list order.
   * @param subscribers the subscriber URLs of `topicsOf(body)`.
   * @throws BadRequestError for input that could never be processed.
   */
  branchesOf(body: TransBody, subscribers: ReadonlyMap<string, readonly string[]>): NewBranch[];
  /**
   * The branches one registerBranch appends (TCC, XA, workflow progress).
   * @throws InternalError DTM's `unknow trans type` for a type that registers nothing.
   */
  registeredBranchesOf(r: BranchRegistration): RegisteredBranch[];
  /** The timeout in seconds when the transaction sets no `timeout_to_fail`; 0 means never. */
  defaultTimeoutS(config: Pick<Config, 'timeoutToFailMs'>): number;
  /** How the transaction waits while prepared: see schedule.ts. */
  readonly preparedWait: PreparedWait;
  /**
   * What abort does to a prepared transaction of this type: `fail` it (msg: nothing has run),
   * `rollback` its registered branches (tcc, xa; also from aborting), or `refuse`.
   */
  readonly abort: 'fail' | 'rollback' | 'refuse';
  /** What a submit does: `drive` the transaction, or `record` the outcome its client reports (workflow). */
  readonly submit: 'drive' | 'record';
  /** Branch calls are POSTs `always` (xa), or POSTs with a body and GETs without (`withBody`). */
  readonly postBranchCalls: 'always' | 'withBody';
  /** One processing round; every write goes through the round. */
  processRound(round: Round): Promise<void>;
}

/** `registeredBranchesOf` of a type whose branches come only with its creation: DTM's 500. */
export function registersNothing(transType: string): () => never {
  return () => {
    throw new InternalError(`unknow trans type: ${transType}`);
  };
}

/** `topicsOf` of every type but msg. */
export const noTopics = (): string[] => [];
