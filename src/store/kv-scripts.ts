/** The version-checked writes of a KV record (lua/kvCreate.lua, kvUpdate.lua, kvDelete.lua). */
import { asInt, asText } from './replies.js';
import { defineScript } from './script.js';

/** `DUP`: the record exists, with its current version and value. */
export type KvCreateOutcome = { tag: 'OK' } | { tag: 'DUP'; version: number; v: string };

/** `STALE`: the record has another version than the expected one; its current version and value. */
export type KvUpdateOutcome = { tag: 'OK'; version: number } | { tag: 'NOT_FOUND' } | { tag: 'STALE'; version: number; v: string };

export const kvCreate = defineScript({
  name: 'kvCreate',
  keys: ['kv', 'kvIdx'],
  argv: ['cat', 'key', 'value', 'now'],
  replies: ['OK', 'DUP'],
  replyMode: 'strings',
  encode(input: { cat: string; key: string; value: string; now: number }, keys) {
    return [keys.kv(input.cat, input.key), keys.kvIdx(input.cat), input.cat, input.key, input.value, input.now];
  },
  decode(tag, rest): KvCreateOutcome {
    return tag === 'OK' ? { tag } : { tag, version: asInt(rest[0], 'kvCreate version'), v: asText(rest[1], 'kvCreate value') };
  },
});

export const kvUpdate = defineScript({
  name: 'kvUpdate',
  keys: ['kv'],
  argv: ['cat', 'key', 'expectedVersion', 'value', 'now'],
  replies: ['OK', 'NOT_FOUND', 'STALE'],
  replyMode: 'strings',
  encode(input: { cat: string; key: string; expectedVersion: number; value: string; now: number }, keys) {
    return [keys.kv(input.cat, input.key), input.cat, input.key, input.expectedVersion, input.value, input.now];
  },
  decode(tag, rest): KvUpdateOutcome {
    switch (tag) {
      case 'OK':
        return { tag, version: asInt(rest[0], 'kvUpdate version') };
      case 'NOT_FOUND':
        return { tag };
      case 'STALE':
        return { tag, version: asInt(rest[0], 'kvUpdate version'), v: asText(rest[1], 'kvUpdate value') };
    }
  },
});

export const kvDelete = defineScript({
  name: 'kvDelete',
  keys: ['kv', 'kvIdx'],
  argv: ['cat', 'key'],
  replies: ['OK', 'NOT_FOUND'],
  replyMode: 'strings',
  encode(input: { cat: string; key: string }, keys) {
    return [keys.kv(input.cat, input.key), keys.kvIdx(input.cat), input.cat, input.key];
  },
  decode: (tag): 'OK' | 'NOT_FOUND' => tag,
});
