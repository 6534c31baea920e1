//! How the stateless Worker and the two Durable Object classes talk: the
//! typed messages of `waitroom_core::protocol`, sent as Durable Object RPC.
//! Each object has one RPC method, `rpc(path, body)`, that answers
//! `[status, body]` (an [`Answer`]). A caller sends one request and gets its
//! typed reply ([`shard_call`], [`coordinator_call`]); an object decodes the
//! path and body and answers with [`reply`].
//!
//! workerd serves RPC only to classes that extend its `DurableObject`, and
//! the classes worker-build exports do not: `edge/entry.mjs`, the Worker's
//! entry module, wraps each in one that does and passes `fetch`, `alarm`
//! and `rpc` through. A call costs about half a `fetch` to the same object
//! (64 calls that do nothing: 5–6 ms instead of 11–15 ms, BENCHMARKS.md
//! "Inside workerd"): no `Request`, `Response` or headers are built on
//! either side.

use serde::Serialize;
use waitroom_core::protocol::{
    encode_reply, Call, CoordinatorRequest, ProtocolError, ShardRequest, Wire,
};
use worker::wasm_bindgen::prelude::*;
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

#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen)]
extern "C" {
    /// A stub of one of our objects, as `edge/entry.mjs` wraps them.
    type RpcStub;
    /// Its RPC method: resolves to `[status, body]`, or rejects when the
    /// object failed (as a `fetch` would answer 500).
    #[wasm_bindgen(method)]
    fn rpc(this: &RpcStub, path: &str, body: &str) -> js_sys::Promise;
}

async fn send<R, C: Call<R>>(stub: Stub, wire: Wire) -> Result<C::Reply> {
    // The method does not travel: the path names the operation, and only
    // operations with fields have a body.
    let stub: RpcStub = stub.into_rpc::<JsValue>().unchecked_into();
    let answer = JsFuture::from(stub.rpc(&wire.path, wire.body.as_deref().unwrap_or("")))
        .await?
        .dyn_into::<js_sys::Array>()?;
    let status = answer.get(0).as_f64().unwrap_or(0.0) as u16;
    let text = answer.get(1).as_string().unwrap_or_default();
    C::decode_reply(status, &text).map_err(protocol_error)
}

/// An object's answer to one call: a status (200, or the error's) and its
/// body, the reply's JSON or an error's text.
pub struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    /// An error answer, as `Response::error` would make it.
    pub fn error(message: impl Into<String>, status: u16) -> Answer {
        Answer {
            status,
            body: message.into(),
        }
    }

    /// What `rpc` resolves to: `[status, body]`.
    fn into_js(self) -> JsValue {
        js_sys::Array::of2(&JsValue::from(self.status), &JsValue::from(self.body)).into()
    }
}

/// The body of an `rpc` method: `answer` run and turned into its
/// JavaScript value; an error rejects the call.
pub async fn rpc_answer(
    answer: impl std::future::Future<Output = Result<Answer>>,
) -> std::result::Result<JsValue, JsValue> {
    std::panic::AssertUnwindSafe(answer)
        .await
        .map(Answer::into_js)
        .map_err(JsValue::from)
}

pub fn protocol_error(e: ProtocolError) -> Error {
    Error::RustError(e.to_string())
}

/// A request an object could not decode: a bug or a version skew, never a
/// citizen's input.
pub fn undecodable(e: ProtocolError) -> Result<Answer> {
    console_error!("bad internal request: {e}");
    Ok(match e {
        ProtocolError::UnknownPath(_) => Answer::error("not found", 404),
        _ => Answer::error("bad request", 400),
    })
}

/// An object's `200` answer with `body` as JSON.
pub fn reply<T: Serialize>(body: &T) -> Result<Answer> {
    Ok(Answer {
        status: 200,
        body: encode_reply(body),
    })
}

/// The Coordinator's `422` answer to a config it refused.
pub fn unprocessable<T: Serialize>(body: &T) -> Result<Answer> {
    Ok(Answer {
        status: 422,
        body: encode_reply(body),
    })
}

/// What `fetch` answers: every call comes through `rpc`.
pub fn not_rpc() -> Result<Response> {
    Response::error("this Durable Object is called through its rpc method", 404)
}
