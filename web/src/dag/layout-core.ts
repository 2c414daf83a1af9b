// The DAG layout itself (dagre), run in a Web Worker by layout.ts.
import dagre from '@dagrejs/dagre';

export interface LayoutInput {
  nodes: { id: string; width: number; height: number }[];
  edges: { from: string; to: string }[];
  rankdir?: 'LR' | 'TB';
}

export interface Point {
  x: number;
  y: number;
}

export interface LayoutResult {
  width: number;
  height: number;
  /** Centre of each node, by id. */
  nodes: Record<string, Point>;
  /** Each input edge's route, in input order. */
  edges: Point[][];
  ms: number;
}

/** Above this size dagre's defaults (network simplex, optimal ordering) take minutes. */
const LARGE = 300;

export function computeLayout(input: LayoutInput): LayoutResult {
  const t0 = performance.now();
  const large = input.nodes.length > LARGE || input.edges.length > 2 * LARGE;
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({
    rankdir: input.rankdir ?? 'LR',
    nodesep: large ? 14 : 28,
    ranksep: large ? 56 : 72,
    edgesep: 10,
    marginx: 24,
    marginy: 24,
    ranker: large ? 'tight-tree' : 'network-simplex',
  });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of input.nodes) g.setNode(n.id, { width: n.width, height: n.height });
  for (const e of input.edges) if (e.from !== e.to && g.hasNode(e.from) && g.hasNode(e.to)) g.setEdge(e.from, e.to);
  dagre.layout(g, large ? { disableOptimalOrderHeuristic: true } : {});
  const nodes: Record<string, Point> = {};
  for (const id of g.nodes()) {
    const n = g.node(id) as { x: number; y: number };
    nodes[id] = { x: n.x, y: n.y };
  }
  const edges = input.edges.map((e) => {
    const label = g.hasEdge(e.from, e.to) ? (g.edge(e.from, e.to) as { points?: Point[] }) : undefined;
    return label?.points?.map((p) => ({ x: p.x, y: p.y })) ?? [];
  });
  const gl = g.graph() as { width?: number; height?: number };
  return { width: Math.ceil(gl.width ?? 0), height: Math.ceil(gl.height ?? 0), nodes, edges, ms: performance.now() - t0 };
}
