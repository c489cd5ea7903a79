/** The bulk run's panel: what runs, how far it got, pause, resume, dismiss. */
import type { JSX } from 'preact';
import { actionLabel, progress, visited, type BulkRun } from '../logic/bulk.js';
import { formatCount } from '../logic/format.js';

export function BulkPanel(props: { run: BulkRun; onPause: () => void; onResume: () => void; onDismiss: () => void }): JSX.Element {
  const { run } = props;
  const p = progress(run);
  const state = run.phase === 'running' ? 'Running' : run.phase === 'paused' ? 'Paused' : run.phase === 'stalled' ? 'Stopped by an error' : 'Finished';
  return (
    <div class={`card bulk bulk-${run.phase}`} role="status" data-testid="bulk-panel">
      <div class="bulk-head">
        <strong>
          {actionLabel(run.action)}: {run.label}
        </strong>
        <span class="bulk-state">{state}</span>
      </div>
      <div class={p === undefined && run.phase === 'running' ? 'progress progress-busy' : 'progress'}>
        <div class="progress-bar" style={{ width: `${Math.round((p ?? 0) * 100)}%` }} />
      </div>
      <div class="bulk-foot">
        <span data-testid="bulk-counts">
          {formatCount(run.done)} {run.action === 'force-stop' ? 'stopped' : 'made due'} · {formatCount(run.skipped)} already finished ·{' '}
          {formatCount(run.failed)} failed · {formatCount(visited(run))} walked{run.estimate !== undefined ? ` of about ${formatCount(run.estimate)}` : ''} in{' '}
          {run.batches} batch{run.batches === 1 ? '' : 'es'}
        </span>
        <span class="bulk-buttons">
          {run.phase === 'running' && (
            <button type="button" class="btn btn-small" onClick={props.onPause}>
              Pause
            </button>
          )}
          {(run.phase === 'paused' || run.phase === 'stalled') && (
            <button type="button" class="btn btn-small btn-primary" onClick={props.onResume}>
              Resume
            </button>
          )}
          {run.phase !== 'running' && (
            <button type="button" class="btn btn-small" onClick={props.onDismiss}>
              {run.phase === 'finished' ? 'Close' : 'Discard'}
            </button>
          )}
        </span>
      </div>
      {run.message !== '' && <div class="form-error">{run.message}</div>}
      {run.errors.length > 0 && (
        <details class="bulk-errors">
          <summary>Last failures</summary>
          <ul>
            {run.errors.map((e) => (
              <li>
                <span class="mono">{e.gid}</span>: {e.error}
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}
