//! The launch report's history, kept by the Coordinator
//! (`waitroom_core::operator::report`): each tick adds to the open minute
//! (stored as JSON under one key, so a restarted Coordinator goes on with
//! it), and each closed minute becomes one row of its SQLite table, pruned
//! after 30 days. `GET /admin/report` reads them all.

use waitroom_core::coordinator::Stored;
use waitroom_core::operator::report::retention_cutoff_ms;
use waitroom_core::operator::{record_tick, MinuteRecord, TickFacts};
use worker::*;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS report (minute_ms INTEGER NOT NULL, row TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS report_minute ON report (minute_ms);
";
/// The open minute, as a JSON string.
const KEY_OPEN: &str = "report_open";

#[derive(serde::Deserialize)]
struct DbRow {
    row: String,
}

fn int(v: u64) -> SqlStorageValue {
    // Epoch milliseconds are below 2^53.
    SqlStorageValue::from(v as f64)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::RustError(e.to_string()))
}

async fn open_record(state: &State) -> Result<Option<MinuteRecord>> {
    Ok(match Stored::decode(state.storage().get(KEY_OPEN).await?) {
        Stored::Found(r) => Some(r),
        Stored::Absent => None,
        Stored::Unreadable => {
            console_error!("Coordinator: unreadable open report minute, starting it afresh");
            None
        }
    })
}

/// Adds one tick's facts at `now_ms`, while the event starting at
/// `event_start_ms` applies (if any).
pub async fn record(
    state: &State,
    now_ms: u64,
    event_start_ms: Option<u64>,
    facts: &TickFacts,
) -> Result<()> {
    let mut open = open_record(state).await?;
    if let Some(closed) = record_tick(&mut open, now_ms, event_start_ms, facts) {
        let sql = state.storage().sql();
        sql.exec(SCHEMA, None)?;
        sql.exec(
            "INSERT INTO report (minute_ms, row) VALUES (?, ?)",
            vec![int(closed.minute_ms), to_json(&closed)?.into()],
        )?;
        sql.exec(
            "DELETE FROM report WHERE minute_ms < ?",
            vec![int(retention_cutoff_ms(now_ms))],
        )?;
    }
    state.storage().put(KEY_OPEN, to_json(&open)?).await
}

/// The open record if it is the minute of `now_ms` (a room idle since an
/// earlier minute has none).
pub async fn this_minute(state: &State, now_ms: u64) -> Result<Option<MinuteRecord>> {
    let minute = now_ms - now_ms % 60_000;
    Ok(open_record(state).await?.filter(|r| r.minute_ms == minute))
}

/// Every stored minute, oldest first, then the open one.
pub async fn records(state: &State) -> Result<Vec<MinuteRecord>> {
    let sql = state.storage().sql();
    sql.exec(SCHEMA, None)?;
    let mut out = Vec::new();
    for r in sql
        .exec("SELECT row FROM report ORDER BY minute_ms", None)?
        .to_array::<DbRow>()?
    {
        match serde_json::from_str(&r.row) {
            Ok(record) => out.push(record),
            Err(e) => console_error!("report: unreadable stored minute skipped: {e}"),
        }
    }
    out.extend(open_record(state).await?);
    Ok(out)
}
