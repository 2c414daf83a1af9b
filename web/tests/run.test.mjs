// Runs list and run view: a finished diamond, a running chain updating live, cancel, and the
// screenshots of the run list and the run view.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startAurora, launchBrowser, newPage, login, submit, waitForState, gql, uiLogin, REPO, SCREENSHOTS } from './helpers.mjs';

let server;
let browser;
let page;
let token;
let diamondId;

before(async () => {
  server = await startAurora();
  token = await login(server);
  browser = await launchBrowser(server);
  page = await newPage(browser);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Each test stands alone: log in through the form unless this tab already has a session. */
async function ensureLogin() {
  if (page.url().startsWith(server.url) && (await page.evaluate(() => sessionStorage.getItem('aurora.token')))) return;
  await uiLogin(page, server, '/');
}

test("log in through the form, see the runs, open a finished diamond: four SUCCESS nodes and a node panel with the API's hashes", async () => {
  const diamond = JSON.parse(readFileSync(join(REPO, 'examples', 'diamond.json'), 'utf8'));
  diamondId = await submit(server, token, diamond);
  await waitForState(server, token, diamondId, 'SUCCESS');

  await page.goto('/');
  await page.getByTestId('login-username').fill('admin');
  await page.getByTestId('login-password').fill(server.password);
  await page.getByTestId('login-submit').click();

  const row = page.locator(`[data-testid="run-row"][data-id="${diamondId}"]`);
  await row.waitFor({ timeout: 10_000 });
  assert.equal(await row.getAttribute('data-state'), 'SUCCESS');
  assert.match(await row.innerText(), /diamond-with-results/);
  assert.match(await row.innerText(), /4 success/);

  await row.click();
  await page.waitForURL(`**/runs/${diamondId}`);
  const nodes = page.getByTestId('dag-node');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="dag-node"]').length === 4);
  assert.equal(await nodes.count(), 4);
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="dag-node"]')].every((n) => n.getAttribute('data-state') === 'SUCCESS'), null, {
    timeout: 10_000,
  });
  const keys = await nodes.evaluateAll((ns) => ns.map((n) => n.getAttribute('data-key')).sort());
  assert.deepEqual(keys, ['a', 'b', 'c', 'd']);
  assert.match(await page.getByTestId('progress').innerText(), /4 of 4 succeeded/);

  // The edges into d (passResults) are marked as passing results.
  await page.waitForFunction(() => document.querySelectorAll('.dag-svg path.dag-edge.pass').length === 2);

  // c (flaky: fails once, then succeeds) has the richest history.
  await page.locator('[data-testid="dag-node"][data-key="c"]').click();
  const panel = page.getByTestId('task-panel');
  await panel.waitFor();
  assert.equal(await panel.getAttribute('data-key'), 'c');
  assert.match(await page.getByTestId('task-attempts').innerText(), /^2 /);
  assert.match(await page.getByTestId('task-results').innerText(), /int64\s+2/);

  const api = await gql(server.url, 'query($id: ID!) { graph(id: $id) { tasks { key history { version hash prevHash type } } } }', { id: diamondId }, token);
  const history = api.graph.tasks.find((t) => t.key === 'c').history;
  assert.ok(history.length >= 5, `c has ${history.length} events`);
  const rows = panel.getByTestId('event-row');
  assert.equal(await rows.count(), history.length);
  for (let i = 0; i < history.length; i++) {
    const r = rows.nth(i);
    const version = Number(await r.getAttribute('data-version'));
    const want = history.find((h) => h.version === version);
    assert.ok(want, `no API event with version ${version}`);
    assert.equal(await r.getByTestId('event-hash').textContent(), want.hash, `hash of v${version}`);
    assert.equal((await r.getByTestId('event-prev-hash').textContent()).replace(/^—$/, ''), want.prevHash, `previous hash of v${version}`);
    assert.equal(await r.getAttribute('data-type'), want.type);
  }
  const chain = panel.getByTestId('chain');
  assert.equal(await chain.getAttribute('data-ok'), 'true');
  assert.match(await chain.innerText(), /previous hash equals the hash of the\s+event before it/);

  // Keyboard: focus another node and press Enter.
  await page.locator('[data-testid="dag-node"][data-key="b"]').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid="task-panel"]')?.getAttribute('data-key') === 'b');
  assert.deepEqual(page.problems, []);
});

test('a running chain updates on screen from the subscription, without a reload, until all SUCCESS', async () => {
  const tasks = Array.from({ length: 5 }, (_, i) => ({ key: `s${i + 1}`, name: 'sleep', args: [{ type: 'int64', value: 400 }] }));
  const edges = tasks.slice(1).map((t, i) => ({ from: tasks[i].key, to: t.key }));
  await ensureLogin();
  const id = await submit(server, token, { name: 'sleepy-chain', tasks, edges });
  await page.goto(`/runs/${id}`);
  await page.evaluate(() => {
    window.__sameDocument = 'yes';
  });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="dag-node"]').length === 5);
  // Record every state change the page makes to the nodes from now on.
  await page.evaluate(() => {
    window.__transitions = [];
    const obs = new MutationObserver((ms) => {
      for (const m of ms) {
        const el = m.target;
        window.__transitions.push({ key: el.getAttribute('data-key'), from: m.oldValue, to: el.getAttribute('data-state') });
      }
    });
    for (const n of document.querySelectorAll('[data-testid="dag-node"]'))
      obs.observe(n, { attributes: true, attributeFilter: ['data-state'], attributeOldValue: true });
  });
  const initial = await page.getByTestId('dag-node').evaluateAll((ns) => ns.map((n) => n.getAttribute('data-state')));
  assert.ok(
    initial.some((s) => s !== 'SUCCESS'),
    `all nodes were already SUCCESS when the page showed them: ${initial}`,
  );
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="dag-node"]')].every((n) => n.getAttribute('data-state') === 'SUCCESS'), null, {
    timeout: 30_000,
  });
  const transitions = await page.evaluate(() => window.__transitions);
  const live = transitions.filter((t) => t.to === 'SUCCESS' && ['WAITING', 'PENDING', 'RECEIVED', 'STARTED'].includes(t.from));
  assert.ok(live.length >= 1, `no node went from a non-terminal state to SUCCESS on screen: ${JSON.stringify(transitions)}`);
  assert.equal(await page.evaluate(() => window.__sameDocument), 'yes', 'the page was reloaded');
  assert.match(await page.getByTestId('progress').innerText(), /5 of 5 succeeded/);
  await waitForState(server, token, id, 'SUCCESS');
  console.log(`# live transitions seen on screen: ${transitions.map((t) => `${t.key}:${t.from}->${t.to}`).join(', ')}`);
  assert.deepEqual(page.problems, []);
});

test('the run list filters by state and name, pages, and cancels a running run', async () => {
  await ensureLogin();
  const failing = await submit(server, token, {
    name: 'nightly-report',
    tasks: [{ key: 'boom', name: 'fail', args: [{ type: 'string', value: 'the report source is down' }] }],
  });
  await waitForState(server, token, failing, 'FAILURE');
  const long = await submit(server, token, {
    name: 'long-etl',
    tasks: [
      { key: 'extract', name: 'sleep', args: [{ type: 'int64', value: 120000 }] },
      { key: 'load', name: 'noop', args: [] },
    ],
    edges: [{ from: 'extract', to: 'load' }],
  });
  await page.goto('/');
  const rows = page.getByTestId('run-row');
  await page.locator(`[data-testid="run-row"][data-id="${long}"]`).waitFor();
  assert.ok((await rows.count()) >= 2);
  // Newest first.
  assert.equal(await rows.first().getAttribute('data-id'), long);

  await page.getByTestId('filter-state').selectOption('FAILURE');
  await page.waitForFunction((id) => {
    const r = [...document.querySelectorAll('[data-testid="run-row"]')];
    return r.length === 1 && r[0].getAttribute('data-id') === id;
  }, failing);
  assert.match(page.url(), /state=FAILURE/);
  await page.getByTestId('filter-state').selectOption('');
  await page.getByTestId('filter-name').fill('NIGHTLY');
  await page.waitForFunction((id) => {
    const r = [...document.querySelectorAll('[data-testid="run-row"]')];
    return r.length === 1 && r[0].getAttribute('data-id') === id;
  }, failing);
  await page.getByTestId('filter-name').fill('');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="run-row"]').length >= 2);

  // Screenshot of the run list (before cancelling, so a running row shows its action).
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.locator(`[data-testid="run-row"][data-id="${long}"] [data-testid="cancel-run"]`).waitFor();
  await page.screenshot({ path: join(SCREENSHOTS, 'runs.png') });

  await page.locator(`[data-testid="run-row"][data-id="${long}"] [data-testid="cancel-run"]`).click();
  await page.getByTestId('cancel-confirm').click();
  await waitForState(server, token, long, 'CANCELLED', 30_000);
  await page.waitForFunction((id) => document.querySelector(`[data-testid="run-row"][data-id="${id}"]`)?.getAttribute('data-state') === 'CANCELLED', long, {
    timeout: 10_000,
  });

  // Paging: 25 more runs make two pages of 20.
  for (let i = 0; i < 25; i++) await submit(server, token, { name: `bulk-${i}`, tasks: [{ key: 'n', name: 'noop', args: [] }] });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="run-row"]').length === 20, null, { timeout: 10_000 });
  const firstPage = await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute('data-id')));
  await page.getByTestId('page-next').click();
  await page.waitForFunction((ids) => {
    const r = [...document.querySelectorAll('[data-testid="run-row"]')].map((x) => x.getAttribute('data-id'));
    return r.length > 0 && !r.some((x) => ids.includes(x));
  }, firstPage);
  const secondPage = await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute('data-id')));
  assert.ok(secondPage.includes(failing), 'the older runs are on the second page');
  await page.getByTestId('page-prev').click();
  await page.waitForFunction((first) => document.querySelector('[data-testid="run-row"]')?.getAttribute('data-id') === first, firstPage[0]);
  assert.deepEqual(page.problems, []);
});

test('screenshot: the diamond run view with a node panel open', async () => {
  assert.ok(diamondId, 'needs the diamond run of the first test');
  await ensureLogin();
  await page.goto(`/runs/${diamondId}?task=c`);
  await page.getByTestId('task-panel').waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="dag-node"]')].every((n) => n.getAttribute('data-state') === 'SUCCESS'));
  await page.waitForFunction(() => document.querySelectorAll('.dag-svg path.dag-edge.pass').length === 2);
  assert.equal(await page.getByTestId('dag-node').count(), 4);
  await page.screenshot({ path: join(SCREENSHOTS, 'run-view.png') });
});
