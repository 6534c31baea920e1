//! Configuration, read once from the environment at start-up.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ORIGIN_ADDR` | `127.0.0.1:8788` | HTTP listen address |
//! | `ORIGIN_METRICS_ADDR` | unset: no metrics listener | where `GET /metrics` (Prometheus) is served, apart from the API (`cargo xtask dev`: `127.0.0.1:8790`) |
//! | `REDIS_URL` | `redis://127.0.0.1:6390` | the one store; for a Redis Cluster, its seed nodes, comma-separated (`redis://h1:6379,redis://h2:6379`) |
//! | `REDIS_CLUSTER` | `true` if `REDIS_URL` lists more than one node, else `false` | `true`: `REDIS_URL` is (a seed node of) a Redis Cluster |
//! | `REGISTRY_URL` | `http://127.0.0.1:8789` | the registry (or registry-sim) |
//! | `REGISTRY_RATE_PER_SEC` | `10` | the registry's limit, shared by all processes, until the registry announces its own (`ratelimit-policy`) |
//! | `REGISTRY_TIMEOUT_MS` | `3000` | per registry call |
//! | `ROOM_ID` | `passport` | the room admission tickets must name |
//! | `TICKET_KEYS` | required | key ring, `kid1:B64URL,kid0:B64URL` (same as the edge) |
//! | `EDGE_ORIGIN_KEY` (or `EDGE_ORIGIN_KEYS`) | required | base64url secrets shared with the edge, comma-separated: a request signed with any of them is accepted (rotation) |
//! | `DCC_SIGNING_KEY` | required | EU DCC signing key (format: the passport module's) |
//! | `JOB_SEAL_KEY` (or `JOB_SEAL_KEYS`) | required, unless `ORIGIN_DEV_MODE` | base64url secrets sealing queued personal data and naming things in Redis, comma-separated, newest first: the first seals, all open (rotation). Must differ from every edge key. |
//! | `ORIGIN_DEV_MODE` | `false` | `true` for a local stack only: a missing `JOB_SEAL_KEY` is then derived from the edge key (with a warning) |
//! | `WORKER_CONCURRENCY` | `8` | job tasks per process |
//! | `RESULT_TTL_SECONDS` | `600` | how long a finished passport is kept |
//! | `JOB_CLAIM_TIMEOUT_MS` | `30000` | a job idle this long is taken over (its worker died) |
//! | `JOB_MAX_WAIT_SECONDS` | `1800` | a job still waiting for the registry after this fails |
//! | `NATIONAL_ID_MAX_ATTEMPTS` | `10` | registry verifications per national id and window; beyond, rejected without asking (same message as any rejection) |
//! | `NATIONAL_ID_WINDOW_SECONDS` | `86400` | the window, from a national id's first attempt |
//! | `SHUTDOWN_GRACE_SECONDS` | `20` | how long SIGTERM waits for in-flight jobs |
//! | `ORIGIN_HEADER_TIMEOUT_MS` | `10000` | from a request's first byte to its complete headers; later, the connection is closed |
//! | `ORIGIN_IDLE_TIMEOUT_MS` | `120000` | a connection with no request in progress is closed after this (keep it longer than the edge keeps pooled connections) |
//! | `ORIGIN_REQUEST_TIMEOUT_MS` | `30000` | a request (body read included) not answered by then gets `408 request_timeout` |
//! | `ORIGIN_MAX_IN_FLIGHT` | `1024` | requests handled at once by this process; beyond it, `503 overloaded` + `Retry-After` at once |

use std::{net::SocketAddr, time::Duration};

use waitroom_core::{secret::decode_secret, ticket::KeyRing};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required (a base64url secret; see the README, section Configuration)")]
    Missing(&'static str),
    #[error("{0} is required in production (a base64url secret of its own; ORIGIN_DEV_MODE=true only for a local stack)")]
    MissingInProduction(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Everything the process needs, built at start-up and passed down.
pub struct Config {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub redis: RedisTarget,
    pub registry_url: String,
    pub registry_rate_per_sec: f64,
    pub registry_timeout: Duration,
    pub room_id: String,
    pub ticket_keys: KeyRing,
    /// Every edge key accepted, as configured (the edge signs with its newest).
    pub edge_origin_keys: Vec<Vec<u8>>,
    /// `ORIGIN_DEV_MODE`: a local stack, where some secrets may be derived.
    pub dev_mode: bool,
    pub dcc_signing_key: String,
    pub job_keys: crate::crypto::JobKeys,
    pub worker_concurrency: usize,
    pub result_ttl: Duration,
    pub job_claim_timeout: Duration,
    pub job_max_wait: Duration,
    pub shutdown_grace: Duration,
    pub national_id_max_attempts: u64,
    pub national_id_window: Duration,
    /// Slow-loris guard: from a request's first byte to its complete headers.
    pub header_timeout: Duration,
    /// How long a connection may wait between requests.
    pub idle_timeout: Duration,
    /// Slow-body guard: the time allowed for a whole request.
    pub request_timeout: Duration,
    pub max_in_flight: usize,
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
            .field("metrics_addr", &self.metrics_addr)
            .field("redis", &self.redis)
            .field("registry_url", &self.registry_url)
            .field("registry_rate_per_sec", &self.registry_rate_per_sec)
            .field("room_id", &self.room_id)
            .field("dev_mode", &self.dev_mode)
            .field("edge_origin_keys", &self.edge_origin_keys.len())
            .field("job_keys", &self.job_keys)
            .field("worker_concurrency", &self.worker_concurrency)
            .field("result_ttl", &self.result_ttl)
            .field("job_claim_timeout", &self.job_claim_timeout)
            .field("header_timeout", &self.header_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_in_flight", &self.max_in_flight)
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
        let dev_mode = match lookup("ORIGIN_DEV_MODE").map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => true,
            Some(v) if matches!(v.as_str(), "false" | "0" | "no") => false,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "ORIGIN_DEV_MODE",
                    reason: "expected true or false".into(),
                })
            }
        };
        let edge_origin_keys = ring(&lookup, "EDGE_ORIGIN_KEY", "EDGE_ORIGIN_KEYS")?
            .ok_or(ConfigError::Missing("EDGE_ORIGIN_KEY"))?;
        let dcc_signing_key = required("DCC_SIGNING_KEY")?;
        let job_seal_secrets = match ring(&lookup, "JOB_SEAL_KEY", "JOB_SEAL_KEYS")? {
            Some(keys) => {
                // Independent keys: the edge's secret must not open citizens' data.
                if keys.iter().any(|k| edge_origin_keys.contains(k)) {
                    return Err(ConfigError::Invalid {
                        name: "JOB_SEAL_KEY",
                        reason: "a key equals an EDGE_ORIGIN_KEY; use independent secrets".into(),
                    });
                }
                keys
            }
            // Local stacks only; domain-separated (by HKDF) from the MAC use.
            None if dev_mode => vec![edge_origin_keys[0].clone()],
            None => return Err(ConfigError::MissingInProduction("JOB_SEAL_KEY")),
        };
        let job_keys = crate::crypto::JobKeys::new(&job_seal_secrets).expect("a ring is not empty");

        Ok(Config {
            addr: parse("ORIGIN_ADDR", &or("ORIGIN_ADDR", "127.0.0.1:8788"))?,
            metrics_addr: lookup("ORIGIN_METRICS_ADDR")
                .map(|a| parse("ORIGIN_METRICS_ADDR", &a))
                .transpose()?,
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
            edge_origin_keys,
            dev_mode,
            dcc_signing_key,
            job_keys,
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
            national_id_max_attempts: parse(
                "NATIONAL_ID_MAX_ATTEMPTS",
                &or("NATIONAL_ID_MAX_ATTEMPTS", "10"),
            )
            .and_then(|n: u64| positive("NATIONAL_ID_MAX_ATTEMPTS", n as f64).map(|_| n))?,
            national_id_window: Duration::from_secs(
                parse(
                    "NATIONAL_ID_WINDOW_SECONDS",
                    &or("NATIONAL_ID_WINDOW_SECONDS", "86400"),
                )
                .and_then(|n: u64| positive("NATIONAL_ID_WINDOW_SECONDS", n as f64).map(|_| n))?,
            ),
            header_timeout: positive_ms(
                "ORIGIN_HEADER_TIMEOUT_MS",
                &or("ORIGIN_HEADER_TIMEOUT_MS", "10000"),
            )?,
            idle_timeout: positive_ms(
                "ORIGIN_IDLE_TIMEOUT_MS",
                &or("ORIGIN_IDLE_TIMEOUT_MS", "120000"),
            )?,
            request_timeout: positive_ms(
                "ORIGIN_REQUEST_TIMEOUT_MS",
                &or("ORIGIN_REQUEST_TIMEOUT_MS", "30000"),
            )?,
            max_in_flight: parse("ORIGIN_MAX_IN_FLIGHT", &or("ORIGIN_MAX_IN_FLIGHT", "1024"))
                .and_then(|n: usize| positive("ORIGIN_MAX_IN_FLIGHT", n as f64).map(|_| n))?,
        })
    }
}

/// A ring of base64url secrets under `name` or `plural` (not both),
/// comma-separated; `None` if neither is set.
fn ring(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    plural: &'static str,
) -> Result<Option<Vec<Vec<u8>>>, ConfigError> {
    let spec = match (lookup(name), lookup(plural)) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Invalid {
                name,
                reason: format!("set {name} or {plural}, not both"),
            })
        }
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => return Ok(None),
    };
    // Errors name the entry, never echo it.
    spec.split(',')
        .enumerate()
        .map(|(i, k)| {
            decode_secret(k).map_err(|e| ConfigError::Invalid {
                name,
                reason: format!("entry {}: {e}", i + 1),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
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

/// A deadline in milliseconds; zero would turn the guard off, so it is refused.
fn positive_ms(name: &'static str, v: &str) -> Result<Duration, ConfigError> {
    let ms: u64 = parse(name, v)?;
    positive(name, ms as f64)?;
    Ok(Duration::from_millis(ms))
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

    fn b64(b: u8) -> String {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
        URL_SAFE_NO_PAD.encode([b; 32])
    }

    fn config(vars: &[(&str, String)]) -> Result<Config, String> {
        let mut all: Vec<(String, String)> = vec![
            ("TICKET_KEYS".into(), format!("k1:{}", b64(1))),
            ("DCC_SIGNING_KEY".into(), "unchecked here".into()),
        ];
        all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.clone())));
        Config::from_lookup(|k| all.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_job_seal_key_is_required_in_production_and_independent() {
        let edge = ("EDGE_ORIGIN_KEY", b64(2));
        let e = config(std::slice::from_ref(&edge)).unwrap_err();
        assert!(e.contains("JOB_SEAL_KEY is required in production"), "{e}");
        // Dev mode: derived from the edge key.
        let dev = config(&[edge.clone(), ("ORIGIN_DEV_MODE", "true".into())]).unwrap();
        assert!(dev.dev_mode);
        assert_eq!(
            dev.job_keys.tag(crate::crypto::Tag::Ticket, "t"),
            crate::crypto::JobKeys::new(&[[2u8; 32]])
                .unwrap()
                .tag(crate::crypto::Tag::Ticket, "t")
        );
        let same = config(&[
            edge.clone(),
            ("JOB_SEAL_KEY", format!("{},{}", b64(3), b64(2))),
        ]);
        assert!(same.unwrap_err().contains("independent"));
        let ok = config(&[edge, ("JOB_SEAL_KEY", b64(3))]).unwrap();
        assert!(!ok.dev_mode);
    }

    #[test]
    fn key_rings_newest_first_under_either_name() {
        let c = config(&[
            ("EDGE_ORIGIN_KEYS", format!("{},{}", b64(2), b64(4))),
            ("JOB_SEAL_KEY", format!("{}, {}", b64(3), b64(5))),
        ])
        .unwrap();
        assert_eq!(c.edge_origin_keys, vec![vec![2u8; 32], vec![4u8; 32]]);
        let t = |k: u8| {
            crate::crypto::JobKeys::new(&[[k; 32]])
                .unwrap()
                .tag(crate::crypto::Tag::Ticket, "t")
        };
        assert_eq!(
            c.job_keys.tags(crate::crypto::Tag::Ticket, "t"),
            [t(3), t(5)]
        );
        let both = config(&[
            ("EDGE_ORIGIN_KEY", b64(2)),
            ("EDGE_ORIGIN_KEYS", b64(2)),
            ("JOB_SEAL_KEY", b64(3)),
        ]);
        assert!(both.unwrap_err().contains("not both"));
        let bad = config(&[
            ("EDGE_ORIGIN_KEY", format!("{},short", b64(2))),
            ("JOB_SEAL_KEY", b64(3)),
        ]);
        let e = bad.unwrap_err();
        assert!(e.contains("entry 2") && !e.contains("short"), "{e}");
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
    fn redis_target_takes_credentials_and_tls() {
        for url in [
            "redis://:s3cret@127.0.0.1:6390",
            "redis://origin:s3cret@127.0.0.1:6390",
            "rediss://origin:s3cret@redis.internal:6380",
        ] {
            assert_eq!(target(url, None), Ok(RedisTarget::Single(url.into())));
            let info = redis::IntoConnectionInfo::into_connection_info(url).unwrap();
            assert_eq!(info.redis.password.as_deref(), Some("s3cret"), "{url}");
        }
        let tls = redis::IntoConnectionInfo::into_connection_info("rediss://h:6380").unwrap();
        assert!(matches!(tls.addr, redis::ConnectionAddr::TcpTls { .. }));
        let user = redis::IntoConnectionInfo::into_connection_info("redis://origin:p@h:1").unwrap();
        assert_eq!(user.redis.username.as_deref(), Some("origin"));
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
