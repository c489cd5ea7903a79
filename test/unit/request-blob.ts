import t from 'tap';
import { pack, unpack } from '../../src/codec.js';
import { decodeRequest, encodeRequest } from '../../src/store/request-blob.js';
import type { TransRequest } from '../../src/types.js';
import { request } from '../fixtures/store.js';

t.test('a request at every default is stored as an empty map and decodes back', async (t) => {
  const req = request();
  t.strictSame(unpack(encodeRequest(req)), {}, 'nothing but defaults: an empty map');
  t.strictSame(decodeRequest(encodeRequest(req), 'g'), req, 'decodes to the full request');
});

t.test('only the fields that differ from their defaults are stored, and every request round-trips', async (t) => {
  const rows: [name: string, req: TransRequest, stored: unknown][] = [
    ['protocol grpc', request({ protocol: 'grpc' }), { protocol: 'grpc' }],
    ['query_prepared', request({ query_prepared: 'http://q' }), { query_prepared: 'http://q' }],
    ['custom_data', request({ custom_data: '{"a":1}' }), { custom_data: '{"a":1}' }],
    ['wait_result', request({ options: { ...request().options, wait_result: true } }), { options: { wait_result: true } }],
    [
      'timeouts and retries',
      request({ options: { ...request().options, timeout_to_fail: 60, request_timeout: 5, retry_interval: 2, retry_limit: 4 } }),
      { options: { timeout_to_fail: 60, request_timeout: 5, retry_interval: 2, retry_limit: 4 } },
    ],
    ['branch headers', request({ options: { ...request().options, branch_headers: { 'x-a': '1' } } }), { options: { branch_headers: { 'x-a': '1' } } }],
    ['concurrent', request({ options: { ...request().options, concurrent: true } }), { options: { concurrent: true } }],
  ];
  for (const [name, req, stored] of rows) {
    t.strictSame(unpack(encodeRequest(req)), stored, `${name}: stored compactly`);
    t.strictSame(decodeRequest(encodeRequest(req), 'g'), req, `${name}: round-trips`);
  }
});

t.test('a blob that is not a map is a StoreContractError', async (t) => {
  t.throws(() => decodeRequest(pack(null), 'g-null'), { name: 'StoreContractError', message: /g-null/ }, 'nil');
  t.throws(() => decodeRequest(pack('text'), 'g-str'), { name: 'StoreContractError', message: /g-str/ }, 'a string');
});
