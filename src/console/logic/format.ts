/** How the console writes times, durations, rates and payloads. Pure functions, no DOM. */

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `2026-11-01 14:03:07` in the browser's zone; '—' for nothing. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `14:03:07.250`, for timelines where events are close together. */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** ms of DTM's RFC 3339 time (views.ts), or undefined for null, '' or garbage. */
export function parseDtmTime(s: string | null | undefined): number | undefined {
  if (s === null || s === undefined || s === '') return undefined;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A duration in the largest unit that keeps it short: `850 ms`, `12.5 s`, `4 min 10 s`, `3 h 5 min`, `2 d 4 h`. */
export function formatDuration(ms: number): string {
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(a)} ms`;
  if (a < 10_000) return `${(a / 1000).toFixed(1)} s`;
  if (a < 60_000) return `${Math.round(a / 1000)} s`;
  const s = Math.round(a / 1000);
  if (s < 3600) return s % 60 === 0 ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
  const m = Math.round(a / 60_000);
  if (m < 24 * 60) return m % 60 === 0 ? `${Math.floor(m / 60)} h` : `${Math.floor(m / 60)} h ${m % 60} min`;
  const h = Math.round(a / 3_600_000);
  return h % 24 === 0 ? `${Math.floor(h / 24)} d` : `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** `in 4.0 s`, `12 s ago`, `now` (within half a second); '—' for nothing. */
export function formatRelative(ms: number | null | undefined, now: number): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const d = ms - now;
  if (Math.abs(d) < 500) return 'now';
  return d > 0 ? `in ${formatDuration(d)}` : `${formatDuration(d)} ago`;
}

/** A rate per second: `0`, `0.4`, `12`, `1.2k`, `35k`. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '0';
  if (perSecond < 10) return perSecond.toFixed(1).replace(/\.0$/, '');
  if (perSecond < 1000) return String(Math.round(perSecond));
  if (perSecond < 10_000) return `${(perSecond / 1000).toFixed(1).replace(/\.0$/, '')}k`;
  return `${Math.round(perSecond / 1000)}k`;
}

/** A count with thousands separators: `1,234,567`. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A payload as the console shows it: pretty JSON, UTF-8 text, or base64 bytes. */
export interface Payload {
  kind: 'json' | 'text' | 'bytes' | 'empty';
  text: string;
  /** Its size in bytes. */
  size: number;
}

/** Decodes a base64 payload (`bin_data`): pretty-printed when it is JSON, as text when it is UTF-8, else base64. */
export function decodePayload(base64: string): Payload {
  let bytes: Uint8Array;
  try {
    const bin = atob(base64);
    bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return { kind: 'bytes', text: base64, size: 0 };
  }
  if (bytes.length === 0) return { kind: 'empty', text: '', size: 0 };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { kind: 'bytes', text: base64, size: bytes.length };
  }
  return { ...prettyJson(text), size: bytes.length };
}

/** JSON text re-indented by two spaces; anything else as it is. */
export function prettyJson(text: string): { kind: 'json' | 'text'; text: string } {
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return { kind: 'json', text: JSON.stringify(JSON.parse(t), null, 2) };
    } catch {
      // not JSON after all
    }
  }
  return { kind: 'text', text };
}

/** A gid or URL shortened in the middle to at most `max` characters (the full text goes in a title). */
export function middleEllipsis(s: string, max: number): string {
  if (s.length <= max) return s;
  const keep = max - 1;
  const head = Math.ceil(keep / 2);
  return `${s.slice(0, head)}…${s.slice(s.length - (keep - head))}`;
}

/** How late the earliest-due transaction is: '—' when nothing is scheduled, `on time` under a second (a poll's delay), else the duration. */
export function formatDueAge(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return ms < 1000 ? 'on time' : formatDuration(ms);
}
