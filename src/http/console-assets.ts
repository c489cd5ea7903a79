/**
 * The console's static files (built by Vite from src/console/ into dist/console/), served at
 * `/admin`. Every file is read once, at start-up, into a table keyed by its path under the
 * directory; a request only ever looks a path up in that table, so no request path reaches the
 * file system and `..` or an encoded slash cannot leave the directory. Vite's hashed files under
 * `assets/` are cached for a year; `index.html` is revalidated on every load, so a new build is
 * picked up at once. Any other path under `/admin/` that names no file is one of the console's
 * own pages and gets `index.html` (the browser router takes it from there).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Handler, Reply } from './handler.js';
import type { ResponseHeaders } from './respond.js';

/** The types of what Vite emits (and a few more), by extension. */
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The console's content security policy: its own scripts, styles and API only; no inline
 * script, no framing, no form posts elsewhere.
 */
const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const IMMUTABLE = 'public, max-age=31536000, immutable';

interface Asset {
  type: string;
  body: Buffer;
  /** The gzipped body, for text files where it is smaller. */
  gzip: Buffer | undefined;
  headers: ResponseHeaders;
  gzipHeaders: ResponseHeaders | undefined;
}

/** dist/console/, whether this module runs from dist/ or (in tests) from src/. */
function defaultConsoleDir(): string {
  const fromDist = import.meta.url.includes('/dist/src/');
  return fileURLToPath(new URL(fromDist ? '../../console/' : '../../dist/console/', import.meta.url));
}

function headersFor(path: string, type: string): Record<string, string> {
  const h: Record<string, string> = {
    'cache-control': path.startsWith('assets/') ? IMMUTABLE : 'no-cache',
    'x-content-type-options': 'nosniff',
  };
  if (type.startsWith('text/html')) {
    h['content-security-policy'] = CONSOLE_CSP;
    h['x-frame-options'] = 'DENY';
    h['referrer-policy'] = 'same-origin';
  }
  return h;
}

/** Reads every file under `dir` into the table (empty when the console was not built). */
function loadAssets(dir: string): Map<string, Asset> {
  const table = new Map<string, Asset>();
  if (!existsSync(dir)) return table;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const file = join(e.parentPath, e.name);
    const path = relative(dir, file).split(sep).join('/');
    const type = TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
    const body = readFileSync(file);
    const textual = type.startsWith('text/') || type.startsWith('application/json') || type === 'image/svg+xml';
    const packed = textual && body.length > 1024 ? gzipSync(body, { level: 9 }) : undefined;
    const gzip = packed !== undefined && packed.length < body.length ? packed : undefined;
    const headers = headersFor(path, type);
    table.set(path, {
      type,
      body,
      gzip,
      headers: gzip === undefined ? headers : { ...headers, vary: 'accept-encoding' },
      gzipHeaders: gzip === undefined ? undefined : { ...headers, vary: 'accept-encoding', 'content-encoding': 'gzip' },
    });
  }
  return table;
}

/** True when the Accept-Encoding header allows gzip (not refused with q=0). */
function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((part) => {
    const [coding = '', ...params] = part.trim().toLowerCase().split(';');
    if (coding.trim() !== 'gzip' && coding.trim() !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

const NOT_BUILT: Reply = {
  status: 503,
  body: 'The console is not built: run `npm run build` (or `npm start`, which builds when the sources changed).\n',
};

/**
 * The handlers of `GET /admin` and `GET /admin/*` (whose rest of the path, percent-decoded, is
 * the last parameter) over the files of `dir`.
 */
export function createConsoleAssets(dir: string = defaultConsoleDir()): { available: boolean; index: Handler; files: Handler } {
  const table = loadAssets(dir);
  const index = table.get('index.html');

  const serve = (asset: Asset, acceptEncoding: string | undefined): Reply => {
    if (asset.gzip !== undefined && acceptsGzip(acceptEncoding)) {
      return { status: 200, body: asset.gzip, contentType: asset.type, headers: asset.gzipHeaders! };
    }
    return { status: 200, body: asset.body, contentType: asset.type, headers: asset.headers };
  };

  return {
    available: index !== undefined,
    index: (req) => (index === undefined ? NOT_BUILT : serve(index, req.meta.headers['accept-encoding'])),
    files(req) {
      if (index === undefined) return NOT_BUILT;
      const path = req.params.at(-1) ?? '';
      const asset = table.get(path);
      if (asset !== undefined) return serve(asset, req.meta.headers['accept-encoding']);
      // A missing file (a stale hashed name, a typo) is a 404, never the page in its place; any
      // other path is one of the console's pages (`tx/<gid>`, where a gid may hold dots).
      const topLevelFile = !path.includes('/') && path.includes('.');
      if (path.startsWith('assets/') || topLevelFile) return { status: 404, body: '404 page not found', headers: { 'cache-control': 'no-store' } };
      return serve(index, req.meta.headers['accept-encoding']);
    },
  };
}
