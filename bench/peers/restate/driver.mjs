// Restate driver for Aurora's benchmarks: runs one workload (W2-W5) against a restate-server and a
// handler endpoint (services.mjs) that it starts itself, on 127.0.0.1 with a temporary base dir.
//
// It speaks the same line protocol as bench/peers/celery_driver.py:
//   driver  -> {"event": "ready", "worker_pid": PID, "server_pid": PID}   server and handlers answer
//   harness -> go
//   driver  -> {"event": "result", "workload": W, ...figures}
//   harness -> stop       (or stdin closes); the driver stops everything it started and exits 0
// Same arguments as the Celery driver: --workload W2|W3|W4|W5 --n --batch --reps --clients --slots
// --payload-bytes --timeout (W1 is not offered: Restate's ingress has no batch submission).
// Run `bash install.sh` once first, and start the driver through run.sh (same arguments), which
// puts it in a network namespace with only loopback; it refuses to start outside one. The server's
// and the handlers' output go to $BENCH_RESTATE_LOG if set, else to a file in the temp dir (its
// tail is printed on stderr if the driver fails).
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVER_PKG = `@restatedev/restate-server-${process.platform}-${process.arch}`;
let SERVER;
try { SERVER = createRequire(import.meta.url).resolve(`${SERVER_PKG}/bin/restate-server`); } catch {
  console.error(`restate driver: ${SERVER_PKG} is not installed; run bash ${HERE}/install.sh`);
  process.exit(2);
}
// Nothing the driver starts may reach a network other than loopback (restate-server looks up its
// latest release on GitHub at every start). run.sh runs the driver in a network namespace that has
// only `lo`; anywhere else it refuses to start.
const netIfaces = fs.readFileSync("/proc/self/net/dev", "utf8").split("\n").slice(2)
  .map((l) => l.split(":")[0].trim()).filter(Boolean);
if (netIfaces.some((i) => i !== "lo")) {
  console.error(`restate driver: this network namespace has ${netIfaces.join(", ")}, not only lo; ` +
    `run it through ${HERE}/run.sh (same arguments), which gives it a namespace with loopback only`);
  process.exit(2);
}
const TMP_PREFIX = "aurora-bench-restate-";
const HAS_SETPRIV = spawnSync("setpriv", ["--help"], { stdio: "ignore" }).status === 0;

const { values: opt } = parseArgs({ options: {
  workload: { type: "string" }, n: { type: "string" }, batch: { type: "string", default: "100" },
  clients: { type: "string", default: "8" }, reps: { type: "string", default: "20" },
  slots: { type: "string", default: "16" }, "payload-bytes": { type: "string", default: "100" },
  timeout: { type: "string", default: "600" } } });
const args = { workload: opt.workload, n: +opt.n, clients: +opt.clients, reps: +opt.reps,
  slots: +opt.slots, payloadBytes: +opt["payload-bytes"], timeout: +opt.timeout };
if (!["W2", "W3", "W4", "W5"].includes(args.workload) || !(args.n > 0)) {
  console.error("usage: driver.mjs --workload W2|W3|W4|W5 --n N [--clients C] [--reps R] [--slots S] ...\n" +
    "(W1 is not offered: Restate's ingress has no batch submission)");
  process.exit(2);
}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now() / 1000;

// ---- children: kept in the driver's process group (the harness kills that group), and started
// under `setpriv --pdeathsig KILL` so they die with the driver even if it is SIGKILLed alone.
const children = [];
let tmpDir = null, logPath = null, logFd = null; // one log for the server and the handlers

function startChild(cmd, argv, opts) {
  const [c, a] = HAS_SETPRIV ? ["setpriv", ["--pdeathsig", "KILL", "--", cmd, ...argv]] : [cmd, argv];
  const child = spawn(c, a, opts);
  child.exited = new Promise((r) => child.on("exit", r));
  children.push(child);
  return child;
}

const alive = (c) => c.exitCode === null && c.signalCode === null;

async function stopAll() {
  for (const c of children) if (alive(c)) c.kill("SIGTERM");
  const grace = sleep(10_000).then(() => children.forEach((c) => alive(c) && c.kill("SIGKILL")));
  await Promise.race([Promise.all(children.map((c) => c.exited)), grace]);
  await Promise.all(children.map((c) => c.exited));
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
}

async function dieNow(code) { // on a signal: no grace, just make sure nothing outlives us
  for (const c of children) if (alive(c)) c.kill("SIGKILL");
  await Promise.race([Promise.all(children.map((c) => c.exited)), sleep(2000)]);
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  process.exit(code);
}
for (const [sig, num] of [["SIGTERM", 15], ["SIGINT", 2], ["SIGHUP", 1]]) process.on(sig, () => dieNow(128 + num));

// Temp dirs of earlier drivers that were SIGKILLed (their pid no longer runs) are removed.
function sweepStaleTmp() {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const m = name.match(/^aurora-bench-restate-(\d+)-/);
    if (!m) continue;
    try { process.kill(+m[1], 0); } catch (e) {
      if (e.code === "ESRCH") fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// ---- HTTP over keep-alive connections
function request(agent, port, method, urlPath, body, headers = {}) {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: urlPath, agent,
      headers: { ...(data ? { "content-type": "application/json", "content-length": data.length } : {}), ...headers } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
      });
    req.on("error", reject);
    req.end(data);
  });
}

async function call(agent, port, urlPath, body, headers) {
  const r = await request(agent, port, "POST", urlPath, body, headers);
  if (r.status < 200 || r.status >= 300) throw new Error(`POST ${urlPath}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  return r.text ? JSON.parse(r.text) : null;
}

async function waitFor(what, seconds, probe, child) {
  const deadline = now() + seconds;
  while (now() < deadline) {
    if (child && !alive(child)) throw new Error(`${what}: the process exited with ${child.exitCode ?? child.signalCode}`);
    try { if (await probe()) return; } catch { /* not up yet */ }
    await sleep(50);
  }
  throw new Error(`${what}: not ready within ${seconds} s`);
}

// ---- setup: server, endpoint, registration
async function startServer() {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), `${TMP_PREFIX}${process.pid}-`));
  const [fabric, admin, ingress] = [await freePort(), await freePort(), await freePort()];
  const config = path.join(tmpDir, "restate.toml");
  // Defaults otherwise (RocksDB WAL with fsync, 24 partitions, replicated loglet on this node),
  // as a user who wants durability would run it; only addresses, logging and the slot count differ.
  fs.writeFileSync(config, [
    `node-name = "bench"`, `listen-mode = "tcp"`, `disable-telemetry = true`,
    `bind-address = "127.0.0.1:${fabric}"`, `advertised-address = "http://127.0.0.1:${fabric}/"`,
    `log-filter = "warn"`, `log-disable-ansi-codes = true`, `shutdown-timeout = "5s"`,
    `[admin]`, `bind-address = "127.0.0.1:${admin}"`, `disable-web-ui = true`,
    `[ingress]`, `bind-address = "127.0.0.1:${ingress}"`,
    // At least 2: a W4/W5 parent holds an invoker slot while it awaits its calls.
    `[worker.invoker]`, `concurrent-invocations-limit = ${Math.max(2, args.slots)}`, ""].join("\n"));
  logPath = process.env.BENCH_RESTATE_LOG || path.join(tmpDir, "restate.log");
  logFd = fs.openSync(logPath, "a");
  const server = startChild(SERVER, ["--config-file", config, "--base-dir", path.join(tmpDir, "data"), "--no-logo"],
    { stdio: ["ignore", logFd, logFd] });
  const adminAgent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  await waitFor("restate-server", 60, async () =>
    (await request(adminAgent, admin, "GET", "/health")).status === 200 &&
    (await request(adminAgent, ingress, "GET", "/restate/health")).status === 200, server);
  return { server, admin, ingress, adminAgent };
}

async function startEndpoint() {
  const ep = startChild(process.execPath, [path.join(HERE, "services.mjs")],
    { cwd: HERE, stdio: ["ignore", "pipe", logFd] });
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: ep.stdout }).once("line", resolve);
    ep.once("exit", (c) => reject(new Error(`services.mjs exited with ${c} at start`)));
  });
  return { ep, port: JSON.parse(line).port };
}

// ---- the workloads (all through the ingress HTTP API)
async function pool(count, clients, fn) { // fn(i) for i in 0..count, from `clients` loops at once
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(clients, count) }, async () => {
    while (next < count) await fn(next++);
  }));
}

async function query(env, sql) {
  for (;;) {
    const r = await request(env.adminAgent, env.admin, "POST", "/query", { query: sql }, { accept: "application/json" });
    if (r.status === 429) { await sleep(100); continue; } // the admin API rate-limits queries
    if (r.status !== 200) throw new Error(`query: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    return JSON.parse(r.text).rows;
  }
}

// W2: n one-way sends of Bench/noop from `clients` connections, then poll the server's own
// invocation table until all n are completed; drain = first send -> last completed_at.
async function w2(env, payload) {
  const startedWall = Date.now(), started = now();
  await pool(args.n, args.clients, () => call(env.agent, env.ingress, "/Bench/noop/send", payload));
  const enqueue = now() - started;
  const sql = `SELECT count(*) AS done, sum(CASE WHEN completion_result = 'success' THEN 0 ELSE 1 END) AS failed,
    CAST(max(completed_at) AS BIGINT) AS last FROM sys_invocation_status
    WHERE target = 'Bench/noop' AND invoked_by = 'ingress' AND status = 'completed'`;
  const deadline = started + args.timeout;
  for (;;) {
    const [row] = await query(env, sql);
    if (row.done >= args.n) {
      if (row.failed > 0) throw new Error(`${row.failed} of ${args.n} invocations failed`);
      return { enqueue_seconds: enqueue, drain_seconds: (row.last - startedWall) / 1000,
        drain_seconds_observed: now() - started };
    }
    if (now() > deadline) throw new Error(`${args.n - row.done} of ${args.n} not completed within ${args.timeout} s`);
    await sleep(100);
  }
}

async function w3(env, payload) { // n sequential request-response calls of Bench/noop
  const latencies = [];
  for (let i = 0; i < args.n; i++) {
    const t = now();
    await call(env.agent, env.ingress, "/Bench/noop", payload);
    latencies.push(now() - t);
  }
  return { latencies };
}

async function w4(env, payload) { // one Bench/chain invocation making n sequential noop calls
  const t = now();
  await call(env.agent, env.ingress, "/Bench/chain", { n: args.n, payload });
  return { seconds: now() - t };
}

async function w5(env, payload) { // reps runs of Bench/fanout (head, n in parallel, join)
  const latencies = [], keys = [];
  for (let i = 0; i < args.reps; i++) {
    const key = randomUUID();
    keys.push(key);
    const t = now();
    await call(env.agent, env.ingress, "/Bench/fanout", { n: args.n, key, payload });
    latencies.push(now() - t);
  }
  await sleep(500); // a duplicate join would land here
  const join_runs = [];
  for (const k of keys) join_runs.push(await call(env.agent, env.ingress, `/JoinCounter/${k}/get`));
  return { latencies, join_runs };
}

// ---- main
const lines = readline.createInterface({ input: process.stdin });
const pending = [];
let waiter = null;
lines.on("line", (l) => (waiter ? (waiter(l), (waiter = null)) : pending.push(l)));
lines.on("close", () => { if (waiter) waiter(null); waiter = null; pending.push(null); });
const nextLine = () => (pending.length ? Promise.resolve(pending.shift()) : new Promise((r) => (waiter = r)));

let code = 0;
try {
  sweepStaleTmp();
  const env = await startServer();
  const { ep, port } = await startEndpoint();
  await call(env.adminAgent, env.admin, "/deployments", { uri: `http://127.0.0.1:${port}` });
  env.agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(args.clients, 1) });
  await waitFor("the Bench service", 60, async () => (await call(env.agent, env.ingress, "/Bench/ping")) === "pong", ep);
  emit({ event: "ready", worker_pid: ep.pid, server_pid: env.server.pid });
  if ((await nextLine())?.trim() !== "go") throw new Error("expected `go` on stdin");
  const payload = "x".repeat(args.payloadBytes);
  const figures = await { W2: w2, W3: w3, W4: w4, W5: w5 }[args.workload](env, payload);
  emit({ event: "result", workload: args.workload, ...figures });
  await nextLine(); // `stop`, after the harness has sampled CPU (or stdin closed)
  env.agent.destroy(); env.adminAgent.destroy();
} catch (e) {
  console.error(`restate driver: ${e.stack || e}`);
  if (logPath) console.error(`--- last lines of ${logPath}:\n` + fs.readFileSync(logPath, "utf8").split("\n").slice(-40).join("\n"));
  code = 1;
}
await stopAll();
process.exit(code);
