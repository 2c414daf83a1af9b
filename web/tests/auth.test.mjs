// Login errors and the end of a session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAurora, launchBrowser, newPage, gqlRaw, uiLogin } from './helpers.mjs';

let server;
let browser;

before(async () => {
  server = await startAurora();
  browser = await launchBrowser(server);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a wrong password shows a clear error and keeps the user on the login form', async () => {
  const page = await newPage(browser);
  await page.goto('/workers');
  await page.getByTestId('login-username').fill('admin');
  await page.getByTestId('login-password').fill('not-the-password');
  await page.getByTestId('login-submit').click();
  const error = page.getByTestId('login-error');
  await error.waitFor();
  assert.match(await error.innerText(), /wrong username or password/i);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('aurora.token')), null);
  assert.equal(await page.locator('.topbar').count(), 0);
  // The right password then works and goes on to the page asked for.
  await page.getByTestId('login-password').fill(server.password);
  await page.getByTestId('login-submit').click();
  await page.waitForURL('**/workers');
  await page.getByTestId('worker-row').first().waitFor();
  assert.ok(await page.evaluate(() => sessionStorage.getItem('aurora.token')));
  await page.close();
});

test('a revoked token sends the user back to the login form with a message', async () => {
  const page = await newPage(browser);
  await uiLogin(page, server, '/');
  const token = await page.evaluate(() => sessionStorage.getItem('aurora.token'));
  assert.match(token, /^aur_/);
  const out = await gqlRaw(server.url, 'mutation { logout }', {}, token);
  assert.deepEqual(out.data, { logout: true });
  // Act in the UI with the revoked token.
  await page.getByRole('link', { name: 'Workers' }).click();
  const message = page.getByTestId('login-message');
  await message.waitFor({ timeout: 10_000 });
  assert.match(await message.innerText(), /no longer valid|expired|revoked/i);
  await page.getByTestId('login-username').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('aurora.token')), null);
  // Logging in again returns to the page that was asked for.
  await page.getByTestId('login-username').fill('admin');
  await page.getByTestId('login-password').fill(server.password);
  await page.getByTestId('login-submit').click();
  await page.waitForURL('**/workers');
  await page.close();
});

test('the logout button revokes the token', async () => {
  const page = await newPage(browser);
  await uiLogin(page, server, '/');
  const token = await page.evaluate(() => sessionStorage.getItem('aurora.token'));
  await page.getByTestId('logout').click();
  await page.getByTestId('login-username').waitFor();
  assert.match(await page.getByTestId('login-message').innerText(), /logged out/i);
  const out = await gqlRaw(server.url, '{ workers { id } }', {}, token);
  assert.equal(out.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
  await page.close();
});

test('GraphiQL is served at /graphql, bundled, and sends the session token with queries and over the WebSocket', async () => {
  const page = await newPage(browser);
  const external = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(server.url) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) external.push(r.url());
  });
  const sent = [];
  const received = [];
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => sent.push(String(f.payload)));
    ws.on('framereceived', (f) => received.push(String(f.payload)));
  });
  await uiLogin(page, server, '/');
  const token = await page.evaluate(() => sessionStorage.getItem('aurora.token'));
  const id = (await gqlRaw(server.url, 'mutation { submitGraph(input: { name: "for-graphiql", tasks: [{ key: "n", name: "noop" }] }) { id } }', {}, token)).data
    .submitGraph.id;
  await page.goto('/graphql');
  await page.locator('.graphiql-container').waitFor({ timeout: 30_000 });
  // The default query (listing runs) is in the editor, the token in the headers editor.
  await page.locator('.graphiql-query-editor .view-line', { hasText: 'graphs(first: 10)' }).waitFor({ timeout: 30_000 });
  await page.locator('.view-line', { hasText: 'Bearer aur_' }).waitFor();
  const answered = page.waitForResponse(
    (r) => r.url().endsWith('/graphql') && r.request().method() === 'POST' && (r.request().postData() ?? '').includes('graphs('),
  );
  await page.locator('.graphiql-execute-button').click();
  const res = await answered;
  const body = await res.json();
  assert.ok(body.data?.graphs, `GraphiQL's query failed: ${JSON.stringify(body).slice(0, 300)}`);
  assert.equal(res.request().headers().authorization, `Bearer ${token}`);
  await page.locator('.graphiql-response', { hasText: 'for-graphiql' }).waitFor();

  // A subscription goes over /graphql/ws with the header as the connection_init payload.
  await page.locator('.graphiql-query-editor .view-line').first().click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(`subscription Follow { graphEvents(id: "${id}") { type version } }`, { delay: 5 });
  // GraphiQL picks the operation name up after a moment (the tab is named after it).
  await page.locator('.graphiql-tab', { hasText: 'Follow' }).waitFor();
  await page.locator('.graphiql-execute-button').click();
  await page.locator('.graphiql-response', { hasText: 'GraphSucceeded' }).waitFor({ timeout: 20_000 });
  const init = sent.map((f) => JSON.parse(f)).find((m) => m.type === 'connection_init');
  assert.ok(init, `no connection_init sent: ${sent}`);
  assert.equal(init.payload?.Authorization, `Bearer ${token}`);
  assert.ok(
    received.some((f) => f.includes('GraphSubmitted')),
    'the subscription replayed the run',
  );
  assert.deepEqual(external, [], 'GraphiQL loaded something from outside the server');
  await page.close();
});
