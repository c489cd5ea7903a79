/**
 * The scripts that work on a bucket's retry schedule and listing index (lua/claimDue.lua,
 * resetCron.lua, pruneIndex.lua) rather than on one transaction.
 */
import { asInt, asText } from './replies.js';
import { defineScript } from './script.js';

export const claimDue = defineScript({
  name: 'claimDue',
  keys: ['due'],
  argv: ['now', 'leaseUntil', 'limit'],
  replies: ['OK'],
  replyMode: 'strings',
  encode(input: { bucket: number; leaseMs: number; limit: number; now: number }, keys) {
    return [keys.due(input.bucket), input.now, input.now + input.leaseMs, input.limit];
  },
  decode: (_tag, rest): string[] => rest.map((g) => asText(g, 'claimDue gid')),
});

export const resetCron = defineScript({
  name: 'resetCron',
  keys: ['due'],
  argv: ['from', 'now', 'limit'],
  replies: ['OK'],
  replyMode: 'strings',
  encode(input: { bucket: number; fromMs: number; limit: number; now: number }, keys) {
    return [keys.due(input.bucket), input.fromMs, input.now, input.limit];
  },
  decode: (_tag, rest) => ({ count: asInt(rest[0], 'resetCron count'), hasRemaining: asInt(rest[1], 'resetCron remaining') === 1 }),
});

export const pruneIndex = defineScript({
  name: 'pruneIndex',
  keys: ['idx', 'fin'],
  argv: ['now', 'limit'],
  replies: ['OK'],
  replyMode: 'strings',
  encode(input: { bucket: number; limit: number; now: number }, keys) {
    return [keys.idx(input.bucket), keys.fin(input.bucket), input.now, input.limit];
  },
  decode: (_tag, rest) => ({ removed: asInt(rest[0], 'pruneIndex removed'), more: asInt(rest[1], 'pruneIndex more') === 1 }),
});
