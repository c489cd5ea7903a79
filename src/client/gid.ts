/** Local gid generation, shared by the SDK and the coordinator's `newGid`. */
import { randomBytes } from 'node:crypto';

const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/**
 * A gid generated locally, without a server call: a random version-4 UUID in shortuuid's base57
 * alphabet, 22 characters, the same format as DTM's `newGid`.
 */
export function genGid(): string {
  const bytes = randomBytes(16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  let n = BigInt(`0x${bytes.toString('hex')}`);
  const base = BigInt(ALPHABET.length);
  const out: string[] = [];
  for (let i = 0; i < 22; i++) {
    out.push(ALPHABET[Number(n % base)]!);
    n /= base;
  }
  return out.reverse().join('');
}
