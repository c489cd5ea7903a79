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
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { startEmbeddedRedis } from '../src/store/embedded-redis.js';
import { createKeys } from '../src/store/keys.js';
import { say, sleep } from './lib/children.js';
import { startCoordinator } from './lib/coordinator.js';
import { statusBytes } from './lib/proc.js';
import { startStub } from './lib/services.js';
import { planFor } from './workloads.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'dist/src/main.js');
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
  const stub = await startStub('submit', 'http');
  // The coordinator inherits the environment: records expire soon after they finish.
  process.env.STORE_FINISHED_DATA_EXPIRE = String(expireS);
  const coord = await startCoordinator({
    main: MAIN,
    redisUrl: redis.url,
    opts: { workers: 1, waitReplicas: 0 },
    grpc: false,
    profDir: undefined,
    tag: '[soak]',
  });
  const pool = new Pool(coord.url, { connections: 64, pipelining: 1 });
  try {
    // The `submit` workload's saga: two real branch calls to the stub, wait_result=false.
    const plan = planFor('submit', stub.url);
    say(`soak: ${rate} sagas/s for ${minutes} min, records expire ${expireS} s after they finish, a sample every ${sampleS} s`);

    let sent = 0;
    let acked = 0;
    let errors = 0;
    const submit = (gid: string): void => {
      const [{ path, body }] = plan(gid) as [{ path: string; body: string }];
      pool
        .request({ method: 'POST', path, body, headers: { 'content-type': 'application/json' } })
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
        rss_mb: +(statusBytes(coord.pids()[0]!, 'VmRSS') / 2 ** 20).toFixed(1),
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
    await coord.stop();
    await stub.stop();
    await admin.quit();
    await redis.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`soak: ${String(err)}\n`);
  process.exit(1);
});
