/** The console's browser-free logic (src/console/logic/): filters, paging, formatting, the bulk run, the timeline, sparklines. */
import t from 'tap';
import type { BulkReply, TransDetail } from '../../src/http/console-wire.js';
import { applyBatch, nextRequest, pause, progress, restore, resume, serialize, stall, startRun } from '../../src/console/logic/bulk.js';
import { describe, EMPTY_FILTER, fromUrlQuery, isEmpty, listQuery, localTimeMs, toLocalInput, toUrlQuery, toWire } from '../../src/console/logic/filters.js';
import { decodePayload, formatDueAge, formatDuration, formatRate, formatRelative, middleEllipsis, parseDtmTime } from '../../src/console/logic/format.js';
import { back, canNext, canPrev, FIRST_PAGE, forward, loaded, pageNumber, position } from '../../src/console/logic/paging.js';
import { push, sparkArea, sparkPath } from '../../src/console/logic/series.js';
import { orderBranches, timelineOf } from '../../src/console/logic/timeline.js';
import { branchFields, transFields } from '../../src/console/logic/views.js';

t.test('filters: form → API query, page URL round trip, words', async (t) => {
  const f = { status: 'submitted', type: 'saga', gidPrefix: ' order-7 ', from: '2026-11-01T10:00', to: '2026-11-01T11:30' };
  const from = localTimeMs('2026-11-01T10:00')!;
  const to = localTimeMs('2026-11-01T11:30')!;
  t.equal(new Date(from).getHours(), 10, 'local time');
  t.strictSame(
    toWire(f),
    { status: 'submitted', trans_type: 'saga', gid_prefix: 'order-7', create_time_start: from - 1, create_time_end: to + 60_000 },
    'exclusive bounds widened to include the minutes typed',
  );
  t.equal(
    listQuery(f, '3:17:g', 50),
    `status=submitted&trans_type=saga&gid_prefix=order-7&create_time_start=${from - 1}&create_time_end=${to + 60_000}&position=3%3A17%3Ag&limit=50`,
  );
  t.equal(listQuery(EMPTY_FILTER, '', 50), 'limit=50', 'nothing set: only the limit');
  const url = toUrlQuery(f);
  t.equal(url, 'status=submitted&type=saga&gid=order-7&from=2026-11-01T10%3A00&to=2026-11-01T11%3A30');
  t.strictSame(fromUrlQuery(`?${url}`), { ...f, gidPrefix: 'order-7' }, 'the URL gives the filter back');
  t.strictSame(fromUrlQuery('status=bogus&type=evil&from=yesterday&gid=x'), { ...EMPTY_FILTER, gidPrefix: 'x' }, 'unknown values are dropped');
  t.ok(isEmpty(EMPTY_FILTER) && !isEmpty(f));
  t.equal(describe(EMPTY_FILTER), 'every transaction');
  t.equal(describe(f), 'status submitted, type saga, gid order-7…, created from 2026-11-01 10:00, created to 2026-11-01 11:30');
  t.equal(toLocalInput(from), '2026-11-01T10:00', 'and back to the input value');
  t.equal(
    localTimeMs('2026-13-45T99:99'),
    new Date(2026, 12, 45, 99, 99).getTime(),
    'the Date arithmetic of an out-of-range input (the browser never sends one)',
  );
  t.equal(localTimeMs('nope'), undefined);
});

t.test('paging: forward and back over the positions the pages returned', async (t) => {
  let p = loaded(FIRST_PAGE, 'p2');
  t.ok(canNext(p) && !canPrev(p));
  t.strictSame(forward(loaded(FIRST_PAGE, '')), loaded(FIRST_PAGE, ''), 'no next page: nothing changes');
  p = forward(p);
  t.strictSame([position(p), pageNumber(p), canPrev(p), canNext(p)], ['p2', 2, true, false], 'page 2, not loaded yet');
  p = forward(loaded(p, 'p3'));
  t.strictSame([position(p), pageNumber(p)], ['p3', 3]);
  p = back(p);
  t.strictSame([position(p), p.next, pageNumber(p)], ['p2', 'p3', 2], 'back keeps the way forward');
  p = back(p);
  t.strictSame([position(p), p.next], ['', 'p2']);
  t.equal(back(p), p, 'no page before the first');
  p = forward(p);
  t.strictSame([position(p), pageNumber(p)], ['p2', 2], 'forward again');
});

t.test('formatting: durations, relative times, rates, payloads', async (t) => {
  t.strictSame([0, 850, 1500, 12_400, 250_000, 3_600_000, 3_900_000, 90_000_000, 86_400_000].map(formatDuration), [
    '0 ms',
    '850 ms',
    '1.5 s',
    '12 s',
    '4 min 10 s',
    '1 h',
    '1 h 5 min',
    '1 d 1 h',
    '1 d',
  ]);
  t.equal(formatRelative(10_400, 10_000), 'now');
  t.equal(formatRelative(14_000, 10_000), 'in 4.0 s');
  t.equal(formatRelative(0, 12_000), '12 s ago');
  t.equal(formatRelative(null, 0), '—');
  t.strictSame([0, -1, 0.25, 3, 12.4, 999, 1234, 35_400, NaN].map(formatRate), ['0', '0', '0.3', '3', '12', '999', '1.2k', '35k', '0']);
  t.strictSame([null, 0, 999, 1000, 65_000].map(formatDueAge), ['—', 'on time', 'on time', '1.0 s', '1 min 5 s']);
  t.equal(parseDtmTime('2026-11-01T10:00:00+08:00'), Date.UTC(2026, 10, 1, 2));
  t.equal(parseDtmTime(null), undefined);
  const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64');
  t.strictSame(decodePayload(b64('{"amount":30}')), { kind: 'json', text: '{\n  "amount": 30\n}', size: 13 }, 'JSON is pretty-printed');
  t.strictSame(decodePayload(b64('plain text')), { kind: 'text', text: 'plain text', size: 10 });
  t.strictSame(decodePayload(b64('{not json')), { kind: 'text', text: '{not json', size: 9 });
  t.strictSame(decodePayload(b64(new Uint8Array([0xff, 0xfe, 0x00]))), { kind: 'bytes', text: '//4A', size: 3 }, 'bytes that are not UTF-8 stay base64');
  t.strictSame(decodePayload(''), { kind: 'empty', text: '', size: 0 });
  t.equal(middleEllipsis('abcdefghij', 5), 'ab…ij');
  t.equal(middleEllipsis('short', 10), 'short');
});

t.test('the bulk run: batches, pause, stall, resume, finish, and what local storage keeps', async (t) => {
  let run = startRun('force-stop', { status: 'submitted' }, 'status submitted', 250, 'run-1', 1000);
  t.strictSame(nextRequest(run), { action: 'force-stop', filter: { status: 'submitted' }, position: '', limit: 100, run: { id: 'run-1', done_before: 0 } });
  t.equal(progress(run), 0);
  const batch = (done: number, next: string, finished = false): BulkReply => ({ done, skipped: 1, failed: 0, errors: [], next_position: next, finished });
  run = applyBatch(run, batch(99, '2:5:g'));
  t.strictSame([run.position, run.done, run.skipped, run.batches, run.phase], ['2:5:g', 99, 1, 1, 'running']);
  t.equal(progress(run), 100 / 250);
  t.strictSame(nextRequest(run).run, { id: 'run-1', done_before: 99 }, 'the next batch carries the running total');
  run = pause(run);
  t.equal(run.phase, 'paused');
  run = applyBatch(run, batch(10, '3:1:h'));
  t.strictSame([run.phase, run.done, run.position], ['paused', 109, '3:1:h'], 'a batch answered after the pause still counts, and the run stays paused');
  run = resume(run);
  run = stall(run, 'the coordinator did not answer');
  t.strictSame([run.phase, run.message, run.position], ['stalled', 'the coordinator did not answer', '3:1:h'], 'an error stops the run where it was');
  run = resume(run);
  t.strictSame([run.phase, run.message], ['running', '']);
  const saved = serialize(run);
  const back = restore(saved)!;
  t.strictSame({ ...back, phase: 'running' }, run, 'local storage keeps the whole run');
  t.equal(back.phase, 'paused', 'a run interrupted by a reload comes back paused');
  run = applyBatch(run, { done: 5, skipped: 0, failed: 2, errors: [{ gid: 'g1', error: 'x' }], next_position: '', finished: true });
  t.strictSame([run.phase, run.done, run.failed, progress(run), run.errors], ['finished', 114, 2, 1, [{ gid: 'g1', error: 'x' }]]);
  t.equal(stall(run, 'late'), run, 'a finished run stays finished');
  for (const bad of [null, '', 'not json', '{}', '{"id":"x","action":"drop"}', JSON.stringify({ ...run, done: 'many' })])
    t.equal(restore(bad), undefined, `${String(bad)}: no run`);
  const unknown = startRun('retry', {}, 'every transaction', undefined, 'r', 0);
  t.equal(progress(unknown), undefined, 'no estimate: progress unknown');
});

t.test('the timeline: events from query, in time order', async (t) => {
  const d: TransDetail = {
    now: 0,
    transaction: {
      concurrent: false,
      gid: 'g',
      trans_type: 'saga',
      status: 'failed',
      create_time: '2026-11-01T10:00:00Z',
      update_time: null,
      finish_time: '2026-11-01T10:00:09Z',
      rollback_time: '2026-11-01T10:00:09Z',
      next_cron_time: null,
      next_cron_interval: 10,
      protocol: 'http',
      query_prepared: '',
      custom_data: '',
      options: '{}',
      result: '',
      rollback_reason: 'out of stock',
    },
    branches: [
      { branch_id: '01', op: 'action', url: 'u', bin_data: '', status: 'succeed', create_time: null, update_time: null, finish_time: '2026-11-01T10:00:01Z' },
      {
        branch_id: '02',
        op: 'action',
        url: 'u',
        bin_data: '',
        status: 'failed',
        create_time: null,
        update_time: null,
        finish_time: '2026-11-01T10:00:04Z',
        attempts: 3,
      },
      {
        branch_id: '01',
        op: 'compensate',
        url: 'u',
        bin_data: '',
        status: 'prepared',
        create_time: null,
        update_time: null,
        finish_time: null,
        attempts: 2,
        last_error: 'HTTP 500: boom',
        last_attempt_time: '2026-11-01T10:00:07Z',
      },
    ],
  };
  t.strictSame(
    timelineOf(d).map((e) => [e.kind, e.text]),
    [
      ['created', 'saga created (submitted)'],
      ['branch-ok', '01 action succeeded'],
      ['branch-failed', '02 action failed after 3 attempts'],
      ['branch-attempt', '01 compensate attempt 2 failed: HTTP 500: boom'],
      ['failed', 'finished: failed: out of stock'],
    ],
    'a failed one ends at its rollback time, with the reason',
  );
  const aborting = { ...d, transaction: { ...d.transaction, status: 'aborting', update_time: '2026-11-01T10:00:06Z', next_cron_time: '2026-11-01T10:00:30Z' } };
  t.strictSame(
    timelineOf(aborting)
      .slice(-3)
      .map((e) => e.kind),
    ['rollback', 'branch-attempt', 'due'],
    'one rolling back shows it, then when it is due',
  );
  const running = {
    ...d,
    transaction: { ...d.transaction, status: 'submitted', finish_time: null, rollback_time: null, next_cron_time: '2026-11-01T10:00:20Z' },
    branches: [],
  };
  t.strictSame(timelineOf(running).at(-1)?.kind, 'due', 'an unfinished one ends with when it is due');
});

t.test('sparklines: history and path', async (t) => {
  let h: number[] = [];
  for (let i = 0; i < 5; i++) h = push(h, i, 3);
  t.strictSame(h, [2, 3, 4], 'keeps the last samples');
  t.equal(sparkPath([], 100, 10), '');
  t.equal(sparkPath([0, 0], 100, 10, 2), 'M0.0 10.0 L100.0 10.0', 'all zero: flat along the bottom');
  t.equal(sparkPath([1, 2], 100, 10, 2), 'M0.0 5.5 L100.0 1.0', 'the largest touches the top');
  t.equal(sparkPath([5], 100, 10, 3), 'M100.0 1.0', 'the newest sample at the right edge');
  t.equal(sparkArea([1, 2], 100, 10, 2), 'M0.0 5.5 L100.0 1.0 L100.0 10 L0.0 10 Z');
});

t.test('branches are shown by id, the forward op first', async (t) => {
  const b = (branch_id: string, op: string) => branchFields({ branch_id, op, status: 'prepared', create_time: null, update_time: null });
  const shown = orderBranches([b('02', 'compensate'), b('02', 'action'), b('01', 'compensate'), b('01', 'action'), b('01', 'odd')]);
  t.strictSame(
    shown.map((x) => `${x.branch_id} ${x.op}`),
    ['01 action', '01 compensate', '01 odd', '02 action', '02 compensate'],
  );
  t.strictSame(
    orderBranches([b('01', 'cancel'), b('01', 'confirm'), b('01', 'try')]).map((x) => x.op),
    ['try', 'confirm', 'cancel'],
    'TCC',
  );
});

t.test("query's omitted fields read as empty", async (t) => {
  const tf = transFields({ create_time: '2026-11-01T10:00:00Z', update_time: null, concurrent: false, gid: 'g', status: 'submitted', retries: 3 });
  t.match(tf, { gid: 'g', status: 'submitted', rollback_reason: '', custom_data: '', options: '', finish_time: null, next_cron_interval: 0, retries: 3 });
  t.strictSame(
    branchFields({ create_time: null, update_time: null, branch_id: '01', op: 'action', status: 'prepared', attempts: 4, last_error: 'ERROR 500' }),
    {
      branch_id: '01',
      op: 'action',
      url: '',
      bin_data: '',
      status: 'prepared',
      finish_time: null,
      attempts: 4,
      last_attempt_time: null,
      last_error: 'ERROR 500',
    },
  );
});
