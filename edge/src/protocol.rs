//! How the stateless Worker and the two Durable Object classes talk: the
//! typed messages of `waitroom_core::protocol` over the stub's `fetch`.
//! A caller sends one request and gets its typed reply
//! ([`shard_call`], [`coordinator_call`]); an object reads one request
//! ([`incoming`]) and answers with [`reply`].

use serde::Serialize;
use waitroom_core::protocol::{
    encode_reply, Call, CoordinatorRequest, Method as WireMethod, ProtocolError, ShardRequest, Wire,
};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::*;

/// The one Coordinator of a room.
pub const COORDINATOR_NAME: &str = "coordinator";

fn shard_stub(env: &Env, index: u32) -> Result<Stub> {
    env.durable_object("QUEUE_SHARD")?
        .get_by_name(&format!("shard-{index}"))
}

fn coordinator_stub(env: &Env) -> Result<Stub> {
    env.durable_object("COORDINATOR")?
        .get_by_name(COORDINATOR_NAME)
}

/// Asks shard `shard` and decodes its typed answer.
pub async fn shard_call<C: Call<ShardRequest>>(env: &Env, shard: u32, call: C) -> Result<C::Reply> {
    let wire = call.into().encode();
    send::<ShardRequest, C>(shard_stub(env, shard)?, wire).await
}

/// Asks the Coordinator and decodes its typed answer.
pub async fn coordinator_call<C: Call<CoordinatorRequest>>(env: &Env, call: C) -> Result<C::Reply> {
    let wire = call.into().encode();
    send::<CoordinatorRequest, C>(coordinator_stub(env)?, wire).await
}

async fn send<R, C: Call<R>>(stub: Stub, wire: Wire) -> Result<C::Reply> {
    let url = format!("https://do{}", wire.path);
    // The stub's JS `fetch` and the answer's JS `text()` directly: the
    // crate's `Response::text` reads a fetched body chunk by chunk through a
    // stream reader, which was about a sixth of the Coordinator's tick
    // inside workerd (CPU profile, BENCHMARKS.md "Inside workerd").
    let stub: worker::worker_sys::DurableObject = stub.into_rpc();
    let promise = match (wire.method, wire.body) {
        // The heartbeat: a bare GET, no body and no headers to build.
        (WireMethod::Get, _) => stub.fetch_with_str(&url)?,
        (WireMethod::Post, body) => {
            let init = web_sys::RequestInit::new();
            init.set_method("POST");
            init.set_body_opt_str(body.as_deref());
            stub.fetch_with_request(&web_sys::Request::new_with_str_and_init(&url, &init)?)?
        }
    };
    let resp: web_sys::Response = JsFuture::from(promise).await?.dyn_into()?;
    let status = resp.status();
    let text = JsFuture::from(resp.text()?)
        .await?
        .as_string()
        .unwrap_or_default();
    C::decode_reply(status, &text).map_err(protocol_error)
}

pub fn protocol_error(e: ProtocolError) -> Error {
    Error::RustError(e.to_string())
}

/// An object's incoming request: its path and body text (read with
/// serde_json later: `Request::json` goes through a JS value, which turns
/// 64-bit integers such as seeds into lossy floats).
pub async fn incoming(req: &mut Request) -> Result<(String, String)> {
    let path = req.path();
    let body = match req.method() {
        Method::Get => String::new(),
        _ => req.text().await?,
    };
    Ok((path, body))
}

/// A request an object could not decode: a bug or a version skew, never a
/// citizen's input.
pub fn undecodable(e: ProtocolError) -> Result<Response> {
    console_error!("bad internal request: {e}");
    match e {
        ProtocolError::UnknownPath(_) => Response::error("not found", 404),
        _ => Response::error("bad request", 400),
    }
}

/// An object's `200` answer with `body` as JSON. Only [`send`] reads it,
/// by its status and text: no headers to set (`Response::ok` would set a
/// `Content-Type`, a JS call per answer that nothing reads).
pub fn reply<T: Serialize>(body: &T) -> Result<Response> {
    Response::from_body(ResponseBody::Body(encode_reply(body).into_bytes()))
}

/// A JSON answer of the Coordinator's config operation (its body builds
/// the `200` and `422` answers itself).
pub fn json<T: Serialize>(body: &T) -> Result<Response> {
    Response::from_json(body)
}
