//! Operators talk to the line, schedule events and prove the lottery fair
//! keep a report and let their own people bypass the line (issue 21),
//! against real workerd. Port blocks 62..66.

use std::time::{Duration, Instant};

use serde_json::Value;
use waitroom_core::entry;
use waitroom_core::operator::fairness::{admission_order, parse_entries, verify};
use waitroom_core::operator::{format_rfc3339, Commitment, FairnessSeed};
use waitroom_core::ticket::{Claims, UntrustedTicket};
use waitroom_e2e::attack::ring;
use waitroom_e2e::*;

/// The live message in a queue answer.
fn message_of(v: &Value) -> Option<String> {
    v.get("message").and_then(Value::as_str).map(str::to_owned)
}

#[test]
fn the_live_message_reaches_every_answer_within_one_poll_and_null_removes_it() {
    let s = setup("op_message", 62).start();
    let mut c = s.citizen();
    let (code, body) = c.join();
    assert_eq!(code, 201, "{body}");
    assert_eq!(message_of(&body), None, "no message set: {body}");

    let en = "Registry slow: <b>keep this page</b> & wait";
    let (code, body) = s.configure(json!({"message": {"en": en, "es": "Registro lento"}}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["message"]["en"], en);
    // Shards get it with the next tick's grants: one poll after it (the
    // tick under way may have read the settings before the change).
    s.settle();
    assert_eq!(message_of(&c.status()).as_deref(), Some(en));
    // The page's language picks the text (the same choice as the page).
    let url = s.url("/queue/status");
    let req = s
        .http
        .get(url)
        .header("Accept", "application/json")
        .header("Accept-Language", "es-ES,es;q=0.9");
    let (_, es) = into_json(c.send(req));
    assert_eq!(message_of(&es).as_deref(), Some("Registro lento"), "{es}");
    // The no-JS page shows it, escaped: text, never markup.
    let (code, html) = c.get_html("/");
    assert_eq!(code, 200);
    let banner = element_text(&html, "message").expect("the message banner");
    assert!(
        banner.contains("Registry slow: &lt;b&gt;keep this page&lt;/b&gt; &amp; wait"),
        "{banner}"
    );
    assert!(!html.contains("<b>keep"), "markup got through");
    // A newcomer gets it in the join answer already.
    let (_, body) = s.citizen().join();
    assert_eq!(message_of(&body).as_deref(), Some(en));

    // Refused, naming the field, and nothing changed.
    for (patch, field) in [
        (json!({"message": {"en": "x".repeat(281)}}), "message.en"),
        (json!({"message": {"en": "two\nlines"}}), "message.en"),
        (json!({"message": {"fr": "non"}}), "message.fr"),
        (json!({"message": {}}), "message"),
        (json!({"message": "plain string"}), "message"),
    ] {
        let (code, body) = s.configure(patch.clone());
        assert_eq!(code, 422, "{patch}: {body}");
        assert_eq!(body["field"], field, "{patch}: {body}");
    }
    assert_eq!(s.stats()["config"]["message"]["en"], en);

    // `null` removes it, from the JSON and the page.
    let (code, body) = s.configure(json!({"message": null}));
    assert_eq!(code, 200, "{body}");
    s.settle();
    assert_eq!(message_of(&c.status()), None);
    let (_, html) = c.get_html("/");
    assert!(
        html.contains("id=\"message\" role=\"status\" hidden>"),
        "the banner is hidden again"
    );
}

#[test]
fn a_scheduled_event_overrides_the_room_while_it_runs() {
    let s = setup("op_event", 63).start();
    let start = now_ms() + 6_000;
    let end = start + 8_000;
    // Refusals name the field: a window the wrong way round, overlaps,
    // too many events.
    let event = |from: u64, to: u64| json!({"name": "wave", "start": format_rfc3339(from), "end": format_rfc3339(to)});
    let far = now_ms() + 86_400_000;
    for (patch, field) in [
        (
            json!({"events": [event(far + 10_000, far)]}),
            "events[0].end",
        ),
        (
            json!({"events": [event(far, far + 60_000), event(far + 30_000, far + 90_000)]}),
            "events[1].start",
        ),
        (
            json!({"events": (0..6).map(|i| event(far + i * 60_000, far + i * 60_000 + 1_000)).collect::<Vec<_>>()}),
            "events",
        ),
        (
            json!({"events": [{"start": format_rfc3339(far), "end": format_rfc3339(far + 1), "mode": "lifo"}]}),
            "events[0].mode",
        ),
    ] {
        let (code, body) = s.configure(patch.clone());
        assert_eq!(code, 422, "{patch}: {body}");
        assert_eq!(body["field"], field, "{patch}: {body}");
    }
    assert_eq!(s.stats()["config"]["events"], json!([]), "nothing stored");

    let (code, body) = s.configure(json!({
        "events": [{
            "name": "Closed for the registry's maintenance",
            "start": format_rfc3339(start),
            "end": format_rfc3339(end),
            "mode": "reject",
            "message": {"en": "Maintenance until the top of the hour"},
        }],
    }));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["events"][0]["mode"], "reject");
    // Before it: the room's settings (fifo, no message).
    let mut early = s.citizen();
    let (code, body) = early.join();
    assert_eq!((code, message_of(&body)), (201, None), "{body}");

    // While it runs: new arrivals are sent away, the line hears why.
    let during = eventually("the event in force", Duration::from_secs(20), || {
        let v = early.status();
        (message_of(&v).as_deref() == Some("Maintenance until the top of the hour")).then_some(v)
    });
    assert_eq!(during["state"], "waiting", "those in line keep their place");
    let (code, body) = s.citizen().join();
    assert_eq!(code, 503, "reject mode refuses newcomers: {body}");
    assert!(
        now_ms() < end,
        "the event ran longer than the test expected"
    );

    // After it: the room's settings again, without anyone touching them.
    eventually("the event over", Duration::from_secs(20), || {
        message_of(&early.status()).is_none().then_some(())
    });
    let (code, body) = s.citizen().join();
    assert_eq!(code, 201, "fifo again: {body}");
}

/// A waiting citizen's entry id (what the published list names) and shard.
fn entry_of(s: &TestStack, c: &Citizen<'_>) -> (u64, u32) {
    let t = UntrustedTicket::parse(c.ticket().expect("a ticket"))
        .unwrap()
        .verify(&ring(s), now_ms(), "passport")
        .unwrap();
    match t.claims() {
        Claims::Waiting(w) => (entry::entry_id(&w.ticket_id), w.shard),
        Claims::Admission(_) => panic!("admitted already"),
    }
}

#[test]
fn the_lottery_is_committed_before_anyone_joins_and_anyone_can_recompute_it() {
    let s = setup("op_fairness", 64).start();
    let public = || {
        let (code, v) = into_json(s.http.get(s.url("/fairness")).send().unwrap());
        assert_eq!(code, 200, "{v}");
        v
    };
    assert_eq!(public()["lotteries"], json!([]));
    let start = now_ms();
    let event = start + 10_000;
    let idle_since = s.tick_id();
    let (code, body) = s.configure(json!({
        "prequeue_start": format_rfc3339(start - 60_000),
        "event_start": format_rfc3339(event),
    }));
    assert_eq!(code, 200, "{body}");
    // The shards open the pre-queue with the grants of the tick the change
    // wakes (the room is idle: no tick was under way).
    s.ticks_after(idle_since, 1);
    // Committed in the same answer's time, before anyone joined: the
    // commitment only, the seed kept secret.
    let before = public();
    let lottery = &before["lotteries"][0];
    let event_ms = event;
    assert_eq!(lottery["event_start_ms"], event_ms, "{before}");
    let commitment = lottery["commitment"]
        .as_str()
        .expect("a commitment")
        .to_owned();
    assert_eq!(lottery["seed"], Value::Null, "{before}");
    let entries_url = s.url(&format!("/fairness/entries?event_start_ms={event_ms}"));
    let resp = s.http.get(&entries_url).send().unwrap();
    assert_eq!(resp.status().as_u16(), 404, "no list before the draw");

    let mut people: Vec<_> = (0..8).map(|_| s.citizen()).collect();
    for p in people.iter_mut() {
        let (code, body) = p.join();
        assert_eq!(
            (code, body["state"].as_str()),
            (201, Some("prequeue")),
            "{body}"
        );
    }
    let ids: Vec<(u64, u32)> = people.iter().map(|p| entry_of(&s, p)).collect();

    // After the draw: the seed, which matches the commitment, and the list.
    let after = eventually("the seed published", Duration::from_secs(30), || {
        let v = public();
        v["lotteries"][0]["seed"].is_string().then_some(v)
    });
    assert_eq!(after["lotteries"][0]["commitment"], commitment.as_str());
    assert_eq!(after["lotteries"][0]["entries"], 8, "{after}");
    let seed = FairnessSeed::from_hex(after["lotteries"][0]["seed"].as_str().unwrap()).unwrap();
    let commitment = Commitment::from_hex(&commitment).unwrap();
    assert!(verify(&seed, &commitment), "the seed is the committed one");
    let mut other = seed;
    other.0[0] ^= 1;
    assert!(
        !verify(&other, &commitment),
        "a changed seed does not match"
    );
    let text = s.http.get(&entries_url).send().unwrap().text().unwrap();
    let published = parse_entries(&text).expect("the published list parses");
    let mut listed: Vec<(u64, u32)> = published.iter().map(|e| (e.id, e.shard)).collect();
    let mut mine = ids.clone();
    listed.sort_unstable();
    mine.sort_unstable();
    assert_eq!(listed, mine, "the list is exactly the pre-queue");

    // The recomputed order is the order of admission: one every 3 s, so
    // each poll round (all eight, well under a second) sees one more.
    let order = admission_order(seed.lottery_seed(), &published);
    let (code, _) = s.configure(json!({"paused": false, "new_users_per_minute": 20}));
    assert_eq!(code, 200);
    let mut admitted = Vec::new();
    let mut waiting: Vec<usize> = (0..people.len()).collect();
    while !waiting.is_empty() {
        let next = eventually("the next admission", Duration::from_secs(20), || {
            waiting
                .iter()
                .position(|&i| people[i].status()["state"] == "admitted")
        });
        let i = waiting.remove(next);
        admitted.push(ids[i]);
    }
    let recomputed: Vec<(u64, u32)> = order.iter().map(|e| (e.id, e.shard)).collect();
    assert_eq!(admitted, recomputed, "admitted in the published order");
}

/// `GET /admin/report` with the operator's token: status and body text.
fn report(s: &TestStack, query: &str) -> (u16, String, String) {
    let resp = s
        .http
        .get(s.url(&format!("/admin/report{query}")))
        .bearer_auth(&s.secrets().admin_token)
        .send()
        .unwrap();
    let code = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (code, kind, resp.text().unwrap())
}

/// The report's total row of the event starting at `start` (`None`: the
/// room outside events).
fn total_of(rep: &Value, start: Option<&str>) -> Value {
    rep["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["event"].as_str() == start)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn the_report_counts_what_happened_in_a_scripted_event() {
    let s = setup("op_report", 65).start();
    let (code, body) = s.configure(json!({"paused": true, "abandon_after_seconds": 15}));
    assert_eq!(code, 200, "{body}");
    let resp = s.http.get(s.url("/admin/report")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 401, "the report is the operator's");
    let (code, _, body) = report(&s, "?format=xml");
    assert_eq!(code, 400, "{body}");

    // One citizen before the event (the room's), then the event.
    let mut probe = s.citizen();
    assert_eq!(probe.join().0, 201);
    let start = now_ms() + 2_000;
    let (code, body) = s.configure(json!({"events": [{
        "name": "launch", "start": format_rfc3339(start), "end": format_rfc3339(start + 600_000),
        "new_users_per_minute": 120, "message": {"en": "Launch wave"},
    }]}));
    assert_eq!(code, 200, "{body}");
    eventually("the event in force", Duration::from_secs(20), || {
        (message_of(&probe.status()).as_deref() == Some("Launch wave")).then_some(())
    });
    // In the event: six join, one of them falls silent and is dropped.
    let mut silent = s.citizen();
    let silent_joining = Instant::now();
    assert_eq!(silent.join().0, 201);
    let mut people: Vec<_> = (0..5).map(|_| s.citizen()).collect();
    for p in people.iter_mut() {
        assert_eq!(p.join().0, 201);
    }
    // The five joined up to this long after the silent one.
    let join_spread_s = silent_joining.elapsed().as_secs() + 1;
    eventually("the silent one dropped", Duration::from_secs(60), || {
        probe.status();
        for p in people.iter_mut() {
            p.status();
        }
        std::thread::sleep(Duration::from_millis(500));
        (s.stats()["abandoned_total"] == 1).then_some(())
    });
    // Then admissions: the probe and the five.
    assert_eq!(s.configure(json!({"paused": false})).0, 200);
    eventually("everyone admitted", Duration::from_secs(60), || {
        let mut all = probe.status()["state"] == "admitted";
        for p in people.iter_mut() {
            all &= p.status()["state"] == "admitted";
        }
        all.then_some(())
    });

    // The report: the room's row holds the probe's arrival, the event's
    // everything after (a tick's facts arrive with the next summary).
    let event = format_rfc3339(start);
    let rep = eventually("the report caught up", Duration::from_secs(20), || {
        let (code, kind, text) = report(&s, "");
        assert_eq!(code, 200, "{text}");
        assert!(kind.starts_with("application/json"), "{kind}");
        let rep: Value = serde_json::from_str(&text).unwrap();
        (total_of(&rep, Some(&event))["admitted"] == 6).then_some(rep)
    });
    let room = total_of(&rep, None);
    let wave = total_of(&rep, Some(&event));
    assert_eq!(
        (room["joined"].as_u64(), room["admitted"].as_u64()),
        (Some(1), Some(0)),
        "{rep}"
    );
    assert_eq!(wave["joined"], 6, "{rep}");
    assert_eq!(wave["admitted"], 6, "{rep}");
    assert_eq!(wave["abandoned"], 1, "{rep}");
    assert_eq!(wave["active_peak"], 6, "{rep}");
    // Nobody was admitted before the silent one dropped, 15 s after its
    // join, and the five joined at most `join_spread_s` after it (waits
    // are whole seconds, rounded down).
    assert!(
        wave["queue_p50_s"].as_u64().unwrap() >= 15 - join_spread_s,
        "{wave}, joins spread over {join_spread_s} s"
    );
    assert!(wave["queue_p99_s"].as_u64() >= wave["queue_p50_s"].as_u64());
    // Their first ETA (while paused) was not kept, and the report says by
    // how much: a figure for everyone admitted.
    assert!(wave["eta_error_p50_s"].is_u64(), "{wave}");
    // The minutes add up to the totals.
    let minutes = rep["minutes"].as_array().unwrap();
    let sum = |field: &str| -> u64 { minutes.iter().map(|m| m[field].as_u64().unwrap()).sum() };
    assert_eq!(sum("joined"), 7);
    assert_eq!(sum("admitted"), 6);

    // The same minutes as CSV, for the spreadsheet.
    let (code, kind, csv) = report(&s, "?format=csv");
    assert_eq!(code, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("minute,event,joined,admitted,abandoned,"),
        "{csv}"
    );
    assert_eq!(lines.len(), minutes.len() + 1, "{csv}");
    assert!(csv.contains(&event), "{csv}");
}

/// The report's minutes summed for `field`.
fn report_sum(s: &TestStack, field: &str) -> u64 {
    let (code, _, text) = report(s, "");
    assert_eq!(code, 200, "{text}");
    let rep: Value = serde_json::from_str(&text).unwrap();
    rep["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[field].as_u64().unwrap())
        .sum()
}

#[test]
fn bypass_rules_admit_at_once_by_address_header_and_country_and_are_counted() {
    let s = setup("op_bypass", 66).start();
    let secret = "call-centre-tool-7f3a9c2e5b1d4086";
    for (patch, field) in [
        (
            json!({"bypass_rules": {"cidrs": ["198.51.100.7/24"]}}),
            "bypass_rules.cidrs[0]",
        ),
        (
            json!({"bypass_rules": {"headers": [{"name": "X-Call-Centre", "value": "short"}]}}),
            "bypass_rules.headers[0].value",
        ),
        (
            json!({"bypass_rules": {"countries": ["lux"]}}),
            "bypass_rules.countries[0]",
        ),
    ] {
        let (code, body) = s.configure(patch.clone());
        assert_eq!(code, 422, "{patch}: {body}");
        assert_eq!(body["field"], field, "{patch}: {body}");
    }
    assert_eq!(s.stats()["config"]["bypass_rules"]["cidrs"], json!([]));

    // Paused: whoever no rule matches waits.
    let (code, body) = s.configure(json!({
        "paused": true,
        "bypass_rules": {
            "cidrs": ["198.51.100.0/24", "2001:db8:cc::/48"],
            "headers": [{"name": "X-Call-Centre", "value": secret}],
            "countries": ["LU"],
        },
    }));
    assert_eq!(code, 200, "{body}");
    let state = |answer: &(u16, Value)| (answer.0, answer.1["state"].as_str().map(str::to_owned));
    let waiting = (201, Some("waiting".to_owned()));
    let admitted = (201, Some("admitted".to_owned()));
    let minute = now_ms() / 60_000;

    let mut office = s.citizen();
    assert_eq!(state(&office.join_from("198.51.100.7")), admitted);
    let mut office6 = s.citizen();
    assert_eq!(state(&office6.join_from("2001:db8:cc:1::5")), admitted);
    let mut agent = s.citizen();
    assert_eq!(state(&agent.join_with("X-Call-Centre", secret)), admitted);
    let mut abroad = s.citizen();
    assert_eq!(
        state(&abroad.join_with("x-waitroom-test-country", "LU")),
        admitted
    );
    // No rule matches these: a neighbour range, a wrong secret, another
    // country, nothing at all.
    assert_eq!(state(&s.citizen().join_from("198.51.101.7")), waiting);
    let mut guess = s.citizen();
    assert_eq!(
        state(&guess.join_with("X-Call-Centre", &secret.replace('7', "8"))),
        waiting
    );
    let mut home = s.citizen();
    assert_eq!(
        state(&home.join_with("x-waitroom-test-country", "ES")),
        waiting
    );
    assert_eq!(state(&s.citizen().join()), waiting);

    // A bypassed session is a real admission: the form, and the active cap.
    let (code, html) = office.get_html("/");
    assert_eq!(code, 200);
    assert!(
        html.contains("id=\"passport-form\""),
        "no form for the office"
    );
    assert_eq!(agent.status()["state"], "admitted");

    // Counted, never invisible: in the stats and in the report.
    let stats = eventually("the sessions counted", Duration::from_secs(20), || {
        let v = s.stats();
        (v["active"] == 4).then_some(v)
    });
    if now_ms() / 60_000 == minute {
        assert_eq!(
            stats["bypassed_this_minute"],
            json!({"cidr": 2, "header": 1, "country": 1}),
            "{stats}"
        );
    }
    eventually("the report counts them", Duration::from_secs(20), || {
        (report_sum(&s, "bypassed_cidr") == 2).then_some(())
    });
    assert_eq!(report_sum(&s, "bypassed_header"), 1);
    assert_eq!(report_sum(&s, "bypassed_country"), 1);

    // Rules cleared: the office queues like everyone.
    assert_eq!(s.configure(json!({"bypass_rules": {}})).0, 200);
    assert_eq!(state(&s.citizen().join_from("198.51.100.9")), waiting);
}
