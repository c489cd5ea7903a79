/**
 * The admin console in a real browser, as an operator uses it: Debian's Chromium (`/usr/bin/chromium`,
 * which .ci/run installs) driven by playwright-core, against one coordinator with ADMIN_TOKEN set,
 * its poller on the wall clock, and a fake business service. Log in, watch a failing saga appear
 * without a reload, open it and read its failing branch, force-stop it, bulk-retry by filter,
 * watch the live counters move under load, sign out, and the 401 paths. `npm run build` first:
 * the coordinator serves the built console from dist/console/.
 *
 * SCREENSHOT_DIR=/some/dir saves a 1280×800 screenshot of each page there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { pino } from 'pino';
import t from 'tap';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { startBusi, type Busi } from '../fixtures/busi.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const TOKEN = 'browser-test-admin-token-7f3a9c';
const SHOTS = process.env['SCREENSHOT_DIR'];

let redis: TestRedis;
let busi: Busi;
let app: App;
let base: string;
let context: BrowserContext;
let page: Page;
let userDataDir: string;
/** Every log line the coordinator wrote (the audit lines among them). */
const logLines: Record<string, unknown>[] = [];

const post = async (path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> => {
  const r = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body), headers });
  const text = await r.text();
  return { status: r.status, body: text === '' ? undefined : JSON.parse(text) };
};
const get = async (path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> => {
  const r = await fetch(`${base}${path}`, { headers });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // text
  }
  return { status: r.status, body };
};

function saga(gid: string, path: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    gid,
    trans_type: 'saga',
    steps: [{ action: `${busi.url}/${path}`, compensate: `${busi.url}/${path}Revert` }],
    payloads: [JSON.stringify({ amount: 30, sku: 'flash-1' })],
    ...extra,
  };
}

async function shot(name: string): Promise<void> {
  if (SHOTS !== undefined) await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** True when nothing on the page is wider than the window (no sideways scrolling at 1280×800). */
async function fitsWidth(): Promise<boolean> {
  return page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth');
}

t.before(async () => {
  redis = await startTestRedis();
  busi = await startBusi();
  const config = loadConfig(
    {
      HTTP_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      REDIS_URL: redis.url,
      STORE_REDIS_PREFIX: `b${process.pid}`,
      STORE_BUCKETS: '8',
      ADMIN_TOKEN: TOKEN,
      RETRY_INTERVAL: '0.2',
      TIMEOUT_TO_FAIL: '30',
      TRANS_CRON_INTERVAL: '0.1',
      ...(process.env['HTTP_BACKEND'] !== undefined ? { HTTP_BACKEND: process.env['HTTP_BACKEND'] } : {}),
    },
    [],
  );
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  app = createApp(config, { logger: pino({ level: 'info' }, sink) });
  await app.start();
  base = `http://127.0.0.1:${app.port()}`;
  userDataDir = mkdtempSync(join(tmpdir(), 'dtm-console-chromium-'));
  // A fresh profile each run; without the background-networking flags Chromium keeps trying hosts this closed network refuses.
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(10_000);
});

t.teardown(async () => {
  await context?.close();
  await app?.stop();
  await busi?.close();
  await redis?.stop();
  if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true });
});

t.test('without the token every admin endpoint answers 401 JSON, while DTM clients still work', async (t) => {
  const refused: [string, () => Promise<{ status: number; body: any }>][] = [
    ['console session', () => get('/api/admin/session')],
    ['console list', () => get('/api/admin/transactions')],
    ['console stats', () => get('/api/admin/stats')],
    ['console bulk', () => post('/api/admin/bulk', { action: 'retry', filter: {}, position: '' })],
    ['all', () => get('/api/dtmsvr/all')],
    ['forceStop', () => post('/api/dtmsvr/forceStop', { gid: 'x' })],
    ['resetCronTime', () => get('/api/dtmsvr/resetCronTime')],
    ['resetNextCronTime', () => post('/api/dtmsvr/resetNextCronTime', { gid: 'x' })],
    ['subscribe', () => get('/api/dtmsvr/subscribe?topic=t&url=http://127.0.0.1:1/x')],
    ['a wrong bearer token', () => get('/api/dtmsvr/all', { authorization: 'Bearer nope' })],
  ];
  for (const [name, call] of refused) {
    const r = await call();
    t.equal(r.status, 401, `${name}: 401`);
    t.match(r.body, { message: /^\[DTM_UNAUTHORIZED\]/ }, `${name}: JSON with the reason`);
  }
  const gid = `open-${Date.now()}`;
  t.match(await get('/api/dtmsvr/newGid'), { status: 200, body: { gid: /./ } }, 'newGid is open');
  t.match(await post('/api/dtmsvr/submit', saga(gid, 'Ok', { wait_result: true })), { status: 200 }, 'a DTM client submits a saga without a token');
  t.match(await get(`/api/dtmsvr/query?gid=${gid}`), { status: 200, body: { transaction: { status: 'succeed' } } }, 'and queries it');
  t.match(
    await get('/api/dtmsvr/all', { authorization: `Bearer ${TOKEN}` }),
    { status: 200, body: { transactions: [] } },
    'a tool with the bearer token lists',
  );
});

t.test('log in: a wrong token is refused, the right one sets an HttpOnly SameSite=Strict session cookie', async (t) => {
  await page.goto(`${base}/admin/`);
  await page.getByLabel('Admin token').fill('wrong-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('That is not the admin token.').waitFor();
  await shot('login');
  t.ok(await fitsWidth(), 'the login page fits 1280 px');
  await page.getByLabel('Admin token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Transactions' }).waitFor();
  const cookie = (await context.cookies()).find((c) => c.name === 'dtm_admin');
  t.match(cookie, { httpOnly: true, sameSite: 'Strict', path: '/' }, 'the session cookie');
  t.ok(
    logLines.some((l) => l['audit'] === true && l['action'] === 'login' && l['msg'] === 'console login refused: wrong token'),
    'the refused login is logged',
  );
  t.notOk(JSON.stringify(logLines).includes(TOKEN), 'the token is never logged');
});

let failingGid = '';

t.test('a saga with a failing branch appears in the list without a reload; its page shows the error and attempts', async (t) => {
  failingGid = `stuck-${Date.now()}`;
  busi.next('Stuck', ...Array<'ERROR'>(500).fill('ERROR'));
  t.match(await post('/api/dtmsvr/submit', saga(failingGid, 'Stuck')), { status: 200 }, 'submitted');
  const row = page.getByRole('link', { name: failingGid });
  await row.waitFor();
  t.pass('the saga appeared in the list by itself');
  // Let it fail a few times.
  const deadline = Date.now() + 10_000;
  while (busi.callsTo('Stuck').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.ok(busi.callsTo('Stuck').length >= 3, 'the branch was tried several times');
  await page
    .getByRole('row', { name: new RegExp(failingGid) })
    .getByText(/boom/)
    .waitFor();
  t.pass("the list shows the branch's last error without a reload");
  await shot('transactions');
  t.ok(await fitsWidth(), 'the list fits 1280 px');
  await row.click();
  await page.getByRole('heading', { name: failingGid }).waitFor();
  const action = page.getByRole('row', { name: /^01 action/ });
  t.match(await action.innerText(), /01\s+action\s+prepared/, 'the branch: id, op, status');
  t.match(await action.getByTestId('last-error').innerText(), /500[\s\S]*boom/, "the branch's last error: the status and the answer");
  const attempts = Number(await action.locator('td').nth(3).innerText());
  t.ok(attempts >= 3, `its attempts (${attempts})`);
  t.match(await action.locator('td').nth(4).innerText(), /ago|now/, 'and when it was last tried');
  t.match(await page.locator('.timeline').innerText(), /01 action attempt \d+ failed: .*boom/, 'the timeline has the failed attempt');
  t.equal(await page.getByText('"sku": "flash-1"').count(), 0, 'the payload is folded');
  await action.getByRole('button', { name: 'Payload' }).click();
  await page.getByText('"sku": "flash-1"').waitFor();
  t.pass('the payload shows as pretty JSON');
  await page.getByText('Timeline').waitFor();
  await shot('transaction');
  t.ok(await fitsWidth(), 'the transaction page fits 1280 px');
});

t.test('force-stop asks for confirmation, then the status turns failed', async (t) => {
  await page.getByRole('button', { name: 'Force-stop' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  t.match(await dialog.innerText(), /cannot be undone/, 'the confirmation says what happens');
  await shot('confirm');
  await dialog.getByRole('button', { name: 'Force-stop' }).click();
  await page.locator('.title-tags .badge.status-failed').waitFor();
  t.pass('the page shows failed');
  const q = await get(`/api/dtmsvr/query?gid=${failingGid}`);
  t.equal(q.body.transaction.status, 'failed', 'the coordinator has it failed');
  t.ok(
    logLines.some(
      (l) => l['audit'] === true && l['action'] === 'force-stop' && l['gid'] === failingGid && l['count'] === 1 && /^admin \(session /.test(String(l['who'])),
    ),
    'one audit line: who, what, how many',
  );
});

t.test('a saga whose branch refuses rolls back: the list and its page say why', async (t) => {
  const gid = `refused-${Date.now()}`;
  busi.next('Refuse', 'FAILURE');
  await post('/api/dtmsvr/submit', saga(gid, 'Refuse', { wait_result: true }));
  await page.goto(`${base}/admin/?gid=${gid}`);
  const row = page.getByRole('row', { name: new RegExp(gid) }).first();
  await row.waitFor();
  t.match(await row.innerText(), /failed[\s\S]*busi says no/, 'the row: failed, and the reason');
  await row.getByRole('link', { name: gid }).click();
  await page.getByRole('heading', { name: gid }).waitFor();
  const reason = page.locator('.field', { hasText: 'Rollback reason' });
  t.match(await reason.innerText(), /busi says no/, "the page: the branch's error as the rollback reason");
  t.match(
    await page.locator('.timeline').innerText(),
    /01 action failed[\s\S]*01 compensate succeeded[\s\S]*finished: failed: .*busi says no/,
    'the timeline: the failure, the compensation, the end and why',
  );
  await shot('transaction-failed');
});

t.test('bulk retry by filter: confirmation, progress, every matching transaction made due, audit lines', async (t) => {
  const prefix = `bulk-${Date.now()}-`;
  busi.next('Slow', ...Array<'ERROR'>(200).fill('ERROR'));
  // A long retry interval: without the bulk retry, none would be called again during the test.
  for (let i = 0; i < 5; i++) t.match(await post('/api/dtmsvr/submit', saga(`${prefix}${i}`, 'Slow', { retry_interval: 600 })), { status: 200 });
  const deadline = Date.now() + 5000;
  while (busi.callsTo('Slow').length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  const before = busi.callsTo('Slow').length;
  t.equal(before, 5, 'each was tried once and now waits 10 minutes');

  await page.goto(`${base}/admin/?status=submitted&gid=${encodeURIComponent(prefix)}`);
  await page.getByText(`status submitted, gid ${prefix}…`).first().waitFor();
  await page.locator('tbody tr').nth(4).waitFor();
  t.equal(await page.locator('tbody tr').count(), 5, 'the filter shows the five');
  await page.getByRole('button', { name: 'Retry matching…' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Retry them now' }).click();
  const panel = page.getByTestId('bulk-panel');
  await panel.getByText('Finished', { exact: true }).waitFor();
  t.match(await page.getByTestId('bulk-counts').innerText(), /^5 made due · 0 already finished · 0 failed/, 'the panel counts five');
  await shot('bulk');
  const retried = Date.now() + 5000;
  while (busi.callsTo('Slow').length < before + 5 && Date.now() < retried) await new Promise((r) => setTimeout(r, 20));
  t.equal(busi.callsTo('Slow').length, before + 5, 'each was called again at once');
  const audit = logLines.filter((l) => l['audit'] === true && String(l['action']).startsWith('bulk retry'));
  t.ok(
    audit.some((l) => l['action'] === 'bulk retry batch' && l['count'] === 5),
    'a batch line with its count',
  );
  t.ok(
    audit.some((l) => l['action'] === 'bulk retry finished' && l['count'] === 5 && (l['filter'] as any)?.gid_prefix === prefix),
    'a finished-run line with the filter and total',
  );
  await panel.getByRole('button', { name: 'Close' }).click();
});

t.test('a bulk run cut short by a reload comes back paused and resumes from its position', async (t) => {
  const prefix = `resume-${Date.now()}-`;
  for (let i = 0; i < 3; i++) {
    const r = await post('/api/dtmsvr/prepare', { gid: `${prefix}${i}`, trans_type: 'msg', steps: [], payloads: [], query_prepared: `${busi.url}/Query` });
    t.equal(r.status, 200, `${prefix}${i} prepared`);
  }
  // What the console keeps while a run is going, as a reload finds it.
  const run = {
    id: 'interrupted-run',
    action: 'force-stop',
    filter: { status: 'prepared', gid_prefix: prefix },
    label: `status prepared, gid ${prefix}…`,
    position: '',
    phase: 'running',
    done: 0,
    skipped: 0,
    failed: 0,
    batches: 0,
    errors: [],
    message: '',
    startedAt: Date.now(),
  };
  await page.evaluate(`localStorage.setItem('dtm-console.bulk-run', ${JSON.stringify(JSON.stringify(run))})`);
  await page.reload();
  const panel = page.getByTestId('bulk-panel');
  await panel.getByText('Paused', { exact: true }).waitFor();
  t.pass('the run is back, paused: resuming is the operator’s call');
  await shot('bulk-paused');
  for (let i = 0; i < 3; i++) t.equal((await get(`/api/dtmsvr/query?gid=${prefix}${i}`)).body.transaction.status, 'prepared', 'nothing was done meanwhile');
  await panel.getByRole('button', { name: 'Resume' }).click();
  await panel.getByText('Finished', { exact: true }).waitFor();
  t.match(await page.getByTestId('bulk-counts').innerText(), /^3 stopped · 0 already finished · 0 failed/, 'three stopped');
  for (let i = 0; i < 3; i++) t.equal((await get(`/api/dtmsvr/query?gid=${prefix}${i}`)).body.transaction.status, 'failed', `${prefix}${i} failed`);
  t.ok(
    logLines.some((l) => l['action'] === 'bulk force-stop finished' && l['run'] === 'interrupted-run' && l['count'] === 3),
    'the finished run is audited under its id',
  );
  await panel.getByRole('button', { name: 'Close' }).click();
  // The panel forgets the run in an effect after the click: wait for it rather than race it.
  await page.waitForFunction("localStorage.getItem('dtm-console.bulk-run') === null", undefined, { timeout: 5000 }).catch(() => undefined);
  t.equal(await page.evaluate<string | null>("localStorage.getItem('dtm-console.bulk-run')"), null, 'and forgotten once closed');
});

t.test('the live counters move under load without a reload', async (t) => {
  await page.getByRole('link', { name: 'Live' }).click();
  await page.getByRole('heading', { name: 'Live' }).waitFor();
  const submits = page.getByTestId('rate-submits');
  await page.waitForTimeout(1500);
  const idle = await submits.innerText();
  // Load: sagas submitted for about 3 s.
  const until = Date.now() + 3000;
  let sent = 0;
  const seen = new Set<string>();
  while (Date.now() < until) {
    await Promise.all(Array.from({ length: 10 }, (_, i) => post('/api/dtmsvr/submit', saga(`load-${Date.now()}-${sent + i}`, 'Ok'))));
    sent += 10;
    seen.add(await submits.innerText());
    await new Promise((r) => setTimeout(r, 20));
  }
  t.ok(sent > 20, `${sent} sagas submitted`);
  const moving = [...seen].filter((v) => v !== '0');
  t.ok(moving.length >= 2, `the submitted rate showed several values under load (idle ${idle}, then ${[...seen].join(', ')})`);
  await shot('live');
  t.ok(await fitsWidth(), 'the live page fits 1280 px');
});

t.test('a full list page still fits 1280 px', async (t) => {
  await page.getByRole('link', { name: 'Transactions' }).click();
  await page.locator('tbody tr').nth(49).waitFor();
  t.equal(await page.locator('tbody tr').count(), 50, 'a page of 50');
  await page.getByRole('button', { name: 'Next →' }).click();
  await page.getByText('Page 2').waitFor();
  await page.getByRole('button', { name: '← Previous' }).click();
  await page.getByText('Page 1').waitFor();
  t.equal(await page.evaluate<number>('window.scrollY'), 0, 'a new page is shown from its top');
  t.ok(await fitsWidth(), 'no sideways scrolling');
  await shot('transactions-full');
});

t.test('topics: subscribe and unsubscribe with a confirmation', async (t) => {
  await page.getByRole('link', { name: 'Topics' }).click();
  await page.getByLabel('Topic').fill('orders');
  await page.getByLabel('Subscriber URL').fill(`${busi.url}/OnOrder`);
  await page.getByLabel('Remark').fill('billing');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await page.getByRole('cell', { name: `${busi.url}/OnOrder` }).waitFor();
  t.match((await app.service.queryKV('topics', 'orders', 1))[0]?.v, /OnOrder/, 'subscribed in the store');
  await shot('topics');
  await page.getByRole('button', { name: 'Unsubscribe' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Unsubscribe' }).click();
  await page.getByText('no subscribers').waitFor();
  t.notMatch((await app.service.queryKV('topics', 'orders', 1))[0]?.v, /OnOrder/, 'unsubscribed');
  t.ok(
    logLines.some((l) => l['audit'] === true && l['action'] === 'unsubscribe' && l['topic'] === 'orders'),
    'audited',
  );
});

t.test('sign out clears the session: the console and its API ask for the token again', async (t) => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Admin token').waitFor();
  t.notOk(
    (await context.cookies()).some((c) => c.name === 'dtm_admin' && c.value !== ''),
    'the cookie is gone',
  );
  const status = await page.evaluate("fetch('/api/admin/stats').then((r) => r.status)");
  t.equal(status, 401, 'the API refuses the browser now');
});
