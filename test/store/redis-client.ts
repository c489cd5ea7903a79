/**
 * The coordinator's Redis client (createRedis): a Redis that stops answering without closing the
 * connection fails the commands in flight with a clear error instead of hanging them, and the
 * client works again once Redis answers.
 */
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { createRedis } from '../../src/store/redis.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';

let redis: TestRedis;

t.before(async () => {
  redis = await startTestRedis();
});
t.teardown(async () => {
  redis.server.process.kill('SIGCONT');
  await redis.stop();
});

t.test(
  'a paused Redis fails in-flight commands within the stall timeout, and so do commands queued while it reconnects; then the client recovers',
  async (t) => {
    const client = createRedis(loadConfig({}, []), redis.url);
    t.teardown(() => client.disconnect());
    await client.connect();
    t.equal(await client.ping(), 'PONG');

    redis.server.process.kill('SIGSTOP');
    const started = Date.now();
    const err = await client.ping().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    const waited = Date.now() - started;
    t.ok(err instanceof Error, 'the command fails rather than hanging');
    t.match(err?.message, /did not answer within 5000 ms/);
    t.ok(waited >= 4_500 && waited < 15_000, `failed after ${waited} ms`);

    // Still paused: the reconnect's TCP handshake succeeds but nothing answers, so new commands
    // wait in the offline queue or behind the ready check; they must fail too.
    const again = Date.now();
    const queuedErr = await client.ping().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    const waitedAgain = Date.now() - again;
    redis.server.process.kill('SIGCONT');
    t.ok(queuedErr instanceof Error, 'a command sent while reconnecting fails too');
    t.ok(waitedAgain < 15_000, `failed after ${waitedAgain} ms`);

    await new Promise<void>((resolve) => (client.status === 'ready' ? resolve() : client.once('ready', () => resolve())));
    t.equal(await client.ping(), 'PONG', 'works again after Redis resumes');
  },
);
