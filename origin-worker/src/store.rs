//! Everything the origin keeps in Redis.
//!
//! | key | type | holds | lifetime |
//! |---|---|---|---|
//! | `wr:jobs` | stream, group `workers` | one entry per job: `job=<id>` | acked and deleted when the job ends |
//! | `wr:job:{<id>}` | hash | `status`, `reason`, `session` (keyed hash of the session id), `pk` (public passport key), `payload` (sealed request, bound to id, `pk` and `session`; removed when the job ends), `pdf` (sealed PDF), `issued` (commit count), `created_ms` | queued: job max wait + 10 min; ended: the result TTL |
//! | `wr:admission:{<tag>}` | string | the job id made with this admission; `<tag>`: keyed hash of the ticket id | until the ticket expires (+1 min) |
//! | `wr:attempts:{<tag>}` | string | registry verifications for one national id; `<tag>`: its keyed hash | `NATIONAL_ID_WINDOW_SECONDS` from the first |
//! | `wr:ratelimit:registry` | string | the shared token bucket ([`crate::ratelimit`]) | seconds |
//!
//! Each job's keys carry the hash tag `{<id>}`, so on a Redis Cluster a job
//! lives in one slot and the Lua scripts below touch one key each. Nothing
//! here is readable personal data, and no session, ticket or national id
//! appears as itself: the `<tag>`s and `session` are keyed hashes
//! ([`crate::crypto::JobKeys::tag`]; under every key of the ring when
//! looking up, so a key rotation keeps them).
//!
//! One server or a Redis Cluster ([`RedisTarget`]): every command goes
//! through a [`RedisCon`], which routes each command (and each pipeline, whose
//! commands all name the same key) to the node owning its slot. Scripts run
//! by `EVALSHA`; on `NOSCRIPT` redis-rs sends `SCRIPT LOAD` to every node and
//! retries.

use std::time::Duration;

use redis::{
    aio::{ConnectionLike, ConnectionManager},
    cluster::ClusterClient,
    cluster_async::ClusterConnection,
    AsyncCommands, Cmd, Pipeline, RedisFuture, Script, Value,
};

use crate::{config::RedisTarget, error::AppError};

pub const JOB_STREAM: &str = "wr:jobs";
pub const GROUP: &str = "workers";
/// Extra life of an admission's single-use marker beyond the ticket's own
/// expiry (covers clock skew between edge and origin).
const ADMISSION_MARGIN_MS: u64 = 60_000;

pub fn job_key(id: &str) -> String {
    format!("wr:job:{{{id}}}")
}

/// `ticket_tag`: the keyed hash of the admission's ticket id.
pub fn admission_key(ticket_tag: &str) -> String {
    format!("wr:admission:{{{ticket_tag}}}")
}

/// `national_id_tag`: the keyed hash of a national id.
pub fn attempts_key(national_id_tag: &str) -> String {
    format!("wr:attempts:{{{national_id_tag}}}")
}

/// A job's life: queued → validating → rendering → ready | rejected | failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Queued,
    Validating,
    Rendering,
    Ready,
    Rejected,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Validating => "validating",
            Status::Rendering => "rendering",
            Status::Ready => "ready",
            Status::Rejected => "rejected",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "queued" => Status::Queued,
            "validating" => Status::Validating,
            "rendering" => Status::Rendering,
            "ready" => Status::Ready,
            "rejected" => Status::Rejected,
            "failed" => Status::Failed,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Ready | Status::Rejected | Status::Failed)
    }
}

/// What a citizen may see of a job (after the session check).
#[derive(Debug, Clone)]
pub struct JobView {
    pub status: Status,
    pub reason: Option<String>,
    pub session: String,
}

/// What a worker needs.
#[derive(Clone)]
pub struct WorkJob {
    pub status: Status,
    pub payload: Option<Vec<u8>>,
    pub public_key: Option<[u8; 32]>,
    pub session: Option<String>,
    pub created_ms: u64,
}

/// A job as created by `POST /api/passports`.
pub struct NewJob<'a> {
    pub id: &'a str,
    pub session_tag: &'a str,
    pub public_key: &'a [u8; 32],
    pub sealed_payload: &'a [u8],
    pub created_ms: u64,
}

/// One more attempt; the window starts with the first.
const COUNT: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"#;

/// Sets a non-terminal status unless the job already ended (or vanished).
const SET_STATUS: &str = r#"
local s = redis.call('HGET', KEYS[1], 'status')
if not s or s == 'ready' or s == 'rejected' or s == 'failed' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'reason', ARGV[2])
return 1
"#;

/// Ends a job exactly once: the first commit wins, later ones (a worker that
/// was presumed dead, a re-delivered entry) change nothing.
const FINISH: &str = r#"
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return -1 end
if s == 'ready' or s == 'rejected' or s == 'failed' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'reason', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'pdf', ARGV[3]) end
redis.call('HINCRBY', KEYS[1], 'issued', 1)
redis.call('HDEL', KEYS[1], 'payload')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"#;

/// The origin's connection to Redis: one server or a Redis Cluster. Both
/// are multiplexed handles that reconnect by themselves; clones share them.
#[derive(Clone)]
pub enum RedisCon {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisCon {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisCon::Single(c) => c.req_packed_command(cmd),
            RedisCon::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisCon::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisCon::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisCon::Single(c) => c.get_db(),
            RedisCon::Cluster(c) => c.get_db(),
        }
    }
}

/// What is wrong, if Redis refused for want of (the right) credentials:
/// waiting will not fix that, so it is not retried.
pub fn auth_problem(e: &redis::RedisError) -> Option<&'static str> {
    match (e.kind(), e.code()) {
        (_, Some("NOAUTH")) => Some("authentication required"),
        (_, Some("WRONGPASS")) | (redis::ErrorKind::AuthenticationFailed, _) => {
            Some("wrong user name or password")
        }
        (_, Some("NOPERM")) => Some("this user may not run the origin's commands"),
        _ => None,
    }
}

impl RedisCon {
    /// Connects, retrying while Redis (for a cluster: every seed node) is
    /// not reachable yet.
    pub async fn connect(target: &RedisTarget) -> Result<RedisCon, redis::RedisError> {
        let mut attempt = 0;
        loop {
            match RedisCon::connect_once(target).await {
                Ok(c) => return Ok(c),
                Err(e)
                    if attempt < 30
                        && e.kind() != redis::ErrorKind::InvalidClientConfig
                        && auth_problem(&e).is_none() =>
                {
                    attempt += 1;
                    tracing::warn!(error = ?e.kind(), attempt, "redis not reachable yet");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn connect_once(target: &RedisTarget) -> Result<RedisCon, redis::RedisError> {
        // Bounded waits: while Redis is down or restarting, a request must
        // fail fast (503 + Retry-After), never hang its HTTP client.
        match target {
            RedisTarget::Single(url) => {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(REDIS_CONNECT_TIMEOUT)
                    .set_response_timeout(REDIS_RESPONSE_TIMEOUT)
                    // Reconnect backoff: redis-rs hands `factor` to backon as
                    // the multiplier of a 1 s base (its default of 100 meant
                    // 100 s, then 10,000 s between attempts, and every request
                    // queued behind them). Double from 1 s, never wait more
                    // than a second.
                    .set_factor(2)
                    .set_max_delay(1_000)
                    .set_number_of_retries(2);
                let client = redis::Client::open(url.as_str())?;
                Ok(RedisCon::Single(
                    client.get_connection_manager_with_config(config).await?,
                ))
            }
            RedisTarget::Cluster(nodes) => {
                let client = ClusterClient::builder(nodes.iter().map(String::as_str))
                    // Per node connection attempt.
                    .connection_timeout(REDIS_CONNECT_TIMEOUT)
                    // Per command, retries and redirects included.
                    .response_timeout(REDIS_RESPONSE_TIMEOUT)
                    // While a node is down (connection refused, CLUSTERDOWN,
                    // TRYAGAIN) a command is retried twice, after 0.1–0.4 s
                    // then 0.1–0.8 s (defaults: 16 retries, up to 655 s
                    // apart), then fails. A MOVED/ASK redirect also counts as
                    // a retry: two suffice for one slot migration.
                    .retries(2)
                    .min_retry_wait(100)
                    .max_retry_wait(1_000)
                    .retry_wait_formula(200, 2)
                    .build()?;
                Ok(RedisCon::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

#[derive(Clone)]
pub struct Store {
    con: RedisCon,
    set_status: Script,
    finish: Script,
    count: Script,
    queued_ttl: Duration,
}

/// How long one connection attempt to Redis may take.
const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one Redis command may take before the request fails with 503.
const REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

impl Store {
    /// Connects (retrying while Redis is not up yet) and makes sure the
    /// stream and its consumer group exist.
    pub async fn connect(
        target: &RedisTarget,
        queued_ttl: Duration,
    ) -> Result<Store, redis::RedisError> {
        let con = RedisCon::connect(target).await?;
        let store = Store {
            con,
            set_status: Script::new(SET_STATUS),
            finish: Script::new(FINISH),
            count: Script::new(COUNT),
            queued_ttl,
        };
        store.ensure_group().await?;
        Ok(store)
    }

    pub fn connection(&self) -> RedisCon {
        self.con.clone()
    }

    async fn ensure_group(&self) -> Result<(), redis::RedisError> {
        let mut con = self.con.clone();
        // From id 0: entries added before the group existed are not lost.
        let r: Result<(), _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(JOB_STREAM)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut con)
            .await;
        match r {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    /// Claims the admission (atomically, `SET NX`), then stores and queues
    /// the job. A second request with the same admission: `already_used`.
    /// `ticket_tags`: the ticket id's names under each key of the ring,
    /// newest first; the claim is made under the first, and one under any
    /// other (made before a key rotation) counts as well.
    pub async fn create_job(
        &self,
        ticket_tags: &[String],
        ticket_expires_ms: u64,
        now_ms: u64,
        job: NewJob<'_>,
    ) -> Result<(), AppError> {
        let mut con = self.con.clone();
        let ttl_ms = ticket_expires_ms.saturating_sub(now_ms) + ADMISSION_MARGIN_MS;
        let (claim_tag, older) = ticket_tags.split_first().expect("a ring has a key");
        // Not atomic with the claim below (on a Redis Cluster the names live
        // in different slots): only two requests with one admission, racing
        // through processes that disagree on the newest key during a rotation,
        // could both pass.
        for tag in older {
            let used: bool = con.exists(admission_key(tag)).await?;
            if used {
                return Err(AppError::AlreadyUsed);
            }
        }
        let claimed: Option<String> = redis::cmd("SET")
            .arg(admission_key(claim_tag))
            .arg(job.id)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut con)
            .await?;
        if claimed.is_none() {
            return Err(AppError::AlreadyUsed);
        }
        let key = job_key(job.id);
        let stored: Result<(), redis::RedisError> = async {
            redis::pipe()
                .atomic()
                .hset_multiple(
                    &key,
                    &[
                        ("status", Status::Queued.as_str().as_bytes()),
                        ("session", job.session_tag.as_bytes()),
                        ("pk", job.public_key.as_slice()),
                        ("payload", job.sealed_payload),
                        ("created_ms", job.created_ms.to_string().as_bytes()),
                    ],
                )
                .ignore()
                .pexpire(&key, self.queued_ttl.as_millis() as i64)
                .ignore()
                .query_async::<()>(&mut con)
                .await?;
            redis::cmd("XADD")
                .arg(JOB_STREAM)
                .arg("*")
                .arg("job")
                .arg(job.id)
                .query_async::<String>(&mut con)
                .await?;
            Ok(())
        }
        .await;
        if let Err(e) = stored {
            // Give the admission back: nothing was queued.
            let _: Result<(), _> = con.del(admission_key(claim_tag)).await;
            let _: Result<(), _> = con.del(&key).await;
            return Err(e.into());
        }
        Ok(())
    }

    pub async fn job_view(&self, id: &str) -> Result<Option<JobView>, AppError> {
        let mut con = self.con.clone();
        let (status, reason, session): (Option<String>, Option<String>, Option<String>) =
            redis::cmd("HMGET")
                .arg(job_key(id))
                .arg("status")
                .arg("reason")
                .arg("session")
                .query_async(&mut con)
                .await?;
        Ok(match (status.as_deref().and_then(Status::parse), session) {
            (Some(status), Some(session)) => Some(JobView {
                status,
                reason: reason.filter(|r| !r.is_empty()),
                session,
            }),
            _ => None,
        })
    }

    pub async fn job_pdf(&self, id: &str) -> Result<Option<Vec<u8>>, AppError> {
        let mut con = self.con.clone();
        Ok(con.hget(job_key(id), "pdf").await?)
    }

    pub async fn load_for_work(&self, id: &str) -> Result<Option<WorkJob>, redis::RedisError> {
        let mut con = self.con.clone();
        type Fields = (
            Option<String>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Option<String>,
            Option<u64>,
        );
        let (status, payload, pk, session, created): Fields = redis::cmd("HMGET")
            .arg(job_key(id))
            .arg("status")
            .arg("payload")
            .arg("pk")
            .arg("session")
            .arg("created_ms")
            .query_async(&mut con)
            .await?;
        Ok(status
            .as_deref()
            .and_then(Status::parse)
            .map(|status| WorkJob {
                status,
                payload,
                public_key: pk.and_then(|k| k.try_into().ok()),
                session,
                created_ms: created.unwrap_or(0),
            }))
    }

    /// Counts job `id`'s attempt for its national id, once however often
    /// the job is worked on; the number of attempts up to and including it.
    /// `tags`: the national id's names under each key of the ring, newest
    /// first (counted under the first; the others' counts, made before a
    /// key rotation, are added).
    pub async fn count_attempt(
        &self,
        id: &str,
        tags: &[String],
        window: Duration,
    ) -> Result<u64, redis::RedisError> {
        let mut con = self.con.clone();
        let key = job_key(id);
        if let Some(n) = con.hget::<_, _, Option<u64>>(&key, "attempt").await? {
            return Ok(n);
        }
        let (newest, older) = tags.split_first().expect("a ring has a key");
        let mut n: u64 = self
            .count
            .key(attempts_key(newest))
            .arg(window.as_millis().max(1) as u64)
            .invoke_async(&mut con)
            .await?;
        for tag in older {
            n += con
                .get::<_, Option<u64>>(attempts_key(tag))
                .await?
                .unwrap_or(0);
        }
        let _: () = con.hset(&key, "attempt", n).await?;
        Ok(n)
    }

    /// Moves an open job to `status`; false if it already ended.
    pub async fn set_status(
        &self,
        id: &str,
        status: Status,
        reason: &str,
    ) -> Result<bool, redis::RedisError> {
        let mut con = self.con.clone();
        let n: i64 = self
            .set_status
            .key(job_key(id))
            .arg(status.as_str())
            .arg(reason)
            .invoke_async(&mut con)
            .await?;
        Ok(n == 1)
    }

    /// Ends a job; true only for the one call that actually ended it.
    pub async fn finish(
        &self,
        id: &str,
        status: Status,
        reason: &str,
        sealed_pdf: Option<&[u8]>,
        ttl: Duration,
    ) -> Result<bool, redis::RedisError> {
        debug_assert!(status.is_terminal());
        let mut con = self.con.clone();
        let n: i64 = self
            .finish
            .key(job_key(id))
            .arg(status.as_str())
            .arg(reason)
            .arg(sealed_pdf.unwrap_or(&[]))
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut con)
            .await?;
        Ok(n == 1)
    }

    /// New entries for this consumer, at most `count`: (entry id, job id).
    pub async fn read_new(
        &self,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<(String, String)>, redis::RedisError> {
        let mut con = self.con.clone();
        // No BLOCK: this connection is shared (multiplexed) with the HTTP
        // handlers, and a blocking read would stall them.
        type Reply = Option<Vec<(String, Vec<(String, Vec<String>)>)>>;
        let reply: Reply = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(JOB_STREAM)
            .arg(">")
            .query_async(&mut con)
            .await?;
        Ok(reply
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(_, entries)| entries)
            .filter_map(|(entry, fields)| job_field(&fields).map(|job| (entry, job)))
            .collect())
    }

    /// Takes over entries idle longer than `min_idle` (their worker died or
    /// shut down): (entry id, job id).
    pub async fn autoclaim(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<(String, String)>, redis::RedisError> {
        let mut con = self.con.clone();
        let (_next, entries, _deleted): (String, Vec<(String, Vec<String>)>, redis::Value) =
            redis::cmd("XAUTOCLAIM")
                .arg(JOB_STREAM)
                .arg(GROUP)
                .arg(consumer)
                .arg(min_idle.as_millis() as u64)
                .arg("0-0")
                .arg("COUNT")
                .arg(count)
                .query_async(&mut con)
                .await?;
        Ok(entries
            .into_iter()
            .filter_map(|(entry, fields)| job_field(&fields).map(|job| (entry, job)))
            .collect())
    }

    /// Resets the entry's idle time: "still working on it".
    pub async fn touch(&self, consumer: &str, entry: &str) -> Result<(), redis::RedisError> {
        let mut con = self.con.clone();
        redis::cmd("XCLAIM")
            .arg(JOB_STREAM)
            .arg(GROUP)
            .arg(consumer)
            .arg(0)
            .arg(entry)
            .arg("JUSTID")
            .query_async::<redis::Value>(&mut con)
            .await?;
        Ok(())
    }

    /// The entry is done with: acknowledged and removed from the stream.
    pub async fn ack(&self, entry: &str) -> Result<(), redis::RedisError> {
        let mut con = self.con.clone();
        redis::pipe()
            .cmd("XACK")
            .arg(JOB_STREAM)
            .arg(GROUP)
            .arg(entry)
            .ignore()
            .cmd("XDEL")
            .arg(JOB_STREAM)
            .arg(entry)
            .ignore()
            .query_async::<()>(&mut con)
            .await
    }

    /// Entries waiting or in flight (for metrics).
    pub async fn stream_len(&self) -> Result<u64, redis::RedisError> {
        let mut con = self.con.clone();
        con.xlen(JOB_STREAM).await
    }
}

fn job_field(fields: &[String]) -> Option<String> {
    fields
        .chunks(2)
        .find(|kv| kv.len() == 2 && kv[0] == "job")
        .map(|kv| kv[1].clone())
}
