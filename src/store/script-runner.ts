/**
 * Runs one defined Lua script the way every store module does: timed for the observer, a failure
 * mapped onto the error model (store-error.ts), and the reply split into its tag and the rest.
 */
import type { RedisClient } from './redis.js';
import { splitReply, type ReplyTag } from './replies.js';
import type { ScriptName } from './scripts.js';
import { storeError } from './store-error.js';

/** Called after every script with its duration (s) and reply tag, for metrics. */
export type ScriptObserver = (script: ScriptName, seconds: number, tag: ReplyTag | 'ERROR') => void;

export type ScriptRunner = (name: ScriptName, args: (string | number | Buffer)[]) => Promise<{ tag: ReplyTag; rest: unknown[] }>;

type ScriptFn = (...args: (string | number | Buffer)[]) => Promise<unknown>;

/**
 * A runner over `redis`, whose scripts are defined. With `buffers` the replies' bulk strings come
 * back as Buffers (ioredis's `<name>Buffer` command), for binary fields such as msgpack blobs.
 */
export function createScriptRunner(redis: RedisClient, observe: ScriptObserver | undefined, replies: 'buffers' | 'strings'): ScriptRunner {
  const client = redis as unknown as Record<string, ScriptFn>;
  const suffix = replies === 'buffers' ? 'Buffer' : '';
  return async (name, args) => {
    const started = observe ? process.hrtime.bigint() : 0n;
    let reply: unknown;
    try {
      reply = await client[name + suffix]!(...args);
    } catch (err) {
      if (observe) observe(name, Number(process.hrtime.bigint() - started) / 1e9, 'ERROR');
      throw storeError(err, name);
    }
    const split = splitReply(reply, name);
    if (observe) observe(name, Number(process.hrtime.bigint() - started) / 1e9, split.tag);
    return split;
  };
}
