// A run's live state: the snapshot from `graph(id)`, then each `graphEvents` event applied
// in place (state, attempts, results, error, worker, timing). Events are kept per stream for
// the history panels.
import { TERMINAL_TASK_STATES, type GraphRun, type GraphState, type LedgerEvent, type TaskState, type TypedValue } from './types';

export interface LiveTask {
  id: string;
  key: string;
  name: string;
  state: TaskState;
  attempts: number;
  args: TypedValue[];
  results: TypedValue[] | null;
  error: string | null;
  workerId: string | null;
  retryAt: string | null;
  labelSelector: Record<string, string>;
  retryCount: number;
  retryBackoffMs: number;
  timeoutMs: number | null;
  startedAt: string | null;
  endedAt: string | null;
  /** The snapshot already showed a final state: replayed earlier states do not repaint it. */
  settled: boolean;
}

export interface Progress {
  total: number;
  succeeded: number;
  failed: number;
  running: number;
  retrying: number;
  queued: number;
  cancelled: number;
  skipped: number;
}

const GRAPH_END: Record<string, GraphState> = {
  GraphSucceeded: 'SUCCESS',
  GraphFailed: 'FAILURE',
  GraphCancelled: 'CANCELLED',
};

export class RunModel {
  readonly id: string;
  name: string | null;
  state: GraphState;
  submittedBy: string;
  submittedAt: string;
  finishedAt: string | null;
  readonly tasks: LiveTask[];
  readonly byKey = new Map<string, LiveTask>();
  readonly byId = new Map<string, LiveTask>();
  readonly edges: { from: string; to: string }[];
  /** Keys of tasks submitted with passResults (from the GraphSubmitted event's spec). */
  passResults = new Set<string>();
  readonly events: LedgerEvent[] = [];
  readonly byStream = new Map<string, LedgerEvent[]>();
  readonly graphEvents: LedgerEvent[] = [];
  private seen = new Set<string>();
  /** Chain links checked as events arrive (the subscription delivers each stream in order). */
  readonly chain = { streams: 0, events: 0, problems: [] as string[] };
  private lastOf = new Map<string, LedgerEvent>();

  constructor(g: GraphRun) {
    this.id = g.id;
    this.name = g.name;
    this.state = g.state;
    this.submittedBy = g.submittedBy;
    this.submittedAt = g.submittedAt;
    this.finishedAt = g.finishedAt;
    this.edges = g.edges;
    this.tasks = g.tasks.map((t) => ({
      id: t.id,
      key: t.key,
      name: t.name,
      state: t.state,
      attempts: t.attempts,
      args: t.args,
      results: t.results,
      error: t.error,
      workerId: t.workerId,
      retryAt: t.retryAt,
      labelSelector: t.labelSelector,
      retryCount: t.retryCount,
      retryBackoffMs: t.retryBackoffMs,
      timeoutMs: t.timeoutMs,
      startedAt: null,
      endedAt: null,
      settled: TERMINAL_TASK_STATES.has(t.state),
    }));
    for (const t of this.tasks) {
      this.byKey.set(t.key, t);
      this.byId.set(t.id, t);
    }
  }

  /** Applies one event; returns the task it changed (null for graph events and repeats). */
  apply(e: LedgerEvent): { task: LiveTask | null; graph: boolean; fresh: boolean } {
    if (this.seen.has(e.id)) return { task: null, graph: false, fresh: false };
    this.seen.add(e.id);
    this.events.push(e);
    let list = this.byStream.get(e.stream);
    if (!list) this.byStream.set(e.stream, (list = []));
    list.push(e);
    this.link(e);
    const d = (e.data ?? {}) as Record<string, unknown>;
    if (!e.taskId) {
      this.graphEvents.push(e);
      if (e.type === 'GraphSubmitted') {
        const spec = d.spec as { tasks?: { key: string; passResults?: boolean }[] } | undefined;
        for (const t of spec?.tasks ?? []) if (t.passResults) this.passResults.add(t.key);
      }
      const end = GRAPH_END[e.type];
      if (end) {
        this.state = end;
        this.finishedAt = e.recordedAt;
      }
      return { task: null, graph: true, fresh: true };
    }
    const t = this.byId.get(e.taskId);
    if (!t) return { task: null, graph: false, fresh: true };
    if (e.state) {
      const terminal = TERMINAL_TASK_STATES.has(e.state);
      if (terminal || !t.settled) t.state = e.state;
      if (e.state === 'STARTED') {
        t.startedAt = e.recordedAt;
        t.endedAt = null;
      } else if (terminal || e.state === 'RETRY') {
        t.endedAt = e.recordedAt;
      }
    }
    if (typeof d.attempt === 'number' && d.attempt > t.attempts) t.attempts = d.attempt;
    if (Array.isArray(d.results)) t.results = d.results as TypedValue[];
    if (typeof d.error === 'string') t.error = d.error;
    if (e.state === 'SUCCESS') t.error = null;
    if (typeof d.retry_at === 'string') t.retryAt = d.retry_at;
    const worker = e.workerId ?? (typeof d.worker_id === 'string' ? d.worker_id : null);
    if (worker) t.workerId = worker;
    return { task: t, graph: false, fresh: true };
  }

  private link(e: LedgerEvent) {
    const prev = this.lastOf.get(e.stream);
    if (!prev) this.chain.streams++;
    this.chain.events++;
    let problem: string | null = null;
    if (!/^[0-9a-f]{64}$/i.test(e.hash)) problem = `v${e.version}: the hash is not 64 hex digits`;
    else if (!prev && e.version !== 1) problem = `the stream starts at v${e.version}, not v1`;
    else if (!prev && e.prevHash !== '') problem = 'v1 has a previous hash (it should be empty)';
    else if (prev && e.version !== prev.version + 1) problem = `v${prev.version} is followed by v${e.version}`;
    else if (prev && e.prevHash !== prev.hash) problem = `v${e.version}'s previous hash is not v${prev.version}'s hash`;
    if (problem) this.chain.problems.push(`${e.stream}: ${problem}`);
    if (!prev || e.version > prev.version) this.lastOf.set(e.stream, e);
  }

  /** The duration of a task's last attempt (STARTED to its end), when known. */
  static duration(t: LiveTask): number | null {
    if (!t.startedAt || !t.endedAt) return null;
    return Date.parse(t.endedAt) - Date.parse(t.startedAt);
  }

  progress(): Progress {
    const p: Progress = { total: this.tasks.length, succeeded: 0, failed: 0, running: 0, retrying: 0, queued: 0, cancelled: 0, skipped: 0 };
    for (const t of this.tasks) {
      switch (t.state) {
        case 'SUCCESS':
          p.succeeded++;
          break;
        case 'FAILURE':
          p.failed++;
          break;
        case 'RECEIVED':
        case 'STARTED':
          p.running++;
          break;
        case 'RETRY':
          p.retrying++;
          break;
        case 'CANCELLED':
          p.cancelled++;
          break;
        case 'SKIPPED':
          p.skipped++;
          break;
        default:
          p.queued++;
      }
    }
    return p;
  }
}
