/** Which transport calls a branch URL: DTM's rule by protocol, http(s) prefix and "method". */
import t from 'tap';
import { branchTransport } from '../../src/trans/branch-transport.js';

t.test('branchTransport follows DTM: protocol, http(s) prefix, "method" in the URL', async (t) => {
  const cases: [string, string, string][] = [
    ['http', '', 'none'],
    ['grpc', '', 'none'],
    ['http', 'http://h/a', 'http'],
    ['http', 'localhost:1/x.Y/Z', 'http'],
    ['grpc', 'localhost:1/x.Y/Z', 'grpc'],
    ['grpc', 'http://h/a', 'http'],
    ['grpc', 'https://h/a?method=m', 'http'],
    ['json-rpc', 'http://h/rpc?method=m', 'json-rpc'],
    ['json-rpc', 'http://h/api/paymethod', 'json-rpc'],
    ['json-rpc', 'http://h/rpc', 'http'],
    ['json-rpc', 'localhost:1/x.Y/method', 'grpc'],
    ['grpc', 'HTTP://h/a', 'grpc'],
  ];
  for (const [protocol, url, want] of cases) t.equal(branchTransport(protocol, url), want, `${protocol} ${url}`);
});
