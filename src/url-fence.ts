/**
 * The branch URL fence (BRANCH_URL_DENY / BRANCH_URL_ALLOW): which hosts the coordinator may
 * call. By default it refuses only the link-local metadata addresses of cloud providers, since
 * business services on loopback and private networks are normal.
 *
 * A target is refused when its host name matches a deny entry, or any address it resolves to is
 * in a denied range; and, when allow entries exist, unless its name matches one of them or every
 * address it resolves to is in an allowed range. Deny wins over allow. Entries are CIDRs
 * (`10.0.0.0/8`), addresses, host names (`metadata.internal`) and domain suffixes
 * (`.corp.example`, which matches every name under it).
 *
 * It is checked twice: at submit, where a refusal is a 400 (verdicts kept briefly per host: see
 * VERDICT_TTL_MS), and when a branch is called, through the HTTP client's DNS lookup, so a name that
 * resolves differently later (DNS rebinding) cannot slip past it.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** The default deny list: link-local metadata endpoints (AWS, GCP, Azure, …; AWS's IPv6 one). */
export const DEFAULT_DENY = ['169.254.0.0/16', 'fd00:ec2::254'] as const;

interface Rules {
  ranges: BlockList;
  names: Set<string>;
  /** Domain suffixes, each starting with a dot. */
  suffixes: string[];
  empty: boolean;
}

/**
 * Parses fence entries.
 * @throws Error naming the first entry that is neither a CIDR, an address nor a host name.
 */
export function parseFenceRules(entries: readonly string[]): Rules {
  const ranges = new BlockList();
  const names = new Set<string>();
  const suffixes: string[] = [];
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase().replace(/^\*\./, '.');
    if (entry === '') continue;
    const slash = entry.indexOf('/');
    if (slash !== -1) {
      const net = entry.slice(0, slash);
      const prefix = Number(entry.slice(slash + 1));
      const family = isIP(net);
      if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new Error(`not a CIDR: ${raw}`);
      ranges.addSubnet(net, prefix, family === 4 ? 'ipv4' : 'ipv6');
    } else if (isIP(entry) !== 0) {
      ranges.addAddress(entry, isIP(entry) === 4 ? 'ipv4' : 'ipv6');
    } else if (/^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(entry)) {
      if (entry.startsWith('.')) suffixes.push(entry);
      else names.add(entry);
    } else {
      throw new Error(`not a CIDR, an address or a host name: ${raw}`);
    }
  }
  return { ranges, names, suffixes, empty: ranges.rules.length === 0 && names.size === 0 && suffixes.length === 0 };
}

function nameMatches(rules: Rules, host: string): boolean {
  return rules.names.has(host) || rules.suffixes.some((s) => host.endsWith(s) || host === s.slice(1));
}

function inRange(rules: Rules, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && rules.ranges.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export interface UrlFence {
  /** True when nothing is fenced (no deny and no allow entries): calls skip every check. */
  readonly open: boolean;
  /** Why `host` (a name or an address) and its addresses may not be called, or undefined when they may. */
  verdict(host: string, addresses: readonly string[]): string | undefined;
  /**
   * The verdict on `host` if it is known without a DNS lookup: always for an address literal, and
   * for a name checked within the last {@link VERDICT_TTL_MS}. `undefined` when unknown (ask
   * `checkHost`); else `{ why }`, `why` being undefined when the host may be called.
   */
  known(host: string): { why: string | undefined } | undefined;
  /**
   * Resolves `host` (a name, or an address without IPv6 brackets) and gives the verdict, reusing
   * one reached within the last {@link VERDICT_TTL_MS}; undefined when it may be called.
   */
  checkHost(host: string): Promise<string | undefined>;
  /** A `dns.lookup` for the HTTP client's connect that fails for a refused host (never cached). */
  readonly lookup: LookupFunction;
}

/**
 * How long a name's verdict is reused by submit-time checks, so a DNS change is seen within this
 * time. A call-time check (`lookup`) always resolves afresh, whatever this cache holds: that is
 * what stops DNS rebinding, not the submit-time check.
 */
export const VERDICT_TTL_MS = 30_000;
/** Most hosts whose verdicts are kept; the cache starts over when full. */
export const VERDICT_CACHE_MAX = 10_000;

/** What tests replace: the clock (ms) and the resolver of submit-time checks. */
export interface UrlFenceDeps {
  now?: () => number;
  /** Every address `host` resolves to; rejects when it does not resolve. @default dns.lookup with `all: true` */
  resolveAll?: (host: string) => Promise<string[]>;
  /** The resolver of call-time checks. @default dns.lookup */
  dnsLookup?: typeof dnsLookup;
}

/** The verdict of an open fence on any host. */
const OPEN = Object.freeze({ why: undefined });

const resolveWithDns = (host: string): Promise<string[]> =>
  new Promise((resolve, reject) => {
    dnsLookup(host, { all: true }, (err, found: LookupAddress[]) => {
      if (err) reject(err);
      else resolve(found.map((f) => f.address));
    });
  });

export function createUrlFence(config: { deny: readonly string[]; allow: readonly string[] }, deps: UrlFenceDeps = {}): UrlFence {
  const deny = parseFenceRules(config.deny);
  const allow = parseFenceRules(config.allow);
  const now = deps.now ?? Date.now;
  const resolveAll = deps.resolveAll ?? resolveWithDns;
  const connectLookup = deps.dnsLookup ?? dnsLookup;
  const open = deny.empty && allow.empty;
  /**
   * Verdicts by host. An address literal's verdict depends on the rules alone, which never change,
   * so it is kept for good; a name's for VERDICT_TTL_MS (its addresses may change).
   */
  const verdicts = new Map<string, { verdict: { readonly why: string | undefined }; until: number }>();

  const verdict = (host: string, addresses: readonly string[]): string | undefined => {
    if (nameMatches(deny, host)) return `${host} is in BRANCH_URL_DENY`;
    const denied = addresses.find((a) => inRange(deny, a));
    if (denied !== undefined) return `${host} resolves to ${denied}, which is in BRANCH_URL_DENY`;
    if (allow.empty || nameMatches(allow, host)) return undefined;
    if (addresses.length > 0 && addresses.every((a) => inRange(allow, a))) return undefined;
    return `${host} is not in BRANCH_URL_ALLOW`;
  };

  const remember = (host: string, why: string | undefined, until: number): { why: string | undefined } => {
    if (verdicts.size >= VERDICT_CACHE_MAX) verdicts.clear();
    const verdict = { why };
    verdicts.set(host, { verdict, until });
    return verdict;
  };

  const known = (host: string): { why: string | undefined } | undefined => {
    if (open) return OPEN;
    const hit = verdicts.get(host);
    if (hit !== undefined && (hit.until === Infinity || hit.until > now())) return hit.verdict;
    if (isIP(host) !== 0) return remember(host, verdict(host, [host]), Infinity);
    return undefined;
  };

  // net.connect asks for one address, or for all of them (`all: true`, with autoSelectFamily).
  const lookup = ((hostname: string, options: { all?: boolean }, callback: (err: Error | null, address?: unknown, family?: number) => void) => {
    connectLookup(hostname, { ...options, all: true }, (err, found: LookupAddress[]) => {
      if (err) {
        callback(err);
        return;
      }
      const why = verdict(
        hostname.toLowerCase(),
        found.map((f) => f.address),
      );
      if (why !== undefined) {
        callback(Object.assign(new Error(`[DTM_URL_DENIED] ${why}`), { code: 'DTM_URL_DENIED' }));
        return;
      }
      if (options.all === true) callback(null, found);
      else callback(null, found[0]!.address, found[0]!.family);
    });
  }) as LookupFunction;

  return {
    open,
    verdict,
    known,
    async checkHost(host) {
      const hit = known(host);
      if (hit !== undefined) return hit.why;
      let addresses: string[];
      try {
        addresses = await resolveAll(host);
      } catch {
        // A name that does not resolve now is judged by its name alone, and not kept: it may
        // resolve later, and the call-time check sees its addresses then.
        return verdict(host, []);
      }
      return remember(host, verdict(host, addresses), now() + VERDICT_TTL_MS).why;
    },
    lookup,
  };
}
