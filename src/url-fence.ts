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
 * It is checked twice: at submit, where a refusal is a 400 (names resolved through a short
 * cache), and when a branch is called, through the HTTP client's DNS lookup, so a name that
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
   * Resolves `host` (a name, or an address without IPv6 brackets) through a short cache and gives
   * the verdict; undefined when it may be called.
   */
  checkHost(host: string): Promise<string | undefined>;
  /** A `dns.lookup` for the HTTP client's connect that fails for a refused host. */
  readonly lookup: LookupFunction;
}

/** How long a name's addresses are reused by submit-time checks. */
const CACHE_MS = 30_000;
const CACHE_MAX = 10_000;

export function createUrlFence(config: { deny: readonly string[]; allow: readonly string[] }): UrlFence {
  const deny = parseFenceRules(config.deny);
  const allow = parseFenceRules(config.allow);
  const cache = new Map<string, { addresses: string[]; until: number }>();

  const verdict = (host: string, addresses: readonly string[]): string | undefined => {
    if (nameMatches(deny, host)) return `${host} is in BRANCH_URL_DENY`;
    const denied = addresses.find((a) => inRange(deny, a));
    if (denied !== undefined) return `${host} resolves to ${denied}, which is in BRANCH_URL_DENY`;
    if (allow.empty || nameMatches(allow, host)) return undefined;
    if (addresses.length > 0 && addresses.every((a) => inRange(allow, a))) return undefined;
    return `${host} is not in BRANCH_URL_ALLOW`;
  };

  const resolve = (host: string): Promise<string[]> => {
    if (isIP(host) !== 0) return Promise.resolve([host]);
    const hit = cache.get(host);
    if (hit !== undefined && hit.until > Date.now()) return Promise.resolve(hit.addresses);
    return new Promise((done) => {
      dnsLookup(host, { all: true }, (err, found: LookupAddress[]) => {
        // A name that does not resolve now is judged by its name alone: it may resolve later, and
        // the call-time check sees its addresses then.
        const addresses = err ? [] : found.map((f) => f.address);
        if (!err) {
          if (cache.size >= CACHE_MAX) cache.clear();
          cache.set(host, { addresses, until: Date.now() + CACHE_MS });
        }
        done(addresses);
      });
    });
  };

  // net.connect asks for one address, or for all of them (`all: true`, with autoSelectFamily).
  const lookup = ((hostname: string, options: { all?: boolean }, callback: (err: Error | null, address?: unknown, family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, found: LookupAddress[]) => {
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
    open: deny.empty && allow.empty,
    verdict,
    async checkHost(host) {
      if (deny.empty && allow.empty) return undefined;
      return verdict(host, await resolve(host));
    },
    lookup,
  };
}
