import { useEffect, type ReactNode } from 'react';
import { useAuth, endSession } from './lib/auth';
import { gql, LOGOUT } from './lib/api';
import { isModifiedClick, navigate, useLocation } from './lib/router';
import { LoginPage } from './pages/Login';
import { RunsPage } from './pages/Runs';
import { RunPage } from './pages/Run';
import { EditorPage } from './pages/Editor';
import { WorkersPage } from './pages/Workers';

export function Link({
  to,
  children,
  className,
  ...rest
}: {
  to: string;
  children: ReactNode;
  className?: string;
  'aria-current'?: 'page' | undefined;
  title?: string;
}) {
  return (
    <a
      href={to}
      className={className}
      {...rest}
      onClick={(e) => {
        if (isModifiedClick(e)) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

function Nav({ path, user }: { path: string; user: string }) {
  const item = (to: string, label: string, active: boolean) => (
    <Link to={to} className={active ? 'active' : undefined} aria-current={active ? 'page' : undefined}>
      {label}
    </Link>
  );
  return (
    <header className="topbar">
      <Link to="/" className="brand">
        <span className="brand-dot" aria-hidden="true" />
        Aurora
      </Link>
      <nav aria-label="Main">
        {item('/', 'Runs', path === '/' || path.startsWith('/runs/'))}
        {item('/editor', 'Editor', path === '/editor')}
        {item('/workers', 'Workers', path === '/workers')}
        <a href="/graphql" title="GraphiQL: the GraphQL API explorer (bundled, works offline)">
          GraphiQL
        </a>
      </nav>
      <div className="topbar-user">
        <span className="muted">
          Signed in as <strong>{user || 'unknown'}</strong>
        </span>
        <button
          type="button"
          className="btn btn-quiet"
          data-testid="logout"
          onClick={async () => {
            try {
              await gql(LOGOUT);
            } catch {
              // The token is dropped either way.
            }
            endSession('You are logged out.');
          }}
        >
          Log out
        </button>
      </div>
    </header>
  );
}

export function App() {
  const { session } = useAuth();
  const { path } = useLocation();

  useEffect(() => {
    if (session && path === '/login') {
      const next = new URLSearchParams(window.location.search).get('next');
      navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
    }
  }, [session, path]);

  useEffect(() => {
    const titles: [RegExp, string][] = [
      [/^\/runs\//, 'Run'],
      [/^\/editor$/, 'Editor'],
      [/^\/workers$/, 'Workers'],
      [/^\/login$/, 'Log in'],
      [/^\/$/, 'Runs'],
    ];
    const t = session ? titles.find(([re]) => re.test(path))?.[1] : 'Log in';
    document.title = t ? `${t} · Aurora` : 'Aurora';
  }, [path, session]);

  if (!session) return <LoginPage />;

  let page: ReactNode;
  const run = /^\/runs\/([^/]+)\/?$/.exec(path);
  if (path === '/' || path === '/login') page = <RunsPage />;
  else if (run) page = <RunPage key={run[1]} id={decodeURIComponent(run[1])} />;
  else if (path === '/editor') page = <EditorPage />;
  else if (path === '/workers') page = <WorkersPage />;
  else
    page = (
      <section className="page">
        <h1>Not found</h1>
        <p>
          There is no page at <code>{path}</code>. <Link to="/">Back to the runs</Link>.
        </p>
      </section>
    );
  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <Nav path={path} user={session.user} />
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </div>
  );
}
