/** One transaction: its state, branches (status, attempts, last error, payload), timeline, and the actions on it. */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { TransDetail } from '../../http/console-wire.js';
import { ApiError, call } from '../api.js';
import { Confirm, Empty, ErrorNotice, Field, StatusBadge, TypeTag } from '../components/ui.js';
import { decodePayload, formatClock, formatRelative, formatTime, parseDtmTime, prettyJson } from '../logic/format.js';
import { orderBranches, timelineOf } from '../logic/timeline.js';
import { branchFields, transFields, type BranchFields } from '../logic/views.js';
import { BASE, Link } from '../router.js';

const REFRESH_MS = 2000;

type Action = 'force-stop' | 'retry';

function Payload(props: { base64: string }): JSX.Element {
  const p = decodePayload(props.base64);
  if (p.kind === 'empty') return <span class="muted">empty</span>;
  return (
    <div class="payload">
      <div class="payload-kind">{p.kind === 'bytes' ? `${p.size} bytes, base64` : p.kind === 'json' ? `JSON, ${p.size} bytes` : `text, ${p.size} bytes`}</div>
      <pre class="code">{p.text}</pre>
    </div>
  );
}

function BranchRow(props: { b: BranchFields; now: number }): JSX.Element {
  const { b } = props;
  const [open, setOpen] = useState(false);
  const lastAttempt = parseDtmTime(b.last_attempt_time);
  return (
    <>
      <tr class={b.last_error !== '' && b.status !== 'succeed' ? 'row-error' : ''}>
        <td class="mono">{b.branch_id}</td>
        <td>{b.op}</td>
        <td>
          <StatusBadge status={b.status} />
        </td>
        <td class="num">{b.attempts === 0 ? <span class="muted">—</span> : b.attempts}</td>
        <td class="nowrap">
          {lastAttempt === undefined ? <span class="muted">—</span> : <span title={formatTime(lastAttempt)}>{formatRelative(lastAttempt, props.now)}</span>}
        </td>
        <td class="error-cell" data-testid="last-error">
          {b.last_error === '' ? <span class="muted">—</span> : b.last_error}
        </td>
        <td class="mono url-cell" title={b.url}>
          {b.url === '' ? <span class="muted">none</span> : b.url}
        </td>
        <td>
          <button type="button" class="btn btn-small" onClick={() => setOpen(!open)} aria-expanded={open}>
            {open ? 'Hide' : 'Payload'}
          </button>
        </td>
      </tr>
      {open && (
        <tr class="payload-row">
          <td colSpan={8}>
            <Payload base64={b.bin_data} />
          </td>
        </tr>
      )}
    </>
  );
}

export function Transaction(props: { gid: string }): JSX.Element {
  const { gid } = props;
  const [detail, setDetail] = useState<TransDetail | undefined>();
  const [error, setError] = useState('');
  const [notFound, setNotFound] = useState(false);
  const [confirm, setConfirm] = useState<Action | undefined>();
  const [busy, setBusy] = useState(false);
  const [flash, setFlash] = useState('');

  const load = async (): Promise<void> => {
    try {
      setDetail(await call<TransDetail>(`/api/admin/transactions/${encodeURIComponent(gid)}`));
      setError('');
      setNotFound(false);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setNotFound(true);
      else setError((err as Error).message);
    }
  };

  useEffect(() => {
    setDetail(undefined);
    void load();
    const timer = setInterval(() => document.hidden || void load(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [gid]);

  const act = async (action: Action): Promise<void> => {
    setBusy(true);
    try {
      await call(`/api/admin/transactions/${encodeURIComponent(gid)}/${action}`, {});
      setFlash(action === 'force-stop' ? 'Force-stopped: the transaction is failed.' : 'Made due now: it runs at the next poll.');
      setError('');
      await load();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
      setConfirm(undefined);
    }
  };

  if (notFound) {
    return (
      <section class="page">
        <p>
          <Link href={`${BASE}/`}>← Transactions</Link>
        </p>
        <Empty>No transaction {gid} (finished ones expire after STORE_FINISHED_DATA_EXPIRE).</Empty>
      </section>
    );
  }
  if (detail === undefined) {
    return <section class="page">{error !== '' ? <ErrorNotice message={error} onRetry={() => void load()} /> : <div class="muted">Loading…</div>}</section>;
  }

  const t = transFields(detail.transaction);
  const finished = t.status === 'succeed' || t.status === 'failed';
  const next = parseDtmTime(t.next_cron_time);
  const events = timelineOf(detail);
  let options: string = t.options;
  try {
    options = JSON.stringify(JSON.parse(t.options) as unknown);
  } catch {
    // shown as stored
  }

  return (
    <section class="page">
      <header class="page-header">
        <div class="title-block">
          <Link href={`${BASE}/`} class="back">
            ← Transactions
          </Link>
          <h1 class="mono gid-title" title={t.gid}>
            {t.gid}
          </h1>
          <div class="title-tags">
            <TypeTag type={t.trans_type} />
            <StatusBadge status={t.status} />
            {!finished && next !== undefined && <span class="muted">due {formatRelative(next, detail.now)}</span>}
          </div>
        </div>
        <div class="header-actions">
          <button type="button" class="btn" disabled={finished || busy} onClick={() => setConfirm('retry')}>
            Retry now
          </button>
          <button type="button" class="btn btn-danger" disabled={finished || busy} onClick={() => setConfirm('force-stop')}>
            Force-stop
          </button>
        </div>
      </header>

      {flash !== '' && (
        <div class="notice notice-ok" role="status">
          {flash}
        </div>
      )}
      {error !== '' && <ErrorNotice message={error} />}

      <div class="card grid-fields">
        <Field label="Created">{formatTime(parseDtmTime(t.create_time))}</Field>
        <Field label="Updated">{formatTime(parseDtmTime(t.update_time))}</Field>
        <Field label="Finished">{formatTime(parseDtmTime(t.finish_time))}</Field>
        <Field label="Next retry">{finished ? '—' : next === undefined ? '—' : `${formatTime(next)} (${formatRelative(next, detail.now)})`}</Field>
        <Field label="Retry interval">{t.next_cron_interval} s</Field>
        <Field label="Retries">{t.retries}</Field>
        <Field label="Protocol">{t.protocol}</Field>
        <Field label="Rolled back">{formatTime(parseDtmTime(t.rollback_time))}</Field>
        <Field label="Rollback reason" wide>
          {t.rollback_reason === '' ? '—' : t.rollback_reason}
        </Field>
        <Field label="Options" wide>
          <code>{options}</code>
        </Field>
        {t.query_prepared !== '' && (
          <Field label="Query prepared" wide>
            <code>{t.query_prepared}</code>
          </Field>
        )}
        {t.custom_data !== '' && (
          <Field label="Custom data" wide>
            <code>{t.custom_data}</code>
          </Field>
        )}
        {t.result !== '' && (
          <Field label="Result" wide>
            <code>{t.result}</code>
          </Field>
        )}
      </div>

      <h2 class="section-title">Branches</h2>
      <div class="card table-card">
        <table class="table branches-table">
          <thead>
            <tr>
              <th>Branch</th>
              <th>Op</th>
              <th>Status</th>
              <th class="num">Attempts</th>
              <th>Last attempt</th>
              <th>Last error</th>
              <th>URL</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {orderBranches(detail.branches.map(branchFields)).map((b) => (
              <BranchRow b={b} now={detail.now} />
            ))}
          </tbody>
        </table>
        {detail.branches.length === 0 && <Empty>No branches yet.</Empty>}
      </div>

      <div class="two-columns">
        <div>
          <h2 class="section-title">Timeline</h2>
          <ol class="card timeline">
            {events.map((e) => (
              <li class={`tl tl-${e.kind}`}>
                <span class="tl-time" title={formatTime(e.at)}>
                  {formatClock(e.at)}
                </span>
                <span class="tl-text">{e.text}</span>
              </li>
            ))}
          </ol>
        </div>
        <div>
          <h2 class="section-title">Request</h2>
          <pre class="card code request">{prettyJson(JSON.stringify(detail.transaction)).text}</pre>
        </div>
      </div>

      {confirm !== undefined && (
        <Confirm
          title={confirm === 'force-stop' ? 'Force-stop this transaction?' : 'Retry this transaction now?'}
          confirmLabel={confirm === 'force-stop' ? 'Force-stop' : 'Retry now'}
          danger={confirm === 'force-stop'}
          busy={busy}
          onCancel={() => setConfirm(undefined)}
          onConfirm={() => void act(confirm)}
        >
          <p class="mono">{gid}</p>
          <p>
            {confirm === 'force-stop'
              ? 'It is marked failed at once and leaves the retry schedule. No compensation runs. This cannot be undone.'
              : 'It is made due now and processed at the next poll of any coordinator.'}
          </p>
        </Confirm>
      )}
    </section>
  );
}
