/**
 * Which token each of DTM's routes needs (auth.ts): the client endpoints DTM's SDKs call are
 * `client` (open unless API_TOKEN is set), the admin endpoints are `admin` (open unless
 * ADMIN_TOKEN is set), health (ping, /livez, /readyz) and version are always open. `query` is a client read unless
 * ADMIN_PROTECT_READS, and `/api/metrics` is open unless ADMIN_PROTECT_METRICS. A route missing
 * from the table is `admin`: a new endpoint is closed until someone decides otherwise.
 */
import type { Config } from '../config.js';
import type { Access } from './auth.js';

const CLIENT_ROUTES = [
  'GET /api/dtmsvr/newGid',
  'POST /api/dtmsvr/prepare',
  'POST /api/dtmsvr/submit',
  'POST /api/dtmsvr/abort',
  'POST /api/dtmsvr/registerBranch',
  'POST /api/dtmsvr/registerTccBranch',
  'POST /api/dtmsvr/registerXaBranch',
  'POST /api/dtmsvr/prepareWorkflow',
  'POST /api/json-rpc',
];

const OPEN_ROUTES = ['ANY /api/ping', 'GET /api/dtmsvr/version', 'GET /livez', 'GET /readyz'];

/** The access level of the route `key` (`METHOD /path`) under `config`. */
export function accessOf(key: string, config: Pick<Config, 'adminProtectReads' | 'adminProtectMetrics'>): Access {
  if (OPEN_ROUTES.includes(key)) return 'open';
  if (CLIENT_ROUTES.includes(key)) return 'client';
  if (key === 'GET /api/dtmsvr/query') return config.adminProtectReads ? 'admin' : 'client';
  if (key === 'GET /api/metrics') return config.adminProtectMetrics ? 'admin' : 'open';
  return 'admin';
}

/** True for an address only this host can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Shorter admin tokens draw a start-up warning (the login form can be tried over and over). */
const MIN_TOKEN_LENGTH = 16;

/** What the start-up log should warn about the admin surface under `config` (nothing when it is closed well). */
export function adminWarnings(config: Pick<Config, 'adminToken' | 'apiToken' | 'httpHost'>): string[] {
  const out: string[] = [];
  if (config.adminToken === undefined && !isLoopbackHost(config.httpHost)) {
    out.push(
      `ADMIN_TOKEN is not set and HTTP_HOST=${config.httpHost} is not a loopback address: the admin surface (the console at /admin, forceStop, resetCronTime, resetNextCronTime, topic changes, all) is open to anyone who can reach the port`,
    );
  }
  if (config.adminToken !== undefined && config.adminToken.length < MIN_TOKEN_LENGTH) {
    out.push(`ADMIN_TOKEN is shorter than ${MIN_TOKEN_LENGTH} characters: use a long random one (e.g. openssl rand -hex 32)`);
  }
  if (config.apiToken !== undefined && config.apiToken.length < MIN_TOKEN_LENGTH) {
    out.push(`API_TOKEN is shorter than ${MIN_TOKEN_LENGTH} characters: use a long random one (e.g. openssl rand -hex 32)`);
  }
  return out;
}
