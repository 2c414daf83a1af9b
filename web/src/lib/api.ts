// Aurora's GraphQL API over HTTP (POST /graphql) and WebSocket (/graphql/ws,
// graphql-transport-ws), with the bearer token of the session.
import { createClient, type Client } from 'graphql-ws';
import { currentToken, endSession, subscribe as onAuthChange } from './auth';

export interface GqlErrorItem {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [k: string]: unknown };
}

/** A failed request: `kind` says whether the server could not be reached or said no. */
export class ApiError extends Error {
  readonly kind: 'network' | 'http' | 'graphql';
  readonly code: string | undefined;
  readonly errors: GqlErrorItem[];
  constructor(kind: ApiError['kind'], message: string, errors: GqlErrorItem[] = [], code?: string) {
    super(message);
    this.kind = kind;
    this.errors = errors;
    this.code = code ?? errors[0]?.extensions?.code;
  }
}

export const SESSION_ENDED = 'Your session is no longer valid (it expired or was revoked). Log in again.';

/** A message for the user: what went wrong, plainly. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.kind === 'network') return e.message;
    if (e.code === 'FORBIDDEN') return `Not allowed: ${e.message}`;
    return e.message;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

export async function gql<T>(query: string, variables?: Record<string, unknown>, opts: { token?: string | null; signal?: AbortSignal } = {}): Promise<T> {
  const token = opts.token === undefined ? currentToken() : opts.token;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }), signal: opts.signal });
  } catch (e) {
    if ((e as Error)?.name === 'AbortError') throw e;
    throw new ApiError('network', `Cannot reach the Aurora server at ${window.location.host} (${(e as Error)?.message ?? e}).`);
  }
  let body: { data?: T | null; errors?: GqlErrorItem[] } | undefined;
  try {
    body = await res.json();
  } catch {
    throw new ApiError('http', `The server answered ${res.status} ${res.statusText} without a GraphQL response.`);
  }
  const errors = body?.errors ?? [];
  if (errors.length) {
    const unauth = errors.find((x) => x.extensions?.code === 'UNAUTHENTICATED');
    if (unauth && token && token === currentToken()) endSession(SESSION_ENDED);
    const err = unauth ?? errors[0];
    throw new ApiError('graphql', errors.map((x) => x.message).join('\n'), errors, err.extensions?.code);
  }
  if (!res.ok || body?.data == null) {
    throw new ApiError('http', `The server answered ${res.status} ${res.statusText}.`);
  }
  return body.data;
}

let ws: { client: Client; token: string } | null = null;

/** The WebSocket client for the current token (one socket, shared by all subscriptions). */
export function wsClient(): Client {
  const token = currentToken();
  if (!token) throw new ApiError('graphql', 'Not logged in', [], 'UNAUTHENTICATED');
  if (ws && ws.token === token) return ws.client;
  ws?.client.dispose();
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const client = createClient({
    url: `${proto}//${window.location.host}/graphql/ws`,
    connectionParams: { Authorization: `Bearer ${token}` },
    lazy: true,
    retryAttempts: 8,
    shouldRetry: (e) => {
      const code = (e as CloseEvent)?.code;
      return !(code === 4401 || code === 4403 || code === 4429);
    },
    on: {
      closed: (e) => {
        const code = (e as CloseEvent)?.code;
        if ((code === 4401 || code === 4403) && currentToken() === token) endSession(SESSION_ENDED);
      },
    },
  });
  ws = { client, token };
  return client;
}

onAuthChange(() => {
  if (ws && ws.token !== currentToken()) {
    ws.client.dispose();
    ws = null;
  }
});

export interface SubscriptionHandlers<T> {
  next: (value: T) => void;
  error: (message: string) => void;
  complete: () => void;
}

/** Subscribes; returns the unsubscribe function. */
export function subscribe<T>(query: string, variables: Record<string, unknown>, h: SubscriptionHandlers<T>): () => void {
  let client: Client;
  try {
    client = wsClient();
  } catch (e) {
    h.error(describeError(e));
    return () => {};
  }
  return client.subscribe<T>(
    { query, variables },
    {
      next: (r) => {
        if (r.errors?.length) {
          h.error(r.errors.map((x) => x.message).join('\n'));
          return;
        }
        if (r.data) h.next(r.data as T);
      },
      error: (e) => {
        const ce = e as CloseEvent;
        if (ce && typeof ce.code === 'number') h.error(`The live connection closed (${ce.code}${ce.reason ? `: ${ce.reason}` : ''}).`);
        else if (Array.isArray(e)) h.error((e as GqlErrorItem[]).map((x) => x.message).join('\n'));
        else h.error(describeError(e));
      },
      complete: h.complete,
    },
  );
}

// --- Queries ------------------------------------------------------------------------------

export const RUN_SUMMARY_FIELDS = `id name state submittedBy submittedAt finishedAt
  taskCounts { total waiting pending received started retry success failure cancelled skipped }`;

export const TASK_FIELDS = `id key name state args { type value } results { type value } error attempts workerId
  retryAt labelSelector retryCount retryBackoffMs timeoutMs createdAt updatedAt`;

export const EVENT_FIELDS = `id stream version type graphId taskId state data actor recordedAt hash prevHash
  traceId workerId fencingToken causationId`;

export const LOGIN = `mutation Login($u: String!, $p: String!) { login(username: $u, password: $p) { token expiresAt } }`;
export const LOGOUT = `mutation { logout }`;
export const CANCEL = `mutation Cancel($id: ID!, $reason: String) { cancelGraph(id: $id, reason: $reason) { id state } }`;
export const SUBMIT = `mutation Submit($input: GraphInput!) { submitGraph(input: $input) { id } }`;
export const HANDLERS = `{ handlers { name usage argTypes resultTypes } }`;
export const WORKERS = `{ workers { id labels handlers lastSeenAt } }`;
export const GRAPH_EVENTS = `subscription Events($id: ID!) { graphEvents(id: $id) { ${EVENT_FIELDS} } }`;
