//! The registry's rate limit, shared by every origin-worker process.
//!
//! One token bucket in Redis, run by one Lua script, in its GCRA form: the
//! key holds the *theoretical arrival time* (TAT) of the next call, in
//! microseconds of Redis's own clock (`TIME`, so the processes' clocks do not
//! matter). Each caller reserves the next free slot and sleeps until it; slots
//! are exactly `1/rate` apart, with a burst of one, so N processes together
//! send at most `rate` calls per second, evenly spaced. Spaced exactly at the
//! registry's limit, calls would still arrive a little early now and then;
//! hence the headroom below.
//!
//! The rate is the limit in force ([`RegistryLimit`]) less
//! [`REGISTRY_HEADROOM`](waitroom_core::capacity::REGISTRY_HEADROOM) for the
//! jitter between a slot and the call's arrival, read at every reservation:
//! when the registry announces a lower limit, the next slot is already
//! spaced for it.
//!
//! Callers never reserve more than [`MAX_AHEAD`] into the future: when the
//! queue of reservations is that long, the script reserves nothing and says
//! how long to wait before asking again.

use std::time::Duration;

use redis::Script;
use waitroom_core::capacity::sendable_per_s;

use crate::{capacity::RegistryLimit, store::RedisCon};

pub const BUCKET_KEY: &str = "wr:ratelimit:registry";
/// Longest a reservation may lie in the future.
pub const MAX_AHEAD: Duration = Duration::from_secs(1);

const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local max_ahead = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > max_ahead then
  return {0, wait - max_ahead}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.floor((next_tat - now) / 1000) + 1000)
return {1, wait}
"#;

#[derive(Clone)]
pub struct RegistryPacer {
    con: RedisCon,
    script: Script,
    limit: RegistryLimit,
}

impl RegistryPacer {
    pub fn new(con: RedisCon, limit: RegistryLimit) -> RegistryPacer {
        RegistryPacer {
            con,
            script: Script::new(GCRA),
            limit,
        }
    }

    fn interval_us(&self) -> u64 {
        (1_000_000.0 / sendable_per_s(self.limit.per_sec())).ceil() as u64
    }

    /// Waits until this process may make one registry call.
    ///
    /// A slot reserved under a higher limit than the one in force when it
    /// comes due is not used: the registry announced a cut meanwhile (in the
    /// answer to an earlier call), and slots spaced for the old limit would
    /// reach it faster than it now allows. This reserves again, spaced for
    /// the new limit. Slots given up that way are not handed back, which only
    /// makes the calls after a cut a little slower.
    pub async fn acquire(&self) -> Result<(), redis::RedisError> {
        loop {
            let interval = self.interval_us();
            let mut con = self.con.clone();
            let (granted, wait_us): (i64, i64) = self
                .script
                .key(BUCKET_KEY)
                .arg(interval)
                .arg(MAX_AHEAD.as_micros() as u64)
                .invoke_async(&mut con)
                .await?;
            tokio::time::sleep(Duration::from_micros(wait_us.max(0) as u64)).await;
            if granted == 1 && self.interval_us() <= interval {
                return Ok(());
            }
        }
    }
}
