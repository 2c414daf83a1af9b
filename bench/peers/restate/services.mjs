// The Restate handlers for Aurora's peer benchmark: one Node process serving the endpoint that
// restate-server invokes (Restate's equivalent of the Celery worker). Started by driver.mjs as
//   node services.mjs
// It listens on 127.0.0.1 on a free port and prints {"port": P} once on stdout.
import * as http2 from "node:http2";
import * as restate from "@restatedev/restate-sdk";

const RESULT = "0123456789abcdef"; // 16 bytes, as Aurora's `noop` and the Celery driver's

// The fan-in of W5 counts its own runs in a virtual object's durable state (keyed by run), so the
// driver can check "exactly once" — as the Celery driver's `join` counts in Redis.
const joinCounter = restate.object({
  name: "JoinCounter",
  handlers: {
    run: async (ctx) => {
      ctx.set("runs", ((await ctx.get("runs")) ?? 0) + 1);
      return RESULT;
    },
    get: restate.handlers.object.shared(async (ctx) => (await ctx.get("runs")) ?? 0),
  },
});

const bench = restate.service({
  name: "Bench",
  handlers: {
    // The task of W2/W3 and every hop of W4/W5: takes the payload, returns 16 bytes.
    noop: async (_ctx, _payload) => RESULT,
    // Used only by the driver to see that the deployment is reachable (never counted in W2).
    ping: async () => "pong",
    // W4: n sequential service-to-service calls; each is its own durable invocation, journaled
    // in the caller and in the callee (a Celery chain of n tasks, each started by the previous).
    chain: async (ctx, { n, payload }) => {
      let last;
      for (let i = 0; i < n; i++) last = await ctx.serviceClient(Bench).noop(payload);
      return last;
    },
    // W5: a head task, then n noop calls in parallel, then the join once all n succeeded
    // (Celery's chain(noop, chord([noop] * n, join))).
    fanout: async (ctx, { n, key, payload }) => {
      await ctx.serviceClient(Bench).noop(payload);
      const calls = Array.from({ length: n }, () => ctx.serviceClient(Bench).noop(payload));
      await restate.RestatePromise.all(calls);
      return ctx.objectClient(JoinCounter, key).run();
    },
  },
});
const Bench = { name: "Bench" };
const JoinCounter = { name: "JoinCounter" };

// HTTP/2 (h2c) so that restate-server talks to the handlers in bidirectional-stream mode, the
// SDK's default for a long-running Node process.
const server = http2.createServer(restate.createEndpointHandler({ services: [bench, joinCounter] }));
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
