// The graph editor: palette (keyboard and drag), typed args checked as typed, connections,
// submit, server-side refusals shown where they belong, JSON export/import round trips.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startAurora, launchBrowser, newPage, login, gql, uiLogin, sleep, REPO, SCREENSHOTS } from './helpers.mjs';

let server;
let browser;
let page;
let token;

before(async () => {
  server = await startAurora();
  token = await login(server);
  browser = await launchBrowser(server);
  page = await newPage(browser);
  await uiLogin(page, server, '/editor');
  await page.getByTestId('editor').waitFor();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const node = (key) => page.locator(`[data-testid="editor-node"][data-key="${key}"]`);
const runCount = async () => (await gql(server.url, '{ graphs(first: 100) { nodes { id } } }', {}, token)).graphs.nodes.length;

test('build add(1, 2) → add(passResults) from the palette, catch bad args before submit, submit, and the run succeeds', async () => {
  const palette = page.locator('[data-testid="palette-handler"][data-name="add"]');
  await palette.waitFor();
  const names = await page.getByTestId('palette-handler').evaluateAll((ps) => ps.map((p) => p.getAttribute('data-name')));
  for (const h of ['add', 'multiply', 'concat', 'split', 'sum_floats', 'echo', 'noop', 'sleep', 'fail', 'flaky'])
    assert.ok(names.includes(h), `palette lacks ${h}`);
  assert.match(await palette.innerText(), /\.\.\.int64/);

  // Keyboard: focus a palette item, press Enter.
  await palette.focus();
  await page.keyboard.press('Enter');
  await page.getByTestId('node-form').waitFor();
  assert.equal(await page.getByTestId('editor-node').count(), 1);
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'node-key', "focus moves to the new task's key");
  await page.getByTestId('node-key').fill('a');
  await page.getByTestId('add-arg').click();
  await page.getByTestId('add-arg').click();
  const types = page.getByTestId('arg-type');
  assert.equal(await types.nth(0).inputValue(), 'int64');
  assert.equal(await types.nth(1).inputValue(), 'int64');
  const values = page.getByTestId('arg-value');
  await values.nth(0).fill('1');
  await values.nth(1).fill('2');
  assert.equal(await page.getByTestId('arg-error').count(), 0);

  // Drag: the second add onto the canvas.
  await palette.dragTo(page.getByTestId('editor-canvas'), { targetPosition: { x: 480, y: 90 } });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="editor-node"]').length === 2);
  await page.getByTestId('node-key').fill('b');
  await page.getByTestId('node-pass-results').check();

  // Connect a → b with the form.
  await node('a').click();
  await page.locator('[data-testid="node-form"][data-key="a"]').waitFor();
  await page.getByTestId('connect-to').selectOption({ label: 'b' });
  await page.getByTestId('connect-submit').click();
  await page.locator('[data-testid="editor-edge"][data-from="a"][data-to="b"]').waitFor({ state: 'attached' });

  // Bad values are flagged as typed, and block the submit.
  await values.nth(1).fill('abc');
  const argError = page.getByTestId('arg-error');
  await argError.waitFor();
  assert.match(await argError.innerText(), /`abc` is not valid JSON: int64 needs a number/);
  assert.equal(await values.nth(1).getAttribute('aria-invalid'), 'true');
  await values.nth(1).fill('9223372036854775808');
  assert.match(await argError.innerText(), /out of range for int64/);
  await values.nth(1).fill('2.5');
  assert.match(await argError.innerText(), /not a whole number/);
  await types.nth(1).selectOption('string');
  await values.nth(1).fill('two');
  assert.match(await argError.innerText(), /`add` expects int64 \(or \[\]int64\) here, got string/);
  await types.nth(1).selectOption('int64');
  await values.nth(1).fill('abc');
  const before = await runCount();
  await page.getByTestId('editor-submit').click();
  const blocked = page.getByTestId('submit-blocked');
  await blocked.waitFor();
  assert.match(await blocked.innerText(), /Not submitted: 1 problem/);
  await sleep(500);
  assert.equal(new URL(page.url()).pathname, '/editor');
  assert.equal(await runCount(), before, 'nothing was submitted');
  assert.equal(await node('a').getAttribute('data-problems'), '1');

  // A wrong count is flagged on the node: sleep takes exactly one int64.
  await page.locator('[data-testid="palette-handler"][data-name="sleep"]').focus();
  await page.keyboard.press('Enter');
  await page.getByTestId('add-arg').click();
  await page.getByTestId('arg-value').nth(0).fill('10');
  await page.getByTestId('arg-value').nth(1).fill('10');
  assert.match(await page.getByTestId('node-error').innerText(), /`sleep` takes exactly 1 value \(int64\), got 2/);
  await page.getByTestId('node-delete').click();
  assert.equal(await page.getByTestId('editor-node').count(), 2);

  await node('a').click();
  await values.nth(1).fill('2');
  assert.equal(await page.getByTestId('arg-error').count(), 0);
  await page.getByTestId('editor-submit').click();
  await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/, { timeout: 10_000 });
  const id = new URL(page.url()).pathname.split('/').pop();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="dag-node"]').length === 2);
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="dag-node"]')].every((n) => n.getAttribute('data-state') === 'SUCCESS'), null, {
    timeout: 30_000,
  });
  const run = await gql(server.url, 'query($id: ID!) { graph(id: $id) { state tasks { key results { type value } } } }', { id }, token);
  assert.equal(run.graph.state, 'SUCCESS');
  assert.deepEqual(run.graph.tasks.find((t) => t.key === 'b').results, [{ type: 'int64', value: 3 }], 'b = add(passed 1 + 2)');
  assert.deepEqual(page.problems, []);
});

test("a cycle (drawn by dragging from a node's handle) is refused with the server's message on the edges and in the error area", async () => {
  await page.getByRole('link', { name: 'Editor' }).click();
  await node('b').waitFor();
  const handle = await node('b').getByTestId('node-handle').boundingBox();
  const target = await node('a').boundingBox();
  await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
  await page.mouse.down();
  await page.mouse.move(target.x + target.width / 2, target.y + target.height / 2, { steps: 8 });
  await page.mouse.up();
  await page.locator('[data-testid="editor-edge"][data-from="b"][data-to="a"]').waitFor({ state: 'attached' });
  const before = await runCount();
  await page.getByTestId('editor-submit').click();
  const msg = page.getByTestId('server-error');
  await msg.first().waitFor({ timeout: 10_000 });
  const text = await msg.allInnerTexts();
  assert.ok(
    text.some((t) => /the graph has a cycle: (a -> b -> a|b -> a -> b)/.test(t)),
    `server errors: ${text}`,
  );
  for (const [from, to] of [
    ['a', 'b'],
    ['b', 'a'],
  ])
    assert.equal(
      await page.locator(`[data-testid="editor-edge"][data-from="${from}"][data-to="${to}"]`).getAttribute('data-error'),
      'true',
      `edge ${from} -> ${to} is marked`,
    );
  assert.ok(Number(await node('a').getAttribute('data-problems')) >= 1);
  assert.equal(new URL(page.url()).pathname, '/editor');
  assert.equal(await runCount(), before);
  // The message is on the edge too.
  await node('b').click();
  assert.match(await page.getByTestId('node-form').innerText(), /cycle/);
});

test('export a graph and import it back: the same GraphInput; imported files export unchanged', async () => {
  // Remove the cycle and set the optional fields, so the round trip covers them.
  await node('b').click();
  await page.getByRole('button', { name: 'Remove the edge b → a' }).click();
  await node('a').click();
  await page.getByTestId('node-retry-count').fill('2');
  await page.getByTestId('node-retry-backoff').fill('300');
  await page.getByTestId('node-timeout').fill('5000');
  await page.locator('[data-testid="node-form"] .labels').getByRole('button', { name: '+ Add label' }).click();
  await page.getByLabel('Label 1 name').fill('zone');
  await page.getByLabel('Label 1 value').fill('eu');
  await page.getByRole('button', { name: 'Close the task form' }).click();
  await page.getByTestId('graph-name').fill('round-trip');

  await page.getByTestId('toggle-json').click();
  await page.getByTestId('export-json').click();
  const first = JSON.parse(await page.getByTestId('editor-json').inputValue());
  assert.deepEqual(first, {
    name: 'round-trip',
    tasks: [
      {
        key: 'a',
        name: 'add',
        args: [
          { type: 'int64', value: 1 },
          { type: 'int64', value: 2 },
        ],
        labelSelector: { zone: 'eu' },
        retryCount: 2,
        retryBackoffMs: 300,
        timeoutMs: 5000,
      },
      { key: 'b', name: 'add', args: [], passResults: true },
    ],
    edges: [{ from: 'a', to: 'b' }],
  });
  await page.getByRole('button', { name: 'Clear' }).click();
  assert.equal(await page.getByTestId('editor-node').count(), 0);
  await page.getByTestId('import-json').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="editor-node"]').length === 2);
  await page.getByTestId('export-json').click();
  const second = JSON.parse(await page.getByTestId('editor-json').inputValue());
  assert.deepEqual(second, first);

  // A file (upload), and a text with explicit defaults and absent fields.
  const diamondText = readFileSync(join(REPO, 'examples', 'diamond.json'), 'utf8');
  await page.getByTestId('upload-json').setInputFiles(join(REPO, 'examples', 'diamond.json'));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="editor-node"]').length === 4);
  await page.getByTestId('export-json').click();
  assert.deepEqual(JSON.parse(await page.getByTestId('editor-json').inputValue()), JSON.parse(diamondText));

  const odd = {
    tasks: [
      { key: 'x', name: 'echo', labelSelector: {}, passResults: false, retryCount: 0 },
      {
        key: 'y',
        name: 'concat',
        args: [
          { type: 'string', value: 'a, b' },
          { type: 'string', value: '{"not": "json"}' },
        ],
      },
      {
        key: 'z',
        name: 'echo',
        args: [
          { type: '[]float64', value: [0.5, 2] },
          { type: 'bool', value: true },
          { type: 'string', value: 7 },
        ],
      },
    ],
    labelSelector: { pool: 'gpu' },
    idempotencyKey: 'k-1',
  };
  // The file is handed over as bytes: given a path, Chromium reads the file lazily, when the page
  // reads it, so a file removed right after `setInputFiles` may be gone by then.
  await page.getByTestId('upload-json').setInputFiles({
    name: 'odd.json',
    mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify(odd)),
  });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="editor-node"]').length === 3);
  await page.getByTestId('export-json').click();
  assert.deepEqual(JSON.parse(await page.getByTestId('editor-json').inputValue()), odd);
  // z's string arg 7 is not a string: flagged.
  await node('z').click();
  assert.match(await page.getByTestId('arg-error').innerText(), /expected a string for string, got a number/);

  // Not a GraphInput: a clear import error, the graph stays.
  await page.getByTestId('editor-json').fill('{"tasks": [{"key": "q", "name": "noop", "retries": 3}]}');
  await page.getByTestId('import-json').click();
  assert.match(await page.getByTestId('import-error').innerText(), /Task `q`: unknown field `retries`/);
  assert.equal(await page.getByTestId('editor-node').count(), 3);
  assert.deepEqual(page.problems, []);
});

test('screenshot: the editor with the diamond example and a task form open', async () => {
  await page.getByTestId('upload-json').setInputFiles(join(REPO, 'examples', 'diamond.json'));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="editor-node"]').length === 4);
  await page.getByTestId('toggle-json').click();
  await node('d').click();
  await page.locator('[data-testid="node-form"][data-key="d"]').waitFor();
  assert.equal(await page.getByTestId('editor-edge').count(), 4);
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, 'editor.png') });
});
