/**
 * The transaction list's filters: what the form holds, how they travel in the page's URL (so a
 * filtered view can be bookmarked and survives a reload) and in the API's query string and bulk
 * body. Pure functions, no DOM: unit-tested under test/console/.
 */
import type { ListFilter } from '../../http/console-wire.js';

/** The unfinished statuses (the ones a bulk action can change) and the finished ones. */
export const STATUSES = ['prepared', 'submitted', 'aborting', 'succeed', 'failed'] as const;
export const UNFINISHED = ['prepared', 'submitted', 'aborting'] as const;
export const TRANS_TYPES = ['saga', 'msg', 'tcc', 'xa', 'workflow'] as const;

/** The form's state; '' is "any". Times are `datetime-local` values in the browser's zone. */
export interface Filter {
  status: string;
  type: string;
  gidPrefix: string;
  from: string;
  to: string;
}

export const EMPTY_FILTER: Filter = Object.freeze({ status: '', type: '', gidPrefix: '', from: '', to: '' });

/** The names each field has in the page URL. */
const URL_NAMES: Readonly<Record<keyof Filter, string>> = { status: 'status', type: 'type', gidPrefix: 'gid', from: 'from', to: 'to' };

/** ms of a `datetime-local` value (local time), or undefined when empty or invalid. */
export function localTimeMs(value: string): number | undefined {
  if (value.trim() === '') return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (m === null) return undefined;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  const ms = d.getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

/** A `datetime-local` value for ms, in the browser's zone. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** The filter as the API takes it: only the fields set, times in ms (the range's ends included, to the minute). */
export function toWire(f: Filter): ListFilter {
  const w: ListFilter = {};
  if (f.status !== '') w.status = f.status;
  if (f.type !== '') w.trans_type = f.type;
  const prefix = f.gidPrefix.trim();
  if (prefix !== '') w.gid_prefix = prefix;
  const from = localTimeMs(f.from);
  const to = localTimeMs(f.to);
  // The API's bounds are exclusive: widen them by one ms so the minutes typed are included.
  if (from !== undefined) w.create_time_start = from - 1;
  if (to !== undefined) w.create_time_end = to + 60_000;
  return w;
}

/** The API's query string for one page of the list. */
export function listQuery(f: Filter, position: string, limit: number): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(toWire(f))) q.set(k, String(v));
  if (position !== '') q.set('position', position);
  q.set('limit', String(limit));
  return q.toString();
}

/** The filter as the page URL's query string ('' when no filter is set). */
export function toUrlQuery(f: Filter): string {
  const q = new URLSearchParams();
  for (const key of Object.keys(URL_NAMES) as (keyof Filter)[]) {
    const v = f[key].trim();
    if (v !== '') q.set(URL_NAMES[key], v);
  }
  return q.toString();
}

/** The filter a page URL's query string holds; unknown values (a status that does not exist) are dropped. */
export function fromUrlQuery(search: string): Filter {
  const q = new URLSearchParams(search.startsWith('?') ? search.slice(1) : search);
  const get = (key: keyof Filter): string => q.get(URL_NAMES[key])?.trim() ?? '';
  const status = get('status');
  const type = get('type');
  const from = get('from');
  const to = get('to');
  return {
    status: (STATUSES as readonly string[]).includes(status) ? status : '',
    type: (TRANS_TYPES as readonly string[]).includes(type) ? type : '',
    gidPrefix: get('gidPrefix'),
    from: localTimeMs(from) === undefined ? '' : from,
    to: localTimeMs(to) === undefined ? '' : to,
  };
}

/** True when no field is set. */
export function isEmpty(f: Filter): boolean {
  return toUrlQuery(f) === '';
}

/** The filter in words, for confirmations and the bulk panel: `status submitted, type saga, gid order-…`. */
export function describe(f: Filter): string {
  const parts: string[] = [];
  if (f.status !== '') parts.push(`status ${f.status}`);
  if (f.type !== '') parts.push(`type ${f.type}`);
  if (f.gidPrefix.trim() !== '') parts.push(`gid ${f.gidPrefix.trim()}…`);
  if (f.from !== '') parts.push(`created from ${f.from.replace('T', ' ')}`);
  if (f.to !== '') parts.push(`created to ${f.to.replace('T', ' ')}`);
  return parts.length === 0 ? 'every transaction' : parts.join(', ');
}
