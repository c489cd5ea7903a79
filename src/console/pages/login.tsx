/** The login form: the admin token, exchanged for an HttpOnly session cookie. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { SessionInfo } from '../../http/console-wire.js';
import { ApiError, call } from '../api.js';

export function Login(props: { onLogin: (s: SessionInfo) => void; expired: boolean }): JSX.Element {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      props.onLogin(await call<SessionInfo>('/api/admin/login', { token }));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That is not the admin token.' : (err as Error).message);
      setBusy(false);
    }
  };

  return (
    <div class="login-page">
      <form class="login-card" onSubmit={(e) => void submit(e)}>
        <div class="brand brand-dark">
          <span class="brand-mark">dtm</span>
          <span>redis console</span>
        </div>
        <p class="muted">{props.expired ? 'Your session ended. Sign in again to continue.' : 'Sign in with the coordinator’s admin token (ADMIN_TOKEN).'}</p>
        <label class="label" for="token">
          Admin token
        </label>
        <input
          id="token"
          name="token"
          type="password"
          class="input"
          autoComplete="current-password"
          autoFocus
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        {error !== '' && (
          <div class="form-error" role="alert">
            {error}
          </div>
        )}
        <button type="submit" class="btn btn-primary btn-block" disabled={busy || token === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
