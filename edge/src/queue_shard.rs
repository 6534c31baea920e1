//! The `QueueShard` Durable Object: one shard of the FIFO queue.
//!
//! It owns a `waitroom_core::queue::ShardQueue` in memory and persists every
//! entry as one SQLite row, so a restart (or an eviction) rebuilds the same
//! queue from its rows. Its RPC method `rpc` (`crate::protocol`) decodes one
//! `core::protocol::ShardRequest` and matches it to a `handle_*` method
//! that returns the typed reply; the rules themselves live in `core`
//! (`queue`, `timing`).
//!
//! # Heartbeats write behind
//! Joins, admissions, leaves and drops are written before the answer goes
//! out. A heartbeat's new `last_seen_ms` (recorded by `core` at most once per
//! granularity) is only noted in memory and written with the others at most
//! once per [`timing::SEEN_WRITE_BEHIND_MS`] and on every Coordinator tick:
//! one SQLite commit per second instead of one per heartbeat. (Each commit
//! holds the answer until it is durable; per-heartbeat writes made the
//! heartbeat route about three times slower, see BENCHMARKS.md.) A restart
//! can lose the last second of those values, so rows are restored as if
//! seen [`timing::RESTORED_SEEN_SLACK_MS`] later: nobody loses their place
//! early because of a restart, and someone who left is dropped at most
//! that much later.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use serde::Deserialize;
use waitroom_core::coordinator::{Grant, ShardSummary};
use waitroom_core::operator::REPORT_RETENTION_MS;
use waitroom_core::operator::{Door, RevocationList};
use waitroom_core::protocol::coordinator::Wake;
use waitroom_core::protocol::shard::{
    AdmitNow, AdmitNowReply, Check, Drawn, DrawnReply, Heartbeat, Join, Leave, Release, Revoke,
    ShardRequest, Summary,
};
use waitroom_core::protocol::{
    CheckReply, GrantReply, HeartbeatReply, JoinReply, LeaveReply, ReleaseReply, RevokeReply,
};
use waitroom_core::queue::{
    EntryRow, EntryState, JoinOutcome, RowChanges, ShardConfig, ShardMeta, ShardQueue, Status,
};
use waitroom_core::timing;
use worker::wasm_bindgen::prelude::*;
use worker::*;

use crate::clock::now_ms;
use crate::protocol::{self, Answer};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
  id INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL,
  arrived_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  state TEXT NOT NULL,
  session_expires_ms INTEGER NOT NULL,
  rank INTEGER NOT NULL DEFAULT 0,
  hold_until_ms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
-- Every tick deletes ended sessions and ranks new rows: without these, both
-- scanned every row (at 1,000,000 waiting over 64 shards, most of a tick's
-- time inside workerd; see BENCHMARKS.md).
CREATE INDEX IF NOT EXISTS entries_session_end ON entries (state, session_expires_ms);
CREATE TABLE IF NOT EXISTS revoked (id INTEGER PRIMARY KEY, until_ms INTEGER NOT NULL);
-- The entries each pre-queue lottery shuffled here, for the published list
-- (GET /fairness/entries); kept REPORT_RETENTION_MS.
CREATE TABLE IF NOT EXISTS drawn (
  event_start_ms INTEGER NOT NULL,
  id INTEGER NOT NULL,
  PRIMARY KEY (event_start_ms, id)
);
";

#[derive(Deserialize)]
struct DbRevoked {
    id: f64,
    until_ms: f64,
}

/// A row as SQLite gives it back (JS numbers: all our integers are < 2^53).
#[derive(Deserialize)]
struct DbRow {
    id: f64,
    seq: f64,
    arrived_ms: f64,
    last_seen_ms: f64,
    state: String,
    session_expires_ms: f64,
    #[serde(default)]
    rank: f64,
    #[serde(default)]
    hold_until_ms: f64,
}

#[derive(Deserialize)]
struct DbMeta {
    v: String,
}

#[durable_object]
pub struct QueueShard {
    state: State,
    env: Env,
    queue: RefCell<ShardQueue>,
    /// Admissions revoked before their session ended (O(1) `/check`).
    revoked: RefCell<RevocationList>,
    /// When this instance last received a grant: if long ago, the
    /// Coordinator's alarm has probably stopped (idle) and a join wakes it.
    last_grant_ms: Cell<u64>,
    /// id → `last_seen_ms` recorded but not yet written (see the module docs).
    unsaved_seen: RefCell<HashMap<u64, u64>>,
    /// When `unsaved_seen` was last written out.
    seen_saved_ms: Cell<u64>,
    /// Test builds: refuse the Coordinator until then (`/__test/stall`).
    stalled_until_ms: Cell<u64>,
    /// Why the stored rows could not be read back, while they cannot: the
    /// shard then refuses every request (503) instead of serving an empty
    /// queue over rows it would later overwrite, and tries again at most
    /// every [`RESTORE_RETRY_MS`]. The Coordinator shows the error on the
    /// dashboard (`/admin/stats` `shards[].error`).
    broken: RefCell<Option<String>>,
    /// When the next restore attempt may run.
    restore_retry_ms: Cell<u64>,
}

/// Every this many ticks a shard deletes its ended sessions' rows. They are
/// dead rows ([`ShardQueue::restore`] skips them): deleting them every tick
/// was a statement per shard per tick for nothing most of the time. Shards
/// take turns (tick id + shard index), so no tick pays for all of them.
const SWEEP_EVERY_TICKS: u64 = 30;

/// How often a shard that could not restore tries again.
const RESTORE_RETRY_MS: u64 = 10_000;
/// The `meta` key of the shard's own state.
const META_KEY: &str = "shard";

impl DurableObject for QueueShard {
    fn new(state: State, env: Env) -> Self {
        let shard = Self {
            state,
            env,
            queue: RefCell::new(ShardQueue::new(ShardConfig::default())),
            revoked: RefCell::new(RevocationList::new()),
            last_grant_ms: Cell::new(0),
            unsaved_seen: RefCell::new(HashMap::new()),
            seen_saved_ms: Cell::new(0),
            stalled_until_ms: Cell::new(0),
            broken: RefCell::new(None),
            restore_retry_ms: Cell::new(0),
        };
        shard.try_restore();
        shard
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        protocol::not_rpc()
    }
}

/// Durable Object RPC (`edge/entry.mjs` passes it through).
#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
impl QueueShard {
    /// One typed call: `path` names it, `body` holds its fields (see
    /// `protocol`).
    pub async fn rpc(&self, path: String, body: String) -> std::result::Result<JsValue, JsValue> {
        protocol::rpc_answer(self.answer(&path, &body)).await
    }
}

impl QueueShard {
    /// One call's answer (`protocol`).
    async fn answer(&self, path: &str, body: &str) -> Result<Answer> {
        let request = match ShardRequest::decode(path, body) {
            Ok(r) => r,
            Err(e) => return protocol::undecodable(e),
        };
        #[cfg(feature = "test-routes")]
        if let ShardRequest::Corrupt(r) = request {
            return protocol::reply(&self.handle_corrupt(r)?);
        }
        if let Some(error) = self.restore_error() {
            // Every place in this shard is in rows we could not read: refuse
            // rather than answer "no such place" or admit from an empty queue.
            return Ok(Answer::error(format!("shard cannot restore: {error}"), 503));
        }
        let coordinator_call = matches!(request, ShardRequest::Summary(_) | ShardRequest::Grant(_));
        if coordinator_call && now_ms() < self.stalled_until_ms.get() {
            // A shard that stops answering (test builds set it, see Stall).
            return Ok(Answer::error("stalled", 503));
        }
        match request {
            ShardRequest::Join(r) => protocol::reply(&self.handle_join(r).await?),
            ShardRequest::Heartbeat(r) => protocol::reply(&self.handle_heartbeat(r)?),
            ShardRequest::Leave(r) => protocol::reply(&self.handle_leave(r)?),
            ShardRequest::Release(r) => protocol::reply(&self.handle_release(r)?),
            ShardRequest::Revoke(r) => protocol::reply(&self.handle_revoke(r)?),
            ShardRequest::Check(r) => protocol::reply(&self.handle_check(r)),
            ShardRequest::Summary(r) => protocol::reply(&self.handle_summary(r)?),
            ShardRequest::Grant(r) => protocol::reply(&self.handle_grant(r)?),
            ShardRequest::Drawn(r) => protocol::reply(&self.handle_drawn(r)?),
            ShardRequest::AdmitNow(r) => protocol::reply(&self.handle_admit_now(r).await?),
            // The benchmark's round-trip baseline (`/__test/shard-ping`).
            #[cfg(feature = "test-routes")]
            ShardRequest::Ping(_) => protocol::reply(&waitroom_core::protocol::Pong { pong: true }),
            #[cfg(feature = "test-routes")]
            ShardRequest::Fill(r) => protocol::reply(&self.handle_fill(r)?),
            #[cfg(feature = "test-routes")]
            ShardRequest::Stall(r) => {
                let until_ms = now_ms() + r.ms;
                self.stalled_until_ms.set(until_ms);
                protocol::reply(&waitroom_core::protocol::StallReply { until_ms })
            }
            #[cfg(feature = "test-routes")]
            ShardRequest::Corrupt(_) => unreachable!("answered above"),
            #[cfg(not(feature = "test-routes"))]
            ShardRequest::Ping(_)
            | ShardRequest::Fill(_)
            | ShardRequest::Stall(_)
            | ShardRequest::Corrupt(_) => Ok(Answer::error("not found", 404)),
        }
    }
}

fn restore(sql: &SqlStorage) -> Result<ShardQueue> {
    sql.exec(SCHEMA, None)?;
    // Columns added since the first release: a table from before restores
    // with them at 0 (no rank yet: the next tick gives one; no hold).
    for column in ["rank", "hold_until_ms"] {
        if sql
            .exec(&format!("SELECT {column} FROM entries LIMIT 0"), None)
            .is_err()
        {
            sql.exec(
                &format!("ALTER TABLE entries ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0"),
                None,
            )?;
        }
    }
    // Seals rank the unranked rows (rank 0) up to a sequence number.
    sql.exec(
        "CREATE INDEX IF NOT EXISTS entries_unranked ON entries (rank, seq)",
        None,
    )?;
    let stored = sql
        .exec("SELECT v FROM meta WHERE k = ?", vec![META_KEY.into()])?
        .to_array::<DbMeta>()?
        .into_iter()
        .next();
    // Unreadable meta is an error, never "a brand-new shard": that would
    // serve an empty queue over the rows and overwrite them.
    let meta: Option<ShardMeta> = stored
        .map(|m| serde_json::from_str(&m.v))
        .transpose()
        .map_err(|e| Error::RustError(format!("unreadable shard meta: {e}")))?;
    let Some(meta) = meta else {
        // A brand-new shard: write its meta now so that rows never exist without it.
        let q = ShardQueue::new(ShardConfig::default());
        let v = serde_json::to_string(&q.meta()).map_err(|e| Error::RustError(e.to_string()))?;
        sql.exec(
            "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)",
            vec![META_KEY.into(), v.into()],
        )?;
        return Ok(q);
    };
    let rows = sql
        .exec(
            "SELECT id, seq, arrived_ms, last_seen_ms, state, session_expires_ms, rank, hold_until_ms FROM entries",
            None,
        )?
        .to_array::<DbRow>()?
        .into_iter()
        .map(|r| EntryRow {
            id: r.id as u64,
            seq: r.seq as u64,
            arrived_ms: r.arrived_ms as u64,
            // Heartbeats write behind: the row may be a second old.
            last_seen_ms: timing::restored_last_seen(r.last_seen_ms as u64),
            state: EntryState::from_column(&r.state),
            session_expires_ms: r.session_expires_ms as u64,
            rank: r.rank as u64,
            hold_until_ms: r.hold_until_ms as u64,
        });
    ShardQueue::restore(meta, rows, now_ms()).map_err(|e| Error::RustError(e.to_string()))
}

fn restore_revoked(sql: &SqlStorage) -> Result<RevocationList> {
    let mut list = RevocationList::new();
    for r in sql
        .exec("SELECT id, until_ms FROM revoked", None)?
        .to_array::<DbRevoked>()?
    {
        list.revoke(r.id as u64, r.until_ms as u64);
    }
    Ok(list)
}

fn int(v: u64) -> SqlStorageValue {
    // Every value we store (ids, sequence numbers, epoch milliseconds) is below 2^53.
    SqlStorageValue::from(v as f64)
}

impl QueueShard {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// Reads the queue and the revocations back from SQLite; on failure the
    /// shard is broken until a later attempt succeeds.
    fn try_restore(&self) {
        let sql = self.sql();
        let restored = restore(&sql).and_then(|q| Ok((q, restore_revoked(&sql)?)));
        match restored {
            Ok((queue, revoked)) => {
                *self.queue.borrow_mut() = queue;
                *self.revoked.borrow_mut() = revoked;
                if self.broken.borrow_mut().take().is_some() {
                    console_log!("QueueShard: restored after an earlier failure");
                }
            }
            Err(e) => {
                console_error!("QueueShard: cannot restore, refusing to serve: {e}");
                *self.broken.borrow_mut() = Some(e.to_string());
                self.restore_retry_ms.set(now_ms() + RESTORE_RETRY_MS);
            }
        }
    }

    /// Why this shard cannot serve, if it cannot (retrying the restore
    /// when its time has come).
    fn restore_error(&self) -> Option<String> {
        if self.broken.borrow().is_some() && now_ms() >= self.restore_retry_ms.get() {
            self.try_restore();
        }
        self.broken.borrow().clone()
    }

    #[cfg(feature = "test-routes")]
    fn handle_corrupt(
        &self,
        r: waitroom_core::protocol::shard::Corrupt,
    ) -> Result<waitroom_core::protocol::shard::CorruptReply> {
        let sql = self.sql();
        if r.on {
            sql.exec(
                "INSERT OR REPLACE INTO meta (k, v) SELECT 'saved-shard', v FROM meta WHERE k = ?",
                vec![META_KEY.into()],
            )?;
            sql.exec(
                "UPDATE meta SET v = '{not json' WHERE k = ?",
                vec![META_KEY.into()],
            )?;
            // Until the restart the test makes next, write nothing more
            // (a tick would store good meta over the bad).
            *self.broken.borrow_mut() = Some("test: meta corrupted".into());
            self.restore_retry_ms.set(u64::MAX);
        } else {
            sql.exec(
                "UPDATE meta SET v = (SELECT v FROM meta WHERE k = 'saved-shard') WHERE k = ? \
                 AND EXISTS (SELECT 1 FROM meta WHERE k = 'saved-shard')",
                vec![META_KEY.into()],
            )?;
            sql.exec("DELETE FROM meta WHERE k = 'saved-shard'", None)?;
            self.restore_retry_ms.set(0);
        }
        Ok(waitroom_core::protocol::shard::CorruptReply {
            serving: self.restore_error().is_none(),
        })
    }

    fn insert_row(&self, row: &EntryRow) -> Result<()> {
        let state = row.state.as_column();
        self.sql().exec(
            "INSERT OR REPLACE INTO entries (id, seq, arrived_ms, last_seen_ms, state, session_expires_ms, rank, hold_until_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            vec![int(row.id), int(row.seq), int(row.arrived_ms), int(row.last_seen_ms), state.into(), int(row.session_expires_ms), int(row.rank), int(row.hold_until_ms)],
        )?;
        Ok(())
    }

    /// Writes the heartbeats' pending `last_seen_ms` values (one commit).
    fn save_seen(&self, now: u64) -> Result<()> {
        self.seen_saved_ms.set(now);
        let unsaved = std::mem::take(&mut *self.unsaved_seen.borrow_mut());
        let sql = self.sql();
        for (id, seen) in unsaved {
            // A row deleted meanwhile (admitted and expired, left, dropped)
            // matches nothing: harmless.
            sql.exec(
                "UPDATE entries SET last_seen_ms = ? WHERE id = ? AND state = 'waiting'",
                vec![int(seen), int(id)],
            )?;
        }
        Ok(())
    }

    fn delete_row(&self, id: u64) -> Result<()> {
        self.sql()
            .exec("DELETE FROM entries WHERE id = ?", vec![int(id)])?;
        Ok(())
    }

    /// Writes the shard's meta if a restart would need what changed
    /// ([`ShardQueue::meta_unsaved`]), or if `force` (a grant that must not
    /// be applied twice: `GrantOutcome::save_meta`).
    fn save_meta(&self, q: &mut ShardQueue, force: bool) -> Result<()> {
        if !force && !q.meta_unsaved() {
            return Ok(());
        }
        let v = serde_json::to_string(q.meta()).map_err(|e| Error::RustError(e.to_string()))?;
        self.sql().exec(
            "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)",
            vec![META_KEY.into(), v.into()],
        )?;
        q.meta_saved();
        Ok(())
    }

    fn apply_changes(&self, changes: &RowChanges) -> Result<()> {
        for seal in &changes.sealed {
            self.sql().exec(
                "UPDATE entries SET rank = ? WHERE state = 'waiting' AND rank = 0 AND seq <= ?",
                vec![int(seal.rank), int(seal.through_seq)],
            )?;
        }
        for id in &changes.abandoned {
            self.delete_row(*id)?;
        }
        for id in &changes.admitted {
            self.sql().exec(
                "UPDATE entries SET state = 'admitted', session_expires_ms = ? WHERE id = ?",
                vec![int(changes.session_expires_ms), int(*id)],
            )?;
        }
        Ok(())
    }

    /// A session at once for a request a bypass rule matched: the door is
    /// not asked (the rule is the operator's say-so), the active cap counts it.
    async fn handle_admit_now(&self, req: AdmitNow) -> Result<AdmitNowReply> {
        let now = now_ms();
        let (session_expires_ms, was_empty) = {
            let mut q = self.queue.borrow_mut();
            let was_empty = q.waiting_len() == 0 && q.active_sessions(now) == 0;
            let end = q.admit_now(req.id, req.kind, now);
            if let Some(row) = q.row(req.id) {
                self.insert_row(&row)?;
            }
            (end, was_empty)
        };
        if timing::join_wakes_coordinator(was_empty, self.last_grant_ms.get(), now) {
            // The session must be counted (and its facts reported) by ticks.
            self.last_grant_ms.set(now);
            protocol::coordinator_call(&self.env, Wake).await?;
        }
        Ok(AdmitNowReply {
            session_expires_ms,
            message: self.queue.borrow().message().cloned(),
        })
    }

    async fn handle_join(&self, req: Join) -> Result<JoinReply> {
        let now = now_ms();
        let door = self.queue.borrow().door(now);
        if let Door::Refused {
            reason,
            reopen_at_ms,
        } = door
        {
            // Closed, not open yet, or full: no place, no row.
            return Ok(JoinReply::Refused {
                reason,
                reopen_at_ms,
            });
        }
        let (outcome, status, was_empty) = {
            let mut q = self.queue.borrow_mut();
            let was_empty = q.waiting_len() == 0 && q.active_sessions(now) == 0;
            let outcome = q.join(req.id, now);
            if let JoinOutcome::Joined { .. } = outcome {
                if let Some(row) = q.row(req.id) {
                    self.insert_row(&row)?;
                }
            }
            (outcome, q.status(req.id, now), was_empty)
        };
        if timing::join_wakes_coordinator(was_empty, self.last_grant_ms.get(), now) {
            // The Coordinator stops ticking when the room is idle: wake it.
            self.last_grant_ms.set(now);
            protocol::coordinator_call(&self.env, Wake).await?;
        }
        let q = self.queue.borrow();
        Ok(JoinReply::Placed {
            outcome,
            status,
            prequeue_until: q.prequeue_until(now),
            message: q.message().cloned(),
        })
    }

    /// The heartbeat: refreshes last_seen and returns the live position.
    fn handle_heartbeat(&self, req: Heartbeat) -> Result<HeartbeatReply> {
        let now = now_ms();
        let status = self.queue.borrow_mut().heartbeat(req.id, now);
        match &status {
            Status::Waiting(w) if w.persist_hold => {
                // A time the citizen is told: durable before the answer goes out.
                self.sql().exec(
                    "UPDATE entries SET hold_until_ms = ? WHERE id = ? AND state = 'waiting'",
                    vec![int(w.hold_until_ms.unwrap_or(0)), int(req.id)],
                )?;
                if w.persist_last_seen {
                    self.unsaved_seen.borrow_mut().insert(req.id, now);
                }
            }
            Status::Waiting(w) if w.persist_last_seen => {
                self.unsaved_seen.borrow_mut().insert(req.id, now);
            }
            Status::Abandoned => {
                self.unsaved_seen.borrow_mut().remove(&req.id);
                self.delete_row(req.id)?;
                // Its drop counted (`abandoned_total`, `missed_total`).
                self.save_meta(&mut self.queue.borrow_mut(), false)?;
            }
            _ => {}
        }
        if timing::seen_write_due(self.seen_saved_ms.get(), now) {
            self.save_seen(now)?;
        }
        let q = self.queue.borrow();
        Ok(HeartbeatReply {
            status,
            prequeue_until: q.prequeue_until(now),
            message: q.message().cloned(),
        })
    }

    /// Revokes an admission: frees its slot now and refuses its ticket until
    /// it would have expired anyway.
    fn handle_revoke(&self, req: Revoke) -> Result<RevokeReply> {
        let now = now_ms();
        let released = self.queue.borrow_mut().release(req.id);
        if released {
            self.delete_row(req.id)?;
        }
        let mut revoked = self.revoked.borrow_mut();
        for id in revoked.prune(now) {
            self.sql()
                .exec("DELETE FROM revoked WHERE id = ?", vec![int(id)])?;
        }
        if req.until_ms > now {
            revoked.revoke(req.id, req.until_ms);
            self.sql().exec(
                "INSERT OR REPLACE INTO revoked (id, until_ms) VALUES (?, ?)",
                vec![int(req.id), int(req.until_ms)],
            )?;
        }
        Ok(RevokeReply { released })
    }

    /// Whether an admission was revoked (checked before every forward).
    fn handle_check(&self, req: Check) -> CheckReply {
        CheckReply {
            revoked: self.revoked.borrow().is_revoked(req.id, now_ms()),
        }
    }

    fn handle_leave(&self, req: Leave) -> Result<LeaveReply> {
        let left = self.queue.borrow_mut().leave(req.id);
        if left {
            self.delete_row(req.id)?;
        }
        Ok(LeaveReply { left })
    }

    fn handle_release(&self, req: Release) -> Result<ReleaseReply> {
        let released = self.queue.borrow_mut().release(req.id);
        if released {
            self.delete_row(req.id)?;
        }
        Ok(ReleaseReply { released })
    }

    fn handle_summary(&self, req: Summary) -> Result<ShardSummary> {
        let now = now_ms();
        self.save_seen(now)?;
        let summary: ShardSummary = {
            let mut q = self.queue.borrow_mut();
            let (summary, changes) = q.summary(&req, now);
            self.apply_changes(&changes)?;
            // A seal applied or newcomers counted (sequence numbers up to
            // them are never handed out again), entries dropped.
            self.save_meta(&mut q, false)?;
            summary
        };
        // Sessions that ended are dead rows: keep storage bounded.
        if (req.tick_id + u64::from(req.shard)).is_multiple_of(SWEEP_EVERY_TICKS) {
            self.sql().exec(
                "DELETE FROM entries WHERE state = 'admitted' AND session_expires_ms <= ?",
                vec![int(now)],
            )?;
        }
        Ok(summary)
    }

    /// Benchmark only: `n` synthetic waiting entries, rows written.
    #[cfg(feature = "test-routes")]
    fn handle_fill(
        &self,
        req: waitroom_core::protocol::shard::Fill,
    ) -> Result<waitroom_core::protocol::FillReply> {
        let now = now_ms();
        let mut q = self.queue.borrow_mut();
        for id in req.first_id..req.first_id + req.n {
            if let JoinOutcome::Joined { .. } = q.join(id, now) {
                if let Some(row) = q.row(id) {
                    self.insert_row(&row)?;
                }
            }
        }
        Ok(waitroom_core::protocol::FillReply {
            waiting: q.waiting_len(),
        })
    }

    fn handle_grant(&self, mut grant: Grant) -> Result<GrantReply> {
        let now = now_ms();
        self.last_grant_ms.set(now);
        let next = grant.next.take();
        let outcome = {
            let mut q = self.queue.borrow_mut();
            let outcome = q.apply_grant(&grant, now);
            if !outcome.duplicate {
                // The pre-queue lottery rewrote these rows' order (once per event).
                for row in &outcome.reordered {
                    self.insert_row(row)?;
                }
                if let (Some(lottery), false) = (grant.lottery, outcome.drawn.is_empty()) {
                    self.save_drawn(lottery.event_start_ms, &outcome.drawn, now)?;
                }
                self.apply_changes(&outcome.changes)?;
                self.save_meta(&mut q, outcome.save_meta)?;
            }
            outcome
        };
        // The next tick's question, answered now: one call per tick.
        let summary = next.map(|req| self.handle_summary(req)).transpose()?;
        Ok(GrantReply {
            duplicate: outcome.duplicate,
            admitted: outcome.changes.admitted.len() as u64,
            abandoned: outcome.changes.abandoned.len() as u64,
            drawn: outcome.drawn.len() as u64,
            summary,
        })
    }

    /// Records the entries a lottery shuffled here, dropping lists older
    /// than the report's retention.
    fn save_drawn(&self, event_start_ms: u64, ids: &[u64], now: u64) -> Result<()> {
        let sql = self.sql();
        sql.exec(
            "DELETE FROM drawn WHERE event_start_ms < ?",
            vec![int(now.saturating_sub(REPORT_RETENTION_MS))],
        )?;
        for &id in ids {
            sql.exec(
                "INSERT OR IGNORE INTO drawn (event_start_ms, id) VALUES (?, ?)",
                vec![int(event_start_ms), int(id)],
            )?;
        }
        Ok(())
    }

    /// `GET /fairness/entries`: the ids a lottery shuffled here.
    fn handle_drawn(&self, req: Drawn) -> Result<DrawnReply> {
        #[derive(Deserialize)]
        struct Id {
            id: f64,
        }
        let rows: Vec<Id> = self
            .sql()
            .exec(
                "SELECT id FROM drawn WHERE event_start_ms = ? ORDER BY id",
                vec![int(req.event_start_ms)],
            )?
            .to_array()?;
        Ok(DrawnReply {
            ids: rows.into_iter().map(|r| r.id as u64).collect(),
        })
    }
}
