/** The console: session check, login, the shell (navigation, live counters, bulk run) and its pages. */
import './style.css';
import type { JSX } from 'preact';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { BulkAction, BulkReply, SessionInfo } from '../http/console-wire.js';
import { ApiError, call, whenUnauthorized } from './api.js';
import { BulkPanel } from './components/bulk-panel.js';
import { applyBatch, nextRequest, pause, restore, resume, serialize, stall, startRun, type BulkRun } from './logic/bulk.js';
import { describe, toWire, type Filter } from './logic/filters.js';
import { formatCount, formatDueAge, formatRate } from './logic/format.js';
import { useLiveStats } from './live.js';
import { Live } from './pages/live.js';
import { Login } from './pages/login.js';
import { Topics } from './pages/topics.js';
import { Transaction } from './pages/transaction.js';
import { Transactions } from './pages/transactions.js';
import { BASE, Link, useRoute, type Route } from './router.js';

const RUN_KEY = 'dtm-console.bulk-run';

/** The bulk run, kept in local storage so a reload can resume it, and driven one batch at a time. */
function useBulkRun(): { run: BulkRun | undefined; setRun: (f: (r: BulkRun | undefined) => BulkRun | undefined) => void } {
  const [run, setRunState] = useState<BulkRun | undefined>(() => restore(localStorage.getItem(RUN_KEY)));
  const inFlight = useRef(false);
  const [tick, setTick] = useState(0);
  const setRun = (f: (r: BulkRun | undefined) => BulkRun | undefined): void => setRunState(f);

  useEffect(() => {
    if (run === undefined) localStorage.removeItem(RUN_KEY);
    else localStorage.setItem(RUN_KEY, serialize(run));
  }, [run]);

  useEffect(() => {
    if (run === undefined || run.phase !== 'running' || inFlight.current) return;
    inFlight.current = true;
    const id = run.id;
    call<BulkReply>('/api/admin/bulk', nextRequest(run))
      .then(
        (reply) => setRunState((r) => (r?.id === id ? applyBatch(r, reply) : r)),
        (err: unknown) => setRunState((r) => (r?.id === id ? stall(r, (err as Error).message) : r)),
      )
      .finally(() => {
        inFlight.current = false;
        setTick((n) => n + 1);
      });
  }, [run, tick]);

  return { run, setRun };
}

function NavLink(props: { href: string; active: boolean; label: string }): JSX.Element {
  return (
    <Link href={props.href} class={props.active ? 'nav-link active' : 'nav-link'}>
      {props.label}
    </Link>
  );
}

function Shell(props: { session: SessionInfo; onLogout: () => void }): JSX.Element {
  const route: Route = useRoute();
  const live = useLiveStats(true);
  const { run, setRun } = useBulkRun();
  const s = live.stats;

  const startBulk = (action: BulkAction, f: Filter, estimate: number | undefined): void => {
    const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    setRun(() => startRun(action, toWire(f), describe(f), estimate, id, Date.now()));
  };

  const logout = async (): Promise<void> => {
    try {
      await call('/api/admin/logout', {});
    } finally {
      props.onLogout();
    }
  };

  return (
    <div class="shell">
      <nav class="sidebar">
        <div class="brand">
          <span class="brand-mark">dtm</span>
          <span>redis console</span>
        </div>
        <NavLink href={`${BASE}/`} active={route.page === 'transactions' || route.page === 'transaction'} label="Transactions" />
        <NavLink href={`${BASE}/live`} active={route.page === 'live'} label="Live" />
        <NavLink href={`${BASE}/topics`} active={route.page === 'topics'} label="Topics" />
        <div class="mini-stats" data-testid="mini-stats">
          <div class="mini-title">Now</div>
          <div class="mini-row">
            <span>Submitted</span>
            <b>{formatRate(s?.rates.submits ?? 0)}/s</b>
          </div>
          <div class="mini-row">
            <span>Failures</span>
            <b class={(s?.rates.rounds_failed ?? 0) + (s?.rates.branch_failures ?? 0) > 0 ? 'bad' : ''}>
              {formatRate((s?.rates.rounds_failed ?? 0) + (s?.rates.branch_failures ?? 0))}/s
            </b>
          </div>
          <div class="mini-row">
            <span>Unfinished</span>
            <b>{formatCount((s?.backlog.prepared ?? 0) + (s?.backlog.submitted ?? 0) + (s?.backlog.aborting ?? 0))}</b>
          </div>
          <div class="mini-row">
            <span>Oldest due</span>
            <b class={(s?.oldest_due_age_ms ?? 0) > 10_000 ? 'bad' : ''}>{formatDueAge(s?.oldest_due_age_ms)}</b>
          </div>
        </div>
        <div class="sidebar-foot">
          <div class="who" title={props.session.who}>
            {props.session.who}
          </div>
          <div class="muted small">v{props.session.version}</div>
          {props.session.auth_required ? (
            <button type="button" class="btn btn-small btn-ghost" onClick={() => void logout()}>
              Sign out
            </button>
          ) : (
            <div class="open-warning" title="Set ADMIN_TOKEN to require a login">
              No ADMIN_TOKEN: open to anyone
            </div>
          )}
        </div>
      </nav>
      <main class="main">
        {run !== undefined && (
          <BulkPanel
            run={run}
            onPause={() => setRun((r) => (r === undefined ? r : pause(r)))}
            onResume={() => setRun((r) => (r === undefined ? r : resume(r)))}
            onDismiss={() => setRun(() => undefined)}
          />
        )}
        {route.page === 'transactions' && (
          <Transactions search={route.search} stats={s} onBulk={startBulk} bulkBusy={run !== undefined && run.phase !== 'finished'} />
        )}
        {route.page === 'transaction' && <Transaction gid={route.gid} />}
        {route.page === 'live' && <Live stats={s} history={live.history} error={live.error} />}
        {route.page === 'topics' && <Topics />}
      </main>
    </div>
  );
}

function App(): JSX.Element {
  const [session, setSession] = useState<SessionInfo | null | undefined>();
  const [expired, setExpired] = useState(false);
  const [error, setError] = useState('');

  useEffect(() => {
    whenUnauthorized(() => {
      setSession((s) => {
        if (s !== null && s !== undefined) setExpired(true);
        return null;
      });
    });
    call<SessionInfo>('/api/admin/session').then(setSession, (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) setSession(null);
      else setError((err as Error).message);
    });
  }, []);

  if (error !== '')
    return (
      <div class="login-page">
        <div class="notice notice-error">{error}</div>
      </div>
    );
  if (session === undefined) return <div class="login-page muted">Loading…</div>;
  if (session === null)
    return (
      <Login
        expired={expired}
        onLogin={(s) => {
          setExpired(false);
          setSession(s);
        }}
      />
    );
  return <Shell session={session} onLogout={() => setSession(null)} />;
}

render(<App />, document.getElementById('app')!);
