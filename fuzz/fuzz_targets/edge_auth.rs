//! The edge-auth header: random headers are never accepted, nothing panics,
//! and a header made by `sign_request` for arbitrary requests verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waitroom_core::edge_auth::{sign_request, verify_request, EdgeAuthError};

const KEY: [u8; 32] = [0x5a; 32];
const NOW: u64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    // Layout: header \0 method \0 path \0 ticket \0 body (missing parts are empty).
    let mut parts = data.splitn(5, |&b| b == 0);
    let header = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let method = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let ticket = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();

    assert!(
        verify_request(&KEY, &header, &method, &path, &ticket, NOW, body).is_err(),
        "accepted a random header: {header:?}"
    );

    // Round trip at an input-chosen timestamp.
    let ts = data
        .iter()
        .take(8)
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let good = sign_request(&KEY, &method, &path, &ticket, ts, body);
    assert_eq!(
        verify_request(&KEY, &good, &method, &path, &ticket, ts, body),
        Ok(())
    );
    let expected_stale = NOW.abs_diff(ts) > waitroom_core::edge_auth::MAX_SKEW_MS;
    assert_eq!(
        verify_request(&KEY, &good, &method, &path, &ticket, NOW, body),
        if expected_stale {
            Err(EdgeAuthError::Stale)
        } else {
            Ok(())
        }
    );
});
