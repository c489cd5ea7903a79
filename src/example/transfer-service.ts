/**
 * The quick start's business service (README "Quick start", `npm run example`): a money transfer
 * between two in-memory accounts as four saga branches, the way DTM's examples write them.
 *
 *   POST /api/busi/TransOut        {"amount": n}  takes n from alice (409 FAILURE if she has less)
 *   POST /api/busi/TransOutRevert  {"amount": n}  gives it back
 *   POST /api/busi/TransIn         {"amount": n}  gives n to bob; fails on demand (409 FAILURE)
 *                                                 when the body has "trans_in_result": "FAILURE"
 *   POST /api/busi/TransInRevert   {"amount": n}  takes it back
 *   GET  /api/busi/balances                       {"alice": …, "bob": …}
 *
 * Each branch is idempotent and safe against the two saga hazards, as DTM's barrier makes a
 * database branch (here in memory, keyed by the gid and branch id the coordinator sends): a
 * repeated call does nothing twice, a compensation whose action never ran does nothing (null
 * compensation), and an action arriving after its compensation does nothing (hanging).
 * It imports nothing of the coordinator: it is a stand-in for your own service.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TransferService {
  /** Base URL of the branches, e.g. http://127.0.0.1:8081/api/busi */
  readonly url: string;
  readonly port: number;
  balances(): Record<string, number>;
  close(): Promise<void>;
}

export interface TransferServiceOptions {
  port?: number;
  host?: string;
  /** Opening balances. @default { alice: 100, bob: 0 } */
  balances?: Record<string, number>;
  /** Told of each branch call, one line each (the example prints them). */
  log?: (line: string) => void;
}

type Outcome = { status: number; body: Record<string, unknown> };
const success: Outcome = { status: 200, body: { dtm_result: 'SUCCESS' } };
const failure = (message: string): Outcome => ({ status: 409, body: { dtm_result: 'FAILURE', message } });

/** What happened to one branch (gid + branch id): its action applied, or compensated. */
interface BranchState {
  applied: boolean;
  compensated: boolean;
}

/** The branches: which account each moves money on, and in which direction. */
const BRANCHES = {
  TransOut: { account: 'alice', sign: -1, compensation: false },
  TransOutRevert: { account: 'alice', sign: -1, compensation: true },
  TransIn: { account: 'bob', sign: 1, compensation: false },
  TransInRevert: { account: 'bob', sign: 1, compensation: true },
} as const;

export async function startTransferService(opts: TransferServiceOptions = {}): Promise<TransferService> {
  const accounts = new Map(Object.entries(opts.balances ?? { alice: 100, bob: 0 }));
  const branches = new Map<string, BranchState>();
  const log = opts.log ?? (() => undefined);

  function transfer(name: keyof typeof BRANCHES, query: URLSearchParams, body: Record<string, unknown>): Outcome {
    const amount = body['amount'];
    if (typeof amount !== 'number' || !Number.isInteger(amount) || amount <= 0) return { status: 400, body: { message: 'amount must be a positive integer' } };
    const { account, sign, compensation } = BRANCHES[name];
    // The coordinator names the branch in the query; a call by hand, without, just runs.
    const gid = query.get('gid');
    let state: BranchState = { applied: compensation, compensated: false };
    if (gid !== null) {
      const key = `${gid}/${query.get('branch_id') ?? ''}`;
      state = branches.get(key) ?? { applied: false, compensated: false };
      branches.set(key, state);
    }
    const balance = accounts.get(account) ?? 0;
    if (compensation) {
      if (state.compensated) return success; // a repeated compensation
      state.compensated = true;
      if (!state.applied) return success; // null compensation: the action never took effect
      accounts.set(account, balance - sign * amount);
      return success;
    }
    if (state.applied || state.compensated) return success; // a repeated action, or one after its compensation
    if (name === 'TransIn' && body['trans_in_result'] === 'FAILURE') return failure('TransIn fails on demand (trans_in_result: FAILURE)');
    if (sign < 0 && balance < amount) return failure(`${account} has ${balance}, less than ${amount}`);
    accounts.set(account, balance + sign * amount);
    state.applied = true;
    return success;
  }

  function route(req: IncomingMessage, text: string): Outcome {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const name = url.pathname.replace(/^\/api\/busi\//, '');
    if (req.method === 'GET' && name === 'balances') return { status: 200, body: Object.fromEntries(accounts) };
    if (req.method !== 'POST' || !(name in BRANCHES)) return { status: 404, body: { message: `no ${req.method ?? ''} ${url.pathname}` } };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { status: 400, body: { message: 'the body is not JSON' } };
    }
    if (typeof body !== 'object' || body === null) return { status: 400, body: { message: 'the body must be a JSON object' } };
    const outcome = transfer(name as keyof typeof BRANCHES, url.searchParams, body as Record<string, unknown>);
    const gid = url.searchParams.get('gid') ?? '-';
    log(`${name} gid=${gid} ${JSON.stringify(body)} → ${outcome.status} ${JSON.stringify(Object.fromEntries(accounts))}`);
    return outcome;
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { status, body } = route(req, Buffer.concat(chunks).toString('utf8'));
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/api/busi`,
    port,
    balances: () => Object.fromEntries(accounts),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
