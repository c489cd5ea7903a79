/**
 * The script registry: every Lua transition's definition, the loader that reads `lua/`, splices
 * the shared prelude in after the shebang line, and defines each script as an ioredis command
 * (EVALSHA with a resend on NOSCRIPT, per connection and per cluster node), and the typing of
 * those commands through ioredis's declaration merging.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis, Result } from 'ioredis';
import { kvCreate, kvDelete, kvUpdate } from './kv-scripts.js';
import { claimDue, pruneIndex, resetCron } from './schedule-scripts.js';
import type { ScriptArg } from './script.js';
import { changeStatus, createTrans, registerBranch, resetNextCron, saveProgress } from './trans-scripts.js';

/** Every script, each defined once (see script.ts). */
export const SCRIPTS = [
  createTrans,
  registerBranch,
  saveProgress,
  changeStatus,
  claimDue,
  resetCron,
  resetNextCron,
  pruneIndex,
  kvCreate,
  kvUpdate,
  kvDelete,
] as const;

export type ScriptName = (typeof SCRIPTS)[number]['name'];

// The commands defineScripts adds, typed for the store (and for pipelines, which share the
// interface). `name` answers bulk strings as strings, `nameBuffer` as Buffers.
declare module 'ioredis' {
  interface RedisCommander<Context> {
    createTrans(...args: ScriptArg[]): Result<unknown, Context>;
    createTransBuffer(...args: ScriptArg[]): Result<unknown, Context>;
    registerBranch(...args: ScriptArg[]): Result<unknown, Context>;
    registerBranchBuffer(...args: ScriptArg[]): Result<unknown, Context>;
    saveProgress(...args: ScriptArg[]): Result<unknown, Context>;
    saveProgressBuffer(...args: ScriptArg[]): Result<unknown, Context>;
    changeStatus(...args: ScriptArg[]): Result<unknown, Context>;
    changeStatusBuffer(...args: ScriptArg[]): Result<unknown, Context>;
    claimDue(...args: ScriptArg[]): Result<unknown, Context>;
    claimDueBuffer(...args: ScriptArg[]): Result<unknown, Context>;
    resetCron(...args: ScriptArg[]): Result<unknown, Context>;
    resetCronBuffer(...args: ScriptArg[]): Result<unknown, Context>;
    resetNextCron(...args: ScriptArg[]): Result<unknown, Context>;
    resetNextCronBuffer(...args: ScriptArg[]): Result<unknown, Context>;
    pruneIndex(...args: ScriptArg[]): Result<unknown, Context>;
    pruneIndexBuffer(...args: ScriptArg[]): Result<unknown, Context>;
    kvCreate(...args: ScriptArg[]): Result<unknown, Context>;
    kvCreateBuffer(...args: ScriptArg[]): Result<unknown, Context>;
    kvUpdate(...args: ScriptArg[]): Result<unknown, Context>;
    kvUpdateBuffer(...args: ScriptArg[]): Result<unknown, Context>;
    kvDelete(...args: ScriptArg[]): Result<unknown, Context>;
    kvDeleteBuffer(...args: ScriptArg[]): Result<unknown, Context>;
  }
}

/** The command names of every script: a script missing from the declarations above fails to compile here. */
export type ScriptCommand = ScriptName | `${ScriptName}Buffer`;
type AllDeclared = { [C in ScriptCommand]: Redis[C] };
export type ScriptCommandFn = AllDeclared[ScriptCommand];

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
  for (const def of SCRIPTS) {
    client.defineCommand(def.name, { numberOfKeys: def.keys.length, lua: scriptSource(def.name) });
  }
}
