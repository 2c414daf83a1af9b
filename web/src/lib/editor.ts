// The editor's graph model: what the user edits, its checks (against the live handlers'
// signatures, as the server will check them), and GraphInput import/export.
import type { ArgInput, GraphInput, Handler, TaskInput } from './types';
import {
  checkSignature,
  checkSignaturePrefix,
  checkValue,
  concreteTypes,
  describeSignature,
  parseSignature,
  parseType,
  type ArgType,
  type Signature,
} from './sig';

export interface EArg {
  type: string;
  /** The value as typed: raw text for `string` args, JSON for everything else. */
  text: string;
  /** A `string` arg whose text is JSON (imported with a non-string value). */
  json?: boolean;
}
export interface ELabel {
  k: string;
  v: string;
}
export interface ENode {
  id: string;
  key: string;
  name: string;
  args: EArg[];
  labels: ELabel[];
  retryCount: string;
  retryBackoffMs: string;
  timeoutMs: string;
  passResults?: boolean;
  x: number;
  y: number;
  /** Imported without `args` / with `labelSelector: {}`: exported the same way. */
  noArgs?: boolean;
  emptyLabels?: boolean;
}
export interface EEdge {
  from: string; // node ids
  to: string;
}
export interface EGraph {
  name: string;
  idempotencyKey: string;
  labels: ELabel[];
  emptyLabels?: boolean;
  nodes: ENode[];
  edges: EEdge[];
  /** Imported without `edges`. */
  noEdges?: boolean;
}

export const EMPTY_GRAPH: EGraph = { name: '', idempotencyKey: '', labels: [], nodes: [], edges: [] };

export const NODE_W = 184;
export const NODE_H = 68;

// --- Values -------------------------------------------------------------------------------

export interface ParsedArg {
  value?: unknown;
  ty?: ArgType;
  error?: string;
}

export function parseArg(a: EArg): ParsedArg {
  const ty = parseType(a.type);
  if (!ty) return { error: `\`${a.type}\` is not a supported type` };
  if (ty.name === 'string' && !a.json) return { ty, value: a.text };
  const text = a.text.trim();
  if (text === '') return { ty, error: `a value is required (${ty.name})` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const hint = ty.slice
      ? `a JSON array such as [1, 2]`
      : ty.scalar.kind === 'bool'
        ? 'true or false'
        : ty.scalar.kind === 'string'
          ? 'a JSON string in quotes'
          : 'a number';
    return { ty, error: `\`${clip(text, 30)}\` is not valid JSON: ${ty.name} needs ${hint}` };
  }
  const problem = checkValue(ty, value, text);
  return problem ? { ty, value, error: problem } : { ty, value };
}

function clip(s: string, n: number) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function labelObject(labels: ELabel[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (const { k, v } of labels) if (k.trim() !== '' || v.trim() !== '') o[k.trim()] = v.trim();
  return o;
}

// --- Checks -------------------------------------------------------------------------------

export interface Problems {
  /** Problems of a node as a whole (count, key, handler, passed results). */
  node: Map<string, string[]>;
  /** Per node, per arg: what is wrong with it. */
  arg: Map<string, (string | null)[]>;
  /** `${nodeId}:${field}` → problem, for retryCount, retryBackoffMs, timeoutMs, labels. */
  field: Map<string, string>;
  /** Edge index → problem. */
  edge: Map<number, string>;
  /** Graph-level problems. */
  graph: string[];
  count: number;
}

function intField(text: string, what: string, min: number): string | null {
  const t = text.trim();
  if (t === '') return null;
  if (!/^-?\d+$/.test(t)) return `${what} must be a whole number`;
  const n = Number(t);
  if (n < min) return `${what} must be at least ${min}`;
  if (n > 2 ** 31 - 1) return `${what} is too large`;
  return null;
}

export function signatureOf(handlers: Handler[] | null, name: string): { handler: Handler | null; sig: Signature | null } {
  const handler = handlers?.find((h) => h.name === name) ?? null;
  return { handler, sig: handler ? parseSignature(handler.argTypes) : null };
}

export function check(g: EGraph, handlers: Handler[] | null): Problems {
  const p: Problems = { node: new Map(), arg: new Map(), field: new Map(), edge: new Map(), graph: [], count: 0 };
  const addNode = (id: string, m: string) => {
    const l = p.node.get(id) ?? [];
    l.push(m);
    p.node.set(id, l);
    p.count++;
  };
  if (g.nodes.length === 0) {
    p.graph.push('The graph has no tasks: add one from the palette.');
    p.count++;
  }
  const keys = new Map<string, number>();
  for (const n of g.nodes) keys.set(n.key, (keys.get(n.key) ?? 0) + 1);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  for (const n of g.nodes) {
    if (n.key.trim() === '') addNode(n.id, 'The key is empty.');
    else if ((keys.get(n.key) ?? 0) > 1) addNode(n.id, `The key \`${n.key}\` is used by another task too.`);
    const { handler, sig } = signatureOf(handlers, n.name);
    if (!n.name) addNode(n.id, 'No handler chosen.');
    else if (handlers && !handler) addNode(n.id, `No live worker offers \`${n.name}\`.`);
    const parsed = n.args.map(parseArg);
    const argErrors = parsed.map((a) => a.error ?? null);
    const types = parsed.map((a) => a.ty);
    if (sig && types.every((t): t is ArgType => !!t)) {
      let passed: ArgType[] | null = [];
      if (n.passResults) {
        for (const e of g.edges) {
          if (e.to !== n.id) continue;
          const pred = byId.get(e.from);
          const ps = pred ? signatureOf(handlers, pred.name).handler : null;
          const rs = ps ? parseSignature(ps.resultTypes) : null;
          const concrete = rs ? concreteTypes(rs) : null;
          if (!concrete) {
            passed = null;
            break;
          }
          passed.push(...concrete);
        }
      }
      const m = passed ? checkSignature(sig, [...types, ...passed]) : checkSignaturePrefix(sig, types);
      if (m) {
        const via = passed && passed.length ? ` (${types.length} given, ${passed.length} passed from predecessors' results)` : '';
        if (m.kind === 'count') addNode(n.id, `\`${n.name}\` takes ${m.expected}, got ${m.got}${via}.`);
        else if (m.position < types.length) argErrors[m.position] ??= `\`${n.name}\` expects ${m.expected} here, got ${m.got}`;
        else addNode(n.id, `Passed result at arg ${m.position}: \`${n.name}\` expects ${m.expected} there, got ${m.got}${via}.`);
      }
    }
    p.count += argErrors.filter(Boolean).length;
    p.arg.set(n.id, argErrors);
    const fields: [keyof ENode, string | null][] = [
      ['retryCount', intField(n.retryCount, 'Retries', 0)],
      ['retryBackoffMs', intField(n.retryBackoffMs, 'Backoff', 0)],
      ['timeoutMs', intField(n.timeoutMs, 'Timeout', 1)],
    ];
    const seenLabels = new Set<string>();
    for (const l of n.labels) {
      if (l.k.trim() === '' && l.v.trim() !== '') fields.push(['labels', 'A label has a value but no key.']);
      else if (l.k.trim() !== '' && seenLabels.has(l.k.trim())) fields.push(['labels', `The label \`${l.k.trim()}\` is given twice.`]);
      seenLabels.add(l.k.trim());
    }
    for (const [f, m] of fields)
      if (m) {
        p.field.set(`${n.id}:${f}`, m);
        p.count++;
      }
  }
  const seen = new Set<string>();
  g.edges.forEach((e, i) => {
    const k = `${e.from}>${e.to}`;
    if (!byId.has(e.from) || !byId.has(e.to)) p.edge.set(i, 'This edge refers to a removed task.');
    else if (e.from === e.to) p.edge.set(i, 'A task cannot depend on itself.');
    else if (seen.has(k)) p.edge.set(i, 'This edge is given twice.');
    seen.add(k);
  });
  p.count += p.edge.size;
  return p;
}

export function describeHandler(h: Handler): string {
  const sig = parseSignature(h.argTypes);
  return sig ? describeSignature(sig) : h.argTypes.join(', ');
}

// --- Export / import ----------------------------------------------------------------------

function exportArg(a: EArg): ArgInput {
  const r = parseArg(a);
  return { type: a.type, value: r.value !== undefined ? r.value : a.text };
}

export function toGraphInput(g: EGraph): GraphInput {
  const keyOf = new Map(g.nodes.map((n) => [n.id, n.key]));
  const out: GraphInput = { tasks: [] };
  if (g.name !== '') out.name = g.name;
  out.tasks = g.nodes.map((n) => {
    const t: TaskInput = { key: n.key, name: n.name };
    if (!(n.noArgs && n.args.length === 0)) t.args = n.args.map(exportArg);
    const labels = labelObject(n.labels);
    if (Object.keys(labels).length || n.emptyLabels) t.labelSelector = labels;
    if (n.retryCount.trim() !== '') t.retryCount = Number(n.retryCount);
    if (n.retryBackoffMs.trim() !== '') t.retryBackoffMs = Number(n.retryBackoffMs);
    if (n.timeoutMs.trim() !== '') t.timeoutMs = Number(n.timeoutMs);
    if (n.passResults !== undefined) t.passResults = n.passResults;
    return t;
  });
  if (!(g.noEdges && g.edges.length === 0)) out.edges = g.edges.map((e) => ({ from: keyOf.get(e.from) ?? e.from, to: keyOf.get(e.to) ?? e.to }));
  const labels = labelObject(g.labels);
  if (Object.keys(labels).length || g.emptyLabels) out.labelSelector = labels;
  if (g.idempotencyKey !== '') out.idempotencyKey = g.idempotencyKey;
  return out;
}

const TASK_FIELDS = new Set(['key', 'name', 'args', 'labelSelector', 'retryCount', 'retryBackoffMs', 'timeoutMs', 'passResults']);
const GRAPH_FIELDS = new Set(['name', 'tasks', 'edges', 'labelSelector', 'idempotencyKey']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function importLabels(v: unknown, where: string): ELabel[] {
  if (!isObject(v)) throw new Error(`${where}: labelSelector must be an object of label names to values`);
  return Object.entries(v).map(([k, x]) => {
    if (typeof x !== 'string') throw new Error(`${where}: label \`${k}\` must have a string value`);
    return { k, v: x };
  });
}

function importInt(v: unknown, what: string): string {
  if (v === undefined) return '';
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`${what} must be a whole number`);
  return String(v);
}

/** Reads a GraphInput (as `aurora submit FILE` takes it); throws with what is wrong. */
export function fromGraphInput(text: string): EGraph {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`Not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(raw)) throw new Error('A GraphInput is a JSON object with `tasks` (and optionally `edges`, `name`, `labelSelector`, `idempotencyKey`).');
  for (const k of Object.keys(raw)) if (!GRAPH_FIELDS.has(k)) throw new Error(`Unknown field \`${k}\` (a GraphInput has ${[...GRAPH_FIELDS].join(', ')}).`);
  if (!Array.isArray(raw.tasks)) throw new Error('`tasks` must be an array.');
  if (raw.name !== undefined && raw.name !== null && typeof raw.name !== 'string') throw new Error('`name` must be a string.');
  if (raw.idempotencyKey !== undefined && raw.idempotencyKey !== null && typeof raw.idempotencyKey !== 'string')
    throw new Error('`idempotencyKey` must be a string.');
  const nodes: ENode[] = raw.tasks.map((t: unknown, i: number) => {
    if (!isObject(t)) throw new Error(`Task #${i} is not an object.`);
    const where = typeof t.key === 'string' ? `Task \`${t.key}\`` : `Task #${i}`;
    for (const k of Object.keys(t)) if (!TASK_FIELDS.has(k)) throw new Error(`${where}: unknown field \`${k}\`.`);
    if (typeof t.key !== 'string') throw new Error(`${where}: \`key\` must be a string.`);
    if (typeof t.name !== 'string') throw new Error(`${where}: \`name\` (the handler) must be a string.`);
    if (t.args !== undefined && !Array.isArray(t.args)) throw new Error(`${where}: \`args\` must be an array.`);
    const args: EArg[] = ((t.args as unknown[] | undefined) ?? []).map((a, j) => {
      if (!isObject(a) || typeof a.type !== 'string' || !('value' in a)) throw new Error(`${where} arg ${j}: an arg is {"type": "...", "value": ...}.`);
      for (const k of Object.keys(a)) if (k !== 'type' && k !== 'value') throw new Error(`${where} arg ${j}: unknown field \`${k}\`.`);
      if (a.type === 'string' && typeof a.value === 'string') return { type: a.type, text: a.value };
      return { type: a.type, text: JSON.stringify(a.value), ...(a.type === 'string' ? { json: true } : {}) };
    });
    if (t.passResults !== undefined && typeof t.passResults !== 'boolean') throw new Error(`${where}: \`passResults\` must be true or false.`);
    const labels = t.labelSelector === undefined ? [] : importLabels(t.labelSelector, where);
    const n: ENode = {
      id: `n${i + 1}`,
      key: t.key,
      name: t.name,
      args,
      labels,
      retryCount: importInt(t.retryCount, `${where}: retryCount`),
      retryBackoffMs: importInt(t.retryBackoffMs, `${where}: retryBackoffMs`),
      timeoutMs: importInt(t.timeoutMs, `${where}: timeoutMs`),
      x: 40 + (i % 5) * 230,
      y: 40 + Math.floor(i / 5) * 110,
    };
    if (t.passResults !== undefined) n.passResults = t.passResults as boolean;
    if (t.args === undefined) n.noArgs = true;
    if (t.labelSelector !== undefined && labels.length === 0) n.emptyLabels = true;
    return n;
  });
  const idOf = new Map<string, string>();
  for (const n of nodes) if (!idOf.has(n.key)) idOf.set(n.key, n.id);
  if (raw.edges !== undefined && raw.edges !== null && !Array.isArray(raw.edges)) throw new Error('`edges` must be an array.');
  const edges: EEdge[] = ((raw.edges as unknown[] | undefined) ?? []).map((e, i) => {
    if (!isObject(e) || typeof e.from !== 'string' || typeof e.to !== 'string') throw new Error(`Edge #${i}: an edge is {"from": "key", "to": "key"}.`);
    for (const k of Object.keys(e)) if (k !== 'from' && k !== 'to') throw new Error(`Edge #${i}: unknown field \`${k}\`.`);
    const from = idOf.get(e.from);
    const to = idOf.get(e.to);
    if (!from || !to) throw new Error(`Edge ${e.from} -> ${e.to} refers to unknown task key \`${from ? e.to : e.from}\`.`);
    return { from, to };
  });
  const g: EGraph = {
    name: typeof raw.name === 'string' ? raw.name : '',
    idempotencyKey: typeof raw.idempotencyKey === 'string' ? raw.idempotencyKey : '',
    labels: raw.labelSelector === undefined ? [] : importLabels(raw.labelSelector, 'The graph'),
    nodes,
    edges,
  };
  if (raw.edges === undefined) g.noEdges = true;
  if (raw.labelSelector !== undefined && g.labels.length === 0) g.emptyLabels = true;
  return g;
}

// --- Server errors ------------------------------------------------------------------------

export interface ServerProblems {
  /** Node id → messages. */
  nodes: Map<string, string[]>;
  /** Edge index → messages. */
  edges: Map<number, string[]>;
  /** Node id → arg index → message. */
  args: Map<string, Map<number, string>>;
  /** Every problem, for the general error area. */
  all: string[];
}

const STARTS = /; (?=task `|task #|duplicate |edge |the graph|the idempotency key|the graph's)/;

/** Splits a BAD_USER_INPUT message into its problems and finds the task or edge each names. */
export function mapServerErrors(messages: string[], g: EGraph): ServerProblems {
  const out: ServerProblems = { nodes: new Map(), edges: new Map(), args: new Map(), all: [] };
  const idsOf = (key: string) => {
    const cut = key.endsWith('…') ? key.slice(0, -1) : null;
    return g.nodes.filter((n) => (cut !== null ? n.key.startsWith(cut) : n.key === key)).map((n) => n.id);
  };
  const keyOf = new Map(g.nodes.map((n) => [n.id, n.key]));
  const addNode = (id: string, m: string) => out.nodes.set(id, [...(out.nodes.get(id) ?? []), m]);
  const addEdge = (from: string, to: string, m: string) => {
    g.edges.forEach((e, i) => {
      if (keyOf.get(e.from) === from && keyOf.get(e.to) === to) out.edges.set(i, [...(out.edges.get(i) ?? []), m]);
    });
  };
  for (const message of messages) {
    for (const part of message.split(STARTS)) {
      const m = part.trim();
      if (!m) continue;
      out.all.push(m);
      const cycle = /cycle: (.+?)(?:;|$)/.exec(m);
      if (cycle) {
        const keys = cycle[1].split(' -> ').map((s) => s.trim().replace(/^`|`$/g, ''));
        for (let i = 0; i + 1 < keys.length; i++) addEdge(keys[i], keys[i + 1], m);
        for (const k of new Set(keys)) for (const id of idsOf(k)) addNode(id, m);
        continue;
      }
      const edge = /^(?:duplicate )?edge `?([^`\s]+)`? -> `?([^`\s]+?)`?(?:\s|$)/.exec(m);
      if (edge) {
        addEdge(edge[1], edge[2], m);
        continue;
      }
      const task = /^(?:duplicate )?task (?:key )?`((?:[^`])*)`/.exec(m);
      if (task) {
        const argAt = /^task `[^`]*` arg (\d+):/.exec(m);
        for (const id of idsOf(task[1])) {
          if (argAt) {
            const a = out.args.get(id) ?? new Map<number, string>();
            a.set(Number(argAt[1]), m);
            out.args.set(id, a);
          } else addNode(id, m);
        }
        continue;
      }
      const index = /^task #(\d+)/.exec(m);
      if (index) {
        const n = g.nodes[Number(index[1])];
        if (n) addNode(n.id, m);
      }
    }
  }
  return out;
}

// --- Placement ----------------------------------------------------------------------------

/** A free spot for a new node: right of `near` if given, else the first free grid cell. */
export function freeSpot(g: EGraph, near?: ENode | null): { x: number; y: number } {
  const taken = (x: number, y: number) => g.nodes.some((n) => Math.abs(n.x - x) < NODE_W + 16 && Math.abs(n.y - y) < NODE_H + 16);
  if (near) {
    for (let dy = 0; dy < 20; dy++) {
      const x = near.x + NODE_W + 64;
      const y = near.y + dy * (NODE_H + 24);
      if (!taken(x, y)) return { x, y };
    }
  }
  for (let i = 0; ; i++) {
    const x = 40 + (i % 4) * (NODE_W + 64);
    const y = 40 + Math.floor(i / 4) * (NODE_H + 40);
    if (!taken(x, y)) return { x, y };
  }
}

export function nextId(g: EGraph): string {
  let max = 0;
  for (const n of g.nodes) {
    const m = /^n(\d+)$/.exec(n.id);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return `n${max + 1}`;
}

export function uniqueKey(g: EGraph, base: string): string {
  const used = new Set(g.nodes.map((n) => n.key));
  const clean = base.replace(/[^A-Za-z0-9_-]/g, '_') || 'task';
  for (let i = 1; ; i++) {
    const k = `${clean}_${i}`;
    if (!used.has(k)) return k;
  }
}
