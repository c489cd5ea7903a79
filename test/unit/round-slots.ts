import t from 'tap';
import { createRoundSlots } from '../../src/trans/round-slots.js';

t.test('tryAcquire takes free slots up to the limit, then refuses', async (t) => {
  const s = createRoundSlots(3);
  t.strictSame([s.limit, s.inUse, s.free()], [3, 0, 3], 'empty: 3 free');
  t.ok(s.tryAcquire() && s.tryAcquire() && s.tryAcquire(), 'three slots taken');
  t.strictSame([s.inUse, s.free()], [3, 0], 'all in use, none free');
  t.notOk(s.tryAcquire(), 'a fourth is refused');
  t.notOk(s.tryAcquire(), 'and a fifth');
  t.equal(s.inUse, 3, 'a refusal takes nothing');
  s.release();
  t.strictSame([s.inUse, s.free()], [2, 1], 'a release frees one');
  t.ok(s.tryAcquire(), 'which can be taken again');
});

t.test('acquire waits in line, first come first served, and a release hands the slot over', async (t) => {
  const s = createRoundSlots(1);
  await s.acquire();
  const order: number[] = [];
  const waiters = [1, 2, 3].map((n) => s.acquire().then(() => order.push(n)));
  t.equal(s.waiting, 3, 'three in line');
  t.equal(s.free(), 0, 'nothing free');
  t.notOk(s.tryAcquire(), 'tryAcquire does not jump the line');
  const freed: number[] = [];
  s.onChange(() => freed.push(s.inUse));
  s.release();
  await waiters[0];
  t.strictSame(order, [1], 'the first in line got it');
  t.strictSame([s.inUse, s.waiting], [1, 2], 'handed over: still in use, two in line');
  t.strictSame(freed, [], 'a handed-over slot does not signal free');
  s.release();
  s.release();
  await Promise.all(waiters);
  t.strictSame(order, [1, 2, 3], 'served in arrival order');
  s.release();
  t.strictSame([s.inUse, s.waiting, s.free()], [0, 0, 1], 'back to empty');
  t.strictSame(freed, [0], 'the last release, with nobody in line, signalled free once');
});

t.test('acquire with a free slot and nobody in line resolves at once', async (t) => {
  const s = createRoundSlots(2);
  await s.acquire();
  t.equal(s.inUse, 1, 'taken without waiting');
});

t.test('a long line is served in order across the internal compaction', async (t) => {
  const s = createRoundSlots(1);
  t.ok(s.tryAcquire(), 'the one slot is taken');
  const served: number[] = [];
  const n = 5000;
  const all = Array.from({ length: n }, (_, i) => s.acquire().then(() => served.push(i)));
  // Each release hands the slot to the next in line, as a finishing round would.
  for (let i = 0; i < n; i++) s.release();
  await Promise.all(all);
  t.equal(served.length, n, 'everyone served');
  t.ok(
    served.every((v, i) => v === i),
    'in arrival order',
  );
  t.strictSame([s.inUse, s.waiting], [1, 0], 'the last one holds the slot');
});

t.test('defer() counts and signals; listeners can unsubscribe; releasing more than acquired is a bug', async (t) => {
  const s = createRoundSlots(1);
  let calls = 0;
  const off = s.onChange(() => calls++);
  s.tryAcquire();
  s.defer();
  t.strictSame([calls, s.deferrals, s.inUse], [1, 1, 1], 'a deferral is counted and signalled, and takes no slot');
  s.release();
  t.equal(calls, 2, 'the release signalled too');
  off();
  s.tryAcquire();
  s.release();
  t.equal(calls, 2, 'called before unsubscribing only');
  t.throws(() => s.release(), /released more often than acquired/, 'an extra release throws');
  t.throws(() => createRoundSlots(0), RangeError, 'a limit of 0 is refused');
  t.throws(() => createRoundSlots(1.5), RangeError, 'a fractional limit is refused');
});
