//! How the stateless Worker and the two Durable Object classes talk: small
//! JSON bodies over the stub's `fetch`, one path per operation.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use waitroom_core::queue::{JoinOutcome, Status};
use worker::*;

/// The one Coordinator of a room.
pub const COORDINATOR_NAME: &str = "coordinator";

/// A shard that has seen no grant for this long assumes the Coordinator's
/// alarm stopped (idle room) and wakes it on the next join.
pub const WAKE_IF_NO_GRANT_FOR_MS: u64 = 3_000;

#[derive(Serialize, Deserialize)]
pub struct IdRequest {
    pub id: u64,
}

#[derive(Serialize, Deserialize)]
pub struct SummaryRequest {
    pub shard: u32,
}

#[derive(Serialize, Deserialize)]
pub struct JoinReply {
    pub outcome: JoinOutcome,
    pub status: Status,
}

/// A JSON response between our own objects.
pub fn json<T: Serialize>(body: &T) -> Result<Response> {
    Response::from_json(body)
}

/// The stub of shard `index`.
pub fn shard(env: &Env, index: u32) -> Result<Stub> {
    env.durable_object("QUEUE_SHARD")?
        .get_by_name(&format!("shard-{index}"))
}

pub fn coordinator(env: &Env) -> Result<Stub> {
    env.durable_object("COORDINATOR")?
        .get_by_name(COORDINATOR_NAME)
}

/// POSTs `body` as JSON to `path` of `stub` and decodes the JSON answer.
pub async fn call<B: Serialize, T: DeserializeOwned>(
    stub: &Stub,
    path: &str,
    body: &B,
) -> Result<T> {
    let mut init = RequestInit::new();
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    let text = serde_json::to_string(body).map_err(|e| Error::RustError(e.to_string()))?;
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(text.into()));
    let req = Request::new_with_init(&format!("https://do{path}"), &init)?;
    answer(stub.fetch_with_request(req).await?, path).await
}

/// GETs `path` of `stub` and decodes the JSON answer: the heartbeat's call,
/// with everything in the path (no body, no headers to build).
pub async fn get<T: DeserializeOwned>(stub: &Stub, path: &str) -> Result<T> {
    answer(
        stub.fetch_with_str(&format!("https://do{path}")).await?,
        path,
    )
    .await
}

/// The JSON body of an object's `200` answer to `path`; any other status is an error.
async fn answer<T: DeserializeOwned>(mut resp: Response, path: &str) -> Result<T> {
    if resp.status_code() != 200 {
        return Err(Error::RustError(format!(
            "{path}: status {}",
            resp.status_code()
        )));
    }
    resp.json().await
}

/// Makes sure the Coordinator's alarm is running.
pub async fn wake_coordinator(env: &Env) -> Result<()> {
    let _: serde_json::Value = call(&coordinator(env)?, "/wake", &serde_json::json!({})).await?;
    Ok(())
}

/// Decodes a JSON request body with serde_json. (`Request::json` goes
/// through a JS value, which turns 64-bit integers such as seeds into
/// lossy floats.)
pub async fn read<T: DeserializeOwned>(req: &mut Request) -> Result<T> {
    let text = req.text().await?;
    serde_json::from_str(&text).map_err(|e| Error::RustError(format!("bad internal request: {e}")))
}
