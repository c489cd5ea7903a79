/**
 * `--workers 2`: two coordinator processes (the primary and one forked worker) share one HTTP
 * port through SO_REUSEPORT, both serve, a crashed worker is replaced, and SIGTERM to the primary
 * stops them all. Without --workers the port is exclusive: a second coordinator on it fails.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nodeCanSharePort } from '../../src/http/node-backend.js';
import { loadUws } from '../../src/http/uws-backend.js';
import { freePort, isListening } from '../../src/store/embedded-redis.js';
import { waitFor } from '../fixtures/app.js';
import { alive, childrenOf, listeningPids } from '../fixtures/process.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';

const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));

let redis: TestRedis;
t.before(async () => {
  redis = await startTestRedis();
});
t.teardown(async () => {
  await redis.stop();
});

/** The coordinator serves with node:http here (HTTP_BACKEND=node, or no native uWS binary loads). */
const nodeBackend = process.env['HTTP_BACKEND'] === 'node' || (process.env['HTTP_BACKEND'] !== 'uws' && !loadUws().ok);

t.test('--workers on node:http before Node 22.12 (no reusePort): start-up fails and says why', { skip: !nodeBackend || nodeCanSharePort() }, async (t) => {
  const child = spawn(process.execPath, [MAIN, '--workers', '2'], {
    env: { ...process.env, REDIS_URL: redis.url, HTTP_PORT: String(await freePort()), HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  t.equal(await new Promise<number | null>((r) => child.once('exit', (c) => r(c))), 1, 'the primary exits 1');
  t.match(out, /\[DTM_HTTP_BACKEND\] the node:http backend shares a port between --workers processes only on Node ≥ 22\.12/, 'and says why');
});

t.test(
  '--workers 2: both processes listen on one port, requests succeed, a dead worker is replaced, SIGTERM stops all',
  { skip: nodeBackend && !nodeCanSharePort() ? 'node:http cannot share a port before Node 22.12' : false },
  async (t) => {
    const port = await freePort();
    const child = spawn(process.execPath, [MAIN, '--workers', '2'], {
      env: { ...process.env, REDIS_URL: redis.url, STORE_REDIS_PREFIX: `wk${process.pid}`, HTTP_PORT: String(port), HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
      for (const pid of childrenOf(child.pid!)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    });

    const listening = (): Set<number> => listeningPids(out, port);

    await waitFor(() => listening().size === 2 || child.exitCode !== null, 15_000, `two processes listening on ${port}:\n${out}`);
    t.equal(child.exitCode, null, 'the primary is running');
    const pids = listening();
    t.equal(pids.size, 2, 'two processes listen on the same port');
    t.ok(pids.has(child.pid!), 'the primary is one of them');
    const workers = childrenOf(child.pid!);
    t.equal(workers.length, 1, 'the primary forked one worker');
    t.ok(pids.has(workers[0]!), 'the forked worker is the other listener');
    t.ok(await isListening('127.0.0.1', port), 'the port accepts connections');

    // New connections each time, so the kernel spreads them over both listeners.
    const submit = async (gid: string): Promise<number> => {
      const body = JSON.stringify({
        gid,
        trans_type: 'saga',
        wait_result: true,
        steps: [
          { action: '', compensate: '' },
          { action: '', compensate: '' },
        ],
        payloads: ['{}', '{}'],
      });
      const res = await fetch(`http://127.0.0.1:${port}/api/dtmsvr/submit`, { method: 'POST', body, headers: { connection: 'close' } });
      await res.text();
      return res.status;
    };
    const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => submit(`wk-${process.pid}-${i}`)));
    t.same([...new Set(statuses)], [200], 'every submit succeeded');
    const q = (await (await fetch(`http://127.0.0.1:${port}/api/dtmsvr/query?gid=wk-${process.pid}-7`, { headers: { connection: 'close' } })).json()) as {
      transaction: { status: string } | null;
    };
    t.equal(q.transaction?.status, 'succeed', 'a transaction is stored as succeed');

    // A crashed worker is replaced, and the service keeps answering meanwhile.
    const first = workers[0]!;
    process.kill(first, 'SIGKILL');
    await waitFor(() => childrenOf(child.pid!).some((p) => p !== first), 10_000, `a replacement worker:\n${out}`);
    const replacement = childrenOf(child.pid!).find((p) => p !== first)!;
    await waitFor(() => listening().has(replacement), 10_000, `the replacement listening:\n${out}`);
    t.equal(await submit(`wk-${process.pid}-after`), 200, 'submits succeed after the replacement');

    child.kill('SIGTERM');
    t.equal(await exited, 0, 'the primary exits 0 on SIGTERM');
    await waitFor(() => !alive(replacement), 5000, 'the worker to exit');
    t.notOk(alive(replacement), 'the worker exited with the primary');
    t.notOk(await isListening('127.0.0.1', port), 'nothing listens on the port any more');
  },
);

t.test('a second coordinator on a busy port fails at start-up with a clear message; the first keeps the port', async (t) => {
  const port = await freePort();
  const env = {
    ...process.env,
    REDIS_URL: redis.url,
    STORE_REDIS_PREFIX: `wk${process.pid}`,
    HTTP_PORT: String(port),
    HTTP_HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
  };
  const first = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const firstExited = new Promise<void>((r) => first.once('exit', () => r()));
  t.teardown(() => {
    if (first.exitCode === null) first.kill('SIGKILL');
  });
  let firstOut = '';
  first.stdout.on('data', (d: Buffer) => (firstOut += d.toString()));
  await waitFor(() => isListening('127.0.0.1', port), 10_000, 'the first coordinator');
  await waitFor(() => firstOut.includes('"msg":"HTTP server listening"'), 5000, 'the start-up line');
  const banner = JSON.parse(firstOut.split('\n').find((l) => l.includes('"msg":"HTTP server listening"'))!) as Record<string, unknown>;
  const backend = nodeBackend ? 'node' : 'uws';
  t.match(
    banner,
    { backend, server: backend === 'uws' ? 'uWebSockets.js (native)' : 'node:http', port, sharePort: false, node: process.version },
    `the start-up line names the HTTP backend (${backend}) and an exclusive port`,
  );

  const second = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  second.stdout.on('data', (d: Buffer) => (out += d.toString()));
  second.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
  t.equal(code, 1, 'the second exits 1');
  t.match(out, new RegExp(`\\[DTM_PORT_IN_USE\\] cannot listen on 127\\.0\\.0\\.1:${port}`), 'its log says the port is in use, and which');
  t.match(out, /"msg":"start-up failed"/, 'as a start-up failure');

  const ping = await fetch(`http://127.0.0.1:${port}/api/ping`, { headers: { connection: 'close' } });
  t.equal(ping.status, 200, 'the first still serves');
  await ping.text();
  first.kill('SIGTERM');
  await firstExited;
});
