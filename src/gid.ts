/** Global transaction ids: generation (DTM's shortuuid format) and validation. */
import { genGid } from './client/gid.js';
import { BadRequestError } from './errors.js';

/** Longest gid we accept; DTM's SQL column is 128. */
export const MAX_GID_LENGTH = 128;
// Printable ASCII without spaces and without `;`. Braces are allowed: DTM's flash-sale recipe
// uses gids like `{a}-<uuid>` to hash-tag the business Redis' barrier keys, and our keys put the
// gid after their own hash tag, so a brace in a gid can never move a transaction's slot.
const GID_PATTERN = /^[\x21-\x3a\x3c-\x7e]+$/;

/**
 * A random 128-bit id in shortuuid's base57 alphabet, 22 characters, like DTM's `newGid`.
 * The SDK owns the generator (the coordinator may import the SDK, never the other way round).
 */
export const newGid: () => string = genGid;

/**
 * Validates the gid of a request. DTM strips `\n`, `\r` and `;` from gids on its write
 * endpoints, which makes `Xa;b` and `Xab` one transaction (and `query?gid=Xa;b` miss it); we
 * refuse such gids instead (a deliberate difference, see the README).
 * @throws BadRequestError when the gid is missing, not a string, or fails `assertGid`.
 */
export function parseGid(raw: unknown): string {
  if (raw === undefined || raw === null || raw === '') throw new BadRequestError('[DTM_BAD_GID] gid is required');
  if (typeof raw !== 'string') throw new BadRequestError('[DTM_BAD_GID] gid must be a string');
  assertGid(raw);
  return raw;
}

/** @throws BadRequestError unless `gid` is 1-128 printable ASCII characters without spaces or `;`. */
export function assertGid(gid: string): void {
  if (gid.length === 0 || gid.length > MAX_GID_LENGTH || !GID_PATTERN.test(gid)) {
    throw new BadRequestError(
      `[DTM_BAD_GID] gid must be 1-${MAX_GID_LENGTH} printable ASCII characters without spaces or ';', got ${JSON.stringify(gid.slice(0, 140))}`,
    );
  }
}
