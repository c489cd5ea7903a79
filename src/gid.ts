/** Global transaction ids: generation (DTM's shortuuid format) and validation. */
import { randomBytes } from 'node:crypto';
import { BadRequestError } from './errors.js';

const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const GID_LENGTH = 22;
/** Longest gid we accept; DTM's SQL column is 128. */
export const MAX_GID_LENGTH = 128;
// Printable ASCII without spaces. Braces are allowed: DTM's flash-sale recipe uses gids like
// `{a}-<uuid>` to hash-tag the business Redis' barrier keys, and our keys put the gid after
// their own hash tag, so a brace in a gid can never move a transaction's slot.
const GID_PATTERN = /^[\x21-\x7e]+$/;

/**
 * A random 128-bit id in shortuuid's base57 alphabet, 22 characters, like DTM's `newGid`.
 * Like shortuuid, it encodes a version-4 UUID.
 */
export function newGid(): string {
  const bytes = randomBytes(16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  let n = BigInt(`0x${bytes.toString('hex')}`);
  const base = BigInt(ALPHABET.length);
  const out: string[] = [];
  for (let i = 0; i < GID_LENGTH; i++) {
    out.push(ALPHABET[Number(n % base)]!);
    n /= base;
  }
  return out.reverse().join('');
}

/**
 * Removes `\n`, `\r` and `;` as DTM does on write endpoints, then validates.
 * @throws BadRequestError when the gid is missing, too long, or has whitespace, control or
 *   non-ASCII characters.
 */
export function sanitizeGid(raw: unknown): string {
  if (raw === undefined || raw === null || raw === '') throw new BadRequestError('[DTM_BAD_GID] gid is required');
  if (typeof raw !== 'string') throw new BadRequestError('[DTM_BAD_GID] gid must be a string');
  const gid = raw.replace(/[\n\r;]/g, '');
  assertGid(gid);
  return gid;
}

/** @throws BadRequestError unless `gid` is 1-128 printable ASCII characters without spaces. */
export function assertGid(gid: string): void {
  if (gid.length === 0 || gid.length > MAX_GID_LENGTH || !GID_PATTERN.test(gid)) {
    throw new BadRequestError(`[DTM_BAD_GID] gid must be 1-${MAX_GID_LENGTH} printable ASCII characters without spaces, got ${JSON.stringify(gid.slice(0, 140))}`);
  }
}
