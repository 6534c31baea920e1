// Proves a built edge Worker answers no test route: run by `cargo xtask
// test` on the deploy build (see xtask/src/main.rs `deploy_dry_run`).
//
//   node xtask/no-test-routes.mjs <entry.js>
//
// Environment: WAITROOM_MF_BINDINGS (JSON object of vars and secrets, as for
// xtask/bench/miniflare-serve.mjs). Each test route is sent as is and with
// its `/__test/` prefix replaced by one no route has; a Worker without test
// routes treats both alike (same status, same content type), a Worker with
// them answers the first itself. A byte search of the bundle cannot tell:
// the compiler turns a comparison with a short string constant into integer
// comparisons, so the route never appears as text. Exits 1 naming each
// route that answered, 2 when the Worker could not be run.
import path from "node:path";
import { Miniflare } from "miniflare";

const scriptPath = process.argv[2];
if (!scriptPath) {
  console.error("usage: node xtask/no-test-routes.mjs <entry.js>");
  process.exit(2);
}
const ROUTES = [
  ["POST", "/__test/ticket-vectors", "{}"],
  ["GET", "/__test/shard-ping"],
  ["POST", "/__test/replay-tick", "{}"],
  ["POST", "/__test/revoke", "{}"],
  ["GET", "/__test/"],
];
const OTHER_PREFIX = "/__none/";

const mf = new Miniflare({
  modules: true,
  scriptPath,
  modulesRoot: path.dirname(path.resolve(scriptPath)),
  modulesRules: [
    { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
    { type: "CompiledWasm", include: ["**/*.wasm"] },
  ],
  compatibilityDate: "2026-04-01",
  durableObjects: {
    QUEUE_SHARD: { className: "QueueShard", useSQLite: true },
    COORDINATOR: { className: "Coordinator", useSQLite: true },
  },
  bindings: JSON.parse(process.env.WAITROOM_MF_BINDINGS || "{}"),
  ratelimits: { JOIN_LIMITER: { simple: { limit: 20, period: 10 } } },
  cf: false,
});

async function answer(method, path, body) {
  const res = await mf.dispatchFetch(`http://127.0.0.1${path}`, {
    method,
    body,
    headers: { Accept: "text/html", "Content-Type": "application/json", "CF-Connecting-IP": "192.0.2.1" },
  });
  await res.arrayBuffer();
  return `${res.status} ${(res.headers.get("Content-Type") || "").split(";")[0]}`;
}

let answered = 0;
try {
  for (const [method, path, body] of ROUTES) {
    const test = await answer(method, path, body);
    const other = await answer(method, path.replace("/__test/", OTHER_PREFIX), body);
    if (test !== other) {
      answered++;
      console.log(`test route answered: ${method} ${path} -> ${test} (an unknown path: ${other})`);
    }
  }
} catch (e) {
  console.error(`cannot run ${scriptPath}: ${e && e.stack || e}`);
  await mf.dispose().catch(() => {});
  process.exit(2);
}
await mf.dispose();
if (answered) process.exit(1);
console.log(`${scriptPath}: no test route (${ROUTES.length} probed)`);
