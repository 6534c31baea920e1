//! Sign and verify cost. Target: verify under 2 µs native.
//!
//! ```text
//! cargo bench -p waitroom-core --bench ticket
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use waitroom_core::edge_auth::{sign_request, verify_request};
use waitroom_core::ticket::{
    sign, verify_admission, verify_waiting, AdmissionClaims, Claims, KeyRing, WaitingClaims,
};

/// Fixed TEST keys, not secrets.
const RING: &str =
    "k2:IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI,k1:ERERERERERERERERERERERERERERERERERERERERERE";
const NOW: u64 = 1_700_000_000_000;

fn admission() -> Claims {
    Claims::Admission(AdmissionClaims {
        ticket_id: "Zx3bQ9kT1mW8vR2pL6yN4c".into(),
        room: "passport".into(),
        shard: 17,
        session_id: "s7Hk2PqW9xLm4RtY8bNv3c".into(),
        not_before_ms: NOW,
        expires_ms: NOW + 600_000,
        client: String::new(),
    })
}

fn waiting() -> Claims {
    Claims::Waiting(WaitingClaims {
        ticket_id: "Zx3bQ9kT1mW8vR2pL6yN4c".into(),
        room: "passport".into(),
        shard: 17,
        seq: 123_456,
        arrived_ms: NOW,
        issued_ms: NOW,
        expires_ms: NOW + 86_400_000,
        client: String::new(),
    })
}

fn tickets(c: &mut Criterion) {
    let ring = KeyRing::parse(RING).unwrap();
    let adm = admission();
    let wait = waiting();
    let adm_t = sign(&ring, &adm);
    let wait_t = sign(&ring, &wait);
    let mut forged = adm_t.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();

    c.bench_function("ticket/sign_admission", |b| {
        b.iter(|| sign(black_box(&ring), black_box(&adm)))
    });
    c.bench_function("ticket/verify_admission", |b| {
        b.iter(|| verify_admission(black_box(&ring), black_box(&adm_t), NOW, "passport"))
    });
    c.bench_function("ticket/verify_waiting", |b| {
        b.iter(|| verify_waiting(black_box(&ring), black_box(&wait_t), NOW, "passport"))
    });
    c.bench_function("ticket/verify_forged_mac", |b| {
        b.iter(|| verify_admission(black_box(&ring), black_box(&forged), NOW, "passport"))
    });

    let key = [0x33u8; 32];
    let body = vec![b'x'; 1024];
    let header = sign_request(&key, "POST", "/api/passport", &adm_t, NOW, &body);
    c.bench_function("edge_auth/verify_1KiB_body", |b| {
        b.iter(|| {
            verify_request(
                black_box(&key),
                black_box(&header),
                "POST",
                "/api/passport",
                black_box(&adm_t),
                NOW,
                black_box(&body),
            )
        })
    });
}

criterion_group!(benches, tickets);
criterion_main!(benches);
