/**
 * The soak: 2-step sagas (real branch calls to the stub, wait_result=false) submitted open loop at
 * a fixed rate for minutes, with records expiring soon after they finish, to show that memory is
 * flat at a sustained rate: Redis `used_memory`, the coordinator's RSS and the listing index must
 * stop growing once the first records expire (issue 9.1).
 *
 *   npm run bench:soak -- [--rate 1000] [--minutes 5] [--finished-expire 60] [--sample 15]
 *
 * Progress lines go to stderr; one JSON line (every sample, and the growth per minute of each
 * series after the warm-up: least-squares slopes) goes to stdout.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { freePort, startEmbeddedRedis } from '../src/store/embedded-redis.js';
import { createKeys } from '../src/store/keys.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'dist/src/main.js');
const STUB = fileURLToPath(new URL('./stub.js', import.meta.url));
/** The coordinator's defaults: prefix 'dtm', 64 buckets. */
const KEYS = createKeys('dtm', 64);
/** The open-loop sender fires every TICK_MS, so a rate is spread evenly over each second. */
const TICK_MS = 10;

interface Sample {
  t_s: number;
  acked: number;
  errors: number;
  used_memory_mb: number;
  rss_mb: number;
  index_entries: number;
  records: number;
  due: number;
}

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    minutes: { type: 'string', default: '5' },
    'finished-expire': { type: 'string', default: '60' },
    sample: { type: 'string', default: '15' },
  },
});
const rate = Number(values.rate);
const minutes = Number(values.minutes);
const expireS = Number(values['finished-expire']);
const sampleS = Number(values.sample);
if (![rate, minutes, expireS, sampleS].every((n) => Number.isFinite(n) && n > 0)) {
  process.stderr.write('usage: npm run bench:soak -- [--rate N] [--minutes M] [--finished-expire S] [--sample S] (all positive)\n');
  process.exit(2);
}

const say = (s: string): void => void process.stderr.write(`${s}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Least-squares slope of y over x, per minute of x seconds. */
function slopePerMinute(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return (num / den) * 60;
}

function waitReady(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('message', (m: { type: string; port: number }) => (m.type === 'ready' ? resolve(m.port) : reject(new Error(`unexpected ${m.type}`))));
    child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
  });
}

async function waitUp(pool: Pool, coord: ChildProcess): Promise<void> {
  for (const until = Date.now() + 30_000; Date.now() < until; await sleep(100)) {
    if (coord.exitCode !== null) throw new Error('the coordinator exited at start-up');
    try {
      const res = await pool.request({ method: 'GET', path: '/api/ping' });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not up yet
    }
  }
  throw new Error('the coordinator did not start within 30 s');
}

async function countKeys(admin: Redis): Promise<{ index: number; due: number; records: number }> {
  const pipe = admin.pipeline();
  for (let b = 0; b < KEYS.buckets; b++) pipe.zcard(KEYS.idx(b)).zcard(KEYS.due(b)).exists(KEYS.idx(b), KEYS.due(b), KEYS.fin(b), KEYS.stats(b));
  pipe.exists(KEYS.meta()).dbsize();
  const counts = ((await pipe.exec()) ?? []).map(([err, v]) => (err ? NaN : Number(v)));
  let index = 0;
  let due = 0;
  let fixed = counts.at(-2)!;
  for (let b = 0; b < KEYS.buckets; b++) {
    index += counts[3 * b]!;
    due += counts[3 * b + 1]!;
    fixed += counts[3 * b + 2]!;
  }
  // Every other key is one transaction's record (DBSIZE also counts records that have expired
  // but that Redis has not reclaimed yet, so this can exceed the index for a while).
  return { index, due, records: counts.at(-1)! - fixed };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dtm-soak-'));
  const redis = await startEmbeddedRedis({ dir });
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const stub = fork(STUB, ['0'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const port = await freePort();
  const coord = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      REDIS_URL: redis.url,
      HTTP_PORT: String(port),
      HTTP_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      LOG_LEVEL: 'warn',
      STORE_FINISHED_DATA_EXPIRE: String(expireS),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64, pipelining: 1 });
  try {
    const busi = `http://127.0.0.1:${await waitReady(stub)}/api/busi`;
    await waitUp(pool, coord);
    say(`soak: ${rate} sagas/s for ${minutes} min, records expire ${expireS} s after they finish, a sample every ${sampleS} s`);

    let sent = 0;
    let acked = 0;
    let errors = 0;
    const steps = `"steps":[{"action":"${busi}/TransOut","compensate":"${busi}/TransOutRevert"},{"action":"${busi}/TransIn","compensate":"${busi}/TransInRevert"}],"payloads":["{}","{}"]`;
    const submit = (gid: string): void => {
      const body = `{"gid":"${gid}","trans_type":"saga","wait_result":false,${steps}}`;
      pool
        .request({ method: 'POST', path: '/api/dtmsvr/submit', body, headers: { 'content-type': 'application/json' } })
        .then(async (res) => {
          await res.body.dump();
          if (res.statusCode === 200) acked++;
          else errors++;
        })
        .catch(() => errors++);
    };
    const start = Date.now();
    const end = start + minutes * 60_000;
    const sender = setInterval(() => {
      // Catch up to the schedule, so a late tick does not lower the rate.
      const target = Math.min(Date.now(), end) - start;
      for (const due = Math.floor((target / 1000) * rate); sent < due; sent++) submit(`soak-${start}-${sent}`);
    }, TICK_MS);

    const samples: Sample[] = [];
    while (Date.now() < end) {
      await sleep(sampleS * 1000);
      const mem = await admin.info('memory');
      const usedMemory = Number(/used_memory:(\d+)/.exec(mem)?.[1] ?? NaN);
      const counts = await countKeys(admin);
      const s: Sample = {
        t_s: Math.round((Date.now() - start) / 1000),
        acked,
        errors,
        used_memory_mb: +(usedMemory / 2 ** 20).toFixed(2),
        rss_mb: +rssMb(coord.pid!).toFixed(1),
        index_entries: counts.index,
        records: counts.records,
        due: counts.due,
      };
      samples.push(s);
      say(`soak: ${JSON.stringify(s)}`);
    }
    clearInterval(sender);

    // Warm-up: until the first records have expired and one prune period (5 s) more has passed.
    const steady = samples.filter((s) => s.t_s >= expireS + 2 * sampleS);
    const slope = (f: (s: Sample) => number): number => +slopePerMinute(steady.map((s) => [s.t_s, f(s)] as const)).toFixed(3);
    const result = {
      rate,
      minutes,
      finished_expire_s: expireS,
      acked,
      errors,
      steady_from_s: steady[0]?.t_s ?? null,
      growth_per_min_after_warmup: {
        used_memory_mb: slope((s) => s.used_memory_mb),
        rss_mb: slope((s) => s.rss_mb),
        index_entries: slope((s) => s.index_entries),
      },
      max_index_minus_records: Math.max(...samples.map((s) => s.index_entries - s.records)),
      samples,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await pool.close();
    coord.kill('SIGTERM');
    stub.kill();
    await sleep(500);
    await admin.quit();
    await redis.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`soak: ${String(err)}\n`);
  process.exit(1);
});
