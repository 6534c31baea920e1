//! Configuration, read once from the environment at start-up.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ORIGIN_ADDR` | `127.0.0.1:8788` | HTTP listen address |
//! | `REDIS_URL` | `redis://127.0.0.1:6390` | the one store; for a Redis Cluster, its seed nodes, comma-separated (`redis://h1:6379,redis://h2:6379`) |
//! | `REDIS_CLUSTER` | `true` if `REDIS_URL` lists more than one node, else `false` | `true`: `REDIS_URL` is (a seed node of) a Redis Cluster |
//! | `REGISTRY_URL` | `http://127.0.0.1:8789` | the registry (or registry-sim) |
//! | `REGISTRY_RATE_PER_SEC` | `10` | the registry's limit, shared by all processes |
//! | `REGISTRY_TIMEOUT_MS` | `3000` | per registry call |
//! | `ROOM_ID` | `passport` | the room admission tickets must name |
//! | `TICKET_KEYS` | required | key ring, `kid1:B64URL,kid0:B64URL` (same as the edge) |
//! | `EDGE_ORIGIN_KEY` | required | base64url secret shared with the edge |
//! | `DCC_SIGNING_KEY` | required | EU DCC signing key (format: the passport module's) |
//! | `JOB_SEAL_KEY` | derived from `EDGE_ORIGIN_KEY` | base64url secret sealing queued personal data |
//! | `WORKER_CONCURRENCY` | `8` | job tasks per process |
//! | `RESULT_TTL_SECONDS` | `600` | how long a finished passport is kept |
//! | `JOB_CLAIM_TIMEOUT_MS` | `30000` | a job idle this long is taken over (its worker died) |
//! | `JOB_MAX_WAIT_SECONDS` | `1800` | a job still waiting for the registry after this fails |
//! | `SHUTDOWN_GRACE_SECONDS` | `20` | how long SIGTERM waits for in-flight jobs |

use std::{net::SocketAddr, time::Duration};

use waitroom_core::{secret::decode_secret, ticket::KeyRing};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required (a base64url secret; see the README, section Configuration)")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Everything the process needs, built at start-up and passed down.
pub struct Config {
    pub addr: SocketAddr,
    pub redis: RedisTarget,
    pub registry_url: String,
    pub registry_rate_per_sec: f64,
    pub registry_timeout: Duration,
    pub room_id: String,
    pub ticket_keys: KeyRing,
    pub edge_origin_key: Vec<u8>,
    pub dcc_signing_key: String,
    pub job_seal_key: [u8; 32],
    pub worker_concurrency: usize,
    pub result_ttl: Duration,
    pub job_claim_timeout: Duration,
    pub job_max_wait: Duration,
    pub shutdown_grace: Duration,
}

/// Where the store is: `REDIS_URL` and `REDIS_CLUSTER`.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server.
    Single(String),
    /// A Redis Cluster, found through these seed nodes.
    Cluster(Vec<String>),
}

impl std::fmt::Debug for RedisTarget {
    // URLs may hold a password: only their number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisTarget::Single(_) => f.write_str("Single(..)"),
            RedisTarget::Cluster(nodes) => write!(f, "Cluster({} seed nodes)", nodes.len()),
        }
    }
}

impl RedisTarget {
    /// `url`: `REDIS_URL`; `cluster`: `REDIS_CLUSTER`, if set.
    pub fn parse(url: &str, cluster: Option<&str>) -> Result<RedisTarget, ConfigError> {
        let invalid = |name, reason: String| ConfigError::Invalid { name, reason };
        let mut nodes: Vec<String> = url.split(',').map(|u| u.trim().to_owned()).collect();
        if nodes.iter().any(String::is_empty) {
            return Err(invalid(
                "REDIS_URL",
                "an empty entry in the comma-separated list".into(),
            ));
        }
        let cluster = match cluster.map(|c| c.trim().to_ascii_lowercase()).as_deref() {
            None => nodes.len() > 1,
            Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(_) => return Err(invalid("REDIS_CLUSTER", "expected true or false".into())),
        };
        // Error texts name the entry, never echo it (it may hold a password).
        let mut infos = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let info = redis::IntoConnectionInfo::into_connection_info(node.as_str())
                .map_err(|e| invalid("REDIS_URL", format!("entry {}: {e}", i + 1)))?;
            infos.push(info);
        }
        if !cluster {
            return match nodes.len() {
                1 => Ok(RedisTarget::Single(nodes.swap_remove(0))),
                n => Err(invalid(
                    "REDIS_URL",
                    format!("{n} URLs, but REDIS_CLUSTER=false (one server takes one URL)"),
                )),
            };
        }
        if let Some(i) = infos.iter().position(|c| c.redis.db != 0) {
            return Err(invalid(
                "REDIS_URL",
                format!("entry {}: a Redis Cluster has only database 0", i + 1),
            ));
        }
        // Same credentials, protocol and TLS mode on every node; no Unix socket.
        redis::cluster::ClusterClient::new(infos)
            .map_err(|e| invalid("REDIS_URL", format!("as a Redis Cluster: {e}")))?;
        Ok(RedisTarget::Cluster(nodes))
    }
}

impl std::fmt::Debug for Config {
    // Secrets stay out of `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("redis", &self.redis)
            .field("registry_url", &self.registry_url)
            .field("registry_rate_per_sec", &self.registry_rate_per_sec)
            .field("room_id", &self.room_id)
            .field("worker_concurrency", &self.worker_concurrency)
            .field("result_ttl", &self.result_ttl)
            .field("job_claim_timeout", &self.job_claim_timeout)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// `lookup` stands in for the environment, so tests need not mutate it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let or = |k: &str, d: &str| lookup(k).unwrap_or_else(|| d.to_owned());
        let required = |k: &'static str| lookup(k).ok_or(ConfigError::Missing(k));

        let ticket_keys =
            KeyRing::parse(&required("TICKET_KEYS")?).map_err(|e| ConfigError::Invalid {
                name: "TICKET_KEYS",
                reason: e.to_string(),
            })?;
        let edge_origin_key =
            decode_secret(&required("EDGE_ORIGIN_KEY")?).map_err(|e| ConfigError::Invalid {
                name: "EDGE_ORIGIN_KEY",
                reason: e.to_string(),
            })?;
        let dcc_signing_key = required("DCC_SIGNING_KEY")?;
        let job_seal_key = match lookup("JOB_SEAL_KEY") {
            Some(s) => {
                let k = decode_secret(&s).map_err(|e| ConfigError::Invalid {
                    name: "JOB_SEAL_KEY",
                    reason: e.to_string(),
                })?;
                crate::crypto::derive_key(&k, b"waitroom origin job seal v1")
            }
            // Domain-separated from the MAC use of the same secret.
            None => crate::crypto::derive_key(&edge_origin_key, b"waitroom origin job seal v1"),
        };

        Ok(Config {
            addr: parse("ORIGIN_ADDR", &or("ORIGIN_ADDR", "127.0.0.1:8788"))?,
            redis: RedisTarget::parse(
                &or("REDIS_URL", "redis://127.0.0.1:6390"),
                lookup("REDIS_CLUSTER").as_deref(),
            )?,
            registry_url: or("REGISTRY_URL", "http://127.0.0.1:8789")
                .trim_end_matches('/')
                .to_owned(),
            registry_rate_per_sec: positive(
                "REGISTRY_RATE_PER_SEC",
                parse("REGISTRY_RATE_PER_SEC", &or("REGISTRY_RATE_PER_SEC", "10"))?,
            )?,
            registry_timeout: Duration::from_millis(parse(
                "REGISTRY_TIMEOUT_MS",
                &or("REGISTRY_TIMEOUT_MS", "3000"),
            )?),
            room_id: or("ROOM_ID", "passport"),
            ticket_keys,
            edge_origin_key,
            dcc_signing_key,
            job_seal_key,
            worker_concurrency: parse("WORKER_CONCURRENCY", &or("WORKER_CONCURRENCY", "8"))
                .and_then(|n: usize| positive("WORKER_CONCURRENCY", n as f64).map(|_| n))?,
            result_ttl: Duration::from_secs(parse(
                "RESULT_TTL_SECONDS",
                &or("RESULT_TTL_SECONDS", "600"),
            )?),
            job_claim_timeout: Duration::from_millis(parse(
                "JOB_CLAIM_TIMEOUT_MS",
                &or("JOB_CLAIM_TIMEOUT_MS", "30000"),
            )?),
            job_max_wait: Duration::from_secs(parse(
                "JOB_MAX_WAIT_SECONDS",
                &or("JOB_MAX_WAIT_SECONDS", "1800"),
            )?),
            shutdown_grace: Duration::from_secs(parse(
                "SHUTDOWN_GRACE_SECONDS",
                &or("SHUTDOWN_GRACE_SECONDS", "20"),
            )?),
        })
    }
}

fn parse<T: std::str::FromStr>(name: &'static str, v: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
        name,
        reason: e.to_string(),
    })
}

fn positive(name: &'static str, v: f64) -> Result<f64, ConfigError> {
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(ConfigError::Invalid {
            name,
            reason: "must be greater than zero".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str, cluster: Option<&str>) -> Result<RedisTarget, String> {
        RedisTarget::parse(url, cluster).map_err(|e| e.to_string())
    }

    #[test]
    fn redis_target_single_or_cluster() {
        let one = "redis://127.0.0.1:6390";
        assert_eq!(target(one, None), Ok(RedisTarget::Single(one.into())));
        assert_eq!(
            target(one, Some("false")),
            Ok(RedisTarget::Single(one.into()))
        );
        assert_eq!(
            target(one, Some("true")),
            Ok(RedisTarget::Cluster(vec![one.into()]))
        );
        let three = "redis://10.0.0.1:6379, redis://10.0.0.2:6379,redis://10.0.0.3:6379";
        let nodes: Vec<String> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|h| format!("redis://{h}:6379"))
            .collect();
        assert_eq!(target(three, None), Ok(RedisTarget::Cluster(nodes.clone())));
        assert_eq!(target(three, Some("TRUE")), Ok(RedisTarget::Cluster(nodes)));
    }

    #[test]
    fn redis_target_invalid_values_are_named_not_echoed() {
        let bad = |url: &str, cluster: Option<&str>, want: &str| {
            let e = target(url, cluster).unwrap_err();
            assert!(e.contains(want), "{url} / {cluster:?}: {e}");
            assert!(!e.contains("s3cret"), "the error echoes a password: {e}");
        };
        bad(
            "redis://127.0.0.1:6390",
            Some("maybe"),
            "REDIS_CLUSTER is invalid",
        );
        bad(
            "redis://a:1,redis://b:2",
            Some("false"),
            "REDIS_CLUSTER=false",
        );
        bad("redis://a:1,,redis://b:2", None, "empty entry");
        bad("redis://:s3cret@a:1,nonsense", None, "entry 2");
        bad("redis://a:1/0,redis://b:2/3", None, "only database 0");
        bad(
            "redis://:s3cret@a:1,redis://:other@b:2",
            None,
            "as a Redis Cluster",
        );
    }
}
