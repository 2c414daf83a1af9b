// "Chain links" verification of a run's events, the part of Aurora's audit a browser can do
// without the server's canonical JSON: per stream, versions run 1, 2, 3, … without a gap, the
// first event's prevHash is empty and every other event's prevHash equals the hash of the
// event before it. The SHA-256 hashes themselves are not recomputed here (`aurora replay`
// does that).
import type { LedgerEvent } from './types';

export interface ChainReport {
  ok: boolean;
  streams: number;
  events: number;
  /** Per event id: null when its link is fine, else what is wrong. */
  links: Map<string, string | null>;
  problems: string[];
}

export function verifyChains(events: LedgerEvent[]): ChainReport {
  const byStream = new Map<string, LedgerEvent[]>();
  for (const e of events) {
    let list = byStream.get(e.stream);
    if (!list) byStream.set(e.stream, (list = []));
    list.push(e);
  }
  const links = new Map<string, string | null>();
  const problems: string[] = [];
  for (const [stream, list] of byStream) {
    const sorted = [...list].sort((a, b) => a.version - b.version);
    sorted.forEach((e, i) => {
      let problem: string | null = null;
      const prev = sorted[i - 1];
      if (!/^[0-9a-f]{64}$/i.test(e.hash)) problem = `v${e.version}: the hash is not 64 hex digits`;
      else if (i === 0 && e.version !== 1) problem = `the stream starts at v${e.version}, not v1`;
      else if (i === 0 && e.prevHash !== '') problem = `v1 has a previous hash (it should be empty)`;
      else if (prev && e.version !== prev.version + 1) problem = `v${prev.version} is followed by v${e.version}`;
      else if (prev && e.prevHash !== prev.hash) problem = `v${e.version}'s previous hash is not v${prev.version}'s hash`;
      links.set(e.id, problem);
      if (problem) problems.push(`${stream}: ${problem}`);
    });
  }
  return { ok: problems.length === 0, streams: byStream.size, events: events.length, links, problems };
}
