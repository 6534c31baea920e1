//! The citizen pages of `public/`, compiled into the Worker and rendered
//! with `waitroom_core::page` (so the no-JavaScript page shows the live
//! position too).

use waitroom_core::page::public::{CLOSED, EN, ES, FORM, PARTIALS, PREQUEUE, RESULT, WAITING};
use waitroom_core::page::{self, Lang, Strings};
use worker::{Request, Result};

use crate::http::{self, LANG_COOKIE};

/// `template` (one of `public/`'s pages) with its partials and `vars`.
fn render(template: &str, strings: &Strings, vars: &[(&str, String)]) -> String {
    page::render(&page::expand_partials(template, &PARTIALS), strings, vars)
}

/// The language of this request: `?lang=`, then the cookie, then Accept-Language.
pub fn lang_of(req: &Request) -> Lang {
    let url = req.url().ok();
    let query_lang = url.as_ref().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.into_owned())
    });
    let cookies = http::cookie_header(req);
    let accept = req.headers().get("Accept-Language").ok().flatten();
    page::pick_lang(
        query_lang.as_deref(),
        http::cookie(&cookies, LANG_COOKIE),
        accept.as_deref(),
    )
}

/// `Set-Cookie` remembering an explicit `?lang=` choice, if the request made one.
pub fn lang_cookie(req: &Request) -> Option<String> {
    let url = req.url().ok()?;
    let chosen = url.query_pairs().find(|(k, _)| k == "lang")?.1.into_owned();
    let lang = Lang::from_tag(&chosen)?;
    Some(format!(
        "{LANG_COOKIE}={}; Max-Age=31536000; Path=/; Secure; SameSite=Lax",
        lang.code()
    ))
}

pub fn strings(lang: Lang) -> Strings {
    let json = match lang {
        Lang::En => EN,
        Lang::Es => ES,
    };
    Strings::from_json(json).expect("public/i18n tables are valid JSON (checked by core's tests)")
}

/// What the waiting page shows.
pub struct WaitingView {
    pub position: u64,
    pub queue_length: u64,
    pub eta_seconds: u64,
    pub poll_after_ms: u64,
    pub now_ms: u64,
    /// Until when the place is kept without this page (`core::hold`).
    pub hold_until_ms: Option<u64>,
    /// The operator's live message, in the page's language.
    pub message: Option<String>,
}

/// The template variables of the operator's message banner (the text is
/// escaped by the renderer like every `{{variable}}`).
fn message_vars(message: Option<&str>) -> [(&'static str, String); 2] {
    [
        ("message", message.unwrap_or_default().to_string()),
        ("message_hidden", hidden(message.is_none())),
    ]
}

/// A position, or "…" while it is being counted (position 0: the first
/// second after joining, see `waitroom_core::order`).
fn counted(n: u64, lang: Lang) -> String {
    if n == 0 {
        "…".to_string()
    } else {
        page::format_number(n, lang)
    }
}

/// ` hidden` (an attribute) or nothing.
fn hidden(yes: bool) -> String {
    if yes {
        " hidden".into()
    } else {
        String::new()
    }
}

/// `HH:MM` of an epoch-ms instant, UTC.
fn hhmm(ms: u64) -> String {
    let t = page::format_utc_time(ms);
    t[..5].to_string()
}

pub fn waiting(lang: Lang, v: &WaitingView) -> String {
    let s = strings(lang);
    let mut vars = vec![
        ("lang", lang.code().to_string()),
        ("position", counted(v.position, lang)),
        (
            "ahead",
            match v.position {
                0 => counted(0, lang),
                p => page::format_number(p - 1, lang),
            },
        ),
        ("queue_length", page::format_number(v.queue_length, lang)),
        ("eta_text", page::eta_words(v.eta_seconds, &s)),
        ("progress_pct", "0".to_string()),
        ("updated_at", page::format_utc_time(v.now_ms)),
        (
            "refresh_seconds",
            (v.poll_after_ms / 1000).max(5).to_string(),
        ),
        ("i18n_json", s.js_json()),
        // Without JS the time is UTC (the page cannot know the time zone);
        // the script rewrites it in the citizen's own.
        (
            "hold_time",
            v.hold_until_ms
                .map_or(String::new(), |h| format!("{} UTC", hhmm(h))),
        ),
        ("hold_ms", v.hold_until_ms.unwrap_or(0).to_string()),
        (
            "hold_in",
            v.hold_until_ms.map_or(String::new(), |h| {
                s.get("w.hold_in").unwrap_or("{eta}").replace(
                    "{eta}",
                    &page::eta_words(h.saturating_sub(v.now_ms) / 1000, &s),
                )
            }),
        ),
        ("hold_hidden", hidden(v.hold_until_ms.is_none())),
        ("keep_open_hidden", hidden(v.hold_until_ms.is_some())),
    ];
    vars.extend(message_vars(v.message.as_deref()));
    render(WAITING, &s, &vars)
}

pub fn form(lang: Lang) -> String {
    let s = strings(lang);
    render(
        FORM,
        &s,
        &[
            ("lang", lang.code().to_string()),
            ("i18n_json", s.js_json()),
        ],
    )
}

pub fn result(lang: Lang, passport_id: &str) -> String {
    let s = strings(lang);
    let vars = [
        ("lang", lang.code().to_string()),
        ("passport_id", passport_id.to_string()),
        ("i18n_json", s.js_json()),
    ];
    render(RESULT, &s, &vars)
}

pub fn closed(lang: Lang, reason_text: &str, reopen_at: &str) -> String {
    let s = strings(lang);
    let vars = [
        ("lang", lang.code().to_string()),
        ("reason_text", reason_text.to_string()),
        ("reopen_at", reopen_at.to_string()),
    ];
    render(CLOSED, &s, &vars)
}

/// The pre-queue countdown page: opens at `opens_at_ms`.
pub fn prequeue(
    lang: Lang,
    opens_at_ms: u64,
    poll_after_ms: u64,
    now_ms: u64,
    message: Option<&str>,
) -> String {
    let s = strings(lang);
    let left = opens_at_ms.saturating_sub(now_ms).div_ceil(1000);
    let countdown = match left / 3600 {
        0 => format!("{}:{:02}", left / 60, left % 60),
        h => format!("{h}:{:02}:{:02}", (left / 60) % 60, left % 60),
    };
    let mut vars = vec![
        ("lang", lang.code().to_string()),
        ("opens_at", page::format_utc_time(opens_at_ms)),
        ("opens_at_ms", opens_at_ms.to_string()),
        ("countdown", countdown),
        (
            "refresh_seconds",
            (poll_after_ms / 1000).clamp(5, 20).to_string(),
        ),
        ("i18n_json", s.js_json()),
    ];
    vars.extend(message_vars(message));
    render(PREQUEUE, &s, &vars)
}

/// An HTML response with the optional language cookie.
pub fn respond(
    req: &Request,
    status: u16,
    body: String,
    set_cookies: &[String],
) -> Result<worker::Response> {
    let resp = http::html(status, body)?;
    for c in set_cookies {
        resp.headers().append("Set-Cookie", c)?;
    }
    if let Some(c) = lang_cookie(req) {
        resp.headers().append("Set-Cookie", &c)?;
    }
    Ok(resp)
}
