import { gql, WORKERS } from '../lib/api';
import { usePolling, useNow } from '../lib/hooks';
import { formatTime, since } from '../lib/format';
import type { Worker } from '../lib/types';
import { Empty, ErrorBox } from '../components';

export function WorkersPage() {
  const { data, error } = usePolling((signal) => gql<{ workers: Worker[] }>(WORKERS, undefined, { signal }), 3000, []);
  const now = useNow(1000);
  const workers = data?.workers ?? [];
  return (
    <section className="page" aria-labelledby="workers-title">
      <div className="page-head">
        <h1 id="workers-title">Workers</h1>
        <span className="muted small">Live workers and the handlers they offer · updated every 3 s</span>
      </div>
      <ErrorBox error={error} />
      {data && workers.length === 0 && (
        <Empty>
          No live workers. Start one with <code>aurora worker</code>.
        </Empty>
      )}
      {workers.length > 0 && (
        <div className="table-wrap">
          <table className="workers">
            <thead>
              <tr>
                <th scope="col">Worker</th>
                <th scope="col">Labels</th>
                <th scope="col">Handlers</th>
                <th scope="col">Last heartbeat</th>
              </tr>
            </thead>
            <tbody>
              {workers.map((w) => (
                <tr key={w.id} data-testid="worker-row" data-id={w.id}>
                  <td className="mono">{w.id}</td>
                  <td>
                    {Object.keys(w.labels ?? {}).length ? (
                      Object.entries(w.labels).map(([k, v]) => (
                        <span key={k} className="chip">
                          {k}={String(v)}
                        </span>
                      ))
                    ) : (
                      <span className="muted">none</span>
                    )}
                  </td>
                  <td>
                    {w.handlers.map((h) => (
                      <span key={h} className="chip mono">
                        {h}
                      </span>
                    ))}
                  </td>
                  <td className="nowrap" title={w.lastSeenAt}>
                    {since(w.lastSeenAt, now)}
                    <div className="muted small">{formatTime(w.lastSeenAt)}</div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
