//! `origin-worker verify` and `origin-worker gen-dcc-key`.
//!
//! ```text
//! origin-worker verify <file.pdf | file.txt | HC1:...> [--keys <http-url | file.json | JSON>]
//! origin-worker gen-dcc-key
//! ```
//!
//! Without `--keys`, `verify` uses the public key of `DCC_SIGNING_KEY` if
//! that is set, else fetches `http://$ORIGIN_ADDR/.well-known/dcc/keys`
//! (`ORIGIN_ADDR` defaults to `127.0.0.1:8788`). `http://` and `https://`
//! key lists are fetched with reqwest.
//!
//! A PDF is parsed with lopdf and read through the `HC1:` string our
//! renderer stores in its document information (see
//! [`super::pdf::INFO_KEY_HC1`]), else the first `HC1:` in its pages' text;
//! any other file is searched for an `HC1:` string.
//!
//! Exit status: 0 signature valid and every code in the EU value sets
//! (active, consistent with the vaccine encoding instructions), 1 invalid or
//! unreadable certificate or a value-set problem, 2 usage error or keys
//! unavailable.

use std::process::ExitCode;
use std::time::Duration;

use base64::{engine::general_purpose::STANDARD as B64, Engine};

use super::pdf::{ymd, INFO_KEY_HC1};
use super::valuesets::ValueSets;
use super::verify::{parse_hc1, DccClaims, KeyRing};
use super::DccSigner;

const USAGE: &str =
    "usage: origin-worker verify <file.pdf | HC1:...> [--keys <http-url | file.json | JSON>]";
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest key list we read over HTTP.
const MAX_KEYS_RESPONSE: usize = 1 << 20;
const BASE45_CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// `origin-worker gen-dcc-key`: prints a fresh base64 PKCS#8 P-256 key.
pub fn gen_key_command() -> ExitCode {
    println!("{}", DccSigner::generate().to_pkcs8_base64());
    ExitCode::SUCCESS
}

/// `origin-worker verify ...`; `args` are the arguments after `verify`.
pub async fn verify_command(args: &[String]) -> ExitCode {
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
    let (keys, keys_source) = match load_keys(keys_arg.as_deref()).await {
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
    let found = if bytes.starts_with(b"%PDF-") {
        hc1_in_pdf(&bytes).map_err(|e| format!("{input}: {e}"))?
    } else {
        find_hc1(&String::from_utf8_lossy(&bytes))
    };
    found.ok_or_else(|| format!("no HC1: string found in {input}"))
}

/// The HC1 string of a PDF: the document information entry our renderer
/// writes (a PDF text string: UTF-16BE or PDFDocEncoding, perhaps
/// compressed in an object stream, which is why the bytes are not scanned),
/// else the first `HC1:` in the text of its pages.
pub fn hc1_in_pdf(bytes: &[u8]) -> Result<Option<String>, String> {
    let doc = lopdf::Document::load_mem(bytes).map_err(|e| format!("not a readable PDF: {e}"))?;
    let info = doc
        .trailer
        .get(b"Info")
        .and_then(|o| doc.dereference(o))
        .and_then(|(_, o)| o.as_dict());
    if let Ok(entry) = info.and_then(|d| d.get(INFO_KEY_HC1.as_bytes())) {
        if let Some(hc1) = lopdf::decode_text_string(entry)
            .ok()
            .as_deref()
            .and_then(find_hc1)
        {
            return Ok(Some(hc1));
        }
    }
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let text = doc
        .extract_text(&pages)
        .map_err(|e| format!("cannot read the text of the PDF: {e}"))?;
    Ok(find_hc1(&text))
}

/// The first `HC1:` followed by Base45 characters.
pub fn find_hc1(text: &str) -> Option<String> {
    let start = text.find("HC1:")?;
    let rest = &text[start + 4..];
    let len = rest
        .bytes()
        .position(|b| !BASE45_CHARS.contains(&b))
        .unwrap_or(rest.len());
    Some(format!("HC1:{}", &rest[..len]))
}

async fn load_keys(arg: Option<&str>) -> Result<(KeyRing, String), String> {
    let (json, source) = match arg {
        Some(a) if a.starts_with("http://") || a.starts_with("https://") => {
            (http_get(a).await?, a.to_owned())
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
            (http_get(&url).await?, url)
        }
    };
    let value: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("key list is not JSON: {e}"))?;
    let ring = KeyRing::from_json(&value).map_err(|e| e.to_string())?;
    Ok((ring, source))
}

/// A GET of a key list: `200` only, at most [`MAX_KEYS_RESPONSE`] bytes.
async fn http_get(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|e| format!("{url}: {e}"))?;
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("{url}: {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        if body.len() + chunk.len() > MAX_KEYS_RESPONSE {
            return Err(format!("{url}: larger than {MAX_KEYS_RESPONSE} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| format!("{url}: not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::{find_hc1, hc1_in_pdf};

    #[test]
    fn finds_hc1_in_text() {
        assert_eq!(
            find_hc1("my passport: HC1:NCF:603A0T9WTWGSLKC 4K694\nthanks").as_deref(),
            Some("HC1:NCF:603A0T9WTWGSLKC 4K694")
        );
        assert_eq!(find_hc1("nothing here"), None);
    }

    #[test]
    fn reads_hc1_from_a_pdf_information_entry_not_from_its_bytes() {
        use lopdf::{dictionary, Document, Object};
        let hc1 = "HC1:NCF:603A0T9WTWGSLKC 4K694";
        let mut doc = Document::with_version("1.7");
        let pages = doc.new_object_id();
        doc.objects.insert(
            pages,
            Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => vec![], "Count" => 0 }),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
        doc.trailer.set("Root", catalog);
        // UTF-16BE, as a PDF text string may be: no "HC1:" in the file's bytes.
        let utf16: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(hc1.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        let info = doc.add_object(dictionary! {
            super::INFO_KEY_HC1 => Object::String(utf16, lopdf::StringFormat::Hexadecimal),
        });
        doc.trailer.set("Info", info);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        assert!(!bytes.windows(4).any(|w| w == b"HC1:"));
        assert_eq!(hc1_in_pdf(&bytes).unwrap().as_deref(), Some(hc1));

        doc.trailer.remove(b"Info");
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        assert_eq!(hc1_in_pdf(&bytes).unwrap(), None);
        assert!(hc1_in_pdf(b"%PDF-1.7 not really").is_err());
    }
}
