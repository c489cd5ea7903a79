/**
 * Calls a gRPC branch URL and classifies the status as DTM does (dtm-grpc.md §4): the URL
 * `host:port/package.Service/Method` is split at its first `/` into the dial target and the
 * method path; the stored bytes go out verbatim (no re-encoding) and the reply is ignored: only
 * the status counts. OK → SUCCESS; Aborted → FAILURE, except the message `ONGOING` (servers
 * before DTM v1.10) → ONGOING; FailedPrecondition → ONGOING; anything else → ERROR.
 */
import { Channel, connectivityState, credentials, Metadata, status, type ChannelInterface, type ChannelOptions } from '@grpc/grpc-js';
import { BadRequestError } from '../errors.js';
import type { BranchOutcome, BranchRequest, BranchResult } from './branch-call.js';

export interface GrpcBranchRequest {
  /** `host:port/package.Service/Method`. */
  url: string;
  /** The request message as stored, sent byte for byte; a string is sent as its UTF-8 bytes. */
  body: Buffer | string;
  /** Becomes the `dtm-gid`, `dtm-trans_type`, `dtm-branch_id` and `dtm-op` metadata. */
  query: BranchRequest['query'];
  /** The transaction's branch_headers: more metadata, keys lower-cased. */
  headers: Readonly<Record<string, string>>;
  /** The call's deadline, from now. */
  timeoutMs: number;
}

export interface GrpcBranchCallerOptions {
  /** Channels kept open at most, one per `host:port`; the oldest is closed beyond. @default 1024 */
  maxChannels?: number;
  /**
   * Longest pause between two connection attempts to a service that is down (grpc's default
   * grows to 120 s). @default 1000
   */
  maxReconnectBackoffMs?: number;
  /**
   * Whether a call waits, within its deadline, for a channel that is reconnecting instead of
   * failing at once with Unavailable. @default true
   */
  waitForReady?: boolean;
}

export interface GrpcBranchCaller {
  /** Performs one branch call; never throws. `status` is the gRPC status code. */
  call(req: GrpcBranchRequest): Promise<BranchOutcome>;
  /** Channels currently open. */
  channels(): number;
  /** Closes every channel; calls made afterwards are ERRORs. */
  close(): void;
}

/** A gRPC branch URL split the way it is dialled. */
export interface GrpcTarget {
  /** `host:port`, the channel's target. */
  target: string;
  /** `/package.Service/Method`, the HTTP/2 path. */
  path: string;
}

// host (name, IPv4, or [IPv6]) : port / one or more dotted identifiers / identifier
const GRPC_URL = /^(\[[0-9A-Fa-f:.]+\]|[\w.-]+):(\d{1,5})(\/[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\/[A-Za-z_]\w*)$/;

/**
 * Splits a gRPC branch URL at its first `/` as DTM's default driver does.
 * @throws TypeError for a service-discovery URL (`etcd://…`: it needs a driver we do not have)
 *   or a URL without a method path.
 */
export function parseGrpcUrl(url: string): GrpcTarget {
  const scheme = url.indexOf('://');
  if (scheme !== -1) throw new TypeError(`${url.slice(0, scheme)}:// URLs need a service-discovery driver, which this coordinator does not have`);
  const slash = url.indexOf('/');
  if (slash <= 0) throw new TypeError(`a gRPC URL is host:port/package.Service/Method, got ${JSON.stringify(url.slice(0, 200))}`);
  return { target: url.slice(0, slash), path: url.slice(slash) };
}

/**
 * For the request validator: a gRPC transaction's branch URL that is not http(s) must be
 * `host:port/package.Service/Method` (port 1-65535; the package may be absent, as proto allows).
 * An empty URL is fine: it is not called.
 * @throws BadRequestError `[DTM_BAD_URL]` otherwise, naming `what` (e.g. `steps[0].action`).
 */
export function assertGrpcBranchUrl(url: string, what: string): void {
  if (url === '') return;
  const shown = JSON.stringify(url.slice(0, 200));
  if (url.includes('://')) {
    throw new BadRequestError(
      `[DTM_BAD_URL] ${what} must be an http(s) URL or a gRPC host:port/package.Service/Method (other schemes, such as service discovery, need a driver this coordinator does not have), got ${shown}`,
    );
  }
  const m = GRPC_URL.exec(url);
  const port = m === null ? 0 : Number(m[2]);
  if (port < 1 || port > 65535) throw new BadRequestError(`[DTM_BAD_URL] ${what} must be a gRPC URL host:port/package.Service/Method, got ${shown}`);
}

/** DTM's reading of a branch's gRPC status (dtm-grpc.md §4.3, dtmgrpc.GrpcError2DtmError). */
export function classifyGrpc(code: status, details: string): BranchResult {
  switch (code) {
    case status.OK:
      return 'SUCCESS';
    case status.ABORTED:
      return details === 'ONGOING' ? 'ONGOING' : 'FAILURE';
    case status.FAILED_PRECONDITION:
      return 'ONGOING';
    default:
      return 'ERROR';
  }
}

/**
 * The proto encoding of `workflow.WorkflowData{Data: data}` (dtm-grpc.md §4.4), the body of a
 * workflow resume call: field 1, wire type 2 (`0x0a`), the length as a varint, the bytes. Empty
 * data encodes to no bytes at all, as proto3 omits an empty field.
 */
export function encodeWorkflowData(data: Uint8Array): Buffer {
  if (data.length === 0) return Buffer.alloc(0);
  const head = [0x0a];
  let n = data.length;
  while (n >= 0x80) {
    head.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  head.push(n);
  return Buffer.concat([Buffer.from(head), data]);
}

/**
 * The metadata of one call (dtm-grpc.md §4.2). `dtm-dtm` is empty when the coordinator calls.
 * A clone of a template that holds the constant entry and the call options: `set` validates
 * each key and value, as grpc-js does, so an illegal branch header still fails the call here.
 */
function metadataOf(template: Metadata, req: GrpcBranchRequest): Metadata {
  const md = template.clone();
  md.set('dtm-gid', req.query.gid);
  md.set('dtm-trans_type', req.query.trans_type);
  md.set('dtm-branch_id', req.query.branch_id);
  md.set('dtm-op', req.query.op);
  for (const k in req.headers) {
    // grpc keys are lower case; a `-bin` key carries bytes (base64 on the wire).
    const key = k.toLowerCase();
    const v = req.headers[k]!;
    md.set(key, key.endsWith('-bin') ? Buffer.from(v) : v);
  }
  return md;
}

type Call = ReturnType<ChannelInterface['createCall']>;
type Listener = Parameters<Call['start']>[1];

/** The message context grpc-js passes to its write callback; a unary call needs none. */
const NO_CONTEXT = {};

/**
 * One unary call on `channel`, at the channel API under grpc-js's Client.makeUnaryRequest: the
 * same calls into the same call stack (start, one read, the message, half-close) and the same
 * unary rule (an OK call without a reply is UNIMPLEMENTED; a second reply is never read, so such
 * a call ends at its deadline, as before), without what a branch call does not need: the
 * caller-stack Error captured per call, the interceptor chain, the EventEmitter and the
 * (de)serializer wrappers. `done` gets the final status once.
 */
function unaryCall(channel: ChannelInterface, path: string, body: Buffer, md: Metadata, deadline: number, done: (code: status, details: string) => void): void {
  const call = channel.createCall(path, deadline, undefined, null, undefined);
  let replied = false;
  const listener: Listener = {
    onReceiveMetadata() {},
    onReceiveMessage() {
      replied = true;
    },
    onReceiveStatus(s) {
      if (s.code === status.OK && !replied) done(status.UNIMPLEMENTED, 'No message received');
      else done(s.code, s.details);
    },
  };
  call.start(md, listener);
  call.startRead();
  call.sendMessageWithContext(NO_CONTEXT, body);
  call.halfClose();
}

/** Creates a caller with its own channel cache; the process needs one. */
export function createGrpcBranchCaller(opts: GrpcBranchCallerOptions = {}): GrpcBranchCaller {
  const maxChannels = opts.maxChannels ?? 1024;
  const template = new Metadata({ waitForReady: opts.waitForReady ?? true });
  template.set('dtm-dtm', '');
  const backoff = opts.maxReconnectBackoffMs ?? 1000;
  // A service restarted on the same port must not sit behind grpc's reconnect back-off (up to
  // 120 s, dtm-grpc.md §6 pitfall 9): attempts at most `backoff` apart, and calls wait for the
  // reconnection within their deadline. A local subchannel pool keeps that state to our channels.
  // Channelz (grpc-js's per-call counters, timestamps and traces for a channelz service we do
  // not serve) is off: it is per-call work with no reader.
  const channelOptions: ChannelOptions = {
    'grpc.initial_reconnect_backoff_ms': Math.min(backoff, 1000),
    'grpc.max_reconnect_backoff_ms': backoff,
    'grpc.use_local_subchannel_pool': 1,
    'grpc.enable_channelz': 0,
  };
  const channels = new Map<string, ChannelInterface>();
  let closed = false;

  function channelFor(target: string): ChannelInterface {
    let c = channels.get(target);
    if (c === undefined) {
      if (channels.size >= maxChannels) {
        const [oldest, channel] = channels.entries().next().value!;
        channels.delete(oldest);
        channel.close();
      }
      c = new Channel(target, credentials.createInsecure(), channelOptions);
      channels.set(target, c);
    }
    return c;
  }

  return {
    call(req) {
      return new Promise((resolve) => {
        if (closed) {
          resolve({ result: 'ERROR', status: status.UNKNOWN, detail: 'the gRPC branch caller is closed' });
          return;
        }
        try {
          const { target, path } = parseGrpcUrl(req.url);
          const channel = channelFor(target);
          const body = typeof req.body === 'string' ? Buffer.from(req.body) : req.body;
          unaryCall(channel, path, body, metadataOf(template, req), Date.now() + req.timeoutMs, (code, details) => {
            if (code === status.OK) {
              resolve({ result: 'SUCCESS', status: code, detail: '' });
              return;
            }
            let detail = details;
            if (code === status.DEADLINE_EXCEEDED) {
              // Waiting for a connection ends in DeadlineExceeded too: say when it never came.
              const state = channel.getConnectivityState(false);
              if (state !== connectivityState.READY) detail += ` (no connection to ${target}: ${connectivityState[state]})`;
            }
            resolve({ result: classifyGrpc(code, details), status: code, detail });
          });
        } catch (err) {
          resolve({ result: 'ERROR', status: status.UNKNOWN, detail: err instanceof Error ? err.message : String(err) });
        }
      });
    },
    channels: () => channels.size,
    close() {
      closed = true;
      for (const c of channels.values()) c.close();
      channels.clear();
    },
  };
}
