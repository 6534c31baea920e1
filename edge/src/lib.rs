//! The edge Worker (placeholder until the edge issue lands).
use worker::*;

#[event(fetch)]
async fn fetch(_req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    Response::ok("waitroom edge")
}
