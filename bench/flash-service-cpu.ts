/**
 * The flash service's own CPU per request, without the coordinator: `bench/flash-service.ts` in
 * its own process, the stub (`stub.ts`, which answers every `/api/busi/<op>` with 200 SUCCESS) in
 * the coordinator's place, a private Redis, and a closed loop of buyers in this process. On a
 * shared 2-core box the full `npm run bench -- flash-ok` moves the service's µs per order by
 * ±30 % from run to run; with the coordinator and its driver out of the picture the figure holds
 * within a few per cent, which is what comparing two versions of the SDK needs.
 *
 * Modes: `fail` (stock 0: prepare, barrier FAILURE, abort), `ok` (plenty of stock: prepare,
 * barrier, submit; the stub does not call the order step back), `order` (the order step alone,
 * as the coordinator calls it).
 *
 * Run (after `npm run bench -- --help` or `tsc -p tsconfig.bench.json`):
 *   node dist/bench/flash-service-cpu.js fail|ok|order [--duration S] [--concurrency N]
 * Prints one JSON line: {mode, requests_per_s, service_cpu_us_per_request, …}.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { startEmbeddedRedis } from '../src/store/embedded-redis.js';
import { cpuUs } from './lib/proc.js';

type Mode = 'fail' | 'ok' | 'order';

const FLASH = fileURLToPath(new URL('./flash-service.js', import.meta.url));
const STUB = fileURLToPath(new URL('./stub.js', import.meta.url));

function ready(child: ChildProcess, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 10 s`)), 10_000);
    child.on('message', (m: { type?: string; port?: number }) => {
      if (m.type === 'ready' && typeof m.port === 'number') {
        clearTimeout(timer);
        resolve(m.port);
      }
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code})`)));
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const mode = args[0] as Mode;
  if (mode !== 'fail' && mode !== 'ok' && mode !== 'order') {
    process.stderr.write('usage: node dist/bench/flash-service-cpu.js fail|ok|order [--duration S] [--concurrency N]\n');
    process.exit(2);
  }
  const opt = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    const v = i < 0 ? dflt : Number(args[i + 1]);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number`);
    return v;
  };
  const duration = opt('--duration', 5);
  const concurrency = opt('--concurrency', 50);

  const dir = mkdtempSync(join(tmpdir(), 'dtm-flash-cpu-'));
  const redis = await startEmbeddedRedis({ dir, extraArgs: ['--appendonly', 'no'] });
  const children: ChildProcess[] = [];
  try {
    const stub = fork(STUB, ['0'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    children.push(stub);
    const stubPort = await ready(stub, 'the stub');
    const svc = fork(FLASH, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [],
      env: { ...process.env, PORT: '0', REDIS_URL: redis.url, DTM: `http://127.0.0.1:${stubPort}/api/busi`, STOCK: mode === 'fail' ? '0' : '1000000000' },
    });
    children.push(svc);
    const pool = new Pool(`http://127.0.0.1:${await ready(svc, 'the flash service')}`, { connections: concurrency });

    const runId = Date.now().toString(36);
    let n = 0;
    let seq = 0;
    let stop = false;
    const one = async (): Promise<void> => {
      const gid = encodeURIComponent(`{a}-cpu-${runId}-${seq++}`);
      const res =
        mode === 'order'
          ? await pool.request({ path: `/flash/order?gid=${gid}&trans_type=msg&branch_id=01&op=action`, method: 'POST', body: '{}' })
          : await pool.request({ path: `/flash?gid=${gid}`, method: 'GET' });
      await res.body.dump();
      const expected = mode === 'fail' ? 409 : 200;
      if (res.statusCode !== expected) throw new Error(`answer ${res.statusCode}, expected ${expected}`);
    };
    const loop = async (): Promise<void> => {
      while (!stop) {
        await one();
        n++;
      }
    };
    const window = async (seconds: number): Promise<{ n: number; us: number; ms: number }> => {
      n = 0;
      stop = false;
      const c0 = cpuUs(svc.pid!);
      const t0 = performance.now();
      const loops = Array.from({ length: concurrency }, loop);
      await new Promise((r) => setTimeout(r, seconds * 1000));
      stop = true;
      await Promise.all(loops);
      return { n, us: cpuUs(svc.pid!) - c0, ms: performance.now() - t0 };
    };
    await window(1.5); // warm-up: JIT, connections
    const w = await window(duration);
    await pool.close();
    process.stdout.write(
      `${JSON.stringify({
        mode,
        requests: w.n,
        requests_per_s: Math.round(w.n / (w.ms / 1000)),
        service_cpu_us_per_request: Math.round((w.us / w.n) * 10) / 10,
        concurrency,
        duration_s: duration,
        note: 'CPU of the flash service process only (/proc utime+stime, 10 ms ticks); the stub stands in for the coordinator',
      })}\n`,
    );
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`flash-service-cpu failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
