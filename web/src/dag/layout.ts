// Lays a DAG out off the main thread (a Web Worker running dagre), so a 1,000-task run's
// layout does not freeze the page; falls back to the main thread without workers.
import type { LayoutInput, LayoutResult } from './layout-core';

export type { LayoutInput, LayoutResult, Point } from './layout-core';

let worker: Worker | null = null;
let seq = 0;
const waiting = new Map<number, { resolve: (r: LayoutResult) => void; reject: (e: Error) => void }>();

function getWorker(): Worker | null {
  if (worker) return worker;
  try {
    worker = new Worker(new URL('./layout.worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (ev: MessageEvent<{ seq: number; result?: LayoutResult; error?: string }>) => {
      const w = waiting.get(ev.data.seq);
      waiting.delete(ev.data.seq);
      if (!w) return;
      if (ev.data.result) w.resolve(ev.data.result);
      else w.reject(new Error(ev.data.error ?? 'layout failed'));
    };
    worker.onerror = () => {
      for (const w of waiting.values()) w.reject(new Error('the layout worker failed'));
      waiting.clear();
      worker = null;
    };
    return worker;
  } catch {
    return null;
  }
}

export async function layoutGraph(input: LayoutInput): Promise<LayoutResult> {
  const w = getWorker();
  if (!w) {
    const { computeLayout } = await import('./layout-core');
    return computeLayout(input);
  }
  const id = ++seq;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    w.postMessage({ seq: id, input });
  });
}
