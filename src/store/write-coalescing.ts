/**
 * Coalesces the commands written to a Redis connection within one turn of the event loop into a
 * single socket write.
 *
 * ioredis writes every command with its own `socket.write`, one syscall each. Under load one turn
 * of the loop issues many commands (HTTP requests, branch replies and Redis replies each move some
 * transaction to its next script), so corking the socket on the first write and uncorking it after
 * the loop's I/O phase turns N syscalls into one `writev`. Redis then reads the batch at once and
 * answers it with one write too, so both sides save CPU. Unlike ioredis's own auto-pipelining this
 * adds no per-command bookkeeping: order, replies and errors stay ioredis's business.
 */
import type { Socket } from 'node:net';
import type { Cluster, Redis } from 'ioredis';
import { eachNode } from './each-node.js';

/** Patches `client` (and, for a cluster, every node it connects to) to coalesce writes. */
export function coalesceRedisWrites(client: Redis | Cluster): void {
  eachNode(client, (node) => {
    node.on('connect', () => {
      const socket = (node as unknown as { stream?: Socket }).stream;
      if (socket !== undefined) corkPerTick(socket);
    });
  });
}

const patched = new WeakSet<Socket>();

function corkPerTick(socket: Socket): void {
  if (patched.has(socket)) return;
  patched.add(socket);
  // eslint-disable-next-line @typescript-eslint/unbound-method -- re-applied with the socket as `this` below
  const write = socket.write;
  let corked = false;
  const flush = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.write = function coalescedWrite(this: Socket, ...args: unknown[]): boolean {
    if (!corked) {
      corked = true;
      socket.cork();
      // setImmediate runs after the loop's poll phase, so every command issued while handling
      // this turn's HTTP requests, branch replies and Redis replies shares one write. (A
      // nextTick flush only batches within one callback and measured no gain on saga-e2e.)
      setImmediate(flush);
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  };
}
