import { hostname } from 'node:os';
import t from 'tap';
import { createLogger } from '../../src/log.js';
import { packageVersion } from '../../src/version.js';

t.test('every line carries its level as a word, the host, the process and the version; secrets are redacted', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  log.warn(
    { password: 'p4ss', redis: { password: 'p4ss', url: 'redis://h' }, config: { adminToken: 't0k', apiToken: 't1k' }, headers: { authorization: 'Bearer x' } },
    'hello',
  );
  log.debug('not at info');
  t.equal(lines.length, 1, 'one line at info level');
  t.match(
    lines[0],
    { level: 'warn', msg: 'hello', svc: 'dtm-redis', hostname: hostname(), pid: process.pid, version: packageVersion(), time: /^\d{4}-\d\d-\d\dT/ },
    'string level, host, pid, version and an ISO time',
  );
  t.match(
    lines[0],
    { password: '***', redis: { password: '***', url: 'redis://h' }, config: { adminToken: '***', apiToken: '***' }, headers: { authorization: '***' } },
    'secrets redacted',
  );
  t.notMatch(JSON.stringify(lines[0]), /p4ss|t0k|t1k|Bearer/, 'no secret anywhere in the line');
});
