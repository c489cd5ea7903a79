/**
 * Only executable input is stored (DESIGN.md §0.2): a branch URL or header the HTTP client would
 * refuse on every try would make its transaction retry forever (or sit in `aborting` forever),
 * so it is refused with a 400 when it arrives. The rules follow what undici accepts: WHATWG URL
 * parsing, and RFC 9110 field names (tokens) and values.
 */
import { BadRequestError } from '../errors.js';
import { branchTransport } from './branch-transport.js';
import { assertGrpcBranchUrl, parseGrpcUrl } from './grpc-branch-call.js';

/** RFC 9110 token characters: what a header name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A field value as undici sends it: tab, visible ASCII, space and obs-text; no CR, LF or NUL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/**
 * Headers the branch call owns: framing and connection management, which the client sets itself
 * (undici refuses most of them outright; `connection` would defeat the connection pool).
 */
const RESERVED_HEADERS = new Set(['content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect', 'connection', 'te', 'trailer']);

/** Shortens user input quoted in an error message. */
const quote = (s: string): string => JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);

/**
 * @throws BadRequestError `[DTM_BAD_URL]` unless `url` is empty (no call, DTM's success) or what
 *   the transaction's `protocol` calls it with (branch-transport.ts): an absolute http(s) URL
 *   with a host and a port from 1 to 65535, as WHATWG parses it, or, for a gRPC branch,
 *   `host:port/package.Service/Method`.
 */
export function assertBranchUrl(url: string, what: string, protocol = 'http'): void {
  switch (branchTransport(protocol, url)) {
    case 'none':
      return;
    case 'grpc':
      assertGrpcBranchUrl(url, what);
      return;
    case 'http':
    case 'json-rpc':
      assertHttpUrl(url, what);
      return;
  }
}

/** The host of a URL as the fence names it: IPv6 without brackets, lower case. */
const fenceHost = (hostname: string): string => hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();

/**
 * The http(s) branch URLs found valid, with their hosts. Validity is a function of the text alone
 * and branch URLs repeat across transactions, so each is parsed once (bounded: reset when full).
 */
const validHttpUrls = new Map<string, string>();
const MAX_VALID_HTTP_URLS = 4096;

/** The host a branch URL connects to (a name or an address, IPv6 without brackets), for the URL fence. */
export function branchHost(url: string, protocol: string): string | undefined {
  try {
    if (branchTransport(protocol, url) === 'grpc') return fenceHost(parseGrpcUrl(url).target.replace(/:\d+$/, ''));
    return validHttpUrls.get(url) ?? fenceHost(new URL(url).hostname);
  } catch {
    return undefined;
  }
}

function assertHttpUrl(url: string, what: string): void {
  if (validHttpUrls.has(url)) return;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new BadRequestError(`[DTM_BAD_URL] ${what} is not a valid URL: ${quote(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BadRequestError(`[DTM_BAD_URL] ${what} must be an http(s) URL, got ${quote(url)}`);
  if (u.hostname === '') throw new BadRequestError(`[DTM_BAD_URL] ${what} has no host: ${quote(url)}`);
  if (u.port === '0') throw new BadRequestError(`[DTM_BAD_URL] ${what} has port 0: ${quote(url)}`);
  // User info becomes basic credentials (branch-call.ts), so it must decode.
  try {
    decodeURIComponent(u.username);
    decodeURIComponent(u.password);
  } catch {
    throw new BadRequestError(`[DTM_BAD_URL] ${what} has user info that is not valid percent-encoding: ${quote(url)}`);
  }
  if (validHttpUrls.size >= MAX_VALID_HTTP_URLS) validHttpUrls.clear();
  validHttpUrls.set(url, fenceHost(u.hostname));
}

/**
 * @throws BadRequestError `[DTM_BAD_HEADER]` unless every name is an HTTP token that the branch
 *   call does not own, and every value a valid field value.
 */
export function assertBranchHeaders(headers: Readonly<Record<string, string>>, what = 'branch_headers'): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name)) throw new BadRequestError(`[DTM_BAD_HEADER] ${what}: ${quote(name)} is not a valid header name`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw new BadRequestError(`[DTM_BAD_HEADER] ${what}: ${name} is set by the coordinator itself`);
    if (!FIELD_VALUE.test(value)) {
      throw new BadRequestError(`[DTM_BAD_HEADER] ${what}.${name}: the value holds a character a header cannot carry (CR, LF, NUL or beyond U+00FF)`);
    }
  }
}
