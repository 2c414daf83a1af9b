import type { ReactNode } from 'react';
import type { GraphState, TaskCounts, TaskState } from './lib/types';
import { describeError, ApiError } from './lib/api';

export function StateBadge({ state }: { state: GraphState | TaskState }) {
  return <span className={`badge st-${state}`}>{state}</span>;
}

export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const network = error instanceof ApiError && error.kind === 'network';
  return (
    <div className="error-box" role="alert" data-testid="error">
      <strong>{title ?? (network ? 'The server is unreachable' : 'Something went wrong')}</strong>
      <span>{describeError(error)}</span>
      {network && <span className="muted">Retrying automatically.</span>}
    </div>
  );
}

const COUNT_ORDER: [keyof TaskCounts, TaskState][] = [
  ['success', 'SUCCESS'],
  ['failure', 'FAILURE'],
  ['started', 'STARTED'],
  ['received', 'RECEIVED'],
  ['retry', 'RETRY'],
  ['pending', 'PENDING'],
  ['waiting', 'WAITING'],
  ['cancelled', 'CANCELLED'],
  ['skipped', 'SKIPPED'],
];

/** A stacked bar and the non-zero counts of a run's tasks by state. */
export function CountsBar({ counts }: { counts: TaskCounts }) {
  const total = Math.max(1, counts.total);
  const parts = COUNT_ORDER.filter(([k]) => counts[k] > 0);
  const label = parts.map(([k, s]) => `${counts[k]} ${s.toLowerCase()}`).join(', ');
  return (
    <div className="counts" title={label} aria-label={`${counts.total} tasks: ${label}`}>
      <div className="counts-bar" aria-hidden="true">
        {parts.map(([k, s]) => (
          <span key={k} className={`seg st-${s}`} style={{ width: `${(100 * counts[k]) / total}%` }} />
        ))}
      </div>
      <div className="counts-text">
        {parts.map(([k, s]) => (
          <span key={k} className={`count st-text-${s}`}>
            {counts[k]} {s.toLowerCase()}
          </span>
        ))}
        <span className="muted">of {counts.total}</span>
      </div>
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

export function JsonView({ value }: { value: unknown }) {
  return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
}
