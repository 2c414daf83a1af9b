import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { gql, subscribe, GRAPH_EVENTS, RUN_SUMMARY_FIELDS, TASK_FIELDS } from '../lib/api';
import { RunModel, type LiveTask } from '../lib/runmodel';
import type { GraphRun, LedgerEvent } from '../lib/types';
import { layoutGraph, type LayoutResult } from '../dag/layout';
import { DagCanvas, NODE_H, NODE_W, type DagHandle } from '../dag/DagCanvas';
import { verifyChains } from '../lib/chain';
import { formatClock, formatDuration, formatTime } from '../lib/format';
import { navigate, useLocation } from '../lib/router';
import { ErrorBox, JsonView, StateBadge } from '../components';
import { CancelButton } from './Runs';
import { Link } from '../App';

const QUERY = `query Run($id: ID!) { graph(id: $id) { ${RUN_SUMMARY_FIELDS} tasks { ${TASK_FIELDS} } edges { from to } } }`;

/** Figures the browser tests read (window.__auroraPerf). */
interface Perf {
  runId: string;
  tasks: number;
  loadedMs?: number;
  layoutMs?: number;
  renderedMs?: number;
  nodes?: number;
  batches: number;
  events: number;
  maxBatchMs: number;
  totalBatchMs: number;
  /** How many times the SVG was built (once per layout: events never rebuild it). */
  builds: number;
}
declare global {
  interface Window {
    __auroraPerf?: Perf;
  }
}

type Live = { kind: 'connecting' } | { kind: 'live' } | { kind: 'ended' } | { kind: 'error'; message: string };

export function RunPage({ id }: { id: string }) {
  const { query } = useLocation();
  const selected = query.get('task');
  const [model, setModel] = useState<RunModel | null>(null);
  const [notFound, setNotFound] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [layout, setLayout] = useState<LayoutResult | null>(null);
  const [, setVersion] = useState(0);
  const [live, setLive] = useState<Live>({ kind: 'connecting' });
  const [retry, setRetry] = useState(0);
  const dag = useRef<DagHandle>(null);
  const perf = useRef<Perf | null>(null);

  const select = useCallback(
    (key: string | null) =>
      navigate(key ? `/runs/${encodeURIComponent(id)}?task=${encodeURIComponent(key)}` : `/runs/${encodeURIComponent(id)}`, { replace: true }),
    [id],
  );

  // Load the run, lay it out once, then follow its events.
  useEffect(() => {
    let stopped = false;
    let unsubscribe = () => {};
    const queue: LedgerEvent[] = [];
    let frame = 0;
    let fallback: ReturnType<typeof setTimeout> | undefined;
    const t0 = performance.now();
    setError(null);

    (async () => {
      let g: GraphRun | null;
      try {
        g = (await gql<{ graph: GraphRun | null }>(QUERY, { id })).graph;
      } catch (e) {
        if (!stopped) setError(e);
        return;
      }
      if (stopped) return;
      if (!g) {
        setNotFound(true);
        return;
      }
      const m = new RunModel(g);
      const p: Perf = { runId: id, tasks: g.tasks.length, loadedMs: performance.now() - t0, batches: 0, events: 0, maxBatchMs: 0, totalBatchMs: 0, builds: 0 };
      perf.current = p;
      window.__auroraPerf = p;
      setModel(m);

      const flush = () => {
        frame = 0;
        clearTimeout(fallback);
        if (stopped || queue.length === 0) return;
        const s = performance.now();
        const changed = new Set<LiveTask>();
        let graphChanged = false;
        const passBefore = m.passResults.size;
        for (const e of queue.splice(0)) {
          const r = m.apply(e);
          if (r.task) changed.add(r.task);
          if (r.graph) graphChanged = true;
        }
        dag.current?.update(changed);
        if (m.passResults.size !== passBefore) dag.current?.markPassResults(m.passResults);
        if (changed.size || graphChanged) setVersion((v) => v + 1);
        const ms = performance.now() - s;
        p.batches++;
        p.totalBatchMs += ms;
        p.maxBatchMs = Math.max(p.maxBatchMs, ms);
      };
      const schedule = () => {
        if (frame) return;
        frame = requestAnimationFrame(flush);
        // rAF does not run in a hidden tab; apply anyway, less often.
        fallback = setTimeout(() => {
          if (frame) cancelAnimationFrame(frame);
          flush();
        }, 500);
      };

      unsubscribe = subscribe<{ graphEvents: LedgerEvent }>(
        GRAPH_EVENTS,
        { id },
        {
          next: (d) => {
            p.events++;
            queue.push(d.graphEvents);
            schedule();
            setLive((l) => (l.kind === 'live' ? l : { kind: 'live' }));
          },
          error: (message) => {
            if (stopped) return;
            flush();
            setLive({ kind: 'error', message });
          },
          complete: () => {
            if (stopped) return;
            flush();
            setLive({ kind: 'ended' });
          },
        },
      );

      const started = performance.now();
      try {
        const l = await layoutGraph({
          nodes: m.tasks.map((t) => ({ id: t.key, width: NODE_W, height: NODE_H })),
          edges: m.edges,
          rankdir: 'LR',
        });
        if (stopped) return;
        p.layoutMs = performance.now() - started;
        setLayout(l);
      } catch (e) {
        if (!stopped) setError(e);
      }
    })();

    return () => {
      stopped = true;
      unsubscribe();
      if (frame) cancelAnimationFrame(frame);
      clearTimeout(fallback);
    };
  }, [id, retry]);

  const onRendered = useCallback(
    (count: number) => {
      const p = perf.current;
      if (p) {
        p.renderedMs = performance.now();
        p.nodes = count;
        p.builds++;
      }
      performance.mark('aurora:dag-rendered', { detail: { nodes: count, runId: id } });
      // Events that arrived while the layout ran are already in the model.
      if (model) {
        dag.current?.update(model.tasks);
        if (model.passResults.size) dag.current?.markPassResults(model.passResults);
      }
    },
    [id, model],
  );

  if (notFound)
    return (
      <section className="page">
        <h1>Run not found</h1>
        <p>
          There is no run with id <code>{id}</code>. <Link to="/">Back to the runs</Link>.
        </p>
      </section>
    );
  if (!model)
    return (
      <section className="page">
        <h1>Run</h1>
        {error ? (
          <>
            <ErrorBox error={error} />
            <button className="btn" type="button" onClick={() => setRetry((r) => r + 1)}>
              Try again
            </button>
          </>
        ) : (
          <p className="muted">Loading…</p>
        )}
      </section>
    );

  const p = model.progress();
  const task = selected ? (model.byKey.get(selected) ?? null) : null;
  return (
    <section className="run-page" aria-labelledby="run-title">
      <div className="run-head">
        <div className="run-title">
          <Link to="/" className="muted small">
            ← Runs
          </Link>
          <h1 id="run-title">
            {model.name || 'Unnamed run'} <StateBadge state={model.state} />
          </h1>
          <div className="muted small">
            <span className="mono">{model.id}</span> · submitted by {model.submittedBy} at {formatTime(model.submittedAt)}
            {model.finishedAt && (
              <>
                {' '}
                · finished {formatTime(model.finishedAt)} (took {formatDuration(Date.parse(model.finishedAt) - Date.parse(model.submittedAt))})
              </>
            )}
          </div>
        </div>
        <div className="run-actions">
          <LiveBadge live={live} />
          {model.state === 'RUNNING' && <CancelButton id={model.id} label="Cancel run" />}
        </div>
      </div>
      <Progress p={p} />
      <ErrorBox error={error} />
      <div className="run-body">
        <div className="run-dag">
          {layout ? (
            <DagCanvas
              ref={dag}
              tasks={model.tasks}
              edges={model.edges}
              layout={layout}
              selected={selected}
              onSelect={select}
              onRendered={onRendered}
              footer={LEGEND}
            />
          ) : (
            <>
              <p className="muted pad grow">Laying out {model.tasks.length} tasks…</p>
              {LEGEND}
            </>
          )}
        </div>
        <aside className="run-side" aria-label={task ? `Task ${task.key}` : 'Run events'}>
          {task ? (
            <TaskPanel task={task} events={model.byStream.get(`task:${task.id}`) ?? []} model={model} onClose={() => select(null)} />
          ) : (
            <GraphPanel model={model} />
          )}
        </aside>
      </div>
    </section>
  );
}

function LiveBadge({ live }: { live: Live }) {
  switch (live.kind) {
    case 'connecting':
      return <span className="live muted small">Connecting…</span>;
    case 'live':
      return (
        <span className="live on small" data-testid="live">
          <span className="dot" aria-hidden="true" /> Live
        </span>
      );
    case 'ended':
      return <span className="live muted small">All events received</span>;
    case 'error':
      return (
        <span className="live error small" role="alert">
          Live updates stopped: {live.message}
        </span>
      );
  }
}

function Progress({ p }: { p: ReturnType<RunModel['progress']> }) {
  const total = Math.max(1, p.total);
  const seg = (n: number, cls: string) => (n > 0 ? <span className={`seg ${cls}`} style={{ width: `${(100 * n) / total}%` }} /> : null);
  return (
    <div className="progress" data-testid="progress" aria-live="polite">
      <div className="progress-bar" aria-hidden="true">
        {seg(p.succeeded, 'st-SUCCESS')}
        {seg(p.failed, 'st-FAILURE')}
        {seg(p.running, 'st-STARTED')}
        {seg(p.retrying, 'st-RETRY')}
        {seg(p.cancelled, 'st-CANCELLED')}
        {seg(p.skipped, 'st-SKIPPED')}
      </div>
      <div className="progress-text">
        <strong data-testid="progress-succeeded">
          {p.succeeded} of {p.total} succeeded
        </strong>
        <span className={p.failed ? 'st-text-FAILURE' : 'muted'}>{p.failed} failed</span>
        <span className={p.running ? 'st-text-STARTED' : 'muted'}>{p.running} running</span>
        {p.retrying > 0 && <span className="st-text-RETRY">{p.retrying} retrying</span>}
        <span className="muted">{p.queued} waiting</span>
        {p.cancelled > 0 && <span className="muted">{p.cancelled} cancelled</span>}
        {p.skipped > 0 && <span className="muted">{p.skipped} skipped</span>}
      </div>
    </div>
  );
}

const LEGEND = <Legend />;

function Legend() {
  return (
    <div className="legend small" aria-label="Legend">
      {(['WAITING', 'PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE', 'CANCELLED', 'SKIPPED'] as const).map((s) => (
        <span key={s} className="legend-item">
          <span className={`swatch st-${s}`} aria-hidden="true" />
          {s.toLowerCase()}
        </span>
      ))}
      <span className="legend-item">
        <svg width="28" height="8" aria-hidden="true">
          <line x1="0" y1="4" x2="28" y2="4" className="dag-edge pass" />
        </svg>
        results passed on
      </span>
    </div>
  );
}

function ChainSummary({
  events,
  what,
  report: given,
}: {
  events: LedgerEvent[];
  what: string;
  report?: { streams: number; events: number; problems: string[] };
}) {
  const computed = useMemo(() => (given ? null : verifyChains(events)), [given, events, events.length]);
  const report = given ? { ...given, ok: given.problems.length === 0 } : computed!;
  if (events.length === 0) return null;
  return (
    <div className={`chain ${report.ok ? 'ok' : 'bad'}`} data-testid="chain" data-ok={report.ok}>
      <strong>{report.ok ? '✓ Chain links intact' : '✗ Chain links broken'}</strong>
      <span>
        {what}: {report.events} event{report.events === 1 ? '' : 's'} in {report.streams} stream{report.streams === 1 ? '' : 's'}. Checked: versions run from 1
        without a gap, and each event's previous hash equals the hash of the event before it in its stream. The SHA-256 hashes themselves are not recomputed
        here (run <code>aurora replay</code> for that).
      </span>
      {report.problems.length > 0 && (
        <ul>
          {report.problems.slice(0, 20).map((x) => (
            <li key={x}>{x}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function EventTable({ events }: { events: LedgerEvent[] }) {
  const report = useMemo(() => verifyChains(events), [events, events.length]);
  const [open, setOpen] = useState<string | null>(null);
  if (events.length === 0) return <p className="muted small">No events yet.</p>;
  return (
    <table className="events">
      <thead>
        <tr>
          <th scope="col">v</th>
          <th scope="col">Event</th>
          <th scope="col">Hash / previous hash</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => {
          const problem = report.links.get(e.id);
          const expanded = open === e.id;
          return [
            <tr
              key={e.id}
              data-testid="event-row"
              data-version={e.version}
              data-type={e.type}
              className={`clickable ${problem ? 'bad' : ''}`}
              tabIndex={0}
              aria-expanded={expanded}
              onClick={() => setOpen(expanded ? null : e.id)}
              onKeyDown={(k) => {
                if (k.key === 'Enter' || k.key === ' ') {
                  k.preventDefault();
                  setOpen(expanded ? null : e.id);
                }
              }}
            >
              <td className="mono">{e.version}</td>
              <td>
                <div className="ev-type">{e.type}</div>
                <div className="ev-meta">
                  {e.state && <StateBadge state={e.state} />}
                  <span className="muted small" title={e.recordedAt}>
                    {formatClock(e.recordedAt)}
                  </span>
                </div>
                <div className="muted small ev-who">
                  {e.actor && <>by {e.actor}</>}
                  {e.workerId && <span title="worker"> · {e.workerId}</span>}
                </div>
              </td>
              <td className="hashes">
                <code className="hash" data-testid="event-hash" title={e.hash}>
                  {e.hash}
                </code>
                <code className="hash prev" data-testid="event-prev-hash" title={e.prevHash || '(none: first event of the stream)'}>
                  {e.prevHash || '—'}
                </code>
                <span className={`link ${problem ? 'bad' : 'ok'}`} title={problem ?? 'links to the previous event'}>
                  {problem ? `✗ ${problem}` : '✓ linked'}
                </span>
              </td>
            </tr>,
            expanded && (
              <tr key={`${e.id}-d`} className="event-detail">
                <td colSpan={3}>
                  <dl className="kv small">
                    <dt>Recorded</dt>
                    <dd>{e.recordedAt}</dd>
                    <dt>Stream</dt>
                    <dd className="mono">{e.stream}</dd>
                    <dt>Hash</dt>
                    <dd className="mono break">{e.hash}</dd>
                    <dt>Previous hash</dt>
                    <dd className="mono break">{e.prevHash || '(empty: version 1)'}</dd>
                    <dt>Event id</dt>
                    <dd className="mono">{e.id}</dd>
                    {e.causationId && (
                      <>
                        <dt>Caused by</dt>
                        <dd className="mono">{e.causationId}</dd>
                      </>
                    )}
                    {e.fencingToken != null && (
                      <>
                        <dt>Fencing token</dt>
                        <dd>{e.fencingToken}</dd>
                      </>
                    )}
                    {e.traceId && (
                      <>
                        <dt>Trace</dt>
                        <dd className="mono">{e.traceId}</dd>
                      </>
                    )}
                  </dl>
                  <JsonView value={e.data} />
                </td>
              </tr>
            ),
          ];
        })}
      </tbody>
    </table>
  );
}

function Values({ values }: { values: { type: string; value: unknown }[] | null }) {
  if (!values) return <span className="muted">—</span>;
  if (values.length === 0) return <span className="muted">none</span>;
  return (
    <ol className="values">
      {values.map((v, i) => (
        <li key={i}>
          <span className="type">{v.type}</span> <code>{JSON.stringify(v.value)}</code>
        </li>
      ))}
    </ol>
  );
}

function TaskPanel({ task, events, model, onClose }: { task: LiveTask; events: LedgerEvent[]; model: RunModel; onClose: () => void }) {
  const headRef = useRef<HTMLHeadingElement>(null);
  // Move focus to the panel (for keyboard and screen-reader users) when a task is opened.
  useEffect(() => headRef.current?.focus({ preventScroll: true }), [task.key]);
  const ms = RunModel.duration(task);
  const preds = model.edges.filter((e) => e.to === task.key).map((e) => e.from);
  const succs = model.edges.filter((e) => e.from === task.key).map((e) => e.to);
  return (
    <div className="panel" data-testid="task-panel" data-key={task.key}>
      <div className="panel-head">
        <h2 ref={headRef} tabIndex={-1}>
          <span className="mono">{task.key}</span> <StateBadge state={task.state} />
        </h2>
        <button type="button" className="btn btn-quiet" onClick={onClose} aria-label="Close the task panel">
          ✕
        </button>
      </div>
      <dl className="kv">
        <dt>Handler</dt>
        <dd className="mono">{task.name}</dd>
        <dt>Attempts</dt>
        <dd data-testid="task-attempts">
          {task.attempts} (up to {task.retryCount} retr{task.retryCount === 1 ? 'y' : 'ies'}, {task.retryBackoffMs} ms backoff)
        </dd>
        <dt>Worker</dt>
        <dd className="mono">{task.workerId ?? '—'}</dd>
        <dt>Duration</dt>
        <dd>{ms != null ? formatDuration(ms) : '—'}</dd>
        {task.timeoutMs != null && (
          <>
            <dt>Timeout</dt>
            <dd>{task.timeoutMs} ms</dd>
          </>
        )}
        {task.retryAt && task.state === 'RETRY' && (
          <>
            <dt>Next attempt</dt>
            <dd>{formatTime(task.retryAt)}</dd>
          </>
        )}
        <dt>Labels</dt>
        <dd>
          {Object.keys(task.labelSelector ?? {}).length ? (
            Object.entries(task.labelSelector).map(([k, v]) => <span key={k} className="chip">{`${k}=${v}`}</span>)
          ) : (
            <span className="muted">any worker</span>
          )}
        </dd>
        <dt>After</dt>
        <dd>
          {preds.length ? preds.join(', ') : <span className="muted">—</span>}
          {model.passResults.has(task.key) && preds.length > 0 && <span className="muted"> (their results are passed in)</span>}
        </dd>
        <dt>Before</dt>
        <dd>{succs.length ? succs.join(', ') : <span className="muted">—</span>}</dd>
        <dt>Args</dt>
        <dd data-testid="task-args">
          <Values values={task.args} />
        </dd>
        <dt>Results</dt>
        <dd data-testid="task-results">
          <Values values={task.results} />
        </dd>
        {task.error && (
          <>
            <dt>Error</dt>
            <dd className="error" data-testid="task-error">
              {task.error}
            </dd>
          </>
        )}
      </dl>
      <h3>Events</h3>
      <ChainSummary events={events} what="This task" />
      <EventTable events={events} />
    </div>
  );
}

function GraphPanel({ model }: { model: RunModel }) {
  return (
    <div className="panel" data-testid="graph-panel">
      <div className="panel-head">
        <h2>Run events</h2>
      </div>
      <p className="muted small">Select a task (click it, or Tab to it and press Enter) for its args, results and events.</p>
      <h3>Graph stream</h3>
      <ChainSummary events={model.graphEvents} what="The graph's own stream" />
      <EventTable events={model.graphEvents} />
      <h3>Whole run</h3>
      <ChainSummary events={model.events} what="All streams of the run" report={model.chain} />
    </div>
  );
}
