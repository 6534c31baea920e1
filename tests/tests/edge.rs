//! The edge against real workerd with real Durable Objects (issue 5), with
//! the real origin behind it. Each test owns a port block (see `setup`).

use std::time::Duration;

use waitroom_core::ticket::{self, AdmissionClaims, Claims, KeyRing};
use waitroom_e2e::*;

#[test]
fn exact_positions_fifo_admission_and_only_admitted_reach_the_origin() {
    let s = setup("edge_fifo", 0).start();
    let mut people: Vec<_> = (0..5).map(|_| s.citizen()).collect();
    for (i, p) in people.iter_mut().enumerate() {
        let (code, body) = p.join();
        assert_eq!(code, 201, "join {i}: {body}");
        assert_eq!(body["state"], "waiting");
        // A second join keeps the same place (200, no second entry).
        let (again, _) = p.join();
        assert_eq!(again, 200);
    }
    // Global positions are exact once the coordinator has told every shard
    // about the others (one tick).
    let got = eventually("positions 1..5", Duration::from_secs(10), || {
        let got = positions(&mut people);
        (got == vec![1, 2, 3, 4, 5]).then_some(got)
    });
    assert_eq!(got, vec![1, 2, 3, 4, 5]);
    assert_eq!(people[4].status()["queue_length"], 5);

    let keys_before = s.redis_keys();
    // A waiting citizen is refused at the edge, and the origin sees nothing.
    let sample = s.sample_citizens(1);
    let (code, body) = people[1].post_json("/api/passports", &passport_body(&sample[0]));
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["error"], "not_admitted");
    assert_eq!(
        s.redis_keys(),
        keys_before,
        "nothing reached the origin's store"
    );

    // 30 a minute: one admission every two ticks, so the first one is alone.
    let (code, body) = s.configure(json!({"paused": false, "new_users_per_minute": 30}));
    assert_eq!(code, 200, "{body}");
    let first = eventually("someone admitted", Duration::from_secs(20), || {
        people
            .iter_mut()
            .position(|p| p.status()["state"] == "admitted")
    });
    assert_eq!(first, 0, "the oldest arrival is admitted first");
    let (code, _) = s.configure(json!({"paused": true}));
    assert_eq!(code, 200);

    // The result page takes any base64url passport id, '_' included.
    let (code, html) = people[0].get_html("/passport/Ab_c-1xZ");
    assert_eq!(code, 200);
    assert!(html.contains("Ab_c-1xZ"), "the result page for that id");

    // The admitted citizen's request reaches the origin and is accepted.
    let (code, body) = people[0].post_json("/api/passports", &passport_body(&sample[0]));
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["status"], "queued");
    assert!(s.redis_keys() > keys_before, "the origin stored the job");
}

#[test]
fn a_silent_citizen_is_dropped_and_never_admitted() {
    let s = setup("edge_abandon", 1)
        .edge_var("ABANDON_AFTER_SECONDS", "15")
        .start();
    let mut a = s.citizen();
    let mut b = s.citizen();
    let mut c = s.citizen();
    for p in [&mut a, &mut b, &mut c] {
        assert_eq!(p.join().0, 201);
    }
    eventually("positions 1..3", Duration::from_secs(10), || {
        (a.status()["position"] == 1 && b.status()["position"] == 2 && c.status()["position"] == 3)
            .then_some(())
    });
    // b goes silent; a and c keep polling.
    eventually("b dropped", Duration::from_secs(40), || {
        std::thread::sleep(Duration::from_secs(2));
        let pa = a.status()["position"].as_u64();
        let pc = c.status()["position"].as_u64();
        (pa == Some(1) && pc == Some(2)).then_some(())
    });
    assert_eq!(b.status()["state"], "expired", "b's place is gone");
    let (code, _) = s.configure(json!({"paused": false, "new_users_per_minute": 600}));
    assert_eq!(code, 200);
    eventually("a and c admitted", Duration::from_secs(15), || {
        (a.status()["state"] == "admitted" && c.status()["state"] == "admitted").then_some(())
    });
    s.settle();
    assert_eq!(b.status()["state"], "expired", "b is never admitted");
    let stats = s.stats();
    assert_eq!(stats["admitted_total"], 2, "{stats}");
    assert!(stats["abandoned_total"].as_u64() >= Some(1), "{stats}");
}

#[test]
fn workerd_restart_keeps_every_place_and_admits_nobody_twice() {
    let mut s = setup("edge_restart", 2).start();
    let mut people: Vec<_> = (0..4).map(|_| s.citizen()).collect();
    for p in people.iter_mut() {
        assert_eq!(p.join().0, 201);
    }
    eventually("positions 1..4", Duration::from_secs(10), || {
        (positions(&mut people) == vec![1, 2, 3, 4]).then_some(())
    });
    let cookies: Vec<_> = people.iter().map(|p| p.cookies.clone()).collect();
    drop(people);

    s.stack.crash("edge");
    s.stack.start_service("edge").expect("edge restarts");

    let mut people: Vec<_> = cookies
        .into_iter()
        .map(|c| {
            let mut p = s.citizen();
            p.cookies = c;
            p
        })
        .collect();
    eventually(
        "same positions after restart",
        Duration::from_secs(15),
        || (positions(&mut people) == vec![1, 2, 3, 4]).then_some(()),
    );
    let (code, _) = s.configure(json!({"paused": false, "new_users_per_minute": 600}));
    assert_eq!(code, 200);
    eventually("all admitted", Duration::from_secs(15), || {
        people
            .iter_mut()
            .all(|p| p.status()["state"] == "admitted")
            .then_some(())
    });
    s.settle();
    assert_eq!(s.stats()["admitted_total"], 4, "each admitted exactly once");
}

#[test]
fn bad_tickets_are_no_tickets_and_never_admitted() {
    let s = setup("edge_tickets", 3).start();
    let ring = KeyRing::parse(&s.secrets().ticket_keys).unwrap();
    let mut p = s.citizen();
    assert_eq!(p.join().0, 201);
    let good = p.ticket().unwrap().to_string();

    // Tampered: one character of the payload changed -> a new place at the back.
    let mut bad = good.clone().into_bytes();
    let i = bad.len() / 2;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let mut t = s.citizen();
    t.set_ticket(std::str::from_utf8(&bad).unwrap());
    let (code, body) = t.join();
    assert_eq!(code, 201, "tampered ticket gets a fresh place: {body}");
    assert_ne!(t.ticket().unwrap(), good);
    // The page too: a waiting page, not an error.
    let mut t2 = s.citizen();
    t2.set_ticket("v1.k1.garbage.garbage");
    let (code, html) = t2.get_html("/");
    assert_eq!(code, 200);
    assert!(html.contains("<html"), "waiting page");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let admission = |room: &str, nbf: u64, exp: u64| {
        ticket::sign(
            &ring,
            &Claims::Admission(AdmissionClaims {
                ticket_id: "00000000000000000000000000000000".into(),
                room: room.into(),
                shard: 0,
                session_id: "s".into(),
                not_before_ms: nbf,
                expires_ms: exp,
                client: String::new(),
            }),
        )
    };
    let body = json!({"given_name":"Ana","family_name":"Lopez","date_of_birth":"1980-02-29","national_id":"X1234567","email":"ana@example.org"});
    // Waiting ticket on the API.
    let (code, _) = p.post_json("/api/passports", &body);
    assert_eq!(code, 403);
    // Admission ticket of another room.
    let mut other = s.citizen();
    other.set_ticket(&admission("another-room", now - 1000, now + 600_000));
    assert_eq!(other.post_json("/api/passports", &body).0, 403);
    // Expired admission ticket.
    let mut expired = s.citizen();
    expired.set_ticket(&admission("passport", now - 700_000, now - 1));
    assert_eq!(expired.post_json("/api/passports", &body).0, 403);
    // An admission ticket in the query string is ignored.
    let valid = admission("passport", now - 1000, now + 600_000);
    let mut q = s.citizen();
    let (code, _) = q.post_json(
        &format!("/api/passports?ticket={valid}&__Host-waitroom={valid}"),
        &body,
    );
    assert_eq!(code, 403);
}

#[test]
fn admin_needs_the_token_and_config_changes_apply_next_tick() {
    let s = setup("edge_admin", 4).start();
    let token = s.secrets().admin_token.clone();
    let get = |auth: Option<String>| {
        let mut req = s.http.get(s.url("/admin/stats"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send().unwrap().status().as_u16()
    };
    assert_eq!(get(None), 401);
    assert_eq!(get(Some("Bearer wrong".into())), 401);
    let mut last_byte = token.clone().into_bytes();
    let n = last_byte.len() - 1;
    last_byte[n] = if last_byte[n] == b'a' { b'b' } else { b'a' };
    assert_eq!(
        get(Some(format!(
            "Bearer {}",
            String::from_utf8(last_byte).unwrap()
        ))),
        401
    );
    assert_eq!(get(Some(format!("Bearer {token}"))), 200);
    let put = s
        .http
        .put(s.url("/admin/config"))
        .json(&json!({"paused": false}))
        .send()
        .unwrap();
    assert_eq!(put.status().as_u16(), 401);

    // Nonsense is refused with a field-level 422 and changes nothing.
    let (code, body) = s.configure(json!({"new_users_per_minute": -5}));
    assert_eq!(code, 422, "{body}");
    let (code, body) = s.configure(json!({"session_minutes": 0}));
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["field"], "session_minutes");
    let (code, body) = s.configure(json!({"no_such_field": 1}));
    assert_eq!(code, 422, "{body}");
    assert_eq!(s.stats()["config"]["paused"], true);

    let mut p = s.citizen();
    assert_eq!(p.join().0, 201);
    s.settle();
    assert_eq!(p.status()["state"], "waiting", "paused: nobody admitted");
    let (code, _) = s.configure(json!({"paused": false, "new_users_per_minute": 600}));
    assert_eq!(code, 200);
    eventually(
        "admitted after the config change",
        Duration::from_secs(5),
        || (p.status()["state"] == "admitted").then_some(()),
    );
}

#[test]
fn golden_ticket_vectors_agree_inside_workerd() {
    let s = setup("edge_vectors", 5).start();
    let vectors =
        std::fs::read_to_string(xtask::workspace_root().join("tests/vectors/tickets.json"))
            .unwrap();
    let native = ticket::vectors::check(&vectors).expect("native check passes");
    let resp = s
        .http
        .post(s.url("/__test/ticket-vectors"))
        .body(vectors)
        .send()
        .unwrap();
    let (code, body) = into_json(resp);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["passed"].as_u64(),
        Some(native as u64),
        "wasm result: {body}"
    );
}

#[test]
fn pages_and_cookies_follow_the_contract() {
    let s = setup("edge_pages", 6).start();
    let resp = s.http.get(s.url("/")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let headers = resp.headers().clone();
    let cookie = headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for attr in [
        "__Host-waitroom=",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
    ] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let csp = headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'"));
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert!(headers.get("referrer-policy").is_some());
    let html = resp.text().unwrap();
    // The place was made by this very load: its rank in the order comes
    // with the next tick, so the page says it is counting.
    assert_eq!(
        element_text(&html, "position").as_deref(),
        Some("…"),
        "the first answer is counting: {html}"
    );
    assert!(html.contains("http-equiv=\"refresh\""), "no-JS refresh");
    // The only one in line, reloaded with the cookie: number 1, nobody ahead.
    // (The ticket and the browser secret it is bound to: the ticket alone
    // would be a copy, and get a new place.)
    let cookies = cookies_set_by(&headers);
    assert!(cookies.contains("__Host-waitroom-key="), "{cookies}");
    let html = eventually("a rendered position", Duration::from_secs(15), || {
        let html = s
            .http
            .get(s.url("/"))
            .header("Cookie", &cookies)
            .send()
            .unwrap()
            .text()
            .unwrap();
        (element_text(&html, "position").as_deref() == Some("1")).then_some(html)
    });
    assert_eq!(element_text(&html, "ahead").as_deref(), Some("0"), "{html}");

    // Spanish from Accept-Language; static assets are served.
    let es = s
        .http
        .get(s.url("/"))
        .header("Accept-Language", "es-ES,es;q=0.9")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(es.contains("lang=\"es\""), "Spanish page");
    let css = s.http.get(s.url("/assets/app.css")).send().unwrap();
    assert_eq!(css.status().as_u16(), 200);
    // The DCC public keys are reachable without a ticket.
    let keys = s.http.get(s.url("/.well-known/dcc/keys")).send().unwrap();
    assert_eq!(keys.status().as_u16(), 200);
}

/// Issue 17: one admission order across shards. Citizens spread over the
/// four shards join in a known order; after a tick their positions are
/// exactly 1..n, and when people ahead of them leave (in other shards
/// too) the positions stay exact and never go up.
#[test]
fn positions_are_exact_across_shards_and_never_rise_when_others_leave() {
    let s = setup("edge_order", 47).start();
    let mut people: Vec<_> = (0..8).map(|_| s.citizen()).collect();
    for (i, p) in people.iter_mut().enumerate() {
        // `join` returns once the place has its rank: one after another.
        let (code, body) = p.join();
        assert_eq!(code, 201, "join {i}: {body}");
    }
    let stats = s.stats();
    let shards_used = stats["shards"]
        .as_array()
        .expect("per-shard stats")
        .iter()
        .filter(|sh| sh["waiting"].as_u64().unwrap_or(0) > 0)
        .count();
    assert!(shards_used >= 2, "citizens spread over shards: {stats}");
    let got = eventually("positions 1..8", Duration::from_secs(10), || {
        let got = positions(&mut people);
        (got == (1..=8).collect::<Vec<u64>>()).then_some(got)
    });
    assert_eq!(got.len(), 8);

    // The 2nd and 5th leave; the others' positions close the gaps, exactly,
    // and no answer on the way shows anyone a higher number than before.
    assert_eq!(people[1].leave(), 204);
    assert_eq!(people[4].leave(), 204);
    let mut rest: Vec<_> = people
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 1 && *i != 4)
        .map(|(_, p)| p)
        .collect();
    let mut last = positions(&mut rest);
    let want: Vec<u64> = (1..=6).collect();
    eventually("positions 1..6", Duration::from_secs(15), || {
        let now = positions(&mut rest);
        for (a, b) in last.iter().zip(&now) {
            assert!(b <= a, "a position went up: {last:?} then {now:?}");
        }
        last = now.clone();
        (now == want).then_some(())
    });
    let t = s.tick_id();
    s.ticks_after(t, 2);
    assert_eq!(positions(&mut rest), want, "still exact ticks later");
}

#[test]
fn a_join_into_a_room_gone_idle_is_counted() {
    // A busy room's tick plans from the summaries the last grants brought.
    // Once the room goes idle those are older than the arrival that wakes
    // it: planning from them, the Coordinator would not count the newcomer,
    // find the room still empty and stop again, leaving them "counting".
    let s = setup("edge_idle_wake", 49).edge_var("SHARDS", "4").start();
    assert_eq!(s.configure(json!({ "paused": true })).0, 200);
    let mut first = s.citizen();
    let (code, body) = first.join();
    assert_eq!(code, 201, "{body}");
    eventually("the first citizen's place", Duration::from_secs(10), || {
        (first.status()["position"] == 1).then_some(())
    });
    assert_eq!(first.leave(), 204);
    // The tick that finds nobody waiting and nobody admitted stops the alarm.
    eventually("the room idle", Duration::from_secs(20), || {
        let stats = s.stats();
        (stats["waiting"] == 0 && stats["active"] == 0).then_some(())
    });
    let idle_at = s.tick_id();
    let mut next = s.citizen();
    let (code, body) = next.join();
    assert_eq!(code, 201, "{body}");
    let status = eventually("the newcomer counted", Duration::from_secs(15), || {
        let st = next.status();
        (st["position"] == 1).then_some(st)
    });
    assert_eq!(status["state"], "waiting", "{status}");
    assert!(s.tick_id() > idle_at, "a tick counted the newcomer");
}
