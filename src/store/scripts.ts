/**
 * The script registry: every Lua transition with its key roles. Scripts are read from `lua/`,
 * the shared prelude is spliced in after the shebang line, and each one is defined as an ioredis
 * command (EVALSHA with a resend on NOSCRIPT, per connection and per cluster node).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';

export interface ScriptSpec {
  /** File name without `.lua`, ioredis command name, store function and metric label. */
  readonly name: ScriptName;
  /** Key roles in KEYS order; must match the script header. */
  readonly keys: readonly string[];
}

export const SCRIPTS = [
  { name: 'createTrans', keys: ['trans', 'due', 'idx'] },
  { name: 'registerBranch', keys: ['trans'] },
  { name: 'saveProgress', keys: ['trans', 'due'] },
  { name: 'changeStatus', keys: ['trans', 'due'] },
  { name: 'claimDue', keys: ['due'] },
  { name: 'resetCron', keys: ['due'] },
  { name: 'resetNextCron', keys: ['trans', 'due'] },
  { name: 'pruneIndex', keys: ['idx'] },
  { name: 'kvCreate', keys: ['kv', 'kvIdx'] },
  { name: 'kvUpdate', keys: ['kv'] },
  { name: 'kvDelete', keys: ['kv', 'kvIdx'] },
] as const satisfies readonly { name: string; keys: readonly string[] }[];

export type ScriptName = (typeof SCRIPTS)[number]['name'];

// `src/store/` in development and tests, `dist/src/store/` once built: `lua/` is at the package root.
const LUA_DIR = fileURLToPath(new URL(import.meta.url.includes('/dist/src/') ? '../../../lua/' : '../../lua/', import.meta.url));

/** The directory holding the `.lua` files (works from `src/` and from `dist/src/`). */
export function luaDir(): string {
  return LUA_DIR;
}

/** Returns a script's source with `lua/lib/prelude.lua` spliced in after its shebang line. */
export function scriptSource(name: string): string {
  const body = readFileSync(`${LUA_DIR}${name}.lua`, 'utf8');
  const prelude = readFileSync(`${LUA_DIR}lib/prelude.lua`, 'utf8');
  const newline = body.indexOf('\n');
  if (!body.startsWith('#!lua') || newline === -1) throw new Error(`lua/${name}.lua must start with a #!lua shebang line`);
  return `${body.slice(0, newline + 1)}${prelude}\n${body.slice(newline + 1)}`;
}

/** Defines every script as a command on the client. */
export function defineScripts(client: Redis | Cluster): void {
  for (const spec of SCRIPTS) {
    client.defineCommand(spec.name, { numberOfKeys: spec.keys.length, lua: scriptSource(spec.name) });
  }
}
