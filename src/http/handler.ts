/** What a route handler sees and answers: plain data, free of the HTTP server (route.ts does the plumbing). */

/**
 * The request headers a handler may read, lower-cased. Only routes that ask for them
 * (`RouterOptions.headerRoutes`) get them: DTM's hot client routes pay nothing for headers they
 * never look at.
 */
export const REQUEST_HEADERS = ['authorization', 'cookie', 'user-agent', 'x-forwarded-for', 'x-forwarded-proto', 'accept-encoding'] as const;
export type RequestHeaderName = (typeof REQUEST_HEADERS)[number];
export type RequestHeaders = Readonly<Partial<Record<RequestHeaderName, string>>>;

/** What a backend snapshots for a header route: the headers above and the peer's address. */
export interface RequestMeta {
  headers: RequestHeaders;
  /** The TCP peer's address (a proxy's, behind one); '' when unknown. */
  remote: string;
}

/** The meta of a route that did not ask for headers. */
export const NO_META: RequestMeta = Object.freeze({ headers: Object.freeze({}), remote: '' });

export interface ApiRequest {
  /** The parsed JSON body of a POST (raw text for raw-body routes), else undefined. */
  body: unknown;
  query: URLSearchParams;
  /** Route parameters, e.g. the topic name of DELETE /topic/:name; a `/*` route's rest of the path last (all percent-decoded). */
  params: readonly string[];
  /** Request headers and peer address: empty unless the route is one of `RouterOptions.headerRoutes`. */
  meta: RequestMeta;
}

export interface Reply {
  status: number;
  /** JSON-encoded, unless a string (sent as text) or bytes (sent as they are, with `contentType`). */
  body: unknown;
  /** Overrides the content type chosen from the body (JSON or plain text). */
  contentType?: string;
  /** Extra response headers (set-cookie, cache-control, …), lower-case names. */
  headers?: Readonly<Record<string, string>>;
}

export type Handler = (req: ApiRequest) => Promise<Reply> | Reply;

/** DTM's success answer. */
export const ok = (body: unknown = { dtm_result: 'SUCCESS' }): Reply => ({ status: 200, body });
