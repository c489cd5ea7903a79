/** The transaction list: filters in the URL, paging over the listing positions, live refresh, bulk actions. */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { BulkAction, LiveStats, TransPage, TransSummary } from '../../http/console-wire.js';
import { call } from '../api.js';
import { ErrorNotice, Confirm, Empty, StatusBadge, TypeTag } from '../components/ui.js';
import { actionLabel } from '../logic/bulk.js';
import { describe, fromUrlQuery, isEmpty, listQuery, STATUSES, toUrlQuery, TRANS_TYPES, UNFINISHED, type Filter } from '../logic/filters.js';
import { formatRelative, formatTime, middleEllipsis } from '../logic/format.js';
import { back, canNext, canPrev, FIRST_PAGE, forward, loaded, pageNumber, position, type Paging } from '../logic/paging.js';
import { BASE, Link, navigate, txPath } from '../router.js';

const PAGE_SIZE = 50;
const REFRESH_MS = 2000;

/** How many transactions `f` matches, when the backlog counts tell (a status-only filter on an unfinished status). */
function estimateOf(f: Filter, stats: LiveStats | undefined): number | undefined {
  if (stats === undefined || f.type !== '' || f.gidPrefix.trim() !== '' || f.from !== '' || f.to !== '') return undefined;
  if ((UNFINISHED as readonly string[]).includes(f.status)) return stats.backlog[f.status as (typeof UNFINISHED)[number]];
  return undefined;
}

function Branches(props: { t: TransSummary }): JSX.Element {
  const { t } = props;
  return (
    <span class="branches" title={`${t.branches} branches (actions and compensations): ${t.branches_succeed} succeeded, ${t.branches_failed} failed`}>
      <span>
        <span class={t.branches_succeed > 0 ? 'dot-ok' : 'muted'}>{t.branches_succeed}</span>
        <span class="muted"> / {t.branches} ok</span>
      </span>
      {t.branches_failed > 0 && <span class="dot-fail">{t.branches_failed} failed</span>}
    </span>
  );
}

/** Why it failed or is stuck: the rollback reason, else the last failed call's error. */
function Reason(props: { t: TransSummary }): JSX.Element {
  const { rollback_reason: reason, last_error: error } = props.t;
  if (reason !== '') {
    return (
      <td class="reason" title={reason}>
        {reason}
      </td>
    );
  }
  if (error !== '') {
    return (
      <td class="reason reason-error" title={error}>
        {error}
      </td>
    );
  }
  return (
    <td class="reason">
      <span class="muted">—</span>
    </td>
  );
}

function Row(props: { t: TransSummary; now: number; highlight?: boolean }): JSX.Element {
  const { t, now } = props;
  return (
    <tr class={props.highlight === true ? 'row-highlight' : ''}>
      <td class="mono gid-cell">
        <Link href={txPath(t.gid)} title={t.gid}>
          {middleEllipsis(t.gid, 44)}
        </Link>
      </td>
      <td>
        <TypeTag type={t.trans_type} />
      </td>
      <td>
        <StatusBadge status={t.status} />
      </td>
      <td>
        <Branches t={t} />
      </td>
      <td class="nowrap">{formatTime(t.create_time)}</td>
      <td class="nowrap">
        {t.next_cron_time === null ? (
          <span class="muted">{t.finish_time === null ? '—' : `finished ${formatRelative(t.finish_time, now)}`}</span>
        ) : (
          formatRelative(t.next_cron_time, now)
        )}
      </td>
      <td class="num">{t.retries === 0 ? <span class="muted">0</span> : t.retries}</td>
      <Reason t={t} />
    </tr>
  );
}

export function Transactions(props: {
  search: string;
  stats: LiveStats | undefined;
  onBulk: (action: BulkAction, f: Filter, estimate: number | undefined) => void;
  bulkBusy: boolean;
}): JSX.Element {
  const applied = fromUrlQuery(props.search);
  const appliedKey = toUrlQuery(applied);
  const [draft, setDraft] = useState<Filter>(applied);
  const [paging, setPaging] = useState<Paging>(FIRST_PAGE);
  const [page, setPage] = useState<TransPage | undefined>();
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(false);
  const [live, setLive] = useState(true);
  const [confirm, setConfirm] = useState<BulkAction | undefined>();
  const [now, setNow] = useState(Date.now());
  const seq = useRef(0);

  // A new filter (typed, or from the back button) starts again at the first page.
  useEffect(() => {
    setDraft(applied);
    setPaging(FIRST_PAGE);
  }, [appliedKey]);

  const load = async (): Promise<void> => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const p = await call<TransPage>(`/api/admin/transactions?${listQuery(applied, position(paging), PAGE_SIZE)}`);
      if (mine !== seq.current) return;
      setPage(p);
      setPaging((s) => (position(s) === position(paging) ? loaded(s, p.next_position) : s));
      setError('');
      setNow(Date.now());
    } catch (err) {
      if (mine === seq.current) setError((err as Error).message);
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  };

  useEffect(() => {
    void load();
  }, [appliedKey, paging.index, position(paging)]);

  // The first page refreshes itself, so new transactions and status changes show without a reload.
  useEffect(() => {
    if (!live || paging.index !== 0) return;
    // A hidden tab does not walk the index every 2 s for nobody.
    const timer = setInterval(() => document.hidden || void load(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [live, paging.index, appliedKey]);

  const apply = (e: Event): void => {
    e.preventDefault();
    const q = toUrlQuery(draft);
    navigate(q === '' ? `${BASE}/` : `${BASE}/?${q}`);
  };
  const reset = (): void => navigate(`${BASE}/`);
  /** Another page, shown from its top. */
  const turn = (p: Paging): void => {
    setPaging(p);
    scrollTo(0, 0);
  };
  const set = (k: keyof Filter) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });

  const finishedOnly = applied.status === 'succeed' || applied.status === 'failed';
  const estimate = estimateOf(applied, props.stats);
  const rows = page?.transactions ?? [];
  const exact = page?.exact !== undefined && paging.index === 0 && !rows.some((r) => r.gid === page.exact?.gid) ? page.exact : undefined;

  return (
    <section class="page">
      <header class="page-header">
        <div>
          <h1>Transactions</h1>
          <p class="muted">{describe(applied)}</p>
        </div>
        <div class="header-actions">
          <button
            type="button"
            class="btn"
            disabled={props.bulkBusy || finishedOnly}
            onClick={() => setConfirm('retry')}
            title="Make every matching unfinished transaction due now"
          >
            Retry matching…
          </button>
          <button
            type="button"
            class="btn btn-danger-outline"
            disabled={props.bulkBusy || finishedOnly}
            onClick={() => setConfirm('force-stop')}
            title="Fail every matching unfinished transaction, without compensation"
          >
            Force-stop matching…
          </button>
        </div>
      </header>

      <form class="filters card" onSubmit={apply}>
        <label>
          <span class="label">Status</span>
          <select class="input" name="status" value={draft.status} onChange={set('status')}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          <span class="label">Type</span>
          <select class="input" name="type" value={draft.type} onChange={set('type')}>
            <option value="">any</option>
            {TRANS_TYPES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label class="grow">
          <span class="label">Gid starts with</span>
          <input class="input mono" name="gid" placeholder="order-2026-11-" value={draft.gidPrefix} onInput={set('gidPrefix')} />
        </label>
        <label>
          <span class="label">Created from</span>
          <input class="input" type="datetime-local" name="from" value={draft.from} onInput={set('from')} />
        </label>
        <label>
          <span class="label">Created to</span>
          <input class="input" type="datetime-local" name="to" value={draft.to} onInput={set('to')} />
        </label>
        <div class="filter-buttons">
          <button type="submit" class="btn btn-primary">
            Apply
          </button>
          <button type="button" class="btn" disabled={isEmpty(applied) && isEmpty(draft)} onClick={reset}>
            Reset
          </button>
        </div>
      </form>

      {error !== '' && <ErrorNotice message={error} onRetry={() => void load()} />}

      <div class="card table-card">
        <table class="table">
          <thead>
            <tr>
              <th>Gid</th>
              <th>Type</th>
              <th>Status</th>
              <th>Branches</th>
              <th>Created</th>
              <th>Next due</th>
              <th class="num">Retries</th>
              <th>Reason or last error</th>
            </tr>
          </thead>
          <tbody>
            {exact !== undefined && <Row t={exact} now={now} highlight />}
            {rows.map((t) => (
              <Row t={t} now={now} />
            ))}
          </tbody>
        </table>
        {rows.length === 0 && exact === undefined && !loading && (
          <Empty>
            {page?.next_position === '' || page === undefined
              ? 'No transaction matches.'
              : 'No match among the transactions examined for this page: go on to the next one.'}
          </Empty>
        )}
        <footer class="table-footer">
          <label class="toggle" title="Reload the first page every 2 s">
            <input type="checkbox" checked={live} onChange={(e) => setLive((e.target as HTMLInputElement).checked)} /> Live
          </label>
          <span class="muted">{loading ? 'Loading…' : `${rows.length} on this page · index order (per bucket, newest first)`}</span>
          <div class="pager">
            <button type="button" class="btn btn-small" disabled={!canPrev(paging)} onClick={() => turn(back(paging))}>
              ← Previous
            </button>
            <span class="page-number">Page {pageNumber(paging)}</span>
            <button type="button" class="btn btn-small" disabled={!canNext(paging)} onClick={() => turn(forward(paging))}>
              Next →
            </button>
          </div>
        </footer>
      </div>

      {confirm !== undefined && (
        <Confirm
          title={`${actionLabel(confirm)}: ${describe(applied)}`}
          confirmLabel={confirm === 'force-stop' ? 'Force-stop them' : 'Retry them now'}
          danger={confirm === 'force-stop'}
          onCancel={() => setConfirm(undefined)}
          onConfirm={() => {
            setConfirm(undefined);
            props.onBulk(confirm, applied, estimate);
          }}
        >
          <p>
            {confirm === 'force-stop'
              ? 'Every unfinished transaction that matches will be marked failed at once. No compensation runs. This cannot be undone.'
              : 'Every unfinished transaction that matches will be made due now and processed at the next poll.'}
          </p>
          <p class="muted">
            {estimate !== undefined ? `About ${estimate} transactions match. ` : ''}
            Finished ones are skipped. The run goes in batches of 100; it can be paused, and resumed after a reload.
          </p>
        </Confirm>
      )}
    </section>
  );
}
