/// <reference lib="webworker" />
import { computeLayout, type LayoutInput } from './layout-core';

self.onmessage = (ev: MessageEvent<{ seq: number; input: LayoutInput }>) => {
  const { seq, input } = ev.data;
  try {
    self.postMessage({ seq, result: computeLayout(input) });
  } catch (e) {
    self.postMessage({ seq, error: (e as Error)?.message ?? String(e) });
  }
};
