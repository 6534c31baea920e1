//! # waitroom-edge: the Cloudflare Worker
//!
//! Thin glue over `waitroom-core`: routing, cookies, Durable Object storage
//! and forwarding. The rules (tickets, queue, pacing) live in core, where
//! they are tested natively; here we only adapt them to the Workers runtime.
//!
//! ## Layout
//! - [`routes`]: the public Worker, one file per concern: [`routes::visitor`]
//!   (who is asking), [`routes::queue`] (join / status / leave),
//!   [`routes::api`] (`/api` forwarding), [`routes::page`] (pages), and the
//!   test-only routes (feature `test-routes`).
//! - [`queue_shard`]: the `QueueShard` Durable Object (FIFO + heartbeats, SQLite rows).
//! - [`coordinator`]: the `Coordinator` Durable Object (admission ticks, operator config).
//! - [`capacity`]: closed-loop pacing in the Coordinator: the origin's signed
//!   capacity report, fetched each tick, turned into the effective rate.
//! - [`admin`]: `/admin/*` for operators.
//! - [`operator`]: bypass paths, closed / full answers, pre-queue page, revocations, the dashboard page.
//! - [`forward`]: the admitted request to the origin, with edge-to-origin auth.
//! - [`pages`]: the `public/` templates rendered server-side.
//! - [`protocol`]: sends `waitroom_core::protocol`'s typed messages between
//!   the Worker and the Durable Objects.
//! - [`ratelimit`]: the per-address limit on new places (bot floods).
//! - [`http`], [`config`], [`rand`], [`clock`]: helpers.

pub mod admin;
pub mod bypass;
pub mod capacity;
pub mod clock;
pub mod config;
pub mod coordinator;
pub mod forward;
pub mod http;
pub mod operator;
pub mod pages;
pub mod protocol;
pub mod queue_shard;
pub mod rand;
pub mod ratelimit;
pub mod report;
pub mod routes;

use worker::*;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match routes::handle(req, env).await {
        Ok(resp) => Ok(resp),
        Err(e) => {
            // Details go to the log, never to the client.
            console_error!("request failed: {e}");
            let resp = http::error(
                503,
                "unavailable",
                "Something went wrong on our side. Please try again shortly.",
            )?;
            resp.headers().set("Retry-After", "5")?;
            Ok(resp)
        }
    }
}
