// Shared test helpers: start a private Aurora, talk to its GraphQL API, drive Chromium.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = resolve(WEB, '..');
export const SCREENSHOTS = join(REPO, 'docs', 'screenshots');

export const BIN = process.env.AURORA_BIN || join(REPO, 'target', 'debug', 'aurora');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

/**
 * Starts `aurora dev` on a random port with a fresh data dir and a random admin password.
 * It serves the bundle embedded in the binary, or AURORA_WEB_DIR's files when that is set.
 */
export async function startAurora({ config } = {}) {
  if (!existsSync(BIN)) throw new Error(`no Aurora binary at ${BIN} (set AURORA_BIN)`);
  const dataDir = mkdtempSync(join(tmpdir(), 'aurora-web-test-'));
  const password = randomBytes(12).toString('hex');
  const args = ['dev', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--admin-password', password];
  let configDir = null;
  if (config) {
    configDir = mkdtempSync(join(tmpdir(), 'aurora-web-config-'));
    writeFileSync(join(configDir, 'aurora.toml'), config);
    args.push('--config', join(configDir, 'aurora.toml'));
  }
  if (process.env.AURORA_WEB_DIR) args.push('--set', `server.web_dir=${resolve(process.env.AURORA_WEB_DIR)}`);
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-20_000);
  });
  const url = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`Aurora did not print its address within 60 s\n${out}\n${stderr}`)), 60_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /GraphiQL:\s+http:\/\/127\.0\.0\.1:(\d+)\/graphql/.exec(out);
      if (m) {
        clearTimeout(timer);
        ok(`http://127.0.0.1:${m[1]}`);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`Aurora exited (${code}) before it was up\n${out}\n${stderr}`));
    });
  });
  const server = {
    url,
    password,
    dataDir,
    child,
    logs: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dataDir, { recursive: true, force: true });
      if (configDir) rmSync(configDir, { recursive: true, force: true });
    },
  };
  return server;
}

/** An Argon2 hash of `password` for `[[auth.users]]`, made by `aurora hash-password`. */
export function hashPassword(password) {
  const r = spawnSync(BIN, ['hash-password'], { input: password, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`aurora hash-password failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** POSTs a GraphQL request; returns the whole response body ({ data, errors }). */
export async function gqlRaw(url, query, variables, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return res.json();
}

/** Like gqlRaw, but throws on errors and returns `data`. */
export async function gql(url, query, variables, token) {
  const body = await gqlRaw(url, query, variables, token);
  if (body.errors?.length) throw new Error(`GraphQL error: ${JSON.stringify(body.errors)}`);
  return body.data;
}

export async function login(server, username = 'admin', password = server.password) {
  const d = await gql(server.url, 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }', { u: username, p: password });
  return d.login.token;
}

export async function submit(server, token, input) {
  const d = await gql(server.url, 'mutation($g: GraphInput!) { submitGraph(input: $g) { id } }', { g: input }, token);
  return d.submitGraph.id;
}

export async function graphState(server, token, id) {
  const d = await gql(server.url, 'query($id: ID!) { graph(id: $id) { state } }', { id }, token);
  return d.graph?.state ?? null;
}

export async function waitForState(server, token, id, want, timeoutMs = 120_000) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    last = await graphState(server, token, id);
    if (last === want) return;
    if (last && last !== 'RUNNING') throw new Error(`run ${id} ended ${last}, not ${want}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`run ${id} is still ${last} after ${timeoutMs} ms`);
}

/**
 * Headless Chromium (Debian's) with a fresh profile, as a browser context for `server`
 * at 1280×800. Close it with `close()` (the profile is removed).
 */
export async function launchBrowser(server) {
  const profile = mkdtempSync(join(tmpdir(), 'aurora-web-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    baseURL: server.url,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const close = context.close.bind(context);
  context.close = async () => {
    await close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return context;
}

/** A new tab that records page errors and console errors in `page.problems`. */
export async function newPage(context) {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  page.problems = problems;
  return page;
}

/** Logs in through the login form. */
export async function uiLogin(page, server, path = '/', username = 'admin', password = server.password) {
  await page.goto(path);
  await page.getByTestId('login-username').fill(username);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.locator('.topbar').waitFor();
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
