// Shapes of Aurora's GraphQL API (query-graphql/schema.graphql) as this UI reads them.

export const TASK_STATES = ['WAITING', 'PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE', 'CANCELLED', 'SKIPPED'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const GRAPH_STATES = ['RUNNING', 'SUCCESS', 'FAILURE', 'CANCELLED'] as const;
export type GraphState = (typeof GRAPH_STATES)[number];

export const TERMINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(['SUCCESS', 'FAILURE', 'CANCELLED', 'SKIPPED']);

export interface TypedValue {
  type: string;
  value: unknown;
}

export interface TaskCounts {
  total: number;
  waiting: number;
  pending: number;
  received: number;
  started: number;
  retry: number;
  success: number;
  failure: number;
  cancelled: number;
  skipped: number;
}

export interface RunSummary {
  id: string;
  name: string | null;
  state: GraphState;
  submittedBy: string;
  submittedAt: string;
  finishedAt: string | null;
  taskCounts: TaskCounts;
}

export interface TaskRun {
  id: string;
  key: string;
  name: string;
  state: TaskState;
  args: TypedValue[];
  results: TypedValue[] | null;
  error: string | null;
  attempts: number;
  workerId: string | null;
  retryAt: string | null;
  labelSelector: Record<string, string>;
  retryCount: number;
  retryBackoffMs: number;
  timeoutMs: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface Edge {
  from: string;
  to: string;
}

export interface GraphRun extends RunSummary {
  tasks: TaskRun[];
  edges: Edge[];
}

export interface LedgerEvent {
  id: string;
  stream: string;
  version: number;
  type: string;
  graphId: string;
  taskId: string | null;
  state: TaskState | null;
  data: Record<string, unknown>;
  actor: string | null;
  recordedAt: string;
  hash: string;
  prevHash: string;
  traceId: string | null;
  workerId: string | null;
  fencingToken: number | null;
  causationId: string | null;
}

export interface Handler {
  name: string;
  usage: string;
  argTypes: string[];
  resultTypes: string[];
}

export interface Worker {
  id: string;
  labels: Record<string, string>;
  handlers: string[];
  lastSeenAt: string;
}

/** The JSON a graph is submitted as (`GraphInput`; also `aurora submit FILE`). */
export interface ArgInput {
  type: string;
  value: unknown;
}
export interface TaskInput {
  key: string;
  name: string;
  args?: ArgInput[];
  labelSelector?: Record<string, string>;
  retryCount?: number;
  retryBackoffMs?: number;
  timeoutMs?: number;
  passResults?: boolean;
}
export interface GraphInput {
  name?: string;
  tasks: TaskInput[];
  edges?: Edge[];
  labelSelector?: Record<string, string>;
  idempotencyKey?: string;
}
