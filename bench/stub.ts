/**
 * The stub business service, a child process of run.ts (uWebSockets.js, native binary): every
 * `/api/busi/<op>` answers 200 {"dtm_result":"SUCCESS"}, except TransIn for a gid ending in the
 * fail mark, which answers 409 {"dtm_result":"FAILURE"} (the saga then compensates). It counts
 * calls per op and reports them over IPC on request.
 *
 * argv: port. Sends {type:'ready', port} once listening.
 */
import type { HttpRequest, HttpResponse, us_listen_socket } from 'uWebSockets.js';
import { loadUws } from '../src/http/uws-backend.js';
import type { StubStats } from './lib/ipc.js';
import { FAIL_MARK, STUB_PREFIX } from './workloads.js';

// The stub stays on native uWS whichever backend the coordinator uses, so that comparing the
// coordinator's backends changes one thing only.
const loaded = loadUws();
if (!loaded.ok) {
  process.stderr.write(`stub: the bench's stub service needs a native uWebSockets.js binary, and none loads here: ${loaded.reason}\n`);
  process.exit(1);
}
const uws = loaded.uws;

const port = Number(process.argv[2] ?? 0);
const calls: Record<string, number> = {};
const SUCCESS = '{"dtm_result":"SUCCESS"}';
const FAILURE = '{"dtm_result":"FAILURE"}';

function answer(res: HttpResponse, state: { aborted: boolean }, fail: boolean): void {
  if (state.aborted) return;
  res.cork(() => {
    res
      .writeStatus(fail ? '409 Conflict' : '200 OK')
      .writeHeader('content-type', 'application/json')
      .end(fail ? FAILURE : SUCCESS);
  });
}

function handle(res: HttpResponse, req: HttpRequest): void {
  const state = { aborted: false };
  res.onAborted(() => {
    state.aborted = true;
  });
  const op = req.getUrl().slice(STUB_PREFIX.length + 1);
  calls[op] = (calls[op] ?? 0) + 1;
  const fail = op === 'TransIn' && (req.getQuery('gid') ?? '').endsWith(FAIL_MARK);
  if (req.getMethod() === 'get') {
    answer(res, state, fail);
    return;
  }
  // Drain the body before answering.
  res.onData((_chunk, isLast) => {
    if (isLast) answer(res, state, fail);
  });
}

uws
  .App()
  .any(`${STUB_PREFIX}/*`, handle)
  .any('/*', (res) => {
    res.writeStatus('404 Not Found').end('not found');
  })
  .listen('127.0.0.1', port, (token: us_listen_socket | false) => {
    if (!token) {
      process.stderr.write(`stub: cannot listen on ${port}\n`);
      process.exit(1);
    }
    process.send?.({ type: 'ready', port: uws.us_socket_local_port(token) });
  });

process.on('message', (m: unknown) => {
  if ((m as { type?: string }).type === 'stats') {
    const s: StubStats = { type: 'stats', calls: { ...calls } };
    process.send?.(s);
  }
});
process.on('disconnect', () => process.exit(0));
