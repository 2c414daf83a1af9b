import { useEffect, useMemo, useRef, useState, type PointerEvent as RPointerEvent } from 'react';
import { gql, HANDLERS, SUBMIT, ApiError } from '../lib/api';
import { usePolling } from '../lib/hooks';
import { navigate } from '../lib/router';
import type { Handler } from '../lib/types';
import { typeChoices, suggestedType, parseSignature } from '../lib/sig';
import {
  EMPTY_GRAPH,
  NODE_H,
  NODE_W,
  check,
  describeHandler,
  freeSpot,
  fromGraphInput,
  mapServerErrors,
  nextId,
  parseArg,
  signatureOf,
  toGraphInput,
  uniqueKey,
  type EArg,
  type EGraph,
  type ELabel,
  type ENode,
  type Problems,
  type ServerProblems,
} from '../lib/editor';
import { layoutGraph } from '../dag/layout';
import { ErrorBox } from '../components';

const STORE = 'aurora.editor';
const DND_TYPE = 'application/x-aurora-handler';

type Selection = { kind: 'node'; id: string } | { kind: 'edge'; index: number } | null;

function loadGraph(): EGraph {
  try {
    const s = sessionStorage.getItem(STORE);
    if (s) {
      const g = JSON.parse(s) as EGraph;
      if (Array.isArray(g.nodes) && Array.isArray(g.edges)) return g;
    }
  } catch {
    // A broken draft is dropped.
  }
  return EMPTY_GRAPH;
}

function newNode(g: EGraph, h: Handler, at: { x: number; y: number }): ENode {
  const sig = parseSignature(h.argTypes);
  const args: EArg[] = (sig?.fixed ?? []).map((_, i) => ({ type: suggestedType(sig, i), text: '' }));
  return {
    id: nextId(g),
    key: uniqueKey(g, h.name),
    name: h.name,
    args,
    labels: [],
    retryCount: '',
    retryBackoffMs: '',
    timeoutMs: '',
    x: Math.max(8, at.x),
    y: Math.max(8, at.y),
  };
}

export function EditorPage() {
  const [g, setG] = useState<EGraph>(loadGraph);
  const [sel, setSel] = useState<Selection>(null);
  const [attempted, setAttempted] = useState(false);
  const [server, setServer] = useState<ServerProblems | null>(null);
  const [submitError, setSubmitError] = useState<unknown>(null);
  const [submitting, setSubmitting] = useState(false);
  const [jsonOpen, setJsonOpen] = useState(false);
  const [jsonText, setJsonText] = useState('');
  const [jsonMsg, setJsonMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const focusKeyFor = useRef<string | null>(null);
  const stageRef = useRef<HTMLDivElement>(null);
  const [link, setLink] = useState<{ from: string; x: number; y: number } | null>(null);
  const [scale, setScale] = useState(1);
  const canvasRef = useRef<HTMLDivElement>(null);

  const { data: hdata, error: herror } = usePolling((signal) => gql<{ handlers: Handler[] }>(HANDLERS, undefined, { signal }), 10_000, []);
  const handlers = hdata?.handlers ?? null;
  const problems = useMemo(() => check(g, handlers), [g, handlers]);

  // The draft survives navigating away and reloads (this tab only).
  useEffect(() => {
    try {
      sessionStorage.setItem(STORE, JSON.stringify(g));
    } catch {
      // Storage full or disabled: the draft is just not kept.
    }
  }, [g]);

  const byId = useMemo(() => new Map(g.nodes.map((n) => [n.id, n])), [g.nodes]);
  const selectedNode = sel?.kind === 'node' ? (byId.get(sel.id) ?? null) : null;

  function updateNode(id: string, patch: Partial<ENode> | ((n: ENode) => Partial<ENode>)) {
    setG((prev) => ({ ...prev, nodes: prev.nodes.map((n) => (n.id === id ? { ...n, ...(typeof patch === 'function' ? patch(n) : patch) } : n)) }));
  }

  function addNode(h: Handler, at?: { x: number; y: number }) {
    const near = (sel?.kind === 'node' ? g.nodes.find((x) => x.id === sel.id) : null) ?? g.nodes[g.nodes.length - 1];
    const n = newNode(g, h, at ?? freeSpot(g, near));
    setG((prev) => ({ ...prev, nodes: [...prev.nodes, n] }));
    setSel({ kind: 'node', id: n.id });
    return n.id;
  }

  function addEdge(from: string, to: string) {
    if (from === to) return;
    setG((prev) => (prev.edges.some((e) => e.from === from && e.to === to) ? prev : { ...prev, edges: [...prev.edges, { from, to }] }));
  }

  function removeEdge(index: number) {
    setG((prev) => ({ ...prev, edges: prev.edges.filter((_, i) => i !== index) }));
    setSel(null);
  }

  function removeNode(id: string) {
    setG((prev) => ({ ...prev, nodes: prev.nodes.filter((n) => n.id !== id), edges: prev.edges.filter((e) => e.from !== id && e.to !== id) }));
    setSel(null);
  }

  async function submit() {
    setAttempted(true);
    setSubmitError(null);
    if (problems.count > 0) return;
    setSubmitting(true);
    setServer(null);
    try {
      const d = await gql<{ submitGraph: { id: string } }>(SUBMIT, { input: toGraphInput(g) });
      navigate(`/runs/${d.submitGraph.id}`);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'BAD_USER_INPUT')
        setServer(
          mapServerErrors(
            e.errors.map((x) => x.message),
            g,
          ),
        );
      else setSubmitError(e);
      setSubmitting(false);
    }
  }

  async function importJson(text: string) {
    try {
      const imported = fromGraphInput(text);
      const l = await layoutGraph({ nodes: imported.nodes.map((n) => ({ id: n.id, width: NODE_W, height: NODE_H })), edges: imported.edges, rankdir: 'LR' });
      imported.nodes = imported.nodes.map((n) => ({
        ...n,
        x: Math.round((l.nodes[n.id]?.x ?? n.x) - NODE_W / 2 + 16),
        y: Math.round((l.nodes[n.id]?.y ?? n.y) - NODE_H / 2 + 16),
      }));
      setG(imported);
      fit(imported.nodes);
      setSel(null);
      setServer(null);
      setAttempted(false);
      setJsonMsg({
        ok: true,
        text: `Imported ${imported.nodes.length} task${imported.nodes.length === 1 ? '' : 's'} and ${imported.edges.length} edge${imported.edges.length === 1 ? '' : 's'}.`,
      });
    } catch (e) {
      setJsonMsg({ ok: false, text: (e as Error).message });
    }
  }

  async function autoLayout() {
    const l = await layoutGraph({ nodes: g.nodes.map((n) => ({ id: n.id, width: NODE_W, height: NODE_H })), edges: g.edges, rankdir: 'LR' });
    const nodes = g.nodes.map((n) =>
      l.nodes[n.id] ? { ...n, x: Math.round(l.nodes[n.id].x - NODE_W / 2 + 16), y: Math.round(l.nodes[n.id].y - NODE_H / 2 + 16) } : n,
    );
    setG((prev) => ({ ...prev, nodes }));
    fit(nodes);
  }

  /** Zooms so that all of `nodes` fit the canvas (never above 100%), and scrolls to the start. */
  function fit(nodes: ENode[]) {
    const box = canvasRef.current;
    if (!box || nodes.length === 0) return;
    const w = Math.max(...nodes.map((n) => n.x + NODE_W)) + 40;
    const h = Math.max(...nodes.map((n) => n.y + NODE_H)) + 40;
    setScale(Math.max(0.3, Math.min(1, (box.clientWidth - 8) / w, (box.clientHeight - 8) / h)));
    box.scrollTo(0, 0);
  }

  // Focus the key field of a node just added from the keyboard.
  useEffect(() => {
    if (focusKeyFor.current && selectedNode?.id === focusKeyFor.current) {
      document.getElementById('node-key')?.focus();
      focusKeyFor.current = null;
    }
  });

  // --- Canvas interactions: move nodes, drag a connection from a node's handle. ---------------
  function stagePoint(e: { clientX: number; clientY: number }) {
    const r = stageRef.current!.getBoundingClientRect();
    return { x: (e.clientX - r.left) / scale, y: (e.clientY - r.top) / scale };
  }

  function onNodePointerDown(e: RPointerEvent, n: ENode) {
    if (e.button !== 0 || (e.target as Element).closest('.ed-handle')) return;
    const start = stagePoint(e);
    const origin = { x: n.x, y: n.y };
    let moved = false;
    const move = (ev: PointerEvent) => {
      const p = stagePoint(ev);
      const dx = p.x - start.x;
      const dy = p.y - start.y;
      if (!moved && Math.hypot(dx, dy) < 4) return;
      moved = true;
      updateNode(n.id, { x: Math.max(0, Math.round(origin.x + dx)), y: Math.max(0, Math.round(origin.y + dy)) });
    };
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      if (!moved) setSel({ kind: 'node', id: n.id });
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  }

  function onHandlePointerDown(e: RPointerEvent, n: ENode) {
    if (e.button !== 0) return;
    e.preventDefault();
    e.stopPropagation();
    setLink({ from: n.id, ...stagePoint(e) });
    const move = (ev: PointerEvent) => setLink({ from: n.id, ...stagePoint(ev) });
    const up = (ev: PointerEvent) => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      setLink(null);
      const target = document.elementFromPoint(ev.clientX, ev.clientY)?.closest('[data-testid="editor-node"]');
      const to = target?.getAttribute('data-id');
      if (to && to !== n.id) addEdge(n.id, to);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  }

  const width = Math.max(900, ...g.nodes.map((n) => n.x + NODE_W + 240));
  const height = Math.max(520, ...g.nodes.map((n) => n.y + NODE_H + 160));
  const nodeProblemCount = (n: ENode) =>
    (problems.node.get(n.id)?.length ?? 0) +
    (problems.arg.get(n.id)?.filter(Boolean).length ?? 0) +
    ['retryCount', 'retryBackoffMs', 'timeoutMs', 'labels'].filter((f) => problems.field.has(`${n.id}:${f}`)).length;
  const firstProblem = g.nodes.find((n) => nodeProblemCount(n) > 0);

  return (
    <section className="editor" data-testid="editor" aria-labelledby="editor-title">
      <div className="editor-bar">
        <h1 id="editor-title">Editor</h1>
        <span className="muted small">
          {g.nodes.length} task{g.nodes.length === 1 ? '' : 's'}, {g.edges.length} edge{g.edges.length === 1 ? '' : 's'}
        </span>
        <div className="spacer" />
        <button type="button" className="btn" onClick={() => setJsonOpen((o) => !o)} aria-expanded={jsonOpen} data-testid="toggle-json">
          Import / export JSON
        </button>
        <button type="button" className="btn" onClick={autoLayout} disabled={g.nodes.length === 0}>
          Arrange
        </button>
        <button
          type="button"
          className="btn"
          onClick={() => {
            setG(EMPTY_GRAPH);
            setSel(null);
            setServer(null);
            setAttempted(false);
          }}
          disabled={g.nodes.length === 0}
        >
          Clear
        </button>
        <button type="button" className="btn btn-primary" data-testid="editor-submit" onClick={submit} disabled={submitting}>
          {submitting ? 'Submitting…' : 'Submit'}
        </button>
      </div>

      {jsonOpen && (
        <JsonDrawer
          text={jsonText}
          setText={setJsonText}
          message={jsonMsg}
          onExport={() => {
            setJsonText(JSON.stringify(toGraphInput(g), null, 2));
            setJsonMsg({ ok: true, text: 'Exported the graph as GraphInput JSON (the format of `aurora submit FILE`).' });
          }}
          onImport={() => importJson(jsonText)}
          onDownload={() => {
            const blob = new Blob([JSON.stringify(toGraphInput(g), null, 2) + '\n'], { type: 'application/json' });
            const a = document.createElement('a');
            a.href = URL.createObjectURL(blob);
            a.download = `${(g.name || 'graph').replace(/[^A-Za-z0-9_.-]+/g, '-')}.json`;
            a.click();
            setTimeout(() => URL.revokeObjectURL(a.href), 1000);
          }}
          onUpload={async (file) => {
            let text: string;
            try {
              text = await file.text();
            } catch (e) {
              setJsonMsg({ ok: false, text: `Could not read ${file.name}: ${(e as Error).message}` });
              return;
            }
            setJsonText(text);
            importJson(text);
          }}
        />
      )}

      <ProblemsArea
        attempted={attempted}
        problems={problems}
        server={server}
        submitError={submitError}
        handlersError={herror}
        onGo={() => firstProblem && setSel({ kind: 'node', id: firstProblem.id })}
      />

      <div className="editor-body">
        <aside className="palette" aria-labelledby="palette-title">
          <h2 id="palette-title">Handlers</h2>
          <p className="muted small">Drag one onto the canvas, or focus it and press Enter.</p>
          {!handlers && !herror && <p className="muted small">Loading…</p>}
          {handlers && handlers.length === 0 && <p className="muted small">No live worker offers a handler.</p>}
          <ul>
            {handlers?.map((h) => (
              <li key={h.name}>
                <button
                  type="button"
                  className="palette-item"
                  data-testid="palette-handler"
                  data-name={h.name}
                  draggable
                  title={h.usage}
                  aria-label={`Add a ${h.name} task: ${h.usage}`}
                  onDragStart={(e) => {
                    e.dataTransfer.setData(DND_TYPE, h.name);
                    e.dataTransfer.setData('text/plain', h.name);
                    e.dataTransfer.effectAllowed = 'copy';
                  }}
                  onClick={() => {
                    const id = addNode(h);
                    focusKeyFor.current = id;
                  }}
                >
                  <span className="palette-name mono">{h.name}</span>
                  <span className="palette-sig mono">
                    ({h.argTypes.join(', ')}) → {h.resultTypes.length ? h.resultTypes.join(', ') : '∅'}
                  </span>
                  <span className="palette-usage">{usageText(h)}</span>
                </button>
              </li>
            ))}
          </ul>
        </aside>

        <div className="ed-canvas-wrap">
          <div className="ed-zoom" role="toolbar" aria-label="Zoom">
            <button type="button" className="btn" aria-label="Zoom out" onClick={() => setScale((x) => Math.max(0.3, +(x / 1.2).toFixed(3)))}>
              −
            </button>
            <span className="dag-zoom" aria-live="polite">
              {Math.round(scale * 100)}%
            </span>
            <button type="button" className="btn" aria-label="Zoom in" onClick={() => setScale((x) => Math.min(1.5, +(x * 1.2).toFixed(3)))}>
              +
            </button>
            <button type="button" className="btn" onClick={() => fit(g.nodes)} disabled={g.nodes.length === 0}>
              Fit
            </button>
          </div>
          <div
            ref={canvasRef}
            className="ed-canvas"
            data-testid="editor-canvas"
            aria-label="Canvas: drop handlers here"
            onDragOver={(e) => {
              if (e.dataTransfer.types.includes(DND_TYPE) || e.dataTransfer.types.includes('text/plain')) {
                e.preventDefault();
                e.dataTransfer.dropEffect = 'copy';
              }
            }}
            onDrop={(e) => {
              const name = e.dataTransfer.getData(DND_TYPE) || e.dataTransfer.getData('text/plain');
              const h = handlers?.find((x) => x.name === name);
              if (!h) return;
              e.preventDefault();
              const p = stagePoint(e);
              addNode(h, { x: Math.round(p.x - NODE_W / 2), y: Math.round(p.y - NODE_H / 2) });
            }}
          >
            <div className="ed-sizer" style={{ width: width * scale, height: height * scale }}>
              <div
                className="ed-stage"
                ref={stageRef}
                style={{ width, height, transform: scale === 1 ? undefined : `scale(${scale})` }}
                onPointerDown={(e) => e.target === e.currentTarget && setSel(null)}
              >
                <svg className="ed-edges" width={width} height={height} aria-hidden="true">
                  <defs>
                    <marker id="ed-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
                      <path d="M0,0L10,5L0,10z" className="dag-arrow" />
                    </marker>
                    <marker id="ed-arrow-bad" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
                      <path d="M0,0L10,5L0,10z" className="dag-arrow bad" />
                    </marker>
                  </defs>
                  {g.edges.map((e, i) => {
                    const a = byId.get(e.from);
                    const b = byId.get(e.to);
                    if (!a || !b) return null;
                    const bad = problems.edge.has(i) || server?.edges.has(i);
                    const d = edgePath(a.x + NODE_W, a.y + NODE_H / 2, b.x, b.y + NODE_H / 2);
                    const selected = sel?.kind === 'edge' && sel.index === i;
                    return (
                      <g
                        key={`${e.from}-${e.to}-${i}`}
                        className={`ed-edge ${b.passResults ? 'pass' : ''} ${bad ? 'bad' : ''} ${selected ? 'selected' : ''}`}
                        data-testid="editor-edge"
                        data-from={a.key}
                        data-to={b.key}
                        data-error={bad ? 'true' : 'false'}
                        onPointerDown={(ev) => {
                          ev.stopPropagation();
                          setSel({ kind: 'edge', index: i });
                        }}
                      >
                        <path d={d} className="hit" />
                        <path d={d} className="line" markerEnd={bad ? 'url(#ed-arrow-bad)' : 'url(#ed-arrow)'} />
                      </g>
                    );
                  })}
                  {link &&
                    (() => {
                      const a = byId.get(link.from);
                      return a ? <path className="ed-link" d={edgePath(a.x + NODE_W, a.y + NODE_H / 2, link.x, link.y)} /> : null;
                    })()}
                </svg>
                {g.nodes.map((n) => {
                  const count = nodeProblemCount(n) + (server?.nodes.get(n.id)?.length ?? 0) + (server?.args.get(n.id)?.size ?? 0);
                  const active = selectedNode?.id === n.id;
                  return (
                    <div
                      key={n.id}
                      className={`ed-node ${active ? 'selected' : ''} ${count ? 'bad' : ''}`}
                      style={{ left: n.x, top: n.y, width: NODE_W, height: NODE_H }}
                      data-testid="editor-node"
                      data-id={n.id}
                      data-key={n.key}
                      data-problems={count}
                      role="button"
                      tabIndex={0}
                      aria-pressed={active}
                      aria-label={`Task ${n.key} (${n.name})${count ? `, ${count} problem${count === 1 ? '' : 's'}` : ''}`}
                      onPointerDown={(e) => onNodePointerDown(e, n)}
                      onKeyDown={(e) => {
                        if (e.target !== e.currentTarget) return;
                        if (e.key === 'Enter' || e.key === ' ') {
                          e.preventDefault();
                          setSel({ kind: 'node', id: n.id });
                        } else if (e.key === 'Delete') {
                          e.preventDefault();
                          removeNode(n.id);
                        }
                      }}
                    >
                      <div className="ed-node-key mono">{n.key || <em>no key</em>}</div>
                      <div className="ed-node-h">
                        {n.name}
                        {n.passResults && (
                          <span className="pill" title="Its predecessors' results are appended to its args">
                            +results
                          </span>
                        )}
                      </div>
                      <div className="ed-node-args mono">{n.args.length ? n.args.map((a) => (a.text === '' ? '?' : a.text)).join(', ') : 'no args'}</div>
                      {count > 0 && <span className="ed-node-bad">{count}</span>}
                      <span className="ed-port" aria-hidden="true" />
                      <span
                        className="ed-handle"
                        data-testid="node-handle"
                        title="Drag to another task to make it run after this one"
                        aria-hidden="true"
                        onPointerDown={(e) => onHandlePointerDown(e, n)}
                      />
                    </div>
                  );
                })}
                {g.nodes.length === 0 && (
                  <div className="ed-empty muted">
                    Drag a handler from the palette, or focus one and press Enter. Connect tasks by dragging from a task's right-hand handle to another task, or
                    with "Runs before" in its form. Or import GraphInput JSON.
                  </div>
                )}
              </div>
            </div>
          </div>
        </div>

        <aside className="inspector" aria-label="Properties">
          {selectedNode ? (
            <NodeForm
              key={selectedNode.id}
              node={selectedNode}
              g={g}
              handlers={handlers}
              problems={problems}
              server={server}
              attempted={attempted}
              update={(patch) => updateNode(selectedNode.id, patch)}
              addEdge={addEdge}
              removeEdge={removeEdge}
              remove={() => removeNode(selectedNode.id)}
              close={() => setSel(null)}
            />
          ) : sel?.kind === 'edge' && g.edges[sel.index] ? (
            <EdgeForm index={sel.index} g={g} problems={problems} server={server} remove={() => removeEdge(sel.index)} />
          ) : (
            <GraphForm g={g} setG={setG} />
          )}
        </aside>
      </div>
    </section>
  );
}

/** The handler's description without the signature it starts with (shown above it). */
function usageText(h: Handler): string {
  const m = /^[^(]*\([^)]*\)(?:\s*->\s*[^:]*)?:\s*(.+)$/.exec(h.usage);
  return m ? m[1] : h.usage;
}

function edgePath(x1: number, y1: number, x2: number, y2: number) {
  const dx = Math.max(40, Math.abs(x2 - x1) / 2);
  return `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
}

function ProblemsArea({
  attempted,
  problems,
  server,
  submitError,
  handlersError,
  onGo,
}: {
  attempted: boolean;
  problems: Problems;
  server: ServerProblems | null;
  submitError: unknown;
  handlersError: unknown;
  onGo: () => void;
}) {
  const blocked = attempted && problems.count > 0;
  if (!blocked && !server && !submitError && !handlersError) return null;
  return (
    <div className="editor-errors" data-testid="editor-errors" role="alert">
      {handlersError ? <ErrorBox error={handlersError} title="The handler list could not be loaded" /> : null}
      {blocked && (
        <div className="error-box" data-testid="submit-blocked">
          <strong>
            Not submitted: {problems.count} problem{problems.count === 1 ? '' : 's'} to fix first.
          </strong>
          <span>
            {problems.graph.join(' ')} The tasks with problems are marked in red.{' '}
            <button type="button" className="btn btn-quiet small" onClick={onGo}>
              Show the first
            </button>
          </span>
        </div>
      )}
      {server && (
        <div className="error-box">
          <strong>The server refused the graph:</strong>
          <ul>
            {server.all.map((m) => (
              <li key={m} data-testid="server-error">
                {m}
              </li>
            ))}
          </ul>
        </div>
      )}
      {submitError ? <ErrorBox error={submitError} title="Not submitted" /> : null}
    </div>
  );
}

function JsonDrawer({
  text,
  setText,
  message,
  onExport,
  onImport,
  onDownload,
  onUpload,
}: {
  text: string;
  setText: (s: string) => void;
  message: { ok: boolean; text: string } | null;
  onExport: () => void;
  onImport: () => void;
  onDownload: () => void;
  onUpload: (f: File) => void;
}) {
  const file = useRef<HTMLInputElement>(null);
  return (
    <div className="json-drawer">
      <label htmlFor="editor-json" className="small">
        GraphInput JSON (as <code>aurora submit FILE</code> reads it)
      </label>
      <textarea id="editor-json" data-testid="editor-json" spellCheck={false} rows={12} value={text} onChange={(e) => setText(e.target.value)} />
      <div className="row">
        <button type="button" className="btn" data-testid="export-json" onClick={onExport}>
          Export graph → text
        </button>
        <button type="button" className="btn" data-testid="import-json" onClick={onImport} disabled={!text.trim()}>
          Import text → graph
        </button>
        <button type="button" className="btn" data-testid="download-json" onClick={onDownload}>
          Download .json
        </button>
        <button type="button" className="btn" onClick={() => file.current?.click()}>
          Upload .json…
        </button>
        <input
          ref={file}
          type="file"
          accept="application/json,.json"
          data-testid="upload-json"
          hidden
          onChange={(e) => {
            const f = e.target.files?.[0];
            if (f) onUpload(f);
            e.target.value = '';
          }}
        />
        {message && (
          <span
            className={message.ok ? 'ok small' : 'error small'}
            data-testid={message.ok ? 'json-message' : 'import-error'}
            role={message.ok ? 'status' : 'alert'}
          >
            {message.text}
          </span>
        )}
      </div>
    </div>
  );
}

function LabelRows({ labels, onChange, error, idBase }: { labels: ELabel[]; onChange: (l: ELabel[]) => void; error?: string; idBase: string }) {
  return (
    <fieldset className="labels">
      <legend>Label selector</legend>
      {labels.length === 0 && <p className="muted small">Any worker (no labels required).</p>}
      {labels.map((l, i) => (
        <div className="label-row" key={i}>
          <input
            aria-label={`Label ${i + 1} name`}
            placeholder="name"
            value={l.k}
            onChange={(e) => onChange(labels.map((x, j) => (j === i ? { ...x, k: e.target.value } : x)))}
          />
          <span aria-hidden="true">=</span>
          <input
            aria-label={`Label ${i + 1} value`}
            placeholder="value"
            value={l.v}
            onChange={(e) => onChange(labels.map((x, j) => (j === i ? { ...x, v: e.target.value } : x)))}
          />
          <button type="button" className="btn btn-quiet" aria-label={`Remove label ${i + 1}`} onClick={() => onChange(labels.filter((_, j) => j !== i))}>
            ✕
          </button>
        </div>
      ))}
      {error && (
        <p className="field-error" id={`${idBase}-labels-error`}>
          {error}
        </p>
      )}
      <button type="button" className="btn btn-quiet small" onClick={() => onChange([...labels, { k: '', v: '' }])}>
        + Add label
      </button>
    </fieldset>
  );
}

function GraphForm({ g, setG }: { g: EGraph; setG: (f: (g: EGraph) => EGraph) => void }) {
  return (
    <form className="form" onSubmit={(e) => e.preventDefault()} aria-labelledby="graph-form-title">
      <h2 id="graph-form-title">Graph</h2>
      <label>
        Name
        <input data-testid="graph-name" value={g.name} placeholder="optional" onChange={(e) => setG((p) => ({ ...p, name: e.target.value }))} />
      </label>
      <label>
        Idempotency key
        <input
          data-testid="graph-idempotency"
          value={g.idempotencyKey}
          placeholder="optional: resubmitting returns the same run"
          onChange={(e) => setG((p) => ({ ...p, idempotencyKey: e.target.value }))}
        />
      </label>
      <LabelRows idBase="graph" labels={g.labels} onChange={(labels) => setG((p) => ({ ...p, labels }))} />
      <p className="muted small">Select a task on the canvas to edit it. Tab to a task and press Enter to select it; Delete removes it.</p>
    </form>
  );
}

function EdgeForm({ index, g, problems, server, remove }: { index: number; g: EGraph; problems: Problems; server: ServerProblems | null; remove: () => void }) {
  const e = g.edges[index];
  const from = g.nodes.find((n) => n.id === e.from);
  const to = g.nodes.find((n) => n.id === e.to);
  const msgs = [problems.edge.get(index), ...(server?.edges.get(index) ?? [])].filter(Boolean) as string[];
  return (
    <div className="form">
      <h2>Edge</h2>
      <p>
        <code>{from?.key}</code> → <code>{to?.key}</code>: <code>{to?.key}</code> runs after <code>{from?.key}</code> succeeded
        {to?.passResults ? ', and gets its results appended to its args.' : '.'}
      </p>
      {msgs.map((m) => (
        <p className="field-error" key={m} data-testid="edge-error">
          {m}
        </p>
      ))}
      <button type="button" className="btn btn-danger-quiet" onClick={remove} data-testid="edge-delete">
        Remove this edge
      </button>
    </div>
  );
}

function NodeForm({
  node: n,
  g,
  handlers,
  problems,
  server,
  attempted,
  update,
  addEdge,
  removeEdge,
  remove,
  close,
}: {
  node: ENode;
  g: EGraph;
  handlers: Handler[] | null;
  problems: Problems;
  server: ServerProblems | null;
  attempted: boolean;
  update: (patch: Partial<ENode> | ((n: ENode) => Partial<ENode>)) => void;
  addEdge: (from: string, to: string) => void;
  removeEdge: (i: number) => void;
  remove: () => void;
  close: () => void;
}) {
  const { handler, sig } = signatureOf(handlers, n.name);
  const argErrors = problems.arg.get(n.id) ?? [];
  const serverArgs = server?.args.get(n.id);
  const nodeMsgs = [...(problems.node.get(n.id) ?? []), ...(server?.nodes.get(n.id) ?? [])];
  const others = g.nodes.filter((x) => x.id !== n.id);
  const [target, setTarget] = useState('');
  const out = g.edges.map((e, i) => ({ e, i })).filter(({ e }) => e.from === n.id);
  const inc = g.edges.map((e, i) => ({ e, i })).filter(({ e }) => e.to === n.id);
  const keyOf = (id: string) => g.nodes.find((x) => x.id === id)?.key ?? id;
  const field = (f: string) => problems.field.get(`${n.id}:${f}`);
  const setArg = (i: number, patch: Partial<EArg>) => update((cur) => ({ args: cur.args.map((a, j) => (j === i ? { ...a, ...patch } : a)) }));
  const names = handlers?.map((h) => h.name) ?? [];
  if (n.name && !names.includes(n.name)) names.unshift(n.name);

  return (
    <form className="form node-form" data-testid="node-form" data-key={n.key} onSubmit={(e) => e.preventDefault()} aria-labelledby="node-form-title">
      <div className="panel-head">
        <h2 id="node-form-title">
          Task <code>{n.key || '…'}</code>
        </h2>
        <button type="button" className="btn btn-quiet" onClick={close} aria-label="Close the task form">
          ✕
        </button>
      </div>
      {nodeMsgs.map((m) => (
        <p className="field-error" key={m} data-testid="node-error">
          {m}
        </p>
      ))}
      <label>
        Key
        <input id="node-key" data-testid="node-key" value={n.key} spellCheck={false} onChange={(e) => update({ key: e.target.value })} />
      </label>
      <label>
        Handler
        <select data-testid="node-handler" value={n.name} onChange={(e) => update({ name: e.target.value })}>
          {names.map((h) => (
            <option key={h} value={h}>
              {h}
            </option>
          ))}
        </select>
      </label>
      {handler && (
        <p className="muted small sig">
          <span className="mono">{handler.usage}</span>
          <br />
          Takes {describeHandler(handler)}.
        </p>
      )}
      <fieldset className="args">
        <legend>Args</legend>
        {n.args.length === 0 && <p className="muted small">No args.</p>}
        {n.args.map((a, i) => {
          const parsed = parseArg(a);
          const local = argErrors[i] ?? null;
          const showLocal = local && (attempted || a.text !== '' || !parsed.error?.startsWith('a value is required'));
          const err = (showLocal ? local : null) ?? serverArgs?.get(i) ?? null;
          const errId = `arg-${n.id}-${i}-error`;
          return (
            <div key={i} className="arg" data-testid="arg-row">
              <div className="arg-row">
                <span className="arg-pos muted mono" aria-hidden="true">
                  {i}
                </span>
                <select
                  data-testid="arg-type"
                  aria-label={`Arg ${i} type`}
                  value={a.type}
                  onChange={(e) => setArg(i, { type: e.target.value, json: undefined })}
                >
                  {[...new Set([a.type, ...typeChoices(sig, i)])].map((t) => (
                    <option key={t} value={t}>
                      {t}
                    </option>
                  ))}
                </select>
                <input
                  data-testid="arg-value"
                  aria-label={`Arg ${i} value (${a.type})`}
                  aria-invalid={!!err}
                  aria-describedby={err ? errId : undefined}
                  className={err ? 'invalid' : undefined}
                  spellCheck={false}
                  placeholder={a.type === 'string' ? 'text' : a.type.startsWith('[]') ? '[ … ]' : a.type === 'bool' ? 'true / false' : 'JSON value'}
                  value={a.text}
                  onChange={(e) => setArg(i, { text: e.target.value })}
                />
                <button
                  type="button"
                  className="btn btn-quiet"
                  aria-label={`Remove arg ${i}`}
                  onClick={() => update((cur) => ({ args: cur.args.filter((_, j) => j !== i) }))}
                >
                  ✕
                </button>
              </div>
              {err && (
                <p className="field-error" id={errId} data-testid="arg-error">
                  {err}
                </p>
              )}
            </div>
          );
        })}
        <button
          type="button"
          className="btn btn-quiet small"
          data-testid="add-arg"
          onClick={() => update((cur) => ({ args: [...cur.args, { type: suggestedType(sig, cur.args.length), text: '' }] }))}
        >
          + Add arg ({suggestedType(sig, n.args.length)})
        </button>
      </fieldset>
      <label className="check">
        <input
          type="checkbox"
          data-testid="node-pass-results"
          checked={!!n.passResults}
          onChange={(e) => update({ passResults: e.target.checked ? true : undefined })}
        />
        <span>Pass results: append the results of the tasks it runs after to its args</span>
      </label>
      <div className="grid3">
        <label>
          Retries
          <input
            data-testid="node-retry-count"
            inputMode="numeric"
            placeholder="0"
            value={n.retryCount}
            aria-invalid={!!field('retryCount')}
            onChange={(e) => update({ retryCount: e.target.value })}
          />
        </label>
        <label>
          Backoff ms
          <input
            data-testid="node-retry-backoff"
            inputMode="numeric"
            placeholder="1000"
            value={n.retryBackoffMs}
            aria-invalid={!!field('retryBackoffMs')}
            onChange={(e) => update({ retryBackoffMs: e.target.value })}
          />
        </label>
        <label>
          Timeout ms
          <input
            data-testid="node-timeout"
            inputMode="numeric"
            placeholder="none"
            value={n.timeoutMs}
            aria-invalid={!!field('timeoutMs')}
            onChange={(e) => update({ timeoutMs: e.target.value })}
          />
        </label>
      </div>
      {['retryCount', 'retryBackoffMs', 'timeoutMs'].map((f) =>
        field(f) ? (
          <p className="field-error" key={f}>
            {field(f)}
          </p>
        ) : null,
      )}
      <LabelRows idBase={n.id} labels={n.labels} error={field('labels')} onChange={(labels) => update({ labels })} />
      <fieldset className="connections">
        <legend>Connections</legend>
        <div className="connect-row">
          <label className="grow">
            Runs before
            <select data-testid="connect-to" value={target} onChange={(e) => setTarget(e.target.value)}>
              <option value="">choose a task…</option>
              {others.map((o) => (
                <option key={o.id} value={o.id} disabled={out.some(({ e }) => e.to === o.id)}>
                  {o.key}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            className="btn"
            data-testid="connect-submit"
            disabled={!target}
            onClick={() => {
              addEdge(n.id, target);
              setTarget('');
            }}
          >
            Connect
          </button>
        </div>
        <ul className="edge-list">
          {out.map(({ e, i }) => (
            <li key={`o${i}`}>
              <span>
                → <code>{keyOf(e.to)}</code>
              </span>
              {[problems.edge.get(i), ...(server?.edges.get(i) ?? [])].filter(Boolean).map((m) => (
                <span className="field-error" key={m}>
                  {m}
                </span>
              ))}
              <button
                type="button"
                className="btn btn-quiet small"
                data-testid="edge-remove"
                onClick={() => removeEdge(i)}
                aria-label={`Remove the edge ${n.key} → ${keyOf(e.to)}`}
              >
                Remove
              </button>
            </li>
          ))}
          {inc.map(({ e, i }) => (
            <li key={`i${i}`}>
              <span>
                ← <code>{keyOf(e.from)}</code> <span className="muted small">(runs after it)</span>
              </span>
              {[problems.edge.get(i), ...(server?.edges.get(i) ?? [])].filter(Boolean).map((m) => (
                <span className="field-error" key={m}>
                  {m}
                </span>
              ))}
              <button type="button" className="btn btn-quiet small" onClick={() => removeEdge(i)} aria-label={`Remove the edge ${keyOf(e.from)} → ${n.key}`}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      </fieldset>
      <button type="button" className="btn btn-danger-quiet" data-testid="node-delete" onClick={remove}>
        Delete this task
      </button>
    </form>
  );
}
