/**
 * Write coalescing on the Redis connection: commands issued in one turn of the event loop leave in
 * one socket write, in order, with their own replies and errors; a reconnected socket is coalesced
 * too.
 */
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import t from 'tap';
import { coalesceRedisWrites } from '../../src/store/write-coalescing.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';

let redis: TestRedis;
let client: Redis;

t.before(async () => {
  redis = await startTestRedis();
  client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  coalesceRedisWrites(client);
  await client.connect();
});
t.teardown(async () => {
  client.disconnect();
  await redis.stop();
});

/** Counts the syscall-level writes (`_write` or `_writev`) the current socket makes while `fn` runs. */
async function countSocketWrites(fn: () => Promise<unknown>): Promise<number> {
  const socket = (client as unknown as { stream: Socket & { _writeGeneric: (...a: unknown[]) => unknown } }).stream;
  const original = socket._writeGeneric;
  let writes = 0;
  socket._writeGeneric = function (...args: unknown[]) {
    writes++;
    return original.apply(this, args);
  };
  try {
    await fn();
  } finally {
    socket._writeGeneric = original;
  }
  return writes;
}

t.test('200 commands from one tick leave in one write and get their own replies in order', async (t) => {
  await client.del('counter');
  let replies: number[] = [];
  const writes = await countSocketWrites(async () => {
    replies = await Promise.all(Array.from({ length: 200 }, () => client.incr('counter')));
  });
  t.equal(writes, 1);
  t.same(
    replies,
    Array.from({ length: 200 }, (_, i) => i + 1),
  );
});

t.test('commands from separate callbacks of one loop turn share the write', async (t) => {
  const writes = await countSocketWrites(
    () =>
      new Promise<void>((resolve, reject) => {
        const done: Promise<unknown>[] = [];
        // Two timers due in the same timers phase are two callbacks of one turn.
        setTimeout(() => done.push(client.set('a', '1')), 0);
        setTimeout(() => {
          done.push(client.set('b', '2'));
          Promise.all(done).then(() => resolve(), reject);
        }, 0);
      }),
  );
  t.equal(writes, 1);
  t.same(await client.mget('a', 'b'), ['1', '2']);
});

t.test('an error reply fails only its own command', async (t) => {
  await client.set('text', 'not a number');
  const results = await Promise.allSettled([client.incr('text'), client.get('text'), client.incr('other')]);
  t.equal(results[0].status, 'rejected');
  t.match((results[0] as PromiseRejectedResult).reason.message, /not an integer/);
  t.same(results[1], { status: 'fulfilled', value: 'not a number' });
  t.equal(results[2].status, 'fulfilled');
});

t.test('a new socket after a reconnect is coalesced too', async (t) => {
  const before = (client as unknown as { stream: Socket }).stream;
  // Listen before restarting: on a fast machine the client is ready again before restart() returns.
  const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
  await redis.restart();
  await ready;
  t.not((client as unknown as { stream: Socket }).stream, before);
  const writes = await countSocketWrites(() => Promise.all(Array.from({ length: 50 }, (_, i) => client.set(`k${i}`, 'v'))));
  t.equal(writes, 1);
});
