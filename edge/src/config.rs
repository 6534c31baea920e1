//! Configuration read from the Worker's environment: `[vars]` in
//! wrangler.toml and the secrets set with `wrangler secret put`.
//! Read once per isolate ([`EdgeConfig::get`]): vars and secrets cannot
//! change under a running isolate (a deploy or a new secret starts new
//! ones), and parsing them on every heartbeat cost measurable throughput.

use std::cell::RefCell;
use std::rc::Rc;

use waitroom_core::operator::{self, DEFAULT_BYPASS_FORWARD, DEFAULT_BYPASS_PATHS};
use waitroom_core::ticket::KeyRing;
use worker::{Env, Result};

/// What the stateless Worker needs for every request.
pub struct EdgeConfig {
    pub room: String,
    pub shards: u32,
    pub keys: KeyRing,
    pub admin_token: String,
    pub edge_origin_key: Vec<u8>,
    pub origin_url: String,
    pub session_minutes: u32,
    /// `BYPASS_PATHS`: prefixes that never queue.
    pub bypass_paths: Vec<String>,
    /// `BYPASS_FORWARD`: those of them forwarded to the origin.
    pub bypass_forward: Vec<String>,
}

thread_local! {
    static CACHED: RefCell<Option<Rc<EdgeConfig>>> = const { RefCell::new(None) };
}

/// Waiting tickets live this long: long enough for a very long queue.
pub const WAITING_TICKET_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// Upper bound on shards: each tick the Coordinator talks to every shard.
pub const MAX_SHARDS: u32 = 256;

pub fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .filter(|v| !v.is_empty())
}

fn secret(env: &Env, name: &str) -> Result<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .ok()
        .or_else(|| var(env, name))
        .ok_or_else(|| {
            worker::Error::RustError(format!(
                "secret {name} is not set (wrangler secret put {name})"
            ))
        })
}

pub fn number(env: &Env, name: &str, default: u32) -> u32 {
    var(env, name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl EdgeConfig {
    /// This isolate's configuration (read from `env` the first time; a
    /// failure is not cached, so fixing a secret takes effect).
    pub fn get(env: &Env) -> Result<Rc<EdgeConfig>> {
        if let Some(cfg) = CACHED.with(|c| c.borrow().clone()) {
            return Ok(cfg);
        }
        let cfg = Rc::new(EdgeConfig::from_env(env)?);
        CACHED.with(|c| *c.borrow_mut() = Some(cfg.clone()));
        Ok(cfg)
    }

    fn from_env(env: &Env) -> Result<EdgeConfig> {
        let keys = KeyRing::parse(&secret(env, "TICKET_KEYS")?)
            .map_err(|e| worker::Error::RustError(format!("TICKET_KEYS: {e}")))?;
        let edge_origin_key = waitroom_core::decode_secret(&secret(env, "EDGE_ORIGIN_KEY")?)
            .map_err(|e| worker::Error::RustError(format!("EDGE_ORIGIN_KEY: {e}")))?;
        let admin_token = secret(env, "ADMIN_TOKEN")?;
        waitroom_core::admin_token::check_configured(&admin_token)
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        let origin_url = var(env, "ORIGIN_URL").unwrap_or_else(|| "http://127.0.0.1:8788".into());
        let parsed = worker::Url::parse(&origin_url)
            .map_err(|e| worker::Error::RustError(format!("ORIGIN_URL: {e}")))?;
        waitroom_core::origin_url::check(parsed.scheme(), parsed.host_str())
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        Ok(EdgeConfig {
            room: var(env, "ROOM_ID").unwrap_or_else(|| "passport".into()),
            shards: number(env, "SHARDS", 8).clamp(1, MAX_SHARDS),
            keys,
            admin_token,
            edge_origin_key,
            origin_url,
            session_minutes: number(env, "SESSION_MINUTES", 15),
            bypass_paths: operator::parse_prefixes(
                &var(env, "BYPASS_PATHS").unwrap_or_else(|| DEFAULT_BYPASS_PATHS.into()),
            ),
            bypass_forward: operator::parse_prefixes(
                &var(env, "BYPASS_FORWARD").unwrap_or_else(|| DEFAULT_BYPASS_FORWARD.into()),
            ),
        })
    }
}
