/**
 * The sum a `--workers` primary answers scrapes with (metrics.ts renderSum, cumulativeOf,
 * sumCumulative): counters and histograms add up, info gauges do not, and what is kept of an
 * exited worker (its cumulative part, compacted) sums like the live snapshots.
 */
import t from 'tap';
import { createMetrics, cumulativeOf, renderSum, sumCumulative } from '../../src/metrics.js';

function line(text: string, series: string): number | undefined {
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}

/** A process's metrics after `submits` requests and one branch call of `seconds`. */
async function processWith(submits: number, seconds: number) {
  const m = createMetrics({ version: '1.2.3' });
  for (let i = 0; i < submits; i++) m.request('submit', 200, 0.001);
  m.process.branchStarted();
  m.process.branchCalled('saga', '01', 'action', 'SUCCESS', seconds);
  m.process.branchStarted(); // still in flight
  return m.snapshot();
}

t.test('counters, histograms and in-flight gauges add up; info gauges stay 1', async (t) => {
  const [a, b] = await Promise.all([processWith(3, 0.002), processWith(4, 0.2)]);
  const text = await renderSum([a, b]);
  t.equal(line(text, 'dtm_server_process_total{type="http",api="submit",status="ok"}'), 7, 'requests: 3 + 4');
  t.equal(line(text, 'dtm_branch_call_duration_seconds_count{model="saga",op="action",result="SUCCESS"}'), 2, 'histogram count: 1 + 1');
  t.equal(line(text, 'dtm_branch_call_duration_seconds_bucket{le="0.0025",model="saga",op="action",result="SUCCESS"}'), 1, 'one call under 2.5 ms');
  t.equal(line(text, 'dtm_branch_call_duration_seconds_bucket{le="0.25",model="saga",op="action",result="SUCCESS"}'), 2, 'both under 250 ms');
  t.equal(line(text, 'dtm_branch_calls_in_flight'), 2, 'one call in flight in each process');
  t.equal(line(text, 'dtm_server_info{gin_version="none",grpc_version="none"}'), 1, 'one server info, not two');
  t.equal(line(text, 'dtm_coordinator_build_info{version="1.2.3",node_version="' + process.version + '"}'), 1, 'one build info');
});

t.test("an exited worker's cumulative part: counters and histograms only, and it compacts losslessly", async (t) => {
  const [a, b, c] = await Promise.all([processWith(1, 0.002), processWith(2, 0.002), processWith(5, 0.002)]);
  const kept = cumulativeOf(a);
  t.ok(
    kept.every((m) => ['counter', 'histogram'].includes(m.type as unknown as string)),
    'only counters and histograms',
  );
  t.notOk(
    kept.some((m) => m.name === 'dtm_branch_calls_in_flight' || m.name === 'dtm_server_info'),
    'no gauges',
  );
  const merged = await sumCumulative([kept, cumulativeOf(b)]);
  const apart = await renderSum([c, kept, cumulativeOf(b)]);
  const together = await renderSum([c, merged]);
  t.equal(line(together, 'dtm_server_process_total{type="http",api="submit",status="ok"}'), 8, '5 live + 1 + 2 retired');
  // Only our own series: Node's process metrics (CPU, memory) are read anew at every render.
  const ours = (text: string): string =>
    text
      .split('\n')
      .filter((l) => l.startsWith('dtm_'))
      .join('\n');
  t.equal(ours(together), ours(apart), 'summing the retired ones first changes nothing');
  t.equal(line(together, 'dtm_branch_calls_in_flight'), 1, "the retired ones' gauges are gone");
});
