//! Recomputes a published pre-queue lottery, so anyone can check it was
//! fair (`waitroom_core::operator::fairness`).
//!
//! ```text
//! cargo run -p waitroom-core --example verify-lottery -- \
//!     SEED_HEX COMMITMENT_HEX ENTRIES_FILE [PUBLISHED_ORDER_FILE]
//! ```
//! - `SEED_HEX`, `COMMITMENT_HEX`: as `GET /fairness` publishes them (64 hex
//!   digits each; the commitment before the draw, the seed after).
//! - `ENTRIES_FILE`: the published pre-queue entries, one per line as
//!   `<entry id hex> <shard>` (blank and `#` lines skipped), or a JSON array
//!   of `{"id": "<entry id hex>", "shard": n}`; in any order.
//! - `PUBLISHED_ORDER_FILE` (optional): the order the room published or
//!   admitted, in the same format, compared with the recomputed one.
//!
//! Prints the recomputed order (one `<entry id hex> <shard>` a line) and
//! exits 0; exits 1 when the seed does not match the commitment or the
//! published order differs, 2 on unreadable input. The work is
//! `fairness::verify_published`, tested in the library. The commitment is
//! plain SHA-256 of the 32 seed bytes, so it can also be checked without
//! this program: `echo SEED_HEX | xxd -r -p | sha256sum`.

use std::process::ExitCode;

use waitroom_core::operator::fairness::{entries_text, verify_published, FairnessError};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(3..=4).contains(&args.len()) {
        eprintln!(
            "usage: verify-lottery SEED_HEX COMMITMENT_HEX ENTRIES_FILE [PUBLISHED_ORDER_FILE]"
        );
        return ExitCode::from(2);
    }
    let read = |path: &str| {
        std::fs::read_to_string(path).map_err(|e| eprintln!("cannot read {path}: {e}"))
    };
    let Ok(entries) = read(&args[2]) else {
        return ExitCode::from(2);
    };
    let published = match args.get(3).map(|p| read(p)) {
        Some(Err(())) => return ExitCode::from(2),
        Some(Ok(text)) => Some(text),
        None => None,
    };
    match verify_published(&args[0], &args[1], &entries, published.as_deref()) {
        Ok(order) => {
            print!("{}", entries_text(&order));
            eprintln!(
                "commitment verified; {} entries in lottery order{}",
                order.len(),
                if published.is_some() {
                    ", equal to the published order"
                } else {
                    ""
                }
            );
            ExitCode::SUCCESS
        }
        Err(e @ (FairnessError::CommitmentMismatch | FairnessError::OrderMismatch { .. })) => {
            eprintln!("MISMATCH: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("unreadable input: {e}");
            ExitCode::from(2)
        }
    }
}
