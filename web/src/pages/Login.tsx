import { useEffect, useRef, useState } from 'react';
import { gql, LOGIN, ApiError } from '../lib/api';
import { startSession, useAuth } from '../lib/auth';
import { navigate } from '../lib/router';

export function LoginPage() {
  const { message } = useAuth();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const userRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    // Keep the address the user asked for, to go on there after logging in.
    const { pathname, search } = window.location;
    if (pathname !== '/login') {
      const next = pathname + search;
      history.replaceState(null, '', next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`);
    }
    userRef.current?.focus();
  }, []);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const d = await gql<{ login: { token: string; expiresAt: string } }>(LOGIN, { u: username, p: password }, { token: null });
      startSession({ token: d.login.token, expiresAt: d.login.expiresAt, user: username });
      const next = new URLSearchParams(window.location.search).get('next');
      navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.kind === 'graphql') setError(err.message);
      else setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  }

  return (
    <main className="login" id="main">
      <form className="login-card" onSubmit={submit} aria-labelledby="login-title" noValidate>
        <div className="brand login-brand">
          <span className="brand-dot" aria-hidden="true" />
          Aurora
        </div>
        <h1 id="login-title">Log in</h1>
        {message && !error && (
          <p className="notice" role="status" data-testid="login-message">
            {message}
          </p>
        )}
        {error && (
          <p className="error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <label>
          Username
          <input
            ref={userRef}
            data-testid="login-username"
            name="username"
            autoComplete="username"
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </label>
        <label>
          Password
          <input
            data-testid="login-password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <button className="btn btn-primary" type="submit" data-testid="login-submit" disabled={busy || !username || !password}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        <p className="muted small">The token is kept for this tab only (sessionStorage).</p>
      </form>
    </main>
  );
}
