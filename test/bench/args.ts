/**
 * The harness's command line (bench/lib/args.ts): defaults, the new options (--dtm-url, --rate,
 * --burst-factor, --connections, --grpc-branches), and bad input refused with a UsageError that
 * says what (the harness then exits 2).
 */
import t from 'tap';
import { dtmBaseUrl, parseArgs, UsageError } from '../../bench/lib/args.js';
import { WORKLOAD_NAMES, WORKLOADS } from '../../bench/workloads.js';

t.test('defaults: closed loop c=50 for 10 s, ceiling on, our coordinator, burst ×10 over 1000 connections', async (t) => {
  const { target, opts, help } = parseArgs(['saga-e2e']);
  t.equal(target, 'saga-e2e', 'the workload');
  t.equal(help, false, 'not --help');
  t.match(
    opts,
    { concurrency: 50, durationS: 10, warmupS: 2, workers: 1, ceiling: true, drainS: undefined, burstFactor: 10, connections: 1000, grpcBranches: 'grpc' },
    'defaults',
  );
  t.equal(opts.dtmUrl, undefined, 'no external coordinator');
  t.equal(opts.rate, undefined, 'the burst measures its sustainable rate');
});

t.test('the environment gives defaults, the command line wins', async (t) => {
  const { opts } = parseArgs(['submit', '--duration', '3'], { CONCURRENCY: '20', DURATION_S: '7', WORKERS: '2' });
  t.match(opts, { concurrency: 20, durationS: 3, workers: 2 }, 'CONCURRENCY and WORKERS from env, --duration from argv');
});

t.test('burst options, with a space or an equals sign', async (t) => {
  const { target, opts } = parseArgs(['burst', '--rate=2500', '--burst-factor', '4', '--connections=200', '--drain', '120']);
  t.equal(target, 'burst', 'the workload');
  t.match(opts, { rate: 2500, burstFactor: 4, connections: 200, drainS: 120 }, 'parsed');
});

t.test('--dtm-url keeps scheme, host, port and any prefix, and drops /api/dtmsvr', async (t) => {
  t.equal(dtmBaseUrl('http://127.0.0.1:36789'), 'http://127.0.0.1:36789', 'bare');
  t.equal(dtmBaseUrl('http://127.0.0.1:36789/api/dtmsvr'), 'http://127.0.0.1:36789', 'DTM-style server URL');
  t.equal(dtmBaseUrl('https://dtm.example:8443/prefix/api/dtmsvr/'), 'https://dtm.example:8443/prefix', 'behind a path prefix');
  const { opts } = parseArgs(['grpc-saga', '--dtm-url', 'http://localhost:36789/api/dtmsvr', '--dtm-grpc', 'localhost:36790', '--dtm-pid', '1234']);
  t.match(opts, { dtmUrl: 'http://localhost:36789', dtmGrpc: 'localhost:36790', dtmPid: 1234 }, 'parsed');
});

t.test('bad input is a UsageError naming the problem', async (t) => {
  const bad: [string[], RegExp][] = [
    [[], /which workload/],
    [['nope'], /unknown workload nope/],
    [['saga-e2e', 'msg'], /one workload at a time/],
    [['saga-e2e', '--bogus'], /unknown option --bogus/],
    [['saga-e2e', '--concurrency', '0'], /--concurrency needs a number ≥ 1/],
    [['saga-e2e', '--duration'], /--duration needs a number/],
    [['burst', '--rate', 'fast'], /--rate needs a number ≥ 1/],
    [['burst', '--rate', ''], /--rate needs a number/],
    [['saga-e2e', '--dtm-url', 'localhost:36789'], /--dtm-url needs an http\(s\) URL/],
    [['saga-e2e', '--dtm-url', 'ftp://x:1'], /--dtm-url needs an http\(s\) URL/],
    [['saga-e2e', '--dtm-url', 'http://x:1/?a=b'], /no query/],
    [['grpc-saga', '--dtm-url', 'http://x:1', '--dtm-grpc', 'http://x:2'], /--dtm-grpc needs host:port/],
    [['saga-e2e', '--dtm-pid', '5'], /go with --dtm-url/],
    [['saga-e2e', '--dtm-url', 'http://x:1', '--workers', '2'], /--workers shape the coordinator the harness starts/],
    [['saga-e2e', '--dtm-url', 'http://x:1', '--cpu-prof'], /--cpu-prof/],
    [['saga-e2e', '--replicas', '1', '--wait-replicas', '2'], /--wait-replicas 2 needs at least as many --replicas/],
    [['saga-e2e', '--pin', 'coordinator=x'], /--pin needs role=cpus/],
    [['saga-e2e', '--redis-arg', 'appendonly'], /--redis-arg needs "name value"/],
    [['grpc-saga', '--grpc-branches', 'tcp'], /--grpc-branches needs grpc or http/],
  ];
  for (const [argv, msg] of bad) t.throws(() => parseArgs(argv), { name: 'UsageError', message: msg }, argv.join(' ') || '(nothing)');
  t.ok(new UsageError('x') instanceof Error, 'a UsageError is an Error');
});

t.test('--help asks for the usage', async (t) => {
  t.equal(parseArgs(['--help']).help, true, '--help');
  t.equal(parseArgs(['-h']).help, true, '-h');
});

t.test('every workload but the burst runs in `all`; burst and grpc-saga are workloads', async (t) => {
  t.ok(WORKLOAD_NAMES.includes('burst') && WORKLOAD_NAMES.includes('grpc-saga'), 'both listed');
  t.strictSame(
    WORKLOAD_NAMES.filter((n) => WORKLOADS[n].notInAll !== undefined),
    ['burst'],
    'only burst is left out of all',
  );
  t.match(WORKLOADS.burst, { loop: 'open', background: true, usesStub: true }, 'burst: open loop, work continues after the answer');
  t.match(WORKLOADS['grpc-saga'], { transport: 'grpc' }, 'grpc-saga goes over gRPC');
});
