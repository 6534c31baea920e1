//! Harness for the end-to-end tests: the real stack (redis-server,
//! registry-sim, origin-worker, workerd via `wrangler dev` running the
//! edge's test build, see [`setup`]) started by `xtask::stack` on a port
//! block of the test's own, and citizens that keep their cookies like a
//! browser does.
//!
//! Cookies are handled by hand on purpose: the ticket cookie is `Secure` and
//! the local stack is plain http, so a browser-grade cookie store would
//! (rightly) refuse to send it back.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::Value;
use xtask::secrets::Secrets;
use xtask::stack::{Ports, Stack, StackOptions};
use xtask::tools::EdgeBuild;

pub use serde_json::json;

pub mod attack;
pub mod launch;

static BUILD: Once = Once::new();

/// Builds origin-worker and registry-sim (a no-op when fresh) and checks
/// that the edge build `edge` exists (`cargo xtask test` builds both).
pub fn ensure_built(edge: EdgeBuild) {
    BUILD.call_once(|| {
        // The very build `cargo nextest run --workspace` made: any narrower
        // one would give waitroom-core other features (the test-vectors the
        // dev-dependencies turn on) and relink target/debug/origin-worker
        // under the feet of tests running in parallel.
        xtask::tools::build_origin(false).expect("building origin-worker");
    });
    let flag = match edge {
        EdgeBuild::Test => " --test-routes",
        EdgeBuild::Deploy => "",
    };
    assert!(
        edge.script().exists(),
        "{} is missing: run `cargo xtask build-edge{flag}` (cargo xtask test does it for you)",
        edge.script().display()
    );
}

/// A running stack for one test.
pub struct TestStack {
    pub stack: Stack,
    pub http: Client,
}

/// Options a test may change before the stack starts.
pub struct Setup {
    pub opts: StackOptions,
}

impl Setup {
    pub fn edge_var(mut self, k: &str, v: &str) -> Self {
        self.opts.edge_vars.push((k.into(), v.into()));
        self
    }
    pub fn origin_env(mut self, k: &str, v: &str) -> Self {
        self.opts.origin_env.push((k.into(), v.into()));
        self
    }
    pub fn registry_env(mut self, k: &str, v: &str) -> Self {
        self.opts.registry_env.push((k.into(), v.into()));
        self
    }
    /// Redis with its append-only file, as dev and the README run it
    /// (the harness default is off, for speed).
    pub fn redis_aof(mut self, on: bool) -> Self {
        self.opts.redis_aof = on;
        self
    }
    pub fn start(self) -> TestStack {
        // nextest ends a test that overruns with SIGTERM: take the stack down too.
        let _ = xtask::proc::stop_all_on_interrupt();
        let stack = Stack::start(self.opts).unwrap_or_else(|e| panic!("stack did not start: {e}"));
        let http = Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            // A fresh connection per request: a pooled one that the server
            // closes as idle just as a request goes out fails that request
            // with `IncompleteMessage` (seen once on the edge in a CI run),
            // and no test here is about connection reuse.
            .pool_max_idle_per_host(0)
            .build()
            .expect("http client");
        TestStack { stack, http }
    }
}

/// Prepares a stack on port block `block` (unique per test), named `name`
/// for its state folder. Admissions start paused, so tests control them.
pub fn setup(name: &str, block: u16) -> Setup {
    ensure_built(EdgeBuild::Test);
    let state_dir: PathBuf = xtask::target_dir().join("e2e").join(name);
    let _ = std::fs::remove_dir_all(&state_dir);
    std::fs::create_dir_all(&state_dir).expect("state dir");
    let secrets =
        Secrets::generate(&xtask::target_dir().join("debug/origin-worker")).expect("secrets");
    let mut opts = StackOptions::new(Ports::block(block), secrets, state_dir);
    opts.redis_aof = false;
    // The build with `/__test/*` (never deployed); every other route is the
    // same code as the deploy build's.
    opts.edge_build = EdgeBuild::Test;
    opts.edge_vars = vec![
        ("SHARDS".into(), "4".into()),
        ("PAUSED".into(), "true".into()),
        // Holds off unless a test is about them (`edge_var` overrides).
        ("MAX_AWAY_MINUTES".into(), "0".into()),
    ];
    Setup { opts }
}

impl TestStack {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.opts.edge_url())
    }

    pub fn secrets(&self) -> &Secrets {
        &self.stack.opts.secrets
    }

    pub fn citizen(&self) -> Citizen<'_> {
        Citizen {
            stack: self,
            cookies: BTreeMap::new(),
        }
    }

    /// `n` citizens who joined one after another, once they stand at
    /// positions 1..=n (a paused room with nobody else waiting).
    pub fn queued(&self, n: usize) -> Vec<Citizen<'_>> {
        let mut people: Vec<_> = (0..n).map(|_| self.citizen()).collect();
        for p in people.iter_mut() {
            assert_eq!(p.join().0, 201);
        }
        let want: Vec<u64> = (1..=n as u64).collect();
        eventually("positions 1..n", Duration::from_secs(15), || {
            (positions(&mut people) == want).then_some(())
        });
        people
    }

    /// `PUT /admin/config` with the operator token; returns (status, body).
    pub fn configure(&self, patch: Value) -> (u16, Value) {
        let resp = self
            .http
            .put(self.url("/admin/config"))
            .bearer_auth(&self.secrets().admin_token)
            .json(&patch)
            .send()
            .expect("admin config");
        into_json(resp)
    }

    /// The id of the last completed Coordinator tick (`/admin/stats`).
    pub fn tick_id(&self) -> u64 {
        let stats = self.stats();
        stats["tick_id"]
            .as_u64()
            .unwrap_or_else(|| panic!("no tick_id in /admin/stats: {stats}"))
    }

    /// Waits until the Coordinator has completed `n` ticks after tick
    /// `since`, and returns the last tick id.
    pub fn ticks_after(&self, since: u64, n: u64) -> u64 {
        let within = TICK_TIMEOUT * u32::try_from(n).unwrap_or(u32::MAX / 8) + TICK_TIMEOUT;
        eventually(&format!("tick {}", since + n), within, || {
            let t = self.tick_id();
            (t >= since + n).then_some(t)
        })
    }

    /// Waits until everything done before this call is in every shard's
    /// latest grant: two more ticks, because the tick under way may have
    /// read the configuration and the summaries before the change; the
    /// next one starts after this call. Only for a room that keeps ticking
    /// (someone waiting or admitted): an idle Coordinator ticks once when
    /// woken and then stops (see [`TestStack::ticks_after`] for that case).
    pub fn settle(&self) -> u64 {
        let now = self.tick_id();
        self.ticks_after(now, 2)
    }

    pub fn stats(&self) -> Value {
        let resp = self
            .http
            .get(self.url("/admin/stats"))
            .bearer_auth(&self.secrets().admin_token)
            .send()
            .expect("admin stats");
        let (status, body) = into_json(resp);
        assert_eq!(status, 200, "stats: {body}");
        body
    }

    /// `POST` to a test route (`/__test/…`, the test build's); its JSON,
    /// which must come with `200`.
    pub fn test_route(&self, path: &str) -> Value {
        let (code, v) = into_json(self.http.post(self.url(path)).send().expect(path));
        assert_eq!(code, 200, "{path}: {v}");
        v
    }

    /// `redis-cli` against this stack's Redis.
    pub fn redis(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.stack.opts.ports.redis.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Number of keys in Redis: "did anything get stored?" Leaves out the
    /// registry rate-limit bucket (`wr:ratelimit:*`) and the capacity
    /// figures (`wr:capacity:*`, per-second counters): a job already
    /// accepted creates them and they expire on their own, which made
    /// before/after comparisons flaky.
    pub fn redis_keys(&self) -> u64 {
        self.redis(&["--scan"])
            .lines()
            .filter(|k| {
                !k.trim().is_empty()
                    && !k.starts_with("wr:ratelimit:")
                    && !k.starts_with("wr:capacity:")
            })
            .count() as u64
    }

    /// Citizens registry-sim will confirm as vaccinated.
    pub fn sample_citizens(&self, n: usize) -> Vec<Value> {
        let url = format!("{}/citizens/sample?n={n}", self.stack.opts.registry_url());
        let body: Value = self
            .http
            .get(url)
            .send()
            .expect("registry sample")
            .json()
            .expect("json");
        body.as_array().cloned().unwrap_or_default()
    }
}

/// Whether this is a CI run (`CI=true`): a missing tool must then fail a
/// test, never skip it.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Wall-clock milliseconds since the epoch (to sign tickets in tests).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// The contract's passport body for a citizen from registry-sim's sample.
pub fn passport_body(c: &Value) -> Value {
    json!({
        "given_name": c["given_name"], "family_name": c["family_name"],
        "date_of_birth": c["date_of_birth"], "national_id": c["national_id"], "email": c["email"],
    })
}

/// Each citizen's current position (a heartbeat each); 0 when not waiting.
pub fn positions(citizens: &mut [Citizen<'_>]) -> Vec<u64> {
    citizens
        .iter_mut()
        .map(|c| c.status()["position"].as_u64().unwrap_or(0))
        .collect()
}

/// Generous time for one Coordinator tick (nominally a second) on a
/// loaded machine.
const TICK_TIMEOUT: Duration = Duration::from_secs(5);

/// The value of the Prometheus sample `name` (no labels) in a `/metrics`
/// text: `None` when no line has exactly that name, so a renamed metric
/// fails the caller rather than passing for zero.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok())?
    })
}

/// The text inside the element with `id="<id>"` (up to its first child
/// tag or its end): what a citizen reads there.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[at..];
    let open_end = rest.find('>')? + 1;
    let text = &rest[open_end..];
    let close = text.find('<')?;
    Some(text[..close].trim().to_string())
}

/// Waits until `f` returns `Some`, polling every 200 ms, or panics naming `what`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sets its flag when dropped: a test that runs load in a thread scope
/// holds one, so a failing assertion ends the load instead of leaving the
/// scope waiting for it forever.
pub struct StopOnDrop<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The `Cookie` header a browser would send back after a response with
/// these `Set-Cookie`s (name=value of each, in order).
pub fn cookies_set_by(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn into_json(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Whether `resp` is the `503` that `wrangler dev`'s proxy (in front of
/// workerd locally; not part of a deployed Worker) answers when its own
/// request to workerd fails at the connection, for any method but GET and
/// HEAD (those it sends again itself): "Your worker restarted mid-request…"
/// in plain text with `Retry-After: 0`. wrangler 4.86's ProxyWorker tells a
/// reload from a real failure by comparing the request's whole URL with the
/// Worker's base URL, so on any path but `/` every such failure reads as a
/// restart. It lacks the security headers the Worker puts on every answer
/// of its own (`Content-Security-Policy` among them).
pub fn lost_by_dev_proxy(resp: &Response) -> bool {
    resp.status().as_u16() == 503
        && resp.headers().get("retry-after").is_some_and(|v| v == "0")
        && !resp.headers().contains_key("content-security-policy")
}

/// Sends `req`; a request that `wrangler dev`'s proxy lost on its way to
/// workerd ([`lost_by_dev_proxy`]) is sent again, as the citizen's browser
/// would be told to (at most 3 times). Also returns how many were lost,
/// for a test to bound.
pub fn send_past_dev_proxy(req: reqwest::blocking::RequestBuilder) -> (Response, u32) {
    let mut lost = 0;
    loop {
        let resp = req
            .try_clone()
            .expect("a request without a streamed body")
            .send()
            .expect("request");
        if lost < 3 && lost_by_dev_proxy(&resp) {
            lost += 1;
            continue;
        }
        return (resp, lost);
    }
}

/// Sends `req` over a plain socket and reads the answer even when the
/// server answers and closes before the whole body is sent, as a `413` for
/// an oversized body does: an HTTP client reports that as a failed send
/// (broken pipe) although the answer is there to read, as a browser would.
pub fn send_raw(req: reqwest::blocking::Request) -> (u16, Value) {
    let url = req.url();
    let addr = (url.host_str().unwrap().to_owned(), url.port().unwrap());
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "{} {}{} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n",
        req.method(),
        url.path(),
        url.query().map(|q| format!("?{q}")).unwrap_or_default(),
        url.host_str().unwrap(),
        url.port().unwrap(),
    );
    let body = req.body().and_then(|b| b.as_bytes()).unwrap_or_default();
    head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    for (name, value) in req.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    use std::io::Write;
    // A write that fails because the server already answered is expected.
    let _ = sock
        .write_all(head.as_bytes())
        .and_then(|()| sock.write_all(body));
    read_raw_answer(&mut sock)
}

/// Reads one HTTP/1.1 answer from `sock` until the server closes it: the
/// status and the body as JSON (or as a string when it is not JSON).
pub fn read_raw_answer(sock: &mut std::net::TcpStream) -> (u16, Value) {
    use std::io::Read;
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    // Until EOF; a reset after the answer arrived ends it as well.
    while let Ok(n) = sock.read(&mut buf) {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut answer = httparse::Response::new(&mut headers);
    let start = match answer.parse(&raw) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "no complete HTTP answer ({other:?}): {}",
            String::from_utf8_lossy(&raw)
        ),
    };
    let chunked = answer.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value).contains("chunked")
    });
    let mut body = raw[start..].to_vec();
    if chunked {
        let mut rest = &raw[start..];
        body.clear();
        while let Ok(httparse::Status::Complete((at, size))) = httparse::parse_chunk_size(rest) {
            let size = size as usize;
            if size == 0 || rest.len() < at + size {
                break;
            }
            body.extend_from_slice(&rest[at..at + size]);
            rest = rest.get(at + size + 2..).unwrap_or_default();
        }
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (answer.code.unwrap(), json)
}

/// One person with a browser-like cookie jar.
pub struct Citizen<'a> {
    stack: &'a TestStack,
    pub cookies: BTreeMap<String, String>,
}

impl Citizen<'_> {
    /// This citizen's cookies as one `Cookie` header (the ticket and the
    /// browser secret it is bound to, with anything else they got).
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn remember(&mut self, resp: &Response) {
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap_or_default();
            let pair = v.split(';').next().unwrap_or_default();
            if let Some((k, val)) = pair.split_once('=') {
                let max_age_zero = v.contains("Max-Age=0");
                if val.is_empty() || max_age_zero {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), val.to_string());
                }
            }
        }
    }

    /// Sends a request with this citizen's cookies and keeps the ones it gets back.
    pub fn send(&mut self, req: reqwest::blocking::RequestBuilder) -> Response {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header("Cookie", self.cookie_header())
        };
        let (resp, _) = send_past_dev_proxy(req);
        self.remember(&resp);
        resp
    }

    pub fn get(&mut self, path: &str) -> Response {
        let url = self.stack.url(path);
        let req = self
            .stack
            .http
            .get(url)
            .header("Accept", "application/json");
        self.send(req)
    }

    pub fn get_html(&mut self, path: &str) -> (u16, String) {
        let url = self.stack.url(path);
        let req = self.stack.http.get(url).header("Accept", "text/html");
        let resp = self.send(req);
        (resp.status().as_u16(), resp.text().unwrap_or_default())
    }

    pub fn post_json(&mut self, path: &str, body: &Value) -> (u16, Value) {
        let url = self.stack.url(path);
        let req = self
            .stack
            .http
            .post(url)
            .header("Accept", "application/json")
            .json(body);
        into_json(self.send(req))
    }

    /// `POST /queue/join`, then waits (up to a few ticks) until the new
    /// place has its rank in the admission order, so citizens joined one
    /// after another are in that order (within one tick the order is by
    /// shard, see `waitroom_core::order`). Returns the join's answer.
    pub fn join(&mut self) -> (u16, Value) {
        let answer = self.join_now();
        let mut waited = Duration::ZERO;
        let step = Duration::from_millis(250);
        while answer.1["state"] == "waiting" && waited < 2 * TICK_TIMEOUT {
            if self.status()["counting"] != true {
                break;
            }
            std::thread::sleep(step);
            waited += step;
        }
        answer
    }

    /// `POST /queue/join` and nothing else.
    pub fn join_now(&mut self) -> (u16, Value) {
        let url = self.stack.url("/queue/join");
        let req = self
            .stack
            .http
            .post(url)
            .header("Accept", "application/json");
        into_json(self.send(req))
    }

    /// [`Citizen::join_now`] from client address `addr` (`CF-Connecting-IP`,
    /// which the edge's join limit and the bypass rules go by).
    pub fn join_from(&mut self, addr: &str) -> (u16, Value) {
        self.join_with("CF-Connecting-IP", addr)
    }

    /// `POST /queue/join` with one extra request header, nothing else.
    pub fn join_with(&mut self, name: &str, value: &str) -> (u16, Value) {
        let url = self.stack.url("/queue/join");
        let req = self
            .stack
            .http
            .post(url)
            .header("Accept", "application/json")
            .header(name, value);
        into_json(self.send(req))
    }

    pub fn status(&mut self) -> Value {
        let (code, body) = into_json(self.get("/queue/status"));
        assert_eq!(code, 200, "status: {body}");
        body
    }

    pub fn leave(&mut self) -> u16 {
        let url = self.stack.url("/queue/leave");
        let req = self
            .stack
            .http
            .post(url)
            .header("Accept", "application/json");
        self.send(req).status().as_u16()
    }

    pub fn ticket(&self) -> Option<&str> {
        self.cookies.get("__Host-waitroom").map(String::as_str)
    }

    pub fn set_ticket(&mut self, raw: &str) {
        self.cookies.insert("__Host-waitroom".into(), raw.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "\
# HELP waitroom_origin_jobs_in_flight_total Not the gauge.
waitroom_origin_jobs_in_flight_total 9
# TYPE waitroom_origin_jobs_in_flight gauge
waitroom_origin_jobs_in_flight 2
waitroom_origin_registry_circuit_open 0
";

    #[test]
    fn a_metric_is_read_by_its_exact_name() {
        assert_eq!(metric(METRICS, "waitroom_origin_jobs_in_flight"), Some(2.0));
        assert_eq!(
            metric(METRICS, "waitroom_origin_registry_circuit_open"),
            Some(0.0)
        );
        assert_eq!(
            metric(METRICS, "waitroom_origin_jobs"),
            None,
            "a prefix is no match"
        );
        assert_eq!(metric(METRICS, "renamed"), None);
    }

    #[test]
    fn element_text_is_what_the_element_says() {
        let html = r#"<p>You are number <strong id="position" class="big">1,234</strong></p>
<span id="ahead" class="num">1,233</span><dd id="empty"></dd>"#;
        assert_eq!(element_text(html, "position").as_deref(), Some("1,234"));
        assert_eq!(element_text(html, "ahead").as_deref(), Some("1,233"));
        assert_eq!(element_text(html, "empty").as_deref(), Some(""));
        assert_eq!(element_text(html, "missing"), None);
    }
}
