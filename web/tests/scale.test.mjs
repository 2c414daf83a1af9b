// A 1,000-task run: time to first render of all nodes, and long tasks / frame rate while its
// events stream in. The figures are printed and written to tests/figures.json; only loose
// sanity bounds are asserted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAurora, launchBrowser, newPage, login, submit, waitForState, uiLogin, WEB } from './helpers.mjs';

let server;
let browser;
let token;

before(async () => {
  server = await startAurora();
  token = await login(server);
  browser = await launchBrowser(server);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** 1 gate task (sleep), then 999 noop tasks in 10 layers; each task after 1 or 2 of the layer before. */
function layered(gateMs) {
  const tasks = [{ key: 'gate', name: 'sleep', args: [{ type: 'int64', value: gateMs }] }];
  const edges = [];
  const W = 100;
  for (let l = 0; l < 10; l++)
    for (let i = 0; i < W; i++) {
      if (l === 0 && i === 0) continue;
      const key = `t${l}_${i}`;
      tasks.push({ key, name: 'noop', args: [] });
      if (l === 0) edges.push({ from: 'gate', to: key });
      else {
        const a = l === 1 && i === 0 ? 'gate' : `t${l - 1}_${i}`;
        edges.push({ from: a, to: key });
        if (i % 2 === 0) edges.push({ from: `t${l - 1}_${(i + 1) % W}`, to: key });
      }
    }
  return { name: 'layered-1000', tasks, edges };
}

test('a 1,000-task run renders all nodes, streams its events in place, and ends all SUCCESS', { timeout: 240_000 }, async () => {
  const page = await newPage(browser);
  await page.addInitScript(() => {
    window.__longtasks = [];
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longtasks.push({ start: e.startTime, duration: e.duration });
      }).observe({ type: 'longtask', buffered: true });
    } catch {
      window.__longtasks = null;
    }
    // Frame timestamps, for the frame rate while events stream in.
    window.__frames = [];
    const tick = (t) => {
      window.__frames.push(t);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  await uiLogin(page, server, '/');

  const spec = layered(6000);
  assert.equal(spec.tasks.length, 1000);
  const id = await submit(server, token, spec);
  const navStart = Date.now();
  await page.goto(`/runs/${id}`);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="dag-node"]').length === 1000, null, { timeout: 60_000, polling: 50 });
  const wallFirstRenderMs = Date.now() - navStart;
  const firstRender = await page.evaluate(() => {
    const mark = performance.getEntriesByName('aurora:dag-rendered').pop();
    return { markMs: mark?.startTime ?? null, perf: window.__auroraPerf };
  });
  const statesAtRender = await page.getByTestId('dag-node').evaluateAll((ns) => ns.filter((n) => n.getAttribute('data-state') === 'SUCCESS').length);

  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="dag-node"]')].every((n) => n.getAttribute('data-state') === 'SUCCESS'), null, {
    timeout: 180_000,
    polling: 250,
  });
  const allSuccessAt = await page.evaluate(() => performance.now());
  await waitForState(server, token, id, 'SUCCESS', 60_000);

  const m = await page.evaluate(
    ({ from, to }) => {
      const frames = window.__frames.filter((t) => t >= from && t <= to);
      let maxGap = 0;
      for (let i = 1; i < frames.length; i++) maxGap = Math.max(maxGap, frames[i] - frames[i - 1]);
      const lt = window.__longtasks;
      const inWindow = lt ? lt.filter((e) => e.start >= from && e.start <= to) : null;
      return {
        streamSeconds: (to - from) / 1000,
        frames: frames.length,
        fps: frames.length / ((to - from) / 1000),
        maxFrameGapMs: maxGap,
        longTasks: inWindow
          ? { count: inWindow.length, totalMs: inWindow.reduce((a, e) => a + e.duration, 0), maxMs: Math.max(0, ...inWindow.map((e) => e.duration)) }
          : 'unsupported',
        longTasksWholePage: lt
          ? { count: lt.length, totalMs: lt.reduce((a, e) => a + e.duration, 0), maxMs: Math.max(0, ...lt.map((e) => e.duration)) }
          : 'unsupported',
        perf: window.__auroraPerf,
        progress: document.querySelector('[data-testid="progress"]')?.innerText,
      };
    },
    { from: firstRender.markMs ?? 0, to: allSuccessAt },
  );

  const p = m.perf;
  const figures = {
    measuredAt: new Date().toISOString(),
    run: { tasks: spec.tasks.length, edges: spec.edges.length, shape: '1 sleep gate (6 s) + 999 noop in 10 layers of 100' },
    firstRender: {
      allNodesInDomMs: wallFirstRenderMs,
      renderedMarkMs: round(firstRender.markMs),
      graphQueryMs: round(p.loadedMs),
      layoutMs: round(p.layoutMs),
      nodesSucceededAtFirstRender: statesAtRender,
    },
    streaming: {
      events: p.events,
      batches: p.batches,
      maxBatchApplyMs: round(p.maxBatchMs),
      meanBatchApplyMs: round(p.totalBatchMs / Math.max(1, p.batches)),
      svgBuilds: p.builds,
      secondsFromRenderToAllSuccess: round(m.streamSeconds),
      framesInThatTime: m.frames,
      fps: round(m.fps),
      maxFrameGapMs: round(m.maxFrameGapMs),
      longTasks: m.longTasks,
    },
    longTasksWholePage: m.longTasksWholePage,
    browser: 'Debian chromium, headless, 1280x800, 2-core machine',
  };
  console.log(`# figures: ${JSON.stringify(figures, null, 2).replace(/\n/g, '\n# ')}`);
  writeFileSync(join(WEB, 'tests', 'figures.json'), JSON.stringify(figures, null, 2) + '\n');

  assert.equal(p.nodes, 1000);
  assert.equal(p.builds, 1, 'the SVG is built once; events update it in place');
  assert.ok(p.events >= 4000, `only ${p.events} events arrived`);
  assert.ok(p.batches < p.events, 'events are applied in batches');
  assert.ok(statesAtRender < 1000, 'the run was not finished before the page rendered it, so the updates were live');
  assert.ok(wallFirstRenderMs < 30_000, `first render took ${wallFirstRenderMs} ms`);
  assert.match(m.progress, /1000 of 1000 succeeded/);
  assert.deepEqual(page.problems, []);
  await page.close();
});

function round(x) {
  return x == null ? x : Math.round(x * 10) / 10;
}
