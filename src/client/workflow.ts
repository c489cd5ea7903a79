/**
 * Workflow (dtm-protocol.md §4.8): the orchestration runs in the client and the coordinator
 * records its progress. Each step's outcome is stored with `registerBranch`, so running the same
 * gid again (after a crash, or when the coordinator calls the resume URL) replays recorded steps
 * instead of running them, and continues from the first unrecorded one.
 *
 * ```ts
 * registerWorkflow('transfer', async (wf, input) => {
 *   await wf.newBranch().onRollback(() => undo(input)).do(() => transOut(input));
 *   await wf.newBranch().do(() => transIn(input));
 * }, { resumeUrl: `${busi}/workflowResume`, dtm });
 * await executeWorkflow(dtm, 'transfer', gid, JSON.stringify({ amount: 30 }));
 * ```
 *
 * A step that throws a {@link FailureError} is recorded as failed; when the workflow function then
 * fails with a FailureError, the rollbacks of the branches so far run in reverse order and the
 * workflow is submitted as `failed`. Any other error leaves the workflow `prepared`: the
 * coordinator calls the resume URL every retry interval until a run finishes it.
 */
import { createBranchBarrier, type BranchBarrier } from './barrier/branch-barrier.js';
import { createBranchIdGen } from './branch-id.js';
import { DtmClientError, errorText, FailureError, isFailure } from './errors.js';
import { callDtm } from './http.js';
import { optionsToWire, type TransOptions } from './options.js';

/** What a step or a workflow function may return as its result: text or bytes. */
export type WorkflowResult = string | Uint8Array | undefined | void;

/** A recorded step: gets the step's barrier (`workflow`, gid, branch id, `action`). */
export type WorkflowStepFn = (barrier: BranchBarrier) => Promise<WorkflowResult>;

/** A phase-2 callback (commit or rollback); it must not throw a FailureError. */
export type WorkflowPhase2Fn = (barrier: BranchBarrier) => Promise<void>;

/** A workflow function: gets the workflow and its input bytes; may return a result. */
export type WorkflowHandler = (wf: Workflow, input: Buffer) => Promise<WorkflowResult>;

/** Options of a registered workflow. */
export interface WorkflowOptions extends Pick<TransOptions, 'retryInterval' | 'requestTimeout' | 'branchHeaders'> {
  /**
   * The URL the coordinator calls to resume an unfinished workflow (stored as `query_prepared`):
   * the business service serves it with {@link workflowResumeHandler}.
   */
  resumeUrl: string;
  /** The coordinator's API base, used when the resume handler is called without one. */
  dtm?: string;
  /**
   * Run the rollback of a branch whose action failed with a FailureError too (for actions that
   * may have had an effect although they failed).
   * @default false
   */
  compensateErrorBranch?: boolean;
}

/** One running workflow, as its function sees it. */
export interface Workflow {
  readonly name: string;
  readonly gid: string;
  /** The coordinator's API base. */
  readonly server: string;
  /** Starts the next branch (`01`, `02`, …). Not allowed inside commit/rollback callbacks. */
  newBranch(): WorkflowBranch;
}

/** A branch of a workflow: at most one action, one rollback and one commit. */
export interface WorkflowBranch {
  readonly branchId: string;
  /** Undoes this branch if the workflow fails (saga compensation, TCC cancel). Set before `do`. */
  onRollback(fn: WorkflowPhase2Fn): WorkflowBranch;
  /** Runs when the workflow succeeds (TCC confirm). */
  onCommit(fn: WorkflowPhase2Fn): WorkflowBranch;
  /**
   * Runs the action once per workflow and records its outcome: a recorded success returns the
   * recorded result without running `fn`; a recorded failure throws its FailureError again.
   * @returns the action's result as bytes (empty when it returned nothing)
   * @throws FailureError when the action failed (recorded); any other error of `fn`, unrecorded
   */
  do(fn: WorkflowStepFn): Promise<Buffer>;
}

/** A set of named workflows. The module-level functions use a default one. */
export interface WorkflowRegistry {
  /** @throws DtmClientError when `name` is already registered */
  register(name: string, handler: WorkflowHandler, options: WorkflowOptions): void;
  /**
   * Runs (or resumes) the workflow `name` with this gid. A workflow already finished returns its
   * recorded result (succeed) or throws its FailureError (failed) without running anything.
   * Without `input`, a resumed workflow gets the input it was first started with.
   * @returns the workflow function's result as bytes
   * @throws FailureError when the workflow failed (after its rollbacks and the submit); any
   *   other error of a step, a callback or the coordinator, leaving the workflow to be resumed
   */
  execute(server: string, name: string, gid: string, input?: string | Uint8Array): Promise<Buffer>;
  /**
   * Serves the coordinator's resume call: runs the workflow named by `op` for `gid`. `body` is the
   * workflow input the coordinator sends (its stored input is used when it is undefined).
   * `server` defaults to the workflow's registered `dtm`.
   */
  resume(query: URLSearchParams | Readonly<Record<string, string | undefined>>, body?: string | Uint8Array, server?: string): Promise<Buffer>;
}

interface Registered {
  readonly handler: WorkflowHandler;
  readonly options: WorkflowOptions;
}

interface StepRecord {
  readonly status: 'succeed' | 'failed';
  readonly data: Buffer;
}

interface Phase2Item {
  readonly branchId: string;
  readonly op: 'commit' | 'rollback';
  readonly fn: WorkflowPhase2Fn;
}

const toBuffer = (v: WorkflowResult): Buffer => (v === undefined ? Buffer.alloc(0) : typeof v === 'string' ? Buffer.from(v) : Buffer.from(v));

/** Narrows `prepareWorkflow`'s answer to what the workflow needs. */
function readPrepared(reply: Record<string, unknown>): {
  status: string;
  result: string;
  rollbackReason: string;
  transType: string;
  input: Buffer | undefined;
  progress: Map<string, StepRecord>;
} {
  const trans = reply['transaction'];
  if (trans === null || typeof trans !== 'object') throw new DtmClientError(`prepareWorkflow: no transaction in the answer`);
  const t = trans as Record<string, unknown>;
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  let input: Buffer | undefined;
  try {
    const custom: unknown = JSON.parse(str(t['custom_data']) || '{}');
    const data = custom !== null && typeof custom === 'object' ? (custom as Record<string, unknown>)['data'] : undefined;
    if (typeof data === 'string') input = Buffer.from(data, 'base64');
  } catch {
    // a custom_data we did not write: no stored input
  }
  const progress = new Map<string, StepRecord>();
  const list = reply['progresses'];
  for (const p of Array.isArray(list) ? (list as unknown[]) : []) {
    if (p === null || typeof p !== 'object') continue;
    const r = p as Record<string, unknown>;
    const status = r['status'];
    if (status !== 'succeed' && status !== 'failed') continue;
    progress.set(`${str(r['branch_id'])}-${str(r['op'])}`, { status, data: Buffer.from(str(r['bin_data']), 'base64') });
  }
  return { status: str(t['status']), result: str(t['result']), rollbackReason: str(t['rollback_reason']), transType: str(t['trans_type']), input, progress };
}

/** A new, empty set of workflows (tests; services hosting several independent sets). */
export function createWorkflowRegistry(): WorkflowRegistry {
  const registered = new Map<string, Registered>();

  async function run(server: string, name: string, gid: string, input: Buffer | undefined): Promise<Buffer> {
    const item = registered.get(name);
    if (item === undefined) throw new DtmClientError(`workflow '${name}' not registered. please register at startup`);
    const { handler, options } = item;
    const base = { gid, trans_type: 'workflow', ...optionsToWire(options) };
    const reply = await callDtm(server, 'prepareWorkflow', {
      dataReply: true,
      body: {
        ...base,
        protocol: 'http',
        query_prepared: options.resumeUrl,
        custom_data: JSON.stringify({ name, data: (input ?? Buffer.alloc(0)).toString('base64') }),
      },
    });
    const stored = readPrepared(reply);
    if (stored.transType !== '' && stored.transType !== 'workflow') throw new DtmClientError(`gid ${gid} is a ${stored.transType} transaction, not a workflow`);
    if (stored.status === 'succeed') return Buffer.from(stored.result, 'base64');
    if (stored.status === 'failed') throw new FailureError(stored.rollbackReason || 'FAILURE');

    const progress = stored.progress;
    const ids = createBranchIdGen();
    const commits: Phase2Item[] = [];
    const rollbacks: Phase2Item[] = [];
    let inPhase2 = false;

    const record = async (branchId: string, op: string, status: 'succeed' | 'failed', data: Buffer): Promise<void> => {
      try {
        await callDtm(server, 'registerBranch', { body: { gid, trans_type: 'workflow', branch_id: branchId, op, status, data: data.toString() } });
      } catch (err) {
        // A 409 here means the workflow is no longer prepared (another run finished it): that must
        // stop this run, not count as a business failure that would start rollbacks.
        if (!isFailure(err)) throw err;
        throw new DtmClientError(`recording ${branchId}-${op} failed: ${errorText(err)}`, { cause: err });
      }
    };

    const wf: Workflow = {
      name,
      gid,
      server,
      newBranch() {
        if (inPhase2) throw new DtmClientError('should not call newBranch() in branch callbacks');
        const branchId = ids.next();
        let actionAdded = false;
        let actionFailed = false;
        let rollbackAdded = false;
        let commitAdded = false;
        let myRollback: Phase2Item | undefined;
        const branch: WorkflowBranch = {
          branchId,
          onRollback(fn) {
            if (rollbackAdded) throw new DtmClientError('one branch can only add one rollback callback');
            rollbackAdded = true;
            if (!(actionFailed && options.compensateErrorBranch !== true)) {
              myRollback = { branchId, op: 'rollback', fn };
              rollbacks.push(myRollback);
            }
            return branch;
          },
          onCommit(fn) {
            if (commitAdded) throw new DtmClientError('one branch can only add one commit callback');
            commitAdded = true;
            commits.push({ branchId, op: 'commit', fn });
            return branch;
          },
          async do(fn) {
            if (actionAdded) throw new DtmClientError('one branch can have only one action');
            actionAdded = true;
            let rec = progress.get(`${branchId}-action`);
            if (rec === undefined) {
              let outcome: StepRecord;
              try {
                outcome = { status: 'succeed', data: toBuffer(await fn(createBranchBarrier({ transType: 'workflow', gid, branchId, op: 'action' }))) };
              } catch (err) {
                if (!isFailure(err)) throw err;
                outcome = { status: 'failed', data: Buffer.from(errorText(err)) };
              }
              await record(branchId, 'action', outcome.status, outcome.data);
              rec = outcome;
            }
            if (rec.status === 'succeed') return rec.data;
            actionFailed = true;
            if (myRollback !== undefined && options.compensateErrorBranch !== true) {
              // A failed action had no effect: its rollback is not run (DTM's default).
              rollbacks.splice(rollbacks.indexOf(myRollback), 1);
              myRollback = undefined;
            }
            throw new FailureError(rec.data.toString());
          },
        };
        return branch;
      },
    };

    let result: Buffer | undefined;
    let failure: FailureError | undefined;
    try {
      result = toBuffer(await handler(wf, input ?? stored.input ?? Buffer.alloc(0)));
    } catch (err) {
      // Anything but a FailureError leaves the workflow prepared, to be resumed.
      if (!isFailure(err)) throw err;
      failure = err;
    }

    inPhase2 = true;
    const phase2 = failure === undefined ? commits : rollbacks;
    for (const item of [...phase2].reverse()) {
      if (progress.has(`${item.branchId}-${item.op}`)) continue;
      try {
        await item.fn(createBranchBarrier({ transType: 'workflow', gid, branchId: item.branchId, op: item.op }));
      } catch (err) {
        if (isFailure(err))
          throw new DtmClientError(`should not return FailureError in phase2 (${item.op} of branch ${item.branchId}): ${errorText(err)}`, { cause: err });
        throw err;
      }
      await record(item.branchId, item.op, 'succeed', Buffer.alloc(0));
    }

    await callDtm(server, 'submit', {
      body: {
        ...base,
        req_extra: {
          status: failure === undefined ? 'succeed' : 'failed',
          rollback_reason: failure === undefined ? '' : errorText(failure),
          result: (result ?? Buffer.alloc(0)).toString('base64'),
        },
      },
    });
    if (failure !== undefined) throw failure;
    return result ?? Buffer.alloc(0);
  }

  return {
    register(name, handler, options) {
      if (registered.has(name)) throw new DtmClientError(`a handler already exists for ${name}`);
      registered.set(name, { handler, options: { ...options } });
    },
    execute(server, name, gid, input) {
      return run(server, name, gid, input === undefined ? undefined : Buffer.from(input));
    },
    resume(query, body, server) {
      const get = (k: string): string => (query instanceof URLSearchParams ? query.get(k) : query[k]) ?? '';
      const name = get('op');
      const gid = get('gid');
      if (name === '' || gid === '')
        return Promise.reject(new DtmClientError(`the resume call needs op (the workflow name) and gid; got op '${name}', gid '${gid}'`));
      const dtm = server ?? registered.get(name)?.options.dtm;
      if (dtm === undefined)
        return Promise.reject(new DtmClientError(`no coordinator for workflow '${name}': register it with options.dtm or pass the server`));
      return run(dtm, name, gid, body === undefined ? undefined : Buffer.from(body));
    },
  };
}

const defaultRegistry = createWorkflowRegistry();

/** Registers a named workflow in the default registry; do it at start-up, before any resume call. */
export function registerWorkflow(name: string, handler: WorkflowHandler, options: WorkflowOptions): void {
  defaultRegistry.register(name, handler, options);
}

/** Runs (or resumes) a workflow of the default registry; see {@link WorkflowRegistry.execute}. */
export function executeWorkflow(server: string, name: string, gid: string, input?: string | Uint8Array): Promise<Buffer> {
  return defaultRegistry.execute(server, name, gid, input);
}

/**
 * Serves the coordinator's resume call (`op` = workflow name, `gid`) from the default registry;
 * answer it with `resultToHttp`. See {@link WorkflowRegistry.resume}.
 */
export function workflowResumeHandler(
  query: URLSearchParams | Readonly<Record<string, string | undefined>>,
  body?: string | Uint8Array,
  server?: string,
): Promise<Buffer> {
  return defaultRegistry.resume(query, body, server);
}
