/** What a route handler sees and answers: plain data, free of the HTTP server (route.ts does the plumbing). */

export interface ApiRequest {
  /** The parsed JSON body of a POST (raw text for raw-body routes), else undefined. */
  body: unknown;
  query: URLSearchParams;
  /** Route parameters, e.g. the topic name of DELETE /topic/:name. */
  params: readonly string[];
}

export interface Reply {
  status: number;
  /** JSON-encoded, unless a string (sent as text). */
  body: unknown;
}

export type Handler = (req: ApiRequest) => Promise<Reply> | Reply;

/** DTM's success answer. */
export const ok = (body: unknown = { dtm_result: 'SUCCESS' }): Reply => ({ status: 200, body });
