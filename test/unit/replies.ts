import t from 'tap';
import { pack } from '../../src/codec.js';
import { asInt, asStatus, asText, decodeTrans, flatToMap, flatToRecord, ReplyTag, splitReply } from '../../src/store/replies.js';
import { encodeRequest } from '../../src/store/request-blob.js';
import { request } from '../fixtures/store.js';

const buf = (s: string): Buffer => Buffer.from(s);

t.test('splitReply returns the tag and the rest of a tagged array', async (t) => {
  t.strictSame(splitReply([buf('OK')], 's'), { tag: 'OK', rest: [] }, 'a Buffer tag');
  t.strictSame(splitReply(['STALE', 'failed'], 's'), { tag: 'STALE', rest: ['failed'] }, 'a string tag with payload');
  for (const tag of Object.values(ReplyTag)) {
    t.equal(splitReply([tag], 's').tag, tag, `${tag} is accepted`);
  }
});

t.test('splitReply refuses a reply that breaks the contract', async (t) => {
  const rows: [name: string, reply: unknown][] = [
    ['not an array', 'OK'],
    ['an empty array', []],
    ['an unknown tag', ['MAYBE']],
    ['a tag that is not a string', [null]],
  ];
  for (const [name, reply] of rows) {
    t.throws(() => splitReply(reply, 'myScript'), { name: 'StoreContractError', message: /myScript/ }, `${name}: StoreContractError naming the script`);
  }
});

t.test('the narrowing helpers accept the right shapes and refuse the others', async (t) => {
  t.equal(asStatus(buf('aborting'), 'x'), 'aborting', 'a known status');
  t.throws(() => asStatus('done', 'x'), { name: 'StoreContractError' }, 'an unknown status');
  t.equal(asText(buf('g'), 'x'), 'g', 'Buffer text');
  t.equal(asText(7, 'x'), '7', 'a number as text');
  t.throws(() => asText({}, 'x'), { name: 'StoreContractError' }, 'an object is not text');
  t.equal(asInt(3, 'x'), 3, 'a Lua integer');
  t.equal(asInt(buf('12'), 'x'), 12, 'a numeric string');
  t.throws(() => asInt('abc', 'x'), { name: 'StoreContractError' }, 'not a number');
  t.strictSame(
    Object.fromEntries([...flatToMap([buf('a'), buf('1'), 'b', '2'], 'x')].map(([k, v]) => [k, v.toString()])),
    { a: '1', b: '2' },
    'field/value pairs become a map of Buffers',
  );
});

t.test('decodeTrans reads a stored record', async (t) => {
  const m = new Map<string, Buffer>([
    ['s', buf('submitted')],
    ['tt', buf('saga')],
    ['ct', buf('1000')],
    ['ut', buf('1500')],
    ['nct', buf('9000')],
    ['nci', buf('10')],
    ['n', buf('2')],
    ['bs', buf('sf')],
    ['t1', buf('1200')],
    ['b1', pack(['01', 'action', 'http://a', '{}'])],
    ['b2', pack(['01', 'compensate', 'http://c', ''])],
    ['rc', buf('2')],
    ['nr', buf('3')],
    ['a2', buf('4')],
    ['la2', buf('1300')],
    ['e2', buf('ERROR (HTTP 502): bad gateway')],
    ['req', encodeRequest(request())],
  ]);
  t.strictSame(
    decodeTrans('g1', m, 4000),
    {
      gid: 'g1',
      trans_type: 'saga',
      status: 'submitted',
      create_time: 1000,
      update_time: 1500,
      finish_time: undefined,
      rollback_time: undefined,
      next_cron_time: 4000,
      scheduled_time: 9000,
      next_cron_interval: 10,
      rollback_reason: '',
      retry_count: 2,
      retries: 3,
      result: '',
      req: request(),
      branches: [
        // Called and finished on the first try: one attempt, at its finish time, though none is stored.
        {
          branch_id: '01',
          op: 'action',
          url: 'http://a',
          data: '{}',
          status: 'succeed',
          finish_time: 1200,
          attempts: 1,
          last_attempt_time: 1200,
          last_error: '',
        },
        {
          branch_id: '01',
          op: 'compensate',
          url: 'http://c',
          data: '',
          status: 'failed',
          finish_time: undefined,
          attempts: 4,
          last_attempt_time: 1300,
          last_error: 'ERROR (HTTP 502): bad gateway',
        },
      ],
    },
    'every field, the schedule score winning over nct; stored attempts win over the derived ones',
  );
  t.equal(decodeTrans('g1', m).next_cron_time, 9000, 'without a score, nct');
});

t.test('decodeTrans refuses a corrupt record', async (t) => {
  const good = (): Map<string, Buffer> =>
    new Map([
      ['s', buf('submitted')],
      ['tt', buf('saga')],
      ['ct', buf('1')],
      ['n', buf('1')],
      ['bs', buf('p')],
      ['b1', pack(['01', 'action', 'http://a', ''])],
      ['req', encodeRequest(request())],
    ]);
  t.doesNotThrow(() => decodeTrans('g', good()), 'the base record decodes');
  const rows: [name: string, change: (m: Map<string, Buffer>) => void][] = [
    ['no status', (m) => m.delete('s')],
    ['unknown trans_type', (m) => m.set('tt', buf('batch'))],
    ['count and status string disagree', (m) => m.set('n', buf('2'))],
    ['missing branch blob', (m) => m.delete('b1')],
    ['branch blob too short', (m) => m.set('b1', pack(['01', 'action']))],
    ['bad branch status code', (m) => m.set('bs', buf('z'))],
    ['missing request', (m) => m.delete('req')],
    ['request not a map', (m) => m.set('req', pack(null))],
  ];
  for (const [name, change] of rows) {
    const m = good();
    change(m);
    t.throws(() => decodeTrans('g', m), { name: 'StoreContractError' }, `${name}: StoreContractError`);
  }
});

t.test('a record whose blobs came back as nil (equal to those sent) decodes with the sent ones, and only those', async (t) => {
  const sentReq = request({ query_prepared: 'http://q/prepared' });
  const sentBranches = [{ branch_id: '01', op: 'action', url: 'http://a/order', data: Buffer.from([0, 1, 2]) }];
  const reply = ['s', 'submitted', 'tt', 'msg', 'ct', '1000', 'ut', '1500', 'nct', '9000', 'nci', '10', 'n', '1', 'bs', 'p', 'req', null, 'b1', null];
  const { fields, elided } = flatToRecord(reply, 'x');
  t.strictSame([...elided].sort(), ['b1', 'req'], 'the nil fields are the elided ones');
  t.notOk(fields.has('req') || fields.has('b1'), 'and are not fields');
  const sent = { elided, req: sentReq, branches: sentBranches };
  const full = new Map(fields);
  full.set('req', encodeRequest(sentReq));
  full.set('b1', pack(['01', 'action', 'http://a/order', Buffer.from([0, 1, 2])]));
  t.strictSame(decodeTrans('g', fields, undefined, sent), decodeTrans('g', full), 'the same transaction as from the whole record');

  const notSent = { elided: new Set<string>(), req: sentReq, branches: sentBranches };
  t.throws(
    () => decodeTrans('g', fields, undefined, notSent),
    { name: 'StoreContractError', message: /missing/ },
    'a blob missing but not elided is still corrupt',
  );
  const noBranch = { elided, req: sentReq, branches: [] };
  t.throws(
    () => decodeTrans('g', fields, undefined, noBranch),
    { name: 'StoreContractError', message: /missing branch 1/ },
    'an elided branch the call did not send is corrupt too',
  );
  t.throws(() => decodeTrans('g', fields), { name: 'StoreContractError' }, 'without what was sent, an elided record does not decode');
});
