/** Topics and their subscribers: subscribe a URL, unsubscribe one (with a confirmation). */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { TopicsReply } from '../../http/console-wire.js';
import { call } from '../api.js';
import { Confirm, Empty, ErrorNotice } from '../components/ui.js';
import { formatTime } from '../logic/format.js';

export function Topics(): JSX.Element {
  const [topics, setTopics] = useState<TopicsReply['topics'] | undefined>();
  const [error, setError] = useState('');
  const [form, setForm] = useState({ topic: '', url: '', remark: '' });
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState<{ topic: string; url: string } | undefined>();

  const load = async (): Promise<void> => {
    try {
      setTopics((await call<TopicsReply>('/api/admin/topics')).topics);
      setError('');
    } catch (err) {
      setError((err as Error).message);
    }
  };
  useEffect(() => void load(), []);

  const subscribe = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    try {
      await call('/api/admin/topics/subscribe', form);
      setForm({ topic: form.topic, url: '', remark: '' });
      await load();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const unsubscribe = async (topic: string, url: string): Promise<void> => {
    setBusy(true);
    try {
      await call('/api/admin/topics/unsubscribe', { topic, url });
      await load();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
      setConfirm(undefined);
    }
  };

  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });

  return (
    <section class="page">
      <header class="page-header">
        <div>
          <h1>Topics</h1>
          <p class="muted">A msg step with the URL topic://name calls every subscriber of that topic.</p>
        </div>
      </header>
      <form class="filters card" onSubmit={(e) => void subscribe(e)}>
        <label>
          <span class="label">Topic</span>
          <input class="input" name="topic" required value={form.topic} onInput={set('topic')} />
        </label>
        <label class="grow">
          <span class="label">Subscriber URL</span>
          <input class="input mono" name="url" type="url" required placeholder="http://orders:8080/api/on-paid" value={form.url} onInput={set('url')} />
        </label>
        <label>
          <span class="label">Remark</span>
          <input class="input" name="remark" value={form.remark} onInput={set('remark')} />
        </label>
        <div class="filter-buttons">
          <button type="submit" class="btn btn-primary" disabled={busy}>
            Subscribe
          </button>
        </div>
      </form>
      {error !== '' && <ErrorNotice message={error} onRetry={() => void load()} />}
      <div class="card table-card">
        <table class="table">
          <thead>
            <tr>
              <th>Topic</th>
              <th>Subscriber</th>
              <th>Remark</th>
              <th>Updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(topics ?? []).flatMap((t) =>
              t.subscribers.length === 0 ? (
                <tr>
                  <td class="mono">{t.name}</td>
                  <td class="muted" colSpan={2}>
                    no subscribers
                  </td>
                  <td class="nowrap">{formatTime(t.update_time)}</td>
                  <td />
                </tr>
              ) : (
                t.subscribers.map((s, i) => (
                  <tr>
                    <td class="mono">{i === 0 ? t.name : ''}</td>
                    <td class="mono url-cell" title={s.url}>
                      {s.url}
                    </td>
                    <td>{s.remark === '' ? <span class="muted">—</span> : s.remark}</td>
                    <td class="nowrap">{i === 0 ? formatTime(t.update_time) : ''}</td>
                    <td class="actions-cell">
                      <button type="button" class="btn btn-small btn-danger-outline" disabled={busy} onClick={() => setConfirm({ topic: t.name, url: s.url })}>
                        Unsubscribe
                      </button>
                    </td>
                  </tr>
                ))
              ),
            )}
          </tbody>
        </table>
        {topics !== undefined && topics.length === 0 && <Empty>No topics yet: subscribe a URL above to create one.</Empty>}
      </div>
      {confirm !== undefined && (
        <Confirm
          title="Unsubscribe?"
          confirmLabel="Unsubscribe"
          danger
          busy={busy}
          onCancel={() => setConfirm(undefined)}
          onConfirm={() => void unsubscribe(confirm.topic, confirm.url)}
        >
          <p>
            <span class="mono">{confirm.url}</span> stops receiving the messages of topic <span class="mono">{confirm.topic}</span>.
          </p>
        </Confirm>
      )}
    </section>
  );
}
