/** The console's calls to its API: same-origin fetch with the session cookie, JSON both ways. */
import type { ErrorReply } from '../http/console-wire.js';

/** A failed call: the HTTP status and the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let onUnauthorized: () => void = () => undefined;

/** What to do when a call answers 401 (the session ended): show the login form. */
export function whenUnauthorized(f: () => void): void {
  onUnauthorized = f;
}

/** GET (or, with a body, POST) `path`; resolves with the JSON answer, rejects with an ApiError. */
export async function call<T>(path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: body === undefined ? 'GET' : 'POST',
      credentials: 'same-origin',
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new ApiError(0, `the coordinator did not answer (${(err as Error).message})`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    json = { message: text };
  }
  if (res.status === 401 && path !== '/api/admin/login') onUnauthorized();
  if (!res.ok) throw new ApiError(res.status, (json as ErrorReply).message ?? `HTTP ${res.status}`);
  return json as T;
}
