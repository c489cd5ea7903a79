/**
 * Fails the commands of a Redis connection that has stopped answering, without a timer per
 * command.
 *
 * A Redis that is paused, swapping, or behind a network partition that sends no reset keeps the
 * socket open, so nothing fails and every caller would wait forever. ioredis's `commandTimeout`
 * fixes that by arming and clearing a timer per command, which measured ~8 µs of coordinator CPU
 * per 2-script saga (15%). Instead one timer per connection looks at the oldest command waiting
 * for a reply and the oldest waiting to be sent: if the same one is still first after
 * `timeoutMs`, the connection is stalled. Every waiting command is then rejected (callers answer
 * 503) and the socket is destroyed so that ioredis reconnects and no late reply can be matched to
 * a newer command.
 */
import type { Socket } from 'node:net';
import type { Cluster, Redis } from 'ioredis';

interface Queue {
  peekFront(): unknown;
  shift(): { command: { reject(err: Error): void } } | undefined;
  length: number;
}

/** ioredis internals this watchdog reads; stable across ioredis 5 and 6. */
interface Internals {
  commandQueue: Queue;
  offlineQueue: Queue;
  /** Commands in flight when the last connection closed, resent once the next one is ready. */
  prevCommandQueue?: Queue | null;
  stream?: Socket;
  flushQueue(error: Error, options: { offlineQueue: boolean; commandQueue: boolean }): void;
}

/** ioredis Cluster internals the cluster watch reads (ioredis 6). */
interface ClusterInternals {
  /** Commands waiting for the cluster to be ready again. */
  offlineQueue: Queue;
  flushQueue(error: Error): void;
}

/** A watch on one queue: the head last seen and since when. */
interface HeadWatch {
  head: unknown;
  since: number;
}

/** True when the same command has headed the queue for `timeoutMs`; remembers a new head. */
function stalled(watch: HeadWatch, head: unknown, now: number, timeoutMs: number): boolean {
  if (head === undefined || head !== watch.head) {
    watch.head = head;
    watch.since = now;
    return false;
  }
  return now - watch.since >= timeoutMs;
}

/**
 * Watches `redis` until it ends. The oldest command of each queue waits at most about
 * `timeoutMs` + `timeoutMs`/5; a Redis that still answers, however slowly, is not reset (the
 * queue's head keeps moving), so commands behind it can wait longer.
 */
export function watchForStalls(redis: Redis, timeoutMs: number): void {
  const internals = redis as unknown as Internals;
  const sent: HeadWatch = { head: undefined, since: 0 };
  const queued: HeadWatch = { head: undefined, since: 0 };
  const resend: HeadWatch = { head: undefined, since: 0 };
  const timer = setInterval(
    () => {
      // Monotonic: a wall-clock step must neither fake a stall nor hide one.
      const now = performance.now();
      if (stalled(sent, internals.commandQueue.peekFront(), now, timeoutMs)) {
        sent.head = undefined;
        internals.flushQueue(new Error(`Redis did not answer within ${timeoutMs} ms`), { offlineQueue: false, commandQueue: true });
        internals.stream?.destroy();
      }
      if (stalled(queued, internals.offlineQueue.peekFront(), now, timeoutMs)) {
        queued.head = undefined;
        internals.flushQueue(new Error(`Redis was unreachable for ${timeoutMs} ms`), { offlineQueue: true, commandQueue: false });
      }
      // In flight when the connection dropped, waiting for a ready connection to be resent (e.g.
      // while a restarted Redis loads its data): no flushQueue reaches them.
      const previous = internals.prevCommandQueue;
      if (previous && stalled(resend, previous.peekFront(), now, timeoutMs)) {
        resend.head = undefined;
        const err = new Error(`Redis did not answer within ${timeoutMs} ms (connection lost)`);
        for (let item = previous.shift(); item !== undefined; item = previous.shift()) item.command.reject(err);
      }
    },
    Math.max(10, Math.floor(timeoutMs / 5)),
  );
  timer.unref();
  redis.once('end', () => clearInterval(timer));
}

/**
 * Watches the queue a Redis Cluster client keeps of its own. When no node can be reached at all
 * (the whole cluster down, or cut off), the client drops its node connections and reconnects
 * forever, holding every new command in that queue until a node answers: no node connection
 * holds them, so `watchForStalls` cannot fail them and the callers would wait as long as the
 * outage lasts. The head of the queue waits at most about `timeoutMs` + `timeoutMs`/5.
 */
export function watchClusterForStalls(cluster: Cluster, timeoutMs: number): void {
  const internals = cluster as unknown as ClusterInternals;
  const queued: HeadWatch = { head: undefined, since: 0 };
  const timer = setInterval(
    () => {
      // The client swaps in a new queue when it sends the old one's commands: read it each time.
      if (stalled(queued, internals.offlineQueue.peekFront(), performance.now(), timeoutMs)) {
        queued.head = undefined;
        internals.flushQueue(new Error(`no Redis Cluster node was reachable for ${timeoutMs} ms`));
      }
    },
    Math.max(10, Math.floor(timeoutMs / 5)),
  );
  timer.unref();
  cluster.once('end', () => clearInterval(timer));
}
