/** The live counters: rates of this coordinator process and the dataset's backlog, with their last two minutes. */
import type { JSX } from 'preact';
import type { LiveStats } from '../../http/console-wire.js';
import { ErrorNotice, Sparkline } from '../components/ui.js';
import { formatCount, formatDueAge, formatRate } from '../logic/format.js';
import type { LiveHistory } from '../live.js';

interface CardProps {
  label: string;
  value: string;
  unit?: string;
  values: readonly number[];
  tone?: string;
  hint: string;
  testid: string;
}

function Card(props: CardProps): JSX.Element {
  return (
    <div class={`card stat ${props.tone ?? ''}`} title={props.hint}>
      <div class="stat-label">{props.label}</div>
      <div class="stat-value" data-testid={props.testid}>
        {props.value}
        {props.unit !== undefined && <span class="stat-unit">{props.unit}</span>}
      </div>
      <Sparkline values={props.values} tone={props.tone ?? ''} />
    </div>
  );
}

export function Live(props: { stats: LiveStats | undefined; history: LiveHistory; error: string }): JSX.Element {
  const { stats, history: h } = props;
  const r = stats?.rates;
  const age = stats?.oldest_due_age_ms;
  return (
    <section class="page">
      <header class="page-header">
        <div>
          <h1>Live</h1>
          <p class="muted">Rates of the coordinator process answering (per second), the backlog of the whole dataset. Updated every second.</p>
        </div>
      </header>
      {props.error !== '' && <ErrorNotice message={props.error} />}
      <h2 class="section-title">Throughput</h2>
      <div class="stats-grid">
        <Card
          label="Submitted"
          value={formatRate(r?.submits ?? 0)}
          unit="/s"
          values={h.submits}
          hint="submit and prepare requests accepted"
          testid="rate-submits"
        />
        <Card
          label="Rounds done"
          value={formatRate(r?.rounds_ok ?? 0)}
          unit="/s"
          values={h.rounds_ok}
          tone="tone-ok"
          hint="processing rounds that ended well"
          testid="rate-rounds"
        />
        <Card
          label="Branch calls"
          value={formatRate(r?.branch_calls ?? 0)}
          unit="/s"
          values={h.branch_calls}
          hint="branch calls made"
          testid="rate-branch-calls"
        />
      </div>
      <h2 class="section-title">Failures</h2>
      <div class="stats-grid">
        <Card
          label="Failed rounds"
          value={formatRate(r?.rounds_failed ?? 0)}
          unit="/s"
          values={h.rounds_failed}
          tone="tone-bad"
          hint="rounds that failed or rolled back"
          testid="rate-rounds-failed"
        />
        <Card
          label="Branch failures"
          value={formatRate(r?.branch_failures ?? 0)}
          unit="/s"
          values={h.branch_failures}
          tone="tone-bad"
          hint="branch calls that failed (retried later)"
          testid="rate-branch-failures"
        />
        <Card
          label="Request errors"
          value={formatRate(r?.request_errors ?? 0)}
          unit="/s"
          values={h.request_errors}
          tone="tone-bad"
          hint="HTTP requests answered with an error"
          testid="rate-request-errors"
        />
      </div>
      <h2 class="section-title">Backlog</h2>
      <div class="stats-grid stats-grid-4">
        <Card
          label="Prepared"
          value={formatCount(stats?.backlog.prepared ?? 0)}
          values={h.prepared}
          hint="prepared, waiting for submit or their timeout"
          testid="backlog-prepared"
        />
        <Card
          label="Submitted"
          value={formatCount(stats?.backlog.submitted ?? 0)}
          values={h.submitted}
          hint="submitted and not finished"
          testid="backlog-submitted"
        />
        <Card
          label="Aborting"
          value={formatCount(stats?.backlog.aborting ?? 0)}
          values={h.aborting}
          tone="tone-warn"
          hint="rolling back"
          testid="backlog-aborting"
        />
        <Card
          label="Oldest due"
          value={formatDueAge(age)}
          values={h.oldest_due_s}
          tone={age !== null && age !== undefined && age > 10_000 ? 'tone-bad' : ''}
          hint="how long the earliest-due unfinished transaction has been overdue"
          testid="oldest-due"
        />
      </div>
    </section>
  );
}
