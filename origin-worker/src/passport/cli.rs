//! `origin-worker verify` and `origin-worker gen-dcc-key`.
//!
//! ```text
//! origin-worker verify <file.pdf | file.txt | HC1:...> [--keys <http-url | file.json | JSON>]
//! origin-worker gen-dcc-key
//! ```
//!
//! Without `--keys`, `verify` uses the public key of `DCC_SIGNING_KEY` if
//! that is set, else fetches `http://$ORIGIN_ADDR/.well-known/dcc/keys`
//! (`ORIGIN_ADDR` defaults to `127.0.0.1:8788`). Only plain `http://` URLs
//! are fetched (a few lines of std, no TLS stack for a dev tool); save an
//! `https://` key list to a file first.
//!
//! A PDF is read through the `HC1:` string our renderer stores in its
//! document information (see [`super::pdf::INFO_KEY_HC1`]); any other file
//! is searched for an `HC1:` string.
//!
//! Exit status: 0 signature valid and every code in the EU value sets
//! (active, consistent with the vaccine encoding instructions), 1 invalid or
//! unreadable certificate or a value-set problem, 2 usage error or keys
//! unavailable.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use base64::{engine::general_purpose::STANDARD as B64, Engine};

use super::pdf::ymd;
use super::valuesets::ValueSets;
use super::verify::{parse_hc1, DccClaims, KeyRing};
use super::DccSigner;

const USAGE: &str =
    "usage: origin-worker verify <file.pdf | HC1:...> [--keys <http-url | file.json | JSON>]";
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest key list we read over HTTP.
const MAX_KEYS_RESPONSE: u64 = 1 << 20;
const BASE45_CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// `origin-worker gen-dcc-key`: prints a fresh base64 PKCS#8 P-256 key.
pub fn gen_key_command() -> ExitCode {
    println!("{}", DccSigner::generate().to_pkcs8_base64());
    ExitCode::SUCCESS
}

/// `origin-worker verify ...`; `args` are the arguments after `verify`.
pub fn verify_command(args: &[String]) -> ExitCode {
    let mut input = None;
    let mut keys_arg = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--keys" => match it.next() {
                Some(k) => keys_arg = Some(k.clone()),
                None => return usage("--keys needs a value"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if input.is_none() => input = Some(a.clone()),
            _ => return usage(&format!("unexpected argument {a:?}")),
        }
    }
    let Some(input) = input else {
        return usage("missing <file.pdf | HC1:...>");
    };

    let hc1 = match read_hc1(&input) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let (keys, keys_source) = match load_keys(keys_arg.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: cannot load the DCC public keys: {e}");
            return ExitCode::from(2);
        }
    };

    let untrusted = match parse_hc1(&hc1) {
        Ok(u) => u,
        Err(e) => {
            println!("signature: invalid ({e})");
            return ExitCode::from(1);
        }
    };
    let kid = untrusted.kid().map(|k| B64.encode(k)).unwrap_or_default();
    match untrusted.verify(&keys) {
        Ok(verified) => {
            print_claims(verified.claims(), &kid);
            println!("keys: {keys_source}");
            println!("signature: valid");
            let now = crate::now_ms() as i64 / 1000;
            if verified.claims().is_expired(now) {
                println!("note: the certificate has expired");
            }
            if value_sets_ok(verified.claims()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            println!("UNVERIFIED contents (do not trust):");
            if let Ok(claims) = untrusted.claims_unverified() {
                print_claims(&claims, &kid);
            }
            println!("keys: {keys_source}");
            println!("signature: invalid ({e})");
            ExitCode::from(1)
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("error: {problem}\n{USAGE}");
    ExitCode::from(2)
}

fn print_claims(c: &DccClaims, kid: &str) {
    let n = &c.hcert.nam;
    println!("holder: {} {}", c.holder.given_name, c.holder.family_name);
    println!("  family name: {} ({})", n.family, n.fnt);
    println!("  given name: {} ({})", n.gn, n.gnt);
    println!("  date of birth: {}", c.holder.date_of_birth);
    println!(
        "certificate: issuer country {}, issued {}, expires {}, kid {kid}, schema {}",
        c.issuer_country,
        ymd(c.issued_at),
        ymd(c.expires_at),
        c.hcert.ver
    );
    for (r, uvci) in c.records().iter().zip(c.uvcis()) {
        println!(
            "vaccination: dose {} of {}, {}, {}, disease {}, vaccine {}, product {}, manufacturer {}, issuer {}",
            r.dose_number,
            r.total_doses,
            r.date,
            r.country,
            r.disease,
            r.vaccine,
            r.product,
            r.manufacturer,
            r.issuer
        );
        println!("  uvci: {uvci}");
    }
}

/// Prints the value-set check; whether it found no problem.
fn value_sets_ok(c: &DccClaims) -> bool {
    let problems = ValueSets::official().problems(&c.hcert_json);
    for p in &problems {
        println!("value sets: problem: {p}");
    }
    if problems.is_empty() {
        println!("value sets: ok (EU DCC value sets 2.12.0)");
    }
    problems.is_empty()
}

/// The HC1 string from an argument: the string itself or a file holding it.
fn read_hc1(input: &str) -> Result<String, String> {
    if input.trim_start().starts_with("HC1:") {
        return Ok(input.trim().to_owned());
    }
    let bytes = std::fs::read(input).map_err(|e| format!("cannot read {input}: {e}"))?;
    find_hc1(&bytes).ok_or_else(|| format!("no HC1: string found in {input}"))
}

/// The first `HC1:` followed by Base45 characters. In our PDFs this is the
/// document information entry (an uncompressed literal string).
pub fn find_hc1(bytes: &[u8]) -> Option<String> {
    let start = bytes.windows(4).position(|w| w == b"HC1:")?;
    let rest = &bytes[start + 4..];
    let len = rest
        .iter()
        .position(|b| !BASE45_CHARS.contains(b))
        .unwrap_or(rest.len());
    let body = std::str::from_utf8(&rest[..len]).ok()?;
    Some(format!("HC1:{body}"))
}

fn load_keys(arg: Option<&str>) -> Result<(KeyRing, String), String> {
    let (json, source) = match arg {
        Some(a) if a.starts_with("http://") => (http_get(a)?, a.to_owned()),
        Some(a) if a.starts_with("https://") => {
            return Err("only http:// URLs are fetched; save the key list to a file".into())
        }
        Some(a) if a.trim_start().starts_with('{') => (a.to_owned(), "inline JSON".into()),
        Some(a) => (
            std::fs::read_to_string(a).map_err(|e| format!("cannot read {a}: {e}"))?,
            a.to_owned(),
        ),
        None => {
            if let Ok(key) = std::env::var("DCC_SIGNING_KEY") {
                let signer = DccSigner::from_pkcs8_base64(&key).map_err(|e| e.to_string())?;
                return Ok((
                    KeyRing::from_signer(&signer),
                    "public key of DCC_SIGNING_KEY".into(),
                ));
            }
            let addr = std::env::var("ORIGIN_ADDR").unwrap_or_else(|_| "127.0.0.1:8788".into());
            let url = format!("http://{addr}/.well-known/dcc/keys");
            (http_get(&url)?, url)
        }
    };
    let value: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("key list is not JSON: {e}"))?;
    let ring = KeyRing::from_json(&value).map_err(|e| e.to_string())?;
    Ok((ring, source))
}

/// A plain HTTP/1.0 GET (no chunked encoding to undo), 200 only.
fn http_get(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or("not an http:// URL")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let with_port = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, HTTP_TIMEOUT).map_err(|e| format!("{url}: {e}"))?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT)).ok();
    // One write: the request goes out in one segment.
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut response = Vec::new();
    stream
        .take(MAX_KEYS_RESPONSE)
        .read_to_end(&mut response)
        .map_err(|e| format!("{url}: {e}"))?;
    let response = String::from_utf8(response).map_err(|_| format!("{url}: not UTF-8"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{url}: malformed HTTP response"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{url}: {status}"));
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::find_hc1;

    #[test]
    fn finds_hc1_in_a_pdf_info_string() {
        let pdf = b"%PDF-1.3\n1 0 obj << /EUDCC (HC1:NCF:603A0T9WTWGSLKC 4K694) >> endobj";
        assert_eq!(
            find_hc1(pdf).as_deref(),
            Some("HC1:NCF:603A0T9WTWGSLKC 4K694")
        );
        assert_eq!(find_hc1(b"nothing here"), None);
    }
}
