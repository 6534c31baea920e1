// Serves a built edge Worker straight from workerd through
// Miniflare, without `wrangler dev` and its ~3x overhead: what
// `cargo xtask bench` measures the heartbeat-vs-bare throughput ratio on.
//
// Environment: WAITROOM_MF_SCRIPT (the build's entry.mjs; edge/build, the
// deploy build, without it), WAITROOM_MF_PORT (listen port on 127.0.0.1),
// WAITROOM_MF_BINDINGS (JSON object of vars and secrets), optional
// WAITROOM_MF_PERSIST (directory for Durable Object state; in memory
// without it). JSON routes only: no static assets. Stops on SIGTERM.
// Started by xtask (`xtask::stack::miniflare_command`).
import { Miniflare } from "miniflare";

const scriptPath = process.env.WAITROOM_MF_SCRIPT || "edge/build/entry.mjs";
const port = Number(process.env.WAITROOM_MF_PORT || "8797");
const bindings = JSON.parse(process.env.WAITROOM_MF_BINDINGS || "{}");
const persist = process.env.WAITROOM_MF_PERSIST;

const mf = new Miniflare({
  modules: true,
  scriptPath,
  modulesRules: [
    { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
    { type: "CompiledWasm", include: ["**/*.wasm"] },
  ],
  compatibilityDate: "2026-04-01",
  durableObjects: {
    QUEUE_SHARD: { className: "QueueShard", useSQLite: true },
    COORDINATOR: { className: "Coordinator", useSQLite: true },
  },
  bindings,
  // As wrangler.toml's [[ratelimits]].
  ratelimits: {
    JOIN_LIMITER: { simple: { limit: 20, period: 10 } },
    TICKET_LIMITER: { simple: { limit: 100, period: 10 } },
    ADDRESS_LIMITER: { simple: { limit: 3000, period: 10 } },
    ADMIN_FAILURE_LIMITER: { simple: { limit: 10, period: 60 } },
  },
  ...(persist ? { durableObjectsPersist: persist } : {}),
  cf: false,
  host: "127.0.0.1",
  port,
});

const url = await mf.ready;
console.log(`miniflare: serving ${scriptPath} at ${url}`);

const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
