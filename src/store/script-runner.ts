/**
 * Runs one defined Lua script the way every store module does: its input encoded by its
 * definition, the call timed for the observer, a failure mapped onto the error model
 * (store-error.ts), and the reply checked against the definition's tags and decoded.
 */
import type { Keys } from './keys.js';
import type { RedisClient } from './redis.js';
import type { ReplyTag } from './replies.js';
import { readReply, type ScriptDefinition } from './script.js';
import { SCRIPTS, type ScriptName } from './scripts.js';
import { storeError } from './store-error.js';

/** Called after every script with its duration (s) and reply tag, for metrics. */
export type ScriptObserver = (script: ScriptName, seconds: number, tag: ReplyTag | 'ERROR') => void;

export type ScriptRunner = <Input, Output, Tag extends ReplyTag>(def: ScriptDefinition<ScriptName, Input, Output, Tag>, input: Input) => Promise<Output>;

/** The Buffer-reply command of each script, spelt once rather than on every call. */
const BUFFER_COMMAND = Object.fromEntries(SCRIPTS.map((d) => [d.name, `${d.name}Buffer`])) as { [N in ScriptName]: `${N}Buffer` };

/** A runner over `redis`, whose scripts are defined (scripts.ts `defineScripts`). */
export function createScriptRunner(redis: RedisClient, keys: Keys, observe: ScriptObserver | undefined): ScriptRunner {
  return async (def, input) => {
    const started = observe ? process.hrtime.bigint() : 0n;
    const args = def.encode(input, keys);
    let reply: unknown;
    try {
      reply = await (def.replyMode === 'buffers' ? redis[BUFFER_COMMAND[def.name]](...args) : redis[def.name](...args));
    } catch (err) {
      if (observe) observe(def.name, Number(process.hrtime.bigint() - started) / 1e9, 'ERROR');
      throw storeError(err, def.name);
    }
    const split = readReply(def, reply);
    if (observe) observe(def.name, Number(process.hrtime.bigint() - started) / 1e9, split.tag);
    return def.decode(split.tag, split.rest, input);
  };
}
