// Errors shown plainly: a viewer's FORBIDDEN, an expired token, the server going away.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAurora, launchBrowser, newPage, login, submit, hashPassword, uiLogin } from './helpers.mjs';

const servers = [];
const browsers = [];
after(async () => {
  for (const b of browsers) await b.close();
  for (const s of servers) await s.stop();
});

test('a viewer sees FORBIDDEN plainly when cancelling or submitting', async () => {
  const config = `[[auth.users]]\nname = "vera"\npassword_hash = "${hashPassword('vera-pw')}"\nrole = "viewer"\n`;
  const server = await startAurora({ config });
  servers.push(server);
  const admin = await login(server);
  const id = await submit(server, admin, { name: 'admins-run', tasks: [{ key: 'wait', name: 'sleep', args: [{ type: 'int64', value: 60000 }] }] });
  const browser = await launchBrowser(server);
  browsers.push(browser);
  const page = await newPage(browser);
  await uiLogin(page, server, '/', 'vera', 'vera-pw');
  const row = page.locator(`[data-testid="run-row"][data-id="${id}"]`);
  await row.getByTestId('cancel-run').click();
  await page.getByTestId('cancel-confirm').click();
  const err = row.locator('.error');
  await err.waitFor();
  assert.match(await err.innerText(), /^Not allowed: /);
  assert.equal(await row.getAttribute('data-state'), 'RUNNING');

  await page.getByRole('link', { name: 'Editor' }).click();
  await page.getByTestId('toggle-json').click();
  await page.getByTestId('editor-json').fill('{"tasks": [{"key": "n", "name": "noop", "args": []}]}');
  await page.getByTestId('import-json').click();
  await page.locator('[data-testid="editor-node"][data-key="n"]').waitFor();
  await page.getByTestId('editor-submit').click();
  const box = page.getByTestId('editor-errors');
  await box.getByText(/Not allowed: /).waitFor();
  assert.equal(new URL(page.url()).pathname, '/editor');
  // The 403-like refusal did not end the session.
  assert.ok(await page.evaluate(() => sessionStorage.getItem('aurora.token')));
});

test('an expired token sends the user to the login form saying so; a stopped server is reported plainly', async () => {
  const server = await startAurora({ config: '[auth]\ntoken_ttl_secs = 4\n' });
  servers.push(server);
  const browser = await launchBrowser(server);
  browsers.push(browser);
  const page = await newPage(browser);
  await uiLogin(page, server, '/workers');
  await page.getByTestId('worker-row').first().waitFor();
  const message = page.getByTestId('login-message');
  await message.waitFor({ timeout: 15_000 });
  assert.match(await message.innerText(), /expired/i);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('aurora.token')), null);

  // Log in again, then stop the server under the page.
  await page.getByTestId('login-username').fill('admin');
  await page.getByTestId('login-password').fill(server.password);
  await page.getByTestId('login-submit').click();
  await page.waitForURL('**/workers');
  await page.getByRole('link', { name: 'Runs' }).click();
  await page.getByRole('heading', { name: 'Runs' }).waitFor();
  await server.stop();
  const error = page.getByTestId('error');
  await error.waitFor({ timeout: 10_000 });
  assert.match(await error.innerText(), /Cannot reach the Aurora server/);
});
