// Where the Coordinator's tick spends its time inside workerd: a CPU
// profile of the edge Worker's isolate while a room of SHARDS shards
// (PER_SHARD waiting in each) ticks, open at 600 a minute. Prints the
// functions by self time and each tick's cost (ms, and the part spent on
// the grants), and writes the profile for Chrome's DevTools.
//
// How BENCHMARKS.md "Inside workerd" found what to cut. Run from the
// workspace root after `cargo xtask build-edge --test-routes`:
//   node --experimental-websocket xtask/bench/profile-tick.mjs
// Environment: SHARDS (64), PER_SHARD (64), SECONDS (10), OUT
// (target/bench/tick.cpuprofile). Uses ports 8911 and 9231 on 127.0.0.1.
// The profiler slows every call down: compare profiles with each other,
// and take tick times from `cargo xtask bench --only tick`.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Miniflare } from "miniflare";

const shards = Number(process.env.SHARDS || 64);
const perShard = Number(process.env.PER_SHARD || 64);
const seconds = Number(process.env.SECONDS || 10);
const out = process.env.OUT || "target/bench/tick.cpuprofile";
const port = 8911;
const inspectorPort = 9231;
const token = crypto.randomBytes(24).toString("base64url");
const secret = () => crypto.randomBytes(32).toString("base64url");

const mf = new Miniflare({
  modules: true,
  scriptPath: "edge/build-test/entry.mjs",
  modulesRules: [
    { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
    { type: "CompiledWasm", include: ["**/*.wasm"] },
  ],
  compatibilityDate: "2026-04-01",
  durableObjects: {
    QUEUE_SHARD: { className: "QueueShard", useSQLite: true },
    COORDINATOR: { className: "Coordinator", useSQLite: true },
  },
  bindings: {
    PAUSED: "true",
    SHARDS: String(shards),
    NEW_USERS_PER_MINUTE: "600",
    ABANDON_AFTER_SECONDS: "3600",
    TICKET_KEYS: "k1:" + secret(),
    ADMIN_TOKEN: token,
    EDGE_ORIGIN_KEY: secret(),
    // The edge never reads it; the origin does (not running here).
    DCC_SIGNING_KEY: "unused",
  },
  // As wrangler.toml's [[ratelimits]].
  ratelimits: {
    JOIN_LIMITER: { simple: { limit: 20, period: 10 } },
    TICKET_LIMITER: { simple: { limit: 100, period: 10 } },
    ADDRESS_LIMITER: { simple: { limit: 3000, period: 10 } },
    ADMIN_FAILURE_LIMITER: { simple: { limit: 10, period: 60 } },
  },
  cf: false,
  host: "127.0.0.1",
  port,
  inspectorPort,
});

try {
  await mf.ready;
  const base = `http://127.0.0.1:${port}`;
  for (let s = 0; s < shards; s++) {
    const r = await fetch(`${base}/__test/fill?shard=${s}&n=${perShard}&first=${s * 2 ** 40 + 1}`, { method: "POST" });
    if (!r.ok) throw new Error(`fill: HTTP ${r.status}`);
  }
  // A join wakes the Coordinator; then the room opens.
  await fetch(`${base}/queue/join`, { method: "POST", headers: { accept: "application/json" } });
  const r = await fetch(`${base}/admin/config`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: '{"paused":false}',
  });
  if (!r.ok) throw new Error(`unpause: HTTP ${r.status}`);
  await new Promise((ok) => setTimeout(ok, 4000));

  // The user Worker's isolate (the Durable Objects run in it).
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const target = targets.find((t) => t.title.endsWith("core:user:")) || targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((ok, fail) => {
    ws.addEventListener("open", ok);
    ws.addEventListener("error", fail);
  });
  let id = 0;
  const pending = new Map();
  ws.addEventListener("message", (e) => {
    const msg = JSON.parse(e.data);
    if (pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
  });
  const send = (method, params = {}) => new Promise((ok) => {
    pending.set(++id, ok);
    ws.send(JSON.stringify({ id, method, params }));
  });
  const ticks = async () => (await (await fetch(`${base}/__test/tick-costs`)).json()).ticks;

  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 50 });
  const before = new Set((await ticks()).map((t) => t.tick_id));
  await send("Profiler.start");
  await new Promise((ok) => setTimeout(ok, seconds * 1000));
  const { result } = await send("Profiler.stop");
  const during = (await ticks()).filter((t) => !before.has(t.tick_id));
  ws.close();

  // Self time per function. A sample's time is the gap since the one
  // before; gaps over 5 ms are the isolate asleep between ticks.
  const profile = result.profile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let busy = 0;
  profile.samples.forEach((node, i) => {
    const dt = profile.timeDeltas[i];
    if (dt > 5000) return;
    const f = nodes.get(node).callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}`.trim();
    self.set(key, (self.get(key) || 0) + dt);
    busy += dt;
  });
  console.log(`${during.length} ticks in ${seconds} s; isolate busy ${(busy / 1000).toFixed(0)} ms (idle included)`);
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`${(us / 1000).toFixed(1).padStart(8)} ms  ${k.slice(0, 120)}`);
  }
  console.log("ticks (id: ms, of which grants):");
  console.log(during.map((t) => `${t.tick_id}: ${t.ms} (${t.grants_ms})`).join(", "));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(profile));
  console.log(`profile: ${out}`);
} finally {
  await mf.dispose();
}
