/**
 * The benchmark workloads: what one transaction is, on the wire, for each. Shared by the
 * orchestrator (run.ts) and the load driver (driver.ts).
 */

export type WorkloadName = 'submit' | 'saga-empty' | 'saga-e2e' | 'saga-e2e-rollback' | 'msg' | 'flash-fail' | 'flash-ok' | 'burst' | 'grpc-saga';

export interface Workload {
  readonly name: WorkloadName;
  /** One line for the table and --help. */
  readonly summary: string;
  /** Whether the stub business service is called (else it still runs, idle). */
  readonly usesStub: boolean;
  /** Fraction of transactions whose TransIn answers 409 (rolled back). */
  readonly failRate: number;
  /**
   * Where the driver sends its requests: the coordinator, or the business service (the flash
   * workloads buy from bench/flash-service.ts, which talks to the coordinator).
   * @default 'coordinator'
   */
  readonly sendTo?: 'coordinator' | 'business';
  /** A 409 answer is an expected outcome (sold out), counted as a done, failed transaction. */
  readonly conflictIsOutcome?: boolean;
  /** Stock at the start of a flash workload. */
  readonly stock?: number;
  /**
   * How the driver offers load: a closed loop of `--concurrency` users, or an open loop at a fixed
   * arrival rate (burst), whatever the answers' latency.
   * @default 'closed'
   */
  readonly loop?: 'closed' | 'open';
  /**
   * How transactions reach the coordinator: HTTP (its JSON API) or DTM's gRPC API (`dtmgimp.Dtm`).
   * @default 'http'
   */
  readonly transport?: 'http' | 'grpc';
  /**
   * The coordinator keeps working after the answer (wait_result=false): the drain after the window
   * matters, and against an external coordinator every gid is read back, not a sample.
   */
  readonly background?: boolean;
  /** Left out of `all` (it runs long, or measures something other than throughput). */
  readonly notInAll?: string;
  /** Target on the 2-core box (performance.md §e), for the results table. */
  readonly target?: string;
}

export const WORKLOADS: Record<WorkloadName, Workload> = {
  submit: {
    name: 'submit',
    summary: 'saga submit (2 steps → stub), wait_result=false; counted on the 200, processing continues in the background',
    usesStub: true,
    failRate: 0,
    background: true,
    target: '≥ 45K tx/s',
  },
  'saga-empty': {
    name: 'saga-empty',
    summary: "DTM's benchEmptyUrl: 2 steps with empty URLs, wait_result=true",
    usesStub: false,
    failRate: 0,
    target: '≥ 20K tx/s, p99 < 5 ms',
  },
  'saga-e2e': {
    name: 'saga-e2e',
    summary: '2 real branch calls (TransOut, TransIn) to the stub, wait_result=true',
    usesStub: true,
    failRate: 0,
    target: '≥ 10K tx/s, p99 < 10 ms',
  },
  'saga-e2e-rollback': {
    name: 'saga-e2e-rollback',
    summary: 'saga-e2e where 10% of TransIn answer 409 → compensation; those answer 409 to the caller (expected)',
    usesStub: true,
    failRate: 0.1,
  },
  msg: {
    name: 'msg',
    summary: '2-phase msg: prepare (query_prepared on the stub), then submit wait_result=true; 2 actions on the stub',
    usesStub: true,
    failRate: 0,
  },
  'flash-fail': {
    name: 'flash-fail',
    summary: 'flash sale, stock exhausted: GET /flash on the flash service → prepare → Redis barrier (FAILURE) → abort; 409 sold out',
    usesStub: false,
    failRate: 0,
    target: '≥ 25K req/s',
    // The business service is bench/flash-service.ts (in the stub's place); it calls no branch here.
    sendTo: 'business',
    conflictIsOutcome: true,
    stock: 0,
  },
  'flash-ok': {
    name: 'flash-ok',
    summary: 'flash sale, plenty of stock: GET /flash → prepare → Redis barrier (deduct) → submit → order step; checks stock + orders are conserved',
    // The business service is bench/flash-service.ts (in the stub's place), which the order step calls back.
    usesStub: true,
    failRate: 0,
    target: '≥ 10K orders/s',
    sendTo: 'business',
    conflictIsOutcome: true,
    stock: 100_000_000,
  },
  burst: {
    name: 'burst',
    summary:
      'open loop: `submit` sagas (wait_result=false, 2 branch calls on the stub) at --burst-factor (10) × the sustainable rate for --duration s, then nothing; reports ack latency, drain time, peak RSS and Redis memory',
    usesStub: true,
    failRate: 0,
    loop: 'open',
    background: true,
    notInAll: 'runs until the backlog drains (minutes); run it on its own',
  },
  'grpc-saga': {
    name: 'grpc-saga',
    summary: "saga-e2e over DTM's gRPC API: dtmgimp.Dtm/Submit (WaitResult) of 2 steps whose branches are gRPC calls to a gRPC stub",
    usesStub: true,
    failRate: 0,
    transport: 'grpc',
  },
};

export const WORKLOAD_NAMES = Object.keys(WORKLOADS) as WorkloadName[];

export function isWorkloadName(s: string): s is WorkloadName {
  return Object.hasOwn(WORKLOADS, s);
}

/** The gid suffix that tells the stub to answer TransIn with 409 (the driver picks which gids). */
export const FAIL_MARK = '-F';

/** Path prefix of the stub's branch endpoints. */
export const STUB_PREFIX = '/api/busi';

/** One HTTP request of a transaction. */
export interface TxRequest {
  readonly path: string;
  readonly body: string;
  /** @default 'POST' (a GET sends no body) */
  readonly method?: 'GET' | 'POST';
}

/** The flash workloads' business service: the buy endpoint, and the hash tag of every gid. */
export const FLASH_BUY_PATH = '/flash';
export const FLASH_TAG = '{a}';

export function isFlash(name: WorkloadName): name is 'flash-fail' | 'flash-ok' {
  return name === 'flash-fail' || name === 'flash-ok';
}

/** The requests of one transaction for `gid`, in order. */
export type TxPlan = (gid: string) => readonly TxRequest[];

/** Builds the request plan of a workload. `stub` is the stub's base URL (http://127.0.0.1:port). */
export function planFor(name: WorkloadName, stub: string): TxPlan {
  const busi = `${stub}${STUB_PREFIX}`;
  const payloads = '"payloads":["{\\"amount\\":30}","{\\"amount\\":30}"]';
  const realSteps = `"steps":[{"action":"${busi}/TransOut","compensate":"${busi}/TransOutRevert"},{"action":"${busi}/TransIn","compensate":"${busi}/TransInRevert"}]`;
  const emptySteps = '"steps":[{"action":"","compensate":""},{"action":"","compensate":""}]';
  const saga = (steps: string, wait: boolean): TxPlan => {
    const tail = `","trans_type":"saga","wait_result":${wait},${steps},${payloads}}`;
    return (gid) => [{ path: '/api/dtmsvr/submit', body: `{"gid":"${gid}${tail}` }];
  };
  switch (name) {
    case 'submit':
    case 'burst':
      return saga(realSteps, false);
    case 'saga-empty':
      // DTM's benchEmptyUrl adds each step with an empty body ({}), as here.
      return ((tail: string) => (gid: string) => [{ path: '/api/dtmsvr/submit', body: `{"gid":"${gid}${tail}` }])(
        `","trans_type":"saga","wait_result":true,${emptySteps},"payloads":["{}","{}"]}`,
      );
    case 'saga-e2e':
    case 'saga-e2e-rollback':
      return saga(realSteps, true);
    case 'msg': {
      const common = `","trans_type":"msg","query_prepared":"${busi}/QueryPrepared","steps":[{"action":"${busi}/TransOut"},{"action":"${busi}/TransIn"}],${payloads}`;
      return (gid) => [
        { path: '/api/dtmsvr/prepare', body: `{"gid":"${gid}${common}}` },
        { path: '/api/dtmsvr/submit', body: `{"gid":"${gid}${common},"wait_result":true}` },
      ];
    }
    case 'flash-fail':
    case 'flash-ok':
      // The driver's gids start with the run id, which starts with the {a} hash tag (run.ts).
      return (gid) => [{ path: `${FLASH_BUY_PATH}?gid=${encodeURIComponent(gid)}`, body: '', method: 'GET' }];
    case 'grpc-saga':
      throw new Error('grpc-saga goes over gRPC: see bench/lib/grpc-plan.ts');
  }
}
