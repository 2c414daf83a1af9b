import { useEffect, useState } from 'react';
import { gql, CANCEL, RUN_SUMMARY_FIELDS, describeError } from '../lib/api';
import { usePolling, useDebounced } from '../lib/hooks';
import { navigate, useLocation } from '../lib/router';
import { formatDuration, formatTime, shortId } from '../lib/format';
import { GRAPH_STATES, type GraphState, type RunSummary } from '../lib/types';
import { CountsBar, Empty, ErrorBox, StateBadge } from '../components';
import { Link } from '../App';

const PAGE = 20;
const QUERY = `query Runs($state: GraphState, $name: String, $first: Int, $after: String) {
  graphs(state: $state, name: $name, first: $first, after: $after) {
    nodes { ${RUN_SUMMARY_FIELDS} }
    pageInfo { hasNextPage endCursor }
  }
}`;

interface Page {
  graphs: { nodes: RunSummary[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}

export function CancelButton({ id, onDone, label = 'Cancel' }: { id: string; onDone?: () => void; label?: string }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!confirming)
    return (
      <span className="cancel">
        <button
          type="button"
          className="btn btn-danger-quiet"
          data-testid="cancel-run"
          onClick={(e) => {
            e.stopPropagation();
            setConfirming(true);
            setError(null);
          }}
        >
          {label}
        </button>
        {error && (
          <span className="error inline" role="alert">
            {error}
          </span>
        )}
      </span>
    );
  return (
    <span className="cancel" onClick={(e) => e.stopPropagation()}>
      <span className="muted small">Cancel this run?</span>
      <button
        type="button"
        className="btn btn-danger"
        data-testid="cancel-confirm"
        disabled={busy}
        autoFocus
        onClick={async () => {
          setBusy(true);
          try {
            await gql(CANCEL, { id, reason: 'cancelled from the web UI' });
            setConfirming(false);
            onDone?.();
          } catch (e) {
            setError(describeError(e));
            setConfirming(false);
          } finally {
            setBusy(false);
          }
        }}
      >
        Yes, cancel
      </button>
      <button type="button" className="btn btn-quiet" onClick={() => setConfirming(false)}>
        Keep
      </button>
    </span>
  );
}

export function RunsPage() {
  const { query } = useLocation();
  const stateParam = query.get('state');
  const state = GRAPH_STATES.includes(stateParam as GraphState) ? (stateParam as GraphState) : null;
  const [nameInput, setNameInput] = useState(query.get('name') ?? '');
  const name = useDebounced(nameInput.trim(), 300);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1];

  // Filters live in the address, so a reload or a shared link keeps them.
  useEffect(() => {
    const p = new URLSearchParams();
    if (state) p.set('state', state);
    if (name) p.set('name', name);
    const s = p.toString();
    navigate(s ? `/?${s}` : '/', { replace: true });
  }, [state, name]);
  useEffect(() => setCursors([null]), [state, name]);

  const { data, error, loading, reload } = usePolling<Page>((signal) => gql<Page>(QUERY, { state, name: name || null, first: PAGE, after }, { signal }), 2000, [
    state,
    name,
    after,
  ]);
  const runs = data?.graphs.nodes ?? [];
  const setState = (s: string) => {
    const p = new URLSearchParams();
    if (s) p.set('state', s);
    if (name) p.set('name', name);
    const q = p.toString();
    navigate(q ? `/?${q}` : '/', { replace: true });
  };

  return (
    <section className="page" aria-labelledby="runs-title">
      <div className="page-head">
        <h1 id="runs-title">Runs</h1>
        <Link to="/editor" className="btn btn-primary">
          New graph
        </Link>
      </div>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          State
          <select data-testid="filter-state" value={state ?? ''} onChange={(e) => setState(e.target.value)}>
            <option value="">Any</option>
            {GRAPH_STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="grow">
          Name contains
          <input data-testid="filter-name" type="search" placeholder="e.g. nightly" value={nameInput} onChange={(e) => setNameInput(e.target.value)} />
        </label>
        <span className="muted small live-note" aria-live="polite">
          {loading && !data ? 'Loading…' : 'Updated every 2 s'}
        </span>
      </form>
      <ErrorBox error={error} />
      {data && runs.length === 0 ? (
        <Empty>
          {state || name ? (
            'No runs match these filters.'
          ) : (
            <>
              No runs yet. <Link to="/editor">Build a graph</Link> or submit one with <code>aurora submit FILE</code>.
            </>
          )}
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="runs">
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">State</th>
                <th scope="col" className="w-counts">
                  Tasks
                </th>
                <th scope="col">Submitted by</th>
                <th scope="col">Submitted</th>
                <th scope="col">Finished</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {runs.map((r) => (
                <tr
                  key={r.id}
                  data-testid="run-row"
                  data-id={r.id}
                  data-state={r.state}
                  className="clickable"
                  onClick={(e) => {
                    if ((e.target as Element).closest('a,button')) return;
                    navigate(`/runs/${r.id}`);
                  }}
                >
                  <td>
                    <Link to={`/runs/${r.id}`} className="run-name">
                      {r.name || <span className="muted">(unnamed)</span>}
                    </Link>
                    <div className="mono muted small" title={r.id}>
                      {shortId(r.id)}
                    </div>
                  </td>
                  <td>
                    <StateBadge state={r.state} />
                  </td>
                  <td>
                    <CountsBar counts={r.taskCounts} />
                  </td>
                  <td>{r.submittedBy}</td>
                  <td className="nowrap">{formatTime(r.submittedAt)}</td>
                  <td className="nowrap">
                    {r.finishedAt ? (
                      <>
                        {formatTime(r.finishedAt)}
                        <div className="muted small">took {formatDuration(Date.parse(r.finishedAt) - Date.parse(r.submittedAt))}</div>
                      </>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td className="actions">{r.state === 'RUNNING' && <CancelButton id={r.id} onDone={reload} />}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav className="pager" aria-label="Pages">
        <button type="button" className="btn" data-testid="page-prev" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
          ← Newer
        </button>
        <span className="muted small">Page {cursors.length}</span>
        <button
          type="button"
          className="btn"
          data-testid="page-next"
          disabled={!data?.graphs.pageInfo.hasNextPage}
          onClick={() => {
            const c = data?.graphs.pageInfo.endCursor;
            if (c) setCursors((cs) => [...cs, c]);
          }}
        >
          Older →
        </button>
      </nav>
    </section>
  );
}
