/** Parsing of Redis INFO output, and the figures the bench takes from it. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

export interface RedisSnapshot {
  /** INFO fields, `section` headers dropped. */
  fields: Map<string, string>;
  /** cmdstat_<name> → calls. */
  calls: Map<string, number>;
}

export function parseInfo(text: string): RedisSnapshot {
  const fields = new Map<string, string>();
  const calls = new Map<string, number>();
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i < 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1);
    fields.set(k, v);
    if (k.startsWith('cmdstat_')) {
      const m = /calls=(\d+)/.exec(v);
      if (m) calls.set(k.slice('cmdstat_'.length), Number(m[1]));
    }
  }
  return { fields, calls };
}

export function num(s: RedisSnapshot, key: string): number {
  const v = s.fields.get(key);
  return v === undefined ? 0 : Number(v);
}

/** used_cpu_user + used_cpu_sys in µs (the server process, main thread and others). */
export function redisCpuUs(s: RedisSnapshot): number {
  return (num(s, 'used_cpu_user') + num(s, 'used_cpu_sys')) * 1e6;
}

/** Keys in db0 (from the keyspace section). */
export function dbKeys(s: RedisSnapshot): number {
  const v = s.fields.get('db0');
  const m = v === undefined ? null : /keys=(\d+)/.exec(v);
  return m ? Number(m[1]) : 0;
}

/** Commands that make a script run: one client round trip each, whatever the script does inside. */
const SCRIPT_RUNNERS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);
/** Harness and transaction-framing commands that are not round trips of the coordinator. */
const NOT_ROUND_TRIPS = new Set(['info', 'multi', 'config|resetstat', 'config|get', 'client|setname', 'client|setinfo', 'select', 'hello', 'ping']);

export interface CommandDelta {
  /** Every command Redis executed (INFO stats total_commands_processed, commands inside scripts included), minus INFO. */
  commands: number;
  /** Round trips: see roundTrips(). */
  roundTrips: number;
  /** cmdstat calls per command over the window (INFO excluded). */
  perCommand: Record<string, number>;
}

/**
 * Round trips and commands between two snapshots.
 *
 * Method. INFO commandstats counts every command, including the ones a Lua script calls with
 * redis.call (Redis ≥ 7 counts those in their own cmdstat entry, and in total_commands_processed).
 * A round trip is a command the coordinator *sends*. It sends almost only EVALSHA (one per
 * script run; autopipelining is off, so one command per round trip), so:
 *   round trips = Σ calls of eval/evalsha/eval_ro/evalsha_ro/fcall/fcall_ro
 *               + calls of EXEC (a MULTI … EXEC block is written at once: one round trip)
 *               + calls of every other command that none of our Lua scripts uses
 *                 (such a command can only have come from a client),
 * leaving out INFO (the harness's own snapshots), MULTI and connection set-up. A command that
 * both a client and a script may send (e.g. HGETALL) is attributed to scripts (`perCommand` still
 * shows it); the coordinator's hot paths send none (they are all EVALSHA), so this is exact for
 * the workloads here. `luaCommands` is read from lua/*.lua at run time.
 */
export function commandDelta(a: RedisSnapshot, b: RedisSnapshot, luaCommands: ReadonlySet<string>): CommandDelta {
  const perCommand: Record<string, number> = {};
  let roundTrips = 0;
  for (const [cmd, callsB] of b.calls) {
    const d = callsB - (a.calls.get(cmd) ?? 0);
    if (d <= 0 || cmd === 'info') continue;
    perCommand[cmd] = d;
    const base = cmd.split('|')[0]!;
    if (SCRIPT_RUNNERS.has(base) || base === 'exec') roundTrips += d;
    else if (NOT_ROUND_TRIPS.has(cmd) || NOT_ROUND_TRIPS.has(base)) continue;
    else if (!luaCommands.has(base)) roundTrips += d;
  }
  const infoCalls = (b.calls.get('info') ?? 0) - (a.calls.get('info') ?? 0);
  const commands = num(b, 'total_commands_processed') - num(a, 'total_commands_processed') - infoCalls;
  return { commands, roundTrips, perCommand };
}

/** The INFO sections the harness reads, parsed. */
export async function snapshot(admin: Redis): Promise<RedisSnapshot> {
  return parseInfo((await admin.call('INFO', 'server', 'stats', 'cpu', 'memory', 'commandstats', 'keyspace', 'persistence')) as string);
}

/** Every command our Lua scripts call (lower-case, from `root`/lua), to tell script-inner commands from client ones. */
export function luaCommands(root: string): Set<string> {
  const out = new Set<string>();
  for (const d of [join(root, 'lua'), join(root, 'lua/lib'), join(root, 'lua/client')]) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) {
      if (!f.endsWith('.lua')) continue;
      const text = readFileSync(join(d, f), 'utf8');
      for (const m of text.matchAll(/(?:rcall|redis\.p?call)\(\s*['"]([A-Za-z]+)['"]/g)) out.add(m[1]!.toLowerCase());
    }
  }
  return out;
}
