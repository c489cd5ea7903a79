/**
 * One Lua script as the TypeScript side knows it, in the spirit of node-redis `defineScript`: its
 * name, key roles, argument names in order, the reply tags it can give, and how a call's input is
 * encoded and its reply decoded. test/lua/contract.ts checks every definition against the header
 * of its `lua/<name>.lua` (KEYS, ARGV and Returns), so the two cannot drift.
 */
import { StoreContractError } from '../errors.js';
import type { Keys } from './keys.js';
import { splitReply, type ReplyTag } from './replies.js';

/** A KEYS or ARGV value as ioredis sends it. */
export type ScriptArg = string | number | Buffer;

export interface ScriptDefinition<Name extends string, Input, Output, Tag extends ReplyTag> {
  /** File name without `.lua`, ioredis command name, store function and metric label. */
  readonly name: Name;
  /** Key roles in KEYS order, as the header names them. */
  readonly keys: readonly string[];
  /** ARGV names in order, as the header names them; a last `...name` is a variadic tail. */
  readonly argv: readonly string[];
  /** Every reply tag the script can return; any other tag is a broken contract. */
  readonly replies: readonly Tag[];
  /** `buffers`: bulk replies arrive as Buffers (binary fields such as msgpack blobs). */
  readonly replyMode: 'buffers' | 'strings';
  /** KEYS then ARGV, in order. */
  encode(input: Input, keys: Keys): ScriptArg[];
  /** The domain outcome of a reply whose tag is one of `replies` (`rest` follows the tag). */
  decode(tag: Tag, rest: unknown[], input: Input): Output;
}

/** Any script definition, for registries and the contract test. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registry holds definitions of every input and output type
export type AnyScriptDefinition = ScriptDefinition<string, any, unknown, ReplyTag>;

/** Declares a script; the identity function, there for the type inference. */
export function defineScript<Name extends string, Input, Output, Tag extends ReplyTag>(
  def: ScriptDefinition<Name, Input, Output, Tag>,
): ScriptDefinition<Name, Input, Output, Tag> {
  return def;
}

/**
 * Splits a reply and checks its tag against the definition's `replies`.
 * @throws StoreContractError on a reply of the wrong shape or a tag the script does not give.
 */
export function readReply<Tag extends ReplyTag>(def: { name: string; replies: readonly Tag[] }, reply: unknown): { tag: Tag; rest: unknown[] } {
  const split = splitReply(reply, def.name);
  if (!(def.replies as readonly ReplyTag[]).includes(split.tag)) throw new StoreContractError(`${def.name}: unexpected tag ${split.tag}`);
  return split as { tag: Tag; rest: unknown[] };
}
