// The run's DAG as SVG, built once per layout and then updated in place: a state change sets
// one node's data-state and its status line, nothing is laid out or re-rendered again.
import { type ReactNode, forwardRef, memo, useEffect, useImperativeHandle, useLayoutEffect, useRef, useState } from 'react';
import type { LayoutResult, Point } from './layout';
import { RunModel, type LiveTask } from '../lib/runmodel';
import { formatDuration } from '../lib/format';

export const NODE_W = 214;
export const NODE_H = 64;
const SVG = 'http://www.w3.org/2000/svg';

export interface DagHandle {
  /** Repaints these tasks' nodes. */
  update(tasks: Iterable<LiveTask>): void;
  /** Marks the edges into these keys as passing results. */
  markPassResults(keys: Set<string>): void;
  focusNode(key: string): void;
}

interface Props {
  tasks: LiveTask[];
  edges: { from: string; to: string }[];
  layout: LayoutResult;
  selected: string | null;
  onSelect: (key: string) => void;
  /** Called once the nodes are in the document, with how many. */
  onRendered?: (count: number) => void;
  /** Shown left of the zoom buttons, under the graph (the legend). */
  footer?: ReactNode;
}

interface NodeEls {
  g: SVGGElement;
  status: SVGTextElement;
  title: SVGTitleElement;
}

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, name);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  return e;
}

function clip(s: string, n: number) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function pathOf(points: Point[]): string {
  if (points.length === 0) return '';
  if (points.length < 3) return `M${points.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join('L')}`;
  // A smooth curve through dagre's route (Catmull-Rom as cubic Béziers).
  let d = `M${points[0].x.toFixed(1)},${points[0].y.toFixed(1)}`;
  for (let i = 0; i < points.length - 1; i++) {
    const p0 = points[i - 1] ?? points[i];
    const p1 = points[i];
    const p2 = points[i + 1];
    const p3 = points[i + 2] ?? p2;
    const c1 = { x: p1.x + (p2.x - p0.x) / 6, y: p1.y + (p2.y - p0.y) / 6 };
    const c2 = { x: p2.x - (p3.x - p1.x) / 6, y: p2.y - (p3.y - p1.y) / 6 };
    d += `C${c1.x.toFixed(1)},${c1.y.toFixed(1)} ${c2.x.toFixed(1)},${c2.y.toFixed(1)} ${p2.x.toFixed(1)},${p2.y.toFixed(1)}`;
  }
  return d;
}

function statusLine(t: LiveTask): string {
  const parts: string[] = [t.state];
  if (t.attempts > 0) parts.push(t.attempts === 1 ? '1 attempt' : `${t.attempts} attempts`);
  const ms = RunModel.duration(t);
  if (ms != null) parts.push(formatDuration(ms));
  return parts.join(' · ');
}

function describe(t: LiveTask): string {
  const ms = RunModel.duration(t);
  return `Task ${t.key} (${t.name}): ${t.state}, ${t.attempts} attempt${t.attempts === 1 ? '' : 's'}${ms != null ? `, ${formatDuration(ms)}` : ''}`;
}

export const DagCanvas = memo(
  forwardRef<DagHandle, Props>(function DagCanvas({ tasks, edges, layout, selected, onSelect, onRendered, footer }, ref) {
    const scroller = useRef<HTMLDivElement>(null);
    const root = useRef<SVGGElement>(null);
    const nodes = useRef(new Map<string, NodeEls>());
    const edgeEls = useRef<{ from: string; to: string; path: SVGPathElement }[]>([]);
    const selectedRef = useRef<string | null>(null);
    const [scale, setScale] = useState(1);

    // Start at a zoom that fits the graph's width (not below 35%, not above 100%).
    useLayoutEffect(() => {
      const w = scroller.current?.clientWidth ?? 0;
      if (w > 0 && layout.width > 0) setScale(Math.max(0.35, Math.min(1, (w - 16) / layout.width)));
    }, [layout]);

    // Declared before the build effect so the handle is in place when onRendered runs.
    useImperativeHandle(
      ref,
      () => ({
        update(list) {
          for (const t of list) {
            const n = nodes.current.get(t.key);
            if (n) paint(n, t);
          }
        },
        markPassResults(keys) {
          for (const e of edgeEls.current) {
            const pass = keys.has(e.to);
            e.path.classList.toggle('pass', pass);
            e.path.setAttribute('marker-end', pass ? 'url(#dag-arrow-pass)' : 'url(#dag-arrow)');
            const title = e.path.firstChild as SVGTitleElement;
            title.textContent = `${e.from} → ${e.to}${pass ? ' (results passed)' : ''}`;
          }
        },
        focusNode(key) {
          const n = nodes.current.get(key);
          if (!n) return;
          n.g.focus();
          scrollIntoView(n.g);
        },
      }),
      [],
    );

    useLayoutEffect(() => {
      const g = root.current!;
      g.textContent = '';
      nodes.current.clear();
      const edgeLayer = el('g', { class: 'dag-edges' });
      const nodeLayer = el('g', { class: 'dag-nodes' });
      const list: { from: string; to: string; path: SVGPathElement }[] = [];
      edges.forEach((e, i) => {
        const path = el('path', { d: pathOf(layout.edges[i] ?? []), class: 'dag-edge', 'marker-end': 'url(#dag-arrow)', 'data-from': e.from, 'data-to': e.to });
        const title = el('title', {});
        title.textContent = `${e.from} → ${e.to}`;
        path.appendChild(title);
        edgeLayer.appendChild(path);
        list.push({ ...e, path });
      });
      const frag = document.createDocumentFragment();
      for (const t of tasks) {
        const c = layout.nodes[t.key];
        if (!c) continue;
        const ng = el('g', {
          class: 'dag-node',
          'data-testid': 'dag-node',
          'data-key': t.key,
          'data-state': t.state,
          tabindex: 0,
          role: 'button',
          transform: `translate(${(c.x - NODE_W / 2).toFixed(1)},${(c.y - NODE_H / 2).toFixed(1)})`,
        });
        const title = el('title', {});
        ng.appendChild(title);
        ng.appendChild(el('rect', { class: 'box', width: NODE_W, height: NODE_H, rx: 8 }));
        ng.appendChild(el('rect', { class: 'bar', width: 6, height: NODE_H - 2, x: 1, y: 1, rx: 3 }));
        const k = el('text', { class: 'k', x: 16, y: 21 });
        k.textContent = clip(t.key, 26);
        const h = el('text', { class: 'h', x: 16, y: 38 });
        h.textContent = clip(t.name, 28);
        const s = el('text', { class: 's', x: 16, y: 54 });
        ng.append(k, h, s);
        frag.appendChild(ng);
        const els = { g: ng, status: s, title };
        nodes.current.set(t.key, els);
        paint(els, t);
      }
      nodeLayer.appendChild(frag);
      g.append(edgeLayer, nodeLayer);
      edgeEls.current = list;
      selectedRef.current = null;
      onRendered?.(nodes.current.size);
      // Built once per layout; later changes go through the handle.
      // eslint-disable-next-line react-hooks/exhaustive-deps
    }, [layout]);

    useEffect(() => {
      const prev = selectedRef.current;
      if (prev) nodes.current.get(prev)?.g.classList.remove('selected');
      if (selected) nodes.current.get(selected)?.g.classList.add('selected');
      selectedRef.current = selected;
      for (const e of edgeEls.current) e.path.classList.toggle('near', !!selected && (e.from === selected || e.to === selected));
    }, [selected, layout]);

    function paint(n: NodeEls, t: LiveTask) {
      if (n.g.getAttribute('data-state') !== t.state) n.g.setAttribute('data-state', t.state);
      const line = statusLine(t);
      if (n.status.textContent !== line) n.status.textContent = line;
      const label = describe(t);
      if (n.title.textContent !== label) {
        n.title.textContent = label;
        n.g.setAttribute('aria-label', label);
      }
    }

    function scrollIntoView(g: SVGGElement) {
      const box = scroller.current;
      if (!box) return;
      const r = g.getBoundingClientRect();
      const b = box.getBoundingClientRect();
      if (r.left < b.left || r.right > b.right || r.top < b.top || r.bottom > b.bottom) {
        box.scrollBy({ left: r.left - b.left - b.width / 2 + r.width / 2, top: r.top - b.top - b.height / 2 + r.height / 2 });
      }
    }

    function nodeKey(target: EventTarget | null): string | null {
      const g = (target as Element | null)?.closest?.('.dag-node');
      return g?.getAttribute('data-key') ?? null;
    }

    const w = Math.max(1, layout.width) * scale;
    const h = Math.max(1, layout.height) * scale;
    const zoom = (f: number) => setScale((s) => Math.min(2, Math.max(0.1, +(s * f).toFixed(3))));
    const fitAll = () => {
      const box = scroller.current;
      if (!box) return;
      const s = Math.min((box.clientWidth - 16) / layout.width, (box.clientHeight - 16) / layout.height, 1.5);
      setScale(Math.max(0.05, s));
    };

    return (
      <div className="dag">
        <div className="dag-scroll" ref={scroller}>
          <svg
            className="dag-svg"
            width={w}
            height={h}
            viewBox={`0 0 ${Math.max(1, layout.width)} ${Math.max(1, layout.height)}`}
            role="group"
            aria-label={`Task graph: ${tasks.length} tasks, ${edges.length} edges. Tab to a task and press Enter for its details.`}
            onClick={(e) => {
              const k = nodeKey(e.target);
              if (k) onSelect(k);
            }}
            onKeyDown={(e) => {
              if (e.key !== 'Enter' && e.key !== ' ') return;
              const k = nodeKey(e.target);
              if (k) {
                e.preventDefault();
                onSelect(k);
              }
            }}
          >
            <defs>
              <marker id="dag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M0,0L10,5L0,10z" className="dag-arrow" />
              </marker>
              <marker id="dag-arrow-pass" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M0,0L10,5L0,10z" className="dag-arrow pass" />
              </marker>
            </defs>
            <g ref={root} />
          </svg>
        </div>
        <div className="dag-foot">
          {footer}
          <div className="dag-tools" role="toolbar" aria-label="Zoom">
            <button type="button" className="btn small" onClick={() => zoom(1 / 1.25)} aria-label="Zoom out">
              −
            </button>
            <span className="dag-zoom" aria-live="polite">
              {Math.round(scale * 100)}%
            </span>
            <button type="button" className="btn small" onClick={() => zoom(1.25)} aria-label="Zoom in">
              +
            </button>
            <button type="button" className="btn small" onClick={fitAll}>
              Fit
            </button>
            <button type="button" className="btn small" onClick={() => setScale(1)}>
              100%
            </button>
          </div>
        </div>
      </div>
    );
  }),
);
