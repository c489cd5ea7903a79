/** Query-string parameters, read the one way every endpoint reads them. */
import { BadRequestError } from '../errors.js';

/**
 * Reads an integer query parameter; an absent or empty one is `dflt`.
 * @throws BadRequestError naming the parameter when it is not an integer from `min` to `max`.
 */
export function intParam(q: URLSearchParams, name: string, dflt: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new BadRequestError(`[DTM_BAD_PARAM] ${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}
