//! The `QueueShard` Durable Object: one shard of the FIFO queue.
//!
//! It owns a `waitroom_core::queue::ShardQueue` in memory and persists every
//! entry as one SQLite row, so a restart (or an eviction) rebuilds the same
//! queue from its rows. `fetch` decodes one `core::protocol::ShardRequest`
//! and matches it to a `handle_*` method that returns the typed reply; the
//! rules themselves live in `core` (`queue`, `timing`).
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
use waitroom_core::operator::{Door, RevocationList};
use waitroom_core::protocol::coordinator::Wake;
use waitroom_core::protocol::shard::{
    Check, Heartbeat, Join, Leave, Release, Revoke, ShardRequest, Summary,
};
use waitroom_core::protocol::{
    CheckReply, GrantReply, HeartbeatReply, JoinReply, LeaveReply, ReleaseReply, RevokeReply,
};
use waitroom_core::queue::{
    EntryRow, EntryState, JoinOutcome, RowChanges, ShardConfig, ShardMeta, ShardQueue, Status,
};
use waitroom_core::timing;
use worker::*;

use crate::protocol;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
  id INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL,
  arrived_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  state TEXT NOT NULL,
  session_expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS revoked (id INTEGER PRIMARY KEY, until_ms INTEGER NOT NULL);
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
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

impl DurableObject for QueueShard {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        let queue = match restore(&sql) {
            Ok(q) => q,
            Err(e) => {
                // Refusing to start would lock every citizen of this shard out;
                // log loudly and start empty rather than guess.
                console_error!("QueueShard: could not restore from rows: {e}");
                ShardQueue::new(ShardConfig::default())
            }
        };
        let revoked = restore_revoked(&sql).unwrap_or_else(|e| {
            console_error!("QueueShard: could not restore revocations: {e}");
            RevocationList::new()
        });
        Self {
            state,
            env,
            queue: RefCell::new(queue),
            revoked: RefCell::new(revoked),
            last_grant_ms: Cell::new(0),
            unsaved_seen: RefCell::new(HashMap::new()),
            seen_saved_ms: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let (path, body) = protocol::incoming(&mut req).await?;
        let request = match ShardRequest::decode(&path, &body) {
            Ok(r) => r,
            Err(e) => return protocol::undecodable(e),
        };
        match request {
            ShardRequest::Join(r) => protocol::reply(&self.handle_join(r).await?),
            ShardRequest::Heartbeat(r) => protocol::reply(&self.handle_heartbeat(r)?),
            ShardRequest::Leave(r) => protocol::reply(&self.handle_leave(r)?),
            ShardRequest::Release(r) => protocol::reply(&self.handle_release(r)?),
            ShardRequest::Revoke(r) => protocol::reply(&self.handle_revoke(r)?),
            ShardRequest::Check(r) => protocol::reply(&self.handle_check(r)),
            ShardRequest::Summary(r) => protocol::reply(&self.handle_summary(r)?),
            ShardRequest::Grant(r) => protocol::reply(&self.handle_grant(r)?),
            // The benchmark's round-trip baseline (`/__test/shard-ping`).
            #[cfg(feature = "test-routes")]
            ShardRequest::Ping(_) => protocol::reply(&waitroom_core::protocol::Pong { pong: true }),
            #[cfg(not(feature = "test-routes"))]
            ShardRequest::Ping(_) => Response::error("not found", 404),
        }
    }
}

fn restore(sql: &SqlStorage) -> Result<ShardQueue> {
    sql.exec(SCHEMA, None)?;
    let meta: Option<ShardMeta> = sql
        .exec("SELECT v FROM meta WHERE k = 'shard'", None)?
        .to_array::<DbMeta>()?
        .into_iter()
        .next()
        .and_then(|m| serde_json::from_str(&m.v).ok());
    let Some(meta) = meta else {
        // A brand-new shard: write its meta now so that rows never exist without it.
        let q = ShardQueue::new(ShardConfig::default());
        let v = serde_json::to_string(&q.meta()).map_err(|e| Error::RustError(e.to_string()))?;
        sql.exec(
            "INSERT OR REPLACE INTO meta (k, v) VALUES ('shard', ?)",
            vec![v.into()],
        )?;
        return Ok(q);
    };
    let rows = sql
        .exec(
            "SELECT id, seq, arrived_ms, last_seen_ms, state, session_expires_ms FROM entries",
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

    fn insert_row(&self, row: &EntryRow) -> Result<()> {
        let state = row.state.as_column();
        self.sql().exec(
            "INSERT OR REPLACE INTO entries (id, seq, arrived_ms, last_seen_ms, state, session_expires_ms) VALUES (?, ?, ?, ?, ?, ?)",
            vec![int(row.id), int(row.seq), int(row.arrived_ms), int(row.last_seen_ms), state.into(), int(row.session_expires_ms)],
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

    fn save_meta(&self, meta: &ShardMeta) -> Result<()> {
        let v = serde_json::to_string(meta).map_err(|e| Error::RustError(e.to_string()))?;
        self.sql().exec(
            "INSERT OR REPLACE INTO meta (k, v) VALUES ('shard', ?)",
            vec![v.into()],
        )?;
        Ok(())
    }

    fn apply_changes(&self, changes: &RowChanges) -> Result<()> {
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
        Ok(JoinReply::Placed {
            outcome,
            status,
            prequeue_until: self.queue.borrow().prequeue_until(now),
        })
    }

    /// The heartbeat: refreshes last_seen and returns the live position.
    fn handle_heartbeat(&self, req: Heartbeat) -> Result<HeartbeatReply> {
        let now = now_ms();
        let status = self.queue.borrow_mut().heartbeat(req.id, now);
        match &status {
            Status::Waiting(w) if w.persist_last_seen => {
                self.unsaved_seen.borrow_mut().insert(req.id, now);
            }
            Status::Abandoned => {
                self.unsaved_seen.borrow_mut().remove(&req.id);
                self.delete_row(req.id)?;
            }
            _ => {}
        }
        if timing::seen_write_due(self.seen_saved_ms.get(), now) {
            self.save_seen(now)?;
        }
        Ok(HeartbeatReply {
            status,
            prequeue_until: self.queue.borrow().prequeue_until(now),
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
            let (summary, changes) = q.summary(req.shard, now);
            self.apply_changes(&changes)?;
            summary
        };
        // Sessions that ended are dead rows: keep storage bounded.
        self.sql().exec(
            "DELETE FROM entries WHERE state = 'admitted' AND session_expires_ms <= ?",
            vec![int(now)],
        )?;
        Ok(summary)
    }

    fn handle_grant(&self, grant: Grant) -> Result<GrantReply> {
        let now = now_ms();
        self.last_grant_ms.set(now);
        let mut q = self.queue.borrow_mut();
        let outcome = q.apply_grant(&grant, now);
        if !outcome.duplicate {
            // The pre-queue lottery rewrote these rows' order (once per event).
            for row in &outcome.reordered {
                self.insert_row(row)?;
            }
            self.apply_changes(&outcome.changes)?;
            self.save_meta(&q.meta())?;
        }
        Ok(GrantReply {
            duplicate: outcome.duplicate,
            admitted: outcome.changes.admitted.len() as u64,
            abandoned: outcome.changes.abandoned.len() as u64,
        })
    }
}
