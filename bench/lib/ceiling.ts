/**
 * The Redis ceiling on this machine, measured in the same run with redis-benchmark (which comes
 * with redis-server): requests per second at 50 connections for SET and for an EVALSHA of a tiny
 * submit-like script (HSET of a 150-byte value + ZADD to one ZSET, performance.md §c.1), each
 * without pipelining (-P 1: one round trip per request, the figure our round trips compare to)
 * and with -P 16 (Redis's execution cost alone).
 */
import { execFile } from 'node:child_process';
import type { Redis } from 'ioredis';

export interface Ceiling {
  /** EVALSHA HSET+ZADD, -P 1 (requests/s). */
  evalshaP1: number;
  /** EVALSHA HSET+ZADD, -P 16. */
  evalshaP16: number;
  setP1: number;
  setP16: number;
  /** The exact commands, for the record. */
  commands: string[];
}

export const CEILING_SCRIPT = "redis.call('HSET', KEYS[1], 's', ARGV[1]); redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1]); return 1";

function runBenchmark(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('redis-benchmark', args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`redis-benchmark ${args.join(' ')} failed: ${err.message} ${stderr}`));
        return;
      }
      // -q prints progress lines ending in \r, then "<name>: <rps> requests per second, p50=…".
      const m = [...stdout.matchAll(/([\d.]+) requests per second/g)].pop();
      if (!m) {
        reject(new Error(`cannot parse redis-benchmark output: ${stdout.slice(-300)}`));
        return;
      }
      resolve(Number(m[1]));
    });
  });
}

/** Runs the four measurements one after the other against 127.0.0.1:port (leaves keys behind: FLUSHALL after). */
export async function measureCeiling(port: number, client: Redis, requests = 200_000): Promise<Ceiling> {
  const sha = (await client.script('LOAD', CEILING_SCRIPT)) as string;
  const common = ['-h', '127.0.0.1', '-p', String(port), '-c', '50', '-q'];
  const data = 'x'.repeat(150);
  const evalsha = ['-r', '1000000', 'EVALSHA', sha, '2', '{bench}:h:__rand_int__', '{bench}:due', data, '__rand_int__'];
  const set = ['-r', '1000000', '-t', 'set'];
  const cmds: [string, string[]][] = [
    ['setP1', [...common, '-n', String(requests), '-P', '1', ...set]],
    ['setP16', [...common, '-n', String(requests * 2), '-P', '16', ...set]],
    ['evalshaP1', [...common, '-n', String(requests), '-P', '1', ...evalsha]],
    ['evalshaP16', [...common, '-n', String(requests * 2), '-P', '16', ...evalsha]],
  ];
  const out: Record<string, number> = {};
  for (const [name, args] of cmds) out[name] = await runBenchmark(args);
  return {
    evalshaP1: out['evalshaP1']!,
    evalshaP16: out['evalshaP16']!,
    setP1: out['setP1']!,
    setP16: out['setP16']!,
    commands: cmds.map(([, a]) => `redis-benchmark ${a.join(' ').replace(data, '<150 B>')}`),
  };
}
