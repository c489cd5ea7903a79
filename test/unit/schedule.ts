import t from 'tap';
import { baseInterval, nextInterval, retryCountOf } from '../../src/trans/schedule.js';

const config = { retryIntervalMs: 10_000 };

t.test('the base interval is the transaction retry_interval, else a shorter timeout_to_fail, else the configured one', async (t) => {
  const rows: { name: string; retry_interval: number; timeout_to_fail: number; want: number }[] = [
    { name: 'nothing set: configured 10 s', retry_interval: 0, timeout_to_fail: 0, want: 10 },
    { name: 'retry_interval wins', retry_interval: 3, timeout_to_fail: 0, want: 3 },
    { name: 'retry_interval wins over a shorter timeout', retry_interval: 30, timeout_to_fail: 2, want: 30 },
    { name: 'a timeout shorter than the configured interval', retry_interval: 0, timeout_to_fail: 4, want: 4 },
    { name: 'a timeout equal to the configured interval', retry_interval: 0, timeout_to_fail: 10, want: 10 },
    { name: 'a timeout longer than the configured interval', retry_interval: 0, timeout_to_fail: 60, want: 10 },
  ];
  for (const row of rows) {
    t.equal(baseInterval({ retry_interval: row.retry_interval, timeout_to_fail: row.timeout_to_fail }, config), row.want, `${row.name}: ${row.want} s`);
  }
  t.equal(baseInterval({ retry_interval: 0, timeout_to_fail: 0 }, { retryIntervalMs: 500 }), 0.5, 'a sub-second configured interval stays in seconds');
});

t.test('reset goes back to the base, keep keeps, backoff doubles without a cap', async (t) => {
  t.equal(nextInterval('reset', 80, 10), 10, 'reset → base');
  t.equal(nextInterval('keep', 80, 10), 80, 'keep → current');
  t.equal(nextInterval('backoff', 10, 10), 20, 'backoff 10 → 20');
  let i = 10;
  for (let k = 0; k < 20; k++) i = nextInterval('backoff', i, 10);
  t.equal(i, 10 * 2 ** 20, 'twenty backoffs double twenty times (DTM has no cap)');
});

t.test('the retry count is floor(log2(interval / base)), 0 at or below the base', async (t) => {
  const rows: [interval: number, base: number, want: number][] = [
    [10, 10, 0],
    [5, 10, 0],
    [19, 10, 0],
    [20, 10, 1],
    [39, 10, 1],
    [40, 10, 2],
    [80, 10, 3],
    [10 * 2 ** 10, 10, 10],
    [3, 0.5, 2],
  ];
  for (const [interval, base, want] of rows) {
    t.equal(retryCountOf(interval, base), want, `interval ${interval}, base ${base}: ${want}`);
  }
  let interval = 10;
  for (let n = 0; n < 8; n++) {
    t.equal(retryCountOf(interval, 10), n, `after ${n} backoffs the count is ${n}`);
    interval = nextInterval('backoff', interval, 10);
  }
});
