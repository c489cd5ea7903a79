/**
 * Who may call what. With ADMIN_TOKEN set, the admin surface (the console's API, `forceStop`,
 * `resetCronTime`, `resetNextCronTime`, topic changes, `all`, KV reads, and optionally `query` and
 * `/api/metrics`) answers 401 unless the request carries the token as `Authorization: Bearer …` or
 * a session cookie that the console's login set. DTM's client endpoints stay open so DTM's SDKs
 * work unchanged, unless API_TOKEN is set (then either token opens them).
 *
 * Tokens are compared as SHA-256 digests with `timingSafeEqual`: equal lengths, constant time,
 * whatever the guess. A session is stateless: `v1.<expiry>.<id>.<HMAC>`, signed with a key derived
 * from the admin token, so changing the token ends every session, and nothing is kept per login.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../errors.js';
import type { Handler, RequestMeta } from './handler.js';

/** Who may call a route: anyone, a DTM client (API_TOKEN when set), or an administrator (ADMIN_TOKEN when set). */
export const ACCESS_LEVELS = ['open', 'client', 'admin'] as const;
export type Access = (typeof ACCESS_LEVELS)[number];

/** The session cookie's name. */
export const SESSION_COOKIE = 'dtm_admin';

export interface AuthOptions {
  adminToken: string | undefined;
  apiToken: string | undefined;
  /** How long a console session lasts. */
  sessionTtlMs: number;
  now: () => number;
}

/** Who made a request, for the audit log. */
export interface Identity {
  /** `admin (bearer)`, `admin (session 1a2b3c4d)`, `client (bearer)`, or `anyone` when no token is required. */
  who: string;
  /** The peer address, and the `x-forwarded-for` chain when a proxy set one. */
  from: string;
}

export interface Auth {
  /** True when ADMIN_TOKEN is set. */
  readonly adminRequired: boolean;
  /** True when calling at `level` needs a token. */
  required(level: Access): boolean;
  /**
   * Who calls at `level`.
   * @throws UnauthorizedError (401) without a valid token or session.
   */
  check(meta: RequestMeta, level: Access): Identity;
  /** The session cookie for a correct admin token, or undefined (after the same constant-time work) for a wrong one. */
  login(token: string, meta: RequestMeta): { cookie: string; identity: Identity } | undefined;
  /** The Set-Cookie value that clears the session. */
  logoutCookie(meta: RequestMeta): string;
  /** `handler` behind the check of `level` (the handler itself when no token is required). */
  guard(handler: Handler, level: Access): Handler;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Compares two secrets in time independent of where they differ (and of their lengths). */
export function sameSecret(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The peer, and the proxies' chain when there is one (the chain is the client's word, so both are kept). */
export function requestSource(meta: RequestMeta): string {
  const xff = meta.headers['x-forwarded-for'];
  const remote = meta.remote === '' ? 'unknown' : meta.remote;
  return xff === undefined ? remote : `${remote} (x-forwarded-for ${xff})`;
}

/** True when the browser reached us over TLS (we serve plain HTTP; a terminating proxy says so). */
function overTls(meta: RequestMeta): boolean {
  return meta.headers['x-forwarded-proto']?.split(',')[0]?.trim().toLowerCase() === 'https';
}

const bearer = (meta: RequestMeta): string | undefined => {
  const h = meta.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h);
  return m === null ? undefined : m[1];
};

export function createAuth(opts: AuthOptions): Auth {
  const admin = opts.adminToken === undefined || opts.adminToken === '' ? undefined : digest(opts.adminToken);
  const api = opts.apiToken === undefined || opts.apiToken === '' ? undefined : digest(opts.apiToken);
  // The signing key is derived from the token, never the token itself, and changes with it.
  const sessionKey = opts.adminToken === undefined ? undefined : createHmac('sha256', opts.adminToken).update('dtm-redis console session v1').digest();

  const sign = (payload: string): Buffer => createHmac('sha256', sessionKey!).update(payload).digest();

  /** The session id of a valid, unexpired cookie, or undefined. */
  function session(meta: RequestMeta): string | undefined {
    if (sessionKey === undefined) return undefined;
    const value = cookieValue(meta.headers.cookie, SESSION_COOKIE);
    const m = value === undefined ? null : /^v1\.([0-9a-z]{1,12})\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (m === null) return undefined;
    const mac = Buffer.from(m[3]!, 'base64url');
    if (mac.length !== 32 || !timingSafeEqual(mac, sign(`v1.${m[1]!}.${m[2]!}`))) return undefined;
    if (parseInt(m[1]!, 36) <= opts.now()) return undefined;
    return m[2];
  }

  function cookie(value: string, maxAgeS: number, meta: RequestMeta): string {
    return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${overTls(meta) ? '; Secure' : ''}`;
  }

  const required = (level: Access): boolean => (level === 'admin' ? admin !== undefined : level === 'client' ? api !== undefined : false);

  function check(meta: RequestMeta, level: Access): Identity {
    const from = requestSource(meta);
    if (!required(level)) return { who: 'anyone', from };
    const token = bearer(meta);
    if (token !== undefined) {
      // Both comparisons always run, so the time taken does not say which token was close.
      const isAdmin = admin !== undefined && sameSecret(token, admin);
      const isClient = api !== undefined && sameSecret(token, api);
      if (isAdmin) return { who: 'admin (bearer)', from };
      if (isClient && level === 'client') return { who: 'client (bearer)', from };
    } else {
      const id = session(meta);
      if (id !== undefined) return { who: `admin (session ${id.slice(0, 8)})`, from };
    }
    throw new UnauthorizedError(
      level === 'admin'
        ? '[DTM_UNAUTHORIZED] this endpoint needs the admin token: log in at /admin, or send Authorization: Bearer <ADMIN_TOKEN>'
        : '[DTM_UNAUTHORIZED] this endpoint needs a token: send Authorization: Bearer <API_TOKEN>',
    );
  }

  return {
    adminRequired: admin !== undefined,
    required,
    check,
    login(token, meta) {
      if (admin === undefined) return undefined;
      if (!sameSecret(token, admin)) return undefined;
      const id = randomBytes(8).toString('hex');
      const expiry = (opts.now() + opts.sessionTtlMs).toString(36);
      const payload = `v1.${expiry}.${id}`;
      const value = `${payload}.${sign(payload).toString('base64url')}`;
      return {
        cookie: cookie(value, Math.floor(opts.sessionTtlMs / 1000), meta),
        identity: { who: `admin (session ${id.slice(0, 8)})`, from: requestSource(meta) },
      };
    },
    logoutCookie: (meta) => cookie('', 0, meta),
    guard(handler, level) {
      if (!required(level)) return handler;
      return (req) => {
        check(req.meta, level);
        return handler(req);
      };
    },
  };
}
