// The Worker's entry module. `cargo xtask build-edge` copies it next to
// worker-build's output (edge/build/, edge/build-test/), and wrangler.toml's
// `main` names that copy.
//
// workerd serves Durable Object RPC only to classes that extend its
// `DurableObject`; the classes worker-build exports for our Rust objects do
// not. Each class here does, holds the Rust object and passes its methods
// through: `rpc` (every call between the Worker and the objects: see
// edge/src/protocol.rs), `alarm` (the Coordinator's tick) and `fetch`
// (which only says to use `rpc`).
import { DurableObject } from "cloudflare:workers";
import worker, {
  Coordinator as RustCoordinator,
  QueueShard as RustQueueShard,
} from "./index.js";

export default worker;

// The Rust class `Rust`, held by a class workerd serves RPC to.
function withRpc(Rust) {
  return class extends DurableObject {
    constructor(ctx, env) {
      super(ctx, env);
      this.rust = new Rust(ctx, env);
    }
    rpc(path, body) {
      return this.rust.rpc(path, body);
    }
    fetch(request) {
      return this.rust.fetch(request);
    }
  };
}

export class QueueShard extends withRpc(RustQueueShard) {}

export class Coordinator extends withRpc(RustCoordinator) {
  alarm(info) {
    return this.rust.alarm(info);
  }
}
