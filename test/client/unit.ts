/** The SDK's pure helpers: gids, branch ids, error mapping, business answers, and its import boundary. */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import {
  branchResponseError,
  createBranchBarrier,
  createBranchIdGen,
  DtmClientError,
  dtmResponseError,
  encodePayload,
  FailureError,
  genGid,
  isFailure,
  isOngoing,
  msgBarrier,
  OngoingError,
  parseCallback,
  resultToHttp,
} from '../../src/client/index.js';

t.test("genGid: 22 characters of shortuuid's base57 alphabet, all different", async (t) => {
  const gids = Array.from({ length: 200 }, genGid);
  t.ok(
    gids.every((g) => /^[23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz]{22}$/.test(g)),
    'format',
  );
  t.equal(new Set(gids).size, gids.length, 'unique');
});

t.test("branch ids: 01..99 under a parent; nested ids; DTM's limits", async (t) => {
  const top = createBranchIdGen();
  t.equal(top.current(), '00', 'before the first');
  t.strictSame([top.next(), top.next()], ['01', '02'], 'top level');
  const nested = createBranchIdGen('01');
  t.strictSame([nested.next(), nested.next()], ['0101', '0102'], 'nested under 01');
  const full = createBranchIdGen();
  for (let i = 0; i < 99; i++) full.next();
  t.equal(full.current(), '99', '99 sub-branches');
  t.throws(() => full.next(), { name: 'DtmClientError', message: 'branch id is larger than 99' }, 'the 100th is refused');
  t.throws(() => createBranchIdGen('0'.repeat(20)).next(), { message: 'total branch id is longer than 20' }, 'parent of 20 characters is refused');
  t.equal(createBranchIdGen('0'.repeat(18)).next(), `${'0'.repeat(18)}01`, 'parent of 18 characters is fine');
});

t.test('coordinator answers: not 200 or FAILURE in the body is an error', async (t) => {
  t.equal(dtmResponseError(200, '{"dtm_result":"SUCCESS"}'), undefined, '200 SUCCESS');
  t.match(
    dtmResponseError(409, '{"dtm_result":"FAILURE","message":"current status \'succeed\', cannot sumbmit. FAILURE"}'),
    { name: 'FailureError', status: 409, message: "current status 'succeed', cannot sumbmit. FAILURE" },
    '409 → FailureError with the message',
  );
  t.match(dtmResponseError(200, '{"dtm_result":"FAILURE"}'), { name: 'FailureError' }, '200 with FAILURE in the body (old servers)');
  t.match(dtmResponseError(425, '{"dtm_result":"ONGOING"}'), { name: 'OngoingError', status: 425 }, '425 → OngoingError');
  t.match(
    dtmResponseError(500, '{"message":"storage: NotFound"}'),
    { name: 'DtmClientError', status: 500, message: 'storage: NotFound' },
    '500 → DtmClientError',
  );
  t.match(dtmResponseError(404, '404 page not found'), { status: 404, message: '404 page not found' }, 'plain text');
});

t.test('branch answers: classified as the coordinator does', async (t) => {
  t.equal(branchResponseError(200, '{}'), undefined, '200');
  t.ok(isOngoing(branchResponseError(500, 'still ONGOING')), 'ONGOING in any body wins');
  t.ok(isFailure(branchResponseError(200, '{"dtm_result":"FAILURE"}')), 'FAILURE in a 200 body');
  t.ok(isFailure(branchResponseError(409, '{"error":"no"}')), '409');
  t.match(branchResponseError(201, '{}'), { name: 'DtmClientError', status: 201 }, '201 is an error');
});

t.test('business answers: resultToHttp and parseCallback', async (t) => {
  t.strictSame(resultToHttp(), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'success');
  t.strictSame(resultToHttp(new FailureError('no stock')), { status: 409, body: { dtm_result: 'FAILURE', message: 'no stock' } }, 'failure');
  t.strictSame(resultToHttp(new OngoingError()), { status: 425, body: { dtm_result: 'ONGOING', message: 'ONGOING' } }, 'ongoing');
  t.strictSame(resultToHttp(new Error('db down')), { status: 500, body: { message: 'db down' } }, 'other errors: 500 without dtm_result');
  const foreign = new Error('x');
  foreign.name = 'FailureError';
  t.equal(resultToHttp(foreign).status, 409, 'a FailureError from another copy of the SDK (by name)');
  t.strictSame(
    parseCallback(new URLSearchParams('gid=g1&trans_type=tcc&branch_id=01&op=try&dtm=http%3A%2F%2Fd')),
    { gid: 'g1', transType: 'tcc', branchId: '01', op: 'try', dtm: 'http://d', phase2Url: undefined },
    'from URLSearchParams',
  );
  t.match(
    parseCallback({ gid: 'g', trans_type: 'xa', branch_id: '01', op: 'action', phase2_url: 'http://rm/x' }),
    { phase2Url: 'http://rm/x', dtm: undefined },
    'from a record',
  );
  t.throws(() => parseCallback({ gid: 'g', trans_type: 'saga', branch_id: '', op: 'action' }), DtmClientError, 'missing branch_id');
});

t.test('payloads: strings and bytes as they are, anything else JSON', async (t) => {
  t.equal(encodePayload('a"b'), 'a"b', 'string raw');
  t.equal(encodePayload(Buffer.from('bytes')), 'bytes', 'bytes');
  t.equal(encodePayload({ a: 1 }), '{"a":1}', 'object');
  t.equal(encodePayload(undefined), '', 'undefined → empty');
});

t.test('the SDK imports nothing outside src/client/ but packages', async (t) => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/client');
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.ts')) files.push(join(d, e.name));
    }
  };
  walk(root);
  const outside: string[] = [];
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(/from\s+'(\.[^']+)'/g)) {
      const target = resolve(dirname(f), m[1]!);
      if (relative(root, target).startsWith('..')) outside.push(`${relative(root, f)} → ${m[1]}`);
    }
  }
  t.strictSame(outside, [], 'no relative import leaves src/client');
});

t.test('branch barriers: ids 01…99 then 100, one counter per barrier; every identity field required', async (t) => {
  const b = createBranchBarrier({ transType: 'saga', gid: 'g', branchId: '01', op: 'action' });
  const ids = Array.from({ length: 100 }, () => b.nextBarrierId());
  t.equal(ids[0], '01', 'first 01');
  t.equal(ids[8], '09', 'ninth 09');
  t.equal(ids[98], '99', '99th 99');
  t.equal(ids[99], '100', '100th 100');
  t.equal(msgBarrier('g').nextBarrierId(), '01', 'a new barrier starts again at 01');
  t.match({ ...msgBarrier('g2') }, { transType: 'msg', gid: 'g2', branchId: '00', op: 'msg', nextBarrierId: Function }, 'the identity fields, spread');
  for (const field of ['transType', 'gid', 'branchId', 'op'] as const) {
    const id = { transType: 'tcc', gid: 'g', branchId: '01', op: 'try', [field]: '' };
    t.throws(() => createBranchBarrier(id), { message: `[DTM_BARRIER] missing ${field} for the branch barrier` }, `${field} required`);
  }
});
