//! Server-side rendering of the citizen pages in `public/`.
//!
//! The edge `include_str!`s the HTML templates and the string tables
//! (`public/i18n/*.json`) and fills them in with [`render`]. The template
//! language is deliberately tiny, so a template can be read as plain HTML:
//!
//! - `{{t.key}}`: the string `key` of the current language, HTML-escaped.
//! - `{{name}}`: the variable `name`, HTML-escaped.
//! - `{{{name}}}`: the variable `name`, raw. Only for values the edge builds
//!   itself, such as [`Strings::js_json`] inside a
//!   `<script type="application/json">` block.
//! - `{{> name}}`: the partial `public/partials/name.html` (the shared head
//!   and page header), pasted in by [`expand_partials`] before rendering.
//!   Partials are templates too, and do not nest.
//!
//! A key or variable the template asks for but nobody supplied is a bug: in
//! debug builds it shows as a visible `[[missing: …]]` marker so that it is
//! noticed in screenshots and tests; in release builds it renders as nothing,
//! so a citizen never sees template syntax.
//!
//! Pure: no I/O, no clock. Builds for wasm32.

use std::collections::BTreeMap;

/// The languages the pages are translated into. English is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Es,
}

impl Lang {
    /// Every supported language, default first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Es];

    /// The BCP 47 code used in `lang=""`, `?lang=` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    /// Parses a language tag (`"es"`, `"es-MX"`, `"EN_gb"`); `None` when the
    /// primary subtag is not a supported language.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "es" => Some(Lang::Es),
            _ => None,
        }
    }

    /// The thousands separator citizens of this language expect.
    fn group_separator(self) -> char {
        match self {
            Lang::En => ',',
            Lang::Es => '.',
        }
    }
}

/// Chooses the page language: an explicit `?lang=` wins (the switcher links),
/// then the cookie remembering that choice, then `Accept-Language` by
/// q-value, then English.
pub fn pick_lang(
    query_lang: Option<&str>,
    cookie_lang: Option<&str>,
    accept_language: Option<&str>,
) -> Lang {
    if let Some(lang) = query_lang.and_then(Lang::from_tag) {
        return lang;
    }
    if let Some(lang) = cookie_lang.and_then(Lang::from_tag) {
        return lang;
    }
    accept_language
        .and_then(best_accept_language)
        .unwrap_or(Lang::En)
}

/// The supported language with the highest q-value in an `Accept-Language`
/// header; on a tie, the one listed first.
fn best_accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(Lang, u32)> = None;
    // Headers are attacker-controlled: look at a bounded number of entries.
    for item in header.split(',').take(MAX_ACCEPT_LANGUAGE_ITEMS) {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let mut q = 1000;
        for param in parts {
            let param = param.trim();
            if let Some(value) = param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
            {
                q = parse_qvalue(value.trim()).unwrap_or(0);
            }
        }
        if q == 0 {
            continue;
        }
        let Some(lang) = Lang::from_tag(tag) else {
            continue;
        };
        if best.is_none_or(|(_, best_q)| q > best_q) {
            best = Some((lang, q));
        }
    }
    best.map(|(lang, _)| lang)
}

const MAX_ACCEPT_LANGUAGE_ITEMS: usize = 32;

/// A q-value (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn parse_qvalue(value: &str) -> Option<u32> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut thousandths = 0;
    for (i, digit) in frac.bytes().enumerate() {
        thousandths += u32::from(digit - b'0') * [100, 10, 1][i];
    }
    Some((whole + thousandths).min(1000))
}

/// One language's string table: a flat JSON object of key → text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Strings {
    map: BTreeMap<String, String>,
}

/// Why a string table could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum StringsError {
    #[error("string table is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("string table must be a flat JSON object of strings; `{0}` is not a string")]
    NotAString(String),
}

/// Keys with these prefixes are sent to the page's JavaScript by
/// [`Strings::js_json`]; the rest are only used server-side.
const JS_KEY_PREFIXES: [&str; 3] = ["js.", "eta.", "num."];

impl Strings {
    /// Parses a flat JSON object of strings, as in `public/i18n/en.json`.
    pub fn from_json(json: &str) -> Result<Strings, StringsError> {
        let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(json)?;
        let mut map = BTreeMap::new();
        for (key, value) in raw {
            match value {
                serde_json::Value::String(text) => {
                    map.insert(key, text);
                }
                _ => return Err(StringsError::NotAString(key)),
            }
        }
        Ok(Strings { map })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// Every key in the table, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// The language this table is written in (its `lang.code` entry).
    pub fn lang(&self) -> Lang {
        self.get("lang.code")
            .and_then(Lang::from_tag)
            .unwrap_or(Lang::En)
    }

    /// The strings the page scripts need (keys starting with `js.`, `eta.`,
    /// `num.`) as a JSON object that is safe to place raw inside
    /// `<script type="application/json" id="i18n">…</script>`: this is the
    /// value of the `{{{i18n_json}}}` variable.
    pub fn js_json(&self) -> String {
        let subset: BTreeMap<&str, &str> = self
            .map
            .iter()
            .filter(|(key, _)| JS_KEY_PREFIXES.iter().any(|p| key.starts_with(p)))
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        // Serialising a map of strings cannot fail.
        script_safe_json(&serde_json::to_string(&subset).unwrap_or_else(|_| "{}".into()))
    }
}

/// Makes a JSON text safe to embed raw in an HTML `<script>` element: `<`,
/// `>` and `&` become `\u003c`, `\u003e`, `\u0026` (still the same JSON
/// value), so no `</script>` or `<!--` can end or confuse the element.
pub fn script_safe_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for HTML element content and double- or single-quoted
/// attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Fills in a template. See the module documentation for the syntax.
/// Text outside `{{…}}` is copied unchanged; an unclosed `{{` is copied as
/// text.
pub fn render(template: &str, strings: &Strings, vars: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + template.len() / 4);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let (raw, open, close) = if after.starts_with("{{{") {
            (true, 3, "}}}")
        } else {
            (false, 2, "}}")
        };
        let Some(end) = after[open..].find(close) else {
            // Not a placeholder: copy the rest verbatim.
            out.push_str(after);
            return out;
        };
        let name = after[open..open + end].trim();
        let value = lookup(name, strings, vars);
        match value {
            Some(text) if raw => out.push_str(text),
            Some(text) => out.push_str(&escape_html(text)),
            None => out.push_str(&missing_marker(name)),
        }
        rest = &after[open + end + close.len()..];
    }
    out.push_str(rest);
    out
}

fn lookup<'a>(name: &str, strings: &'a Strings, vars: &'a [(&str, String)]) -> Option<&'a str> {
    match name.strip_prefix("t.") {
        Some(key) => strings.get(key),
        None => vars
            .iter()
            .find(|(var, _)| *var == name)
            .map(|(_, value)| value.as_str()),
    }
}

fn missing_marker(name: &str) -> String {
    if cfg!(debug_assertions) {
        format!("[[missing: {}]]", escape_html(name))
    } else {
        String::new()
    }
}

/// The citizen pages and what they share, exactly as `public/` has them
/// (compiled in: the edge serves them without reading files).
pub mod public {
    pub const WAITING: &str = include_str!("../../public/waiting.html");
    pub const FORM: &str = include_str!("../../public/form.html");
    pub const RESULT: &str = include_str!("../../public/result.html");
    pub const CLOSED: &str = include_str!("../../public/closed.html");
    pub const PREQUEUE: &str = include_str!("../../public/prequeue.html");
    /// `{{> name}}` → `public/partials/name.html`.
    pub const PARTIALS: [(&str, &str); 2] = [
        ("head", include_str!("../../public/partials/head.html")),
        ("header", include_str!("../../public/partials/header.html")),
    ];
    pub const EN: &str = include_str!("../../public/i18n/en.json");
    pub const ES: &str = include_str!("../../public/i18n/es.json");
}

/// `template` with every `{{> name}}` replaced by the partial `name` (its
/// final newline dropped, so a partial on a line of its own stays one
/// block). An unknown partial is a bug, shown like a missing variable.
pub fn expand_partials(template: &str, partials: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(start) = rest.find("{{>") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        match partials.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => out.push_str(text.strip_suffix('\n').unwrap_or(text)),
            None => out.push_str(&missing_marker(&format!("partial {name}"))),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Every `{{t.key}}` key a template uses, in order of first use. The tests
/// use it to check that both string tables are complete.
pub fn template_string_keys(template: &str) -> Vec<String> {
    placeholders(template)
        .into_iter()
        .filter_map(|name| name.strip_prefix("t.").map(str::to_owned))
        .fold(Vec::new(), |mut keys, key| {
            if !keys.contains(&key) {
                keys.push(key);
            }
            keys
        })
}

/// Every variable (`{{name}}` or `{{{name}}}`, not `t.`) a template uses, in
/// order of first use.
pub fn template_vars(template: &str) -> Vec<String> {
    placeholders(template)
        .into_iter()
        .filter(|name| !name.starts_with("t."))
        .fold(Vec::new(), |mut vars, var| {
            if !vars.contains(&var) {
                vars.push(var);
            }
            vars
        })
}

fn placeholders(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start..];
        let (open, close) = if after.starts_with("{{{") {
            (3, "}}}")
        } else {
            (2, "}}")
        };
        let Some(end) = after[open..].find(close) else {
            break;
        };
        names.push(after[open..open + end].trim().to_owned());
        rest = &after[open + end + close.len()..];
    }
    names
}

/// `1234567` → `"1,234,567"` (en) or `"1.234.567"` (es).
pub fn format_number(n: u64, lang: Lang) -> String {
    let digits = n.to_string();
    let sep = lang.group_separator();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(digit);
    }
    out
}

/// An estimated wait in plain words, from the language's string table:
/// under a minute → `eta.less_than_minute`; under an hour → minutes
/// (`eta.about_one_minute` / `eta.about_minutes` with `{n}`); otherwise
/// whole hours (`eta.about_one_hour` / `eta.about_hours`).
/// The page script (`public/assets/waiting.js`) applies the same rule.
pub fn eta_words(seconds: u64, strings: &Strings) -> String {
    let (key, n) = eta_key(seconds);
    let template = strings.get(key).unwrap_or("");
    template.replace("{n}", &format_number(n, strings.lang()))
}

fn eta_key(seconds: u64) -> (&'static str, u64) {
    if seconds < 60 {
        return ("eta.less_than_minute", 0);
    }
    // Round to the nearest minute: 89 s is "about 1 minute", 90 s "about 2".
    let minutes = seconds.saturating_add(30) / 60;
    if minutes < 60 {
        return if minutes == 1 {
            ("eta.about_one_minute", 1)
        } else {
            ("eta.about_minutes", minutes)
        };
    }
    let hours = seconds.saturating_add(1800) / 3600;
    if hours <= 1 {
        ("eta.about_one_hour", 1)
    } else {
        ("eta.about_hours", hours)
    }
}

/// How far a citizen has moved from their place at joining towards the
/// front, 0–100: `(join_position - position) * 100 / join_position`. The
/// value of the waiting page's `progress_pct` variable; the page script
/// derives the join position back from it and keeps the bar moving.
pub fn progress_pct(join_position: u64, position: u64) -> u8 {
    if join_position == 0 || position >= join_position {
        return 0;
    }
    let moved = u128::from(join_position - position) * 100 / u128::from(join_position);
    moved.min(100) as u8
}

/// `HH:MM:SS` (UTC) for a Unix time in milliseconds: the waiting page's
/// `updated_at` variable.
pub fn format_utc_time(now_ms: u64) -> String {
    let secs_of_day = (now_ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        secs_of_day / 3600,
        (secs_of_day / 60) % 60,
        secs_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(json: &str) -> Strings {
        Strings::from_json(json).unwrap()
    }

    #[test]
    fn page_render_escapes_strings_and_vars_but_not_raw_vars() {
        let s = strings(r#"{"hello":"Hi <you> & \"them\""}"#);
        let out = render(
            "<p>{{t.hello}}</p><b>{{ name }}</b><script>{{{blob}}}</script>",
            &s,
            &[
                ("name", "<img src=x onerror=alert(1)>".into()),
                ("blob", "{\"a\":1}".into()),
            ],
        );
        assert_eq!(
            out,
            "<p>Hi &lt;you&gt; &amp; &quot;them&quot;</p><b>&lt;img src=x onerror=alert(1)&gt;</b><script>{\"a\":1}</script>"
        );
    }

    #[test]
    fn page_render_marks_missing_in_debug() {
        let out = render("a{{t.nope}}b{{nothing}}c", &Strings::default(), &[]);
        if cfg!(debug_assertions) {
            assert_eq!(out, "a[[missing: t.nope]]b[[missing: nothing]]c");
        } else {
            assert_eq!(out, "abc");
        }
    }

    #[test]
    fn page_render_leaves_unclosed_braces_and_plain_text_alone() {
        let s = Strings::default();
        assert_eq!(render("no placeholders", &s, &[]), "no placeholders");
        assert_eq!(render("a {{ unclosed", &s, &[]), "a {{ unclosed");
        assert_eq!(render("{x}", &s, &[]), "{x}");
        assert_eq!(render("ñ{{v}}ñ", &s, &[("v", "é".into())]), "ñéñ");
    }

    #[test]
    fn page_partials_are_pasted_in_before_rendering() {
        let partials = [("top", "<h1>{{t.name}}</h1>\n"), ("empty", "")];
        let s = strings(r#"{"name":"Waitroom"}"#);
        let page = expand_partials("<body>\n{{> top}}\n{{>empty}}<p>{{x}}</p>", &partials);
        assert_eq!(page, "<body>\n<h1>{{t.name}}</h1>\n<p>{{x}}</p>");
        assert_eq!(
            render(&page, &s, &[("x", "1".into())]),
            "<body>\n<h1>Waitroom</h1>\n<p>1</p>"
        );
        // Not partials: left as they are.
        assert_eq!(expand_partials("a {{> open", &partials), "a {{> open");
        assert_eq!(expand_partials("{{x}} {{{y}}}", &partials), "{{x}} {{{y}}}");
        let unknown = expand_partials("a{{> nope}}b", &partials);
        if cfg!(debug_assertions) {
            assert_eq!(unknown, "a[[missing: partial nope]]b");
        } else {
            assert_eq!(unknown, "ab");
        }
    }

    #[test]
    fn page_strings_rejects_nested_values() {
        assert!(Strings::from_json(r#"{"a":{"b":"c"}}"#).is_err());
        assert!(Strings::from_json(r#"{"a":1}"#).is_err());
        assert!(Strings::from_json("[]").is_err());
        assert_eq!(strings(r#"{"a":"b"}"#).get("a"), Some("b"));
    }

    #[test]
    fn page_js_json_is_script_safe_and_only_js_keys() {
        let s = strings(r#"{"js.x":"</script><!--","eta.y":"a & b","page.title":"t"}"#);
        let json = s.js_json();
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        assert!(!json.contains("page.title"));
        let back: BTreeMap<String, String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back["js.x"], "</script><!--");
        assert_eq!(back["eta.y"], "a & b");
    }

    #[test]
    fn page_pick_lang_order_and_fallbacks() {
        assert_eq!(pick_lang(None, None, None), Lang::En);
        assert_eq!(pick_lang(Some("es"), Some("en"), Some("en")), Lang::Es);
        assert_eq!(pick_lang(Some("fr"), Some("es"), None), Lang::Es);
        assert_eq!(
            pick_lang(None, Some("garbage"), Some("es-MX,es;q=0.9")),
            Lang::Es
        );
        assert_eq!(
            pick_lang(None, None, Some("fr-FR,fr;q=0.9,es;q=0.8,en;q=0.7")),
            Lang::Es
        );
        assert_eq!(pick_lang(None, None, Some("es;q=0.5, en;q=0.9")), Lang::En);
        assert_eq!(pick_lang(None, None, Some("es;q=0, en;q=0.1")), Lang::En);
        assert_eq!(pick_lang(None, None, Some("es;q=0")), Lang::En);
        assert_eq!(pick_lang(None, None, Some("de, *;q=0.1")), Lang::En);
        assert_eq!(pick_lang(None, None, Some(";;;,,,q=")), Lang::En);
        assert_eq!(pick_lang(None, None, Some("ES-es")), Lang::Es);
        assert_eq!(pick_lang(None, None, Some("es;q=2")), Lang::En);
    }

    #[test]
    fn page_format_number_groups_by_language() {
        assert_eq!(format_number(0, Lang::En), "0");
        assert_eq!(format_number(999, Lang::En), "999");
        assert_eq!(format_number(1234, Lang::En), "1,234");
        assert_eq!(format_number(1234, Lang::Es), "1.234");
        assert_eq!(format_number(1_234_567, Lang::Es), "1.234.567");
        assert_eq!(format_number(100_000, Lang::En), "100,000");
        assert_eq!(
            format_number(u64::MAX, Lang::En),
            "18,446,744,073,709,551,615"
        );
    }

    #[test]
    fn page_eta_words_rounds_into_plain_words() {
        let en = strings(
            r#"{"lang.code":"en","eta.less_than_minute":"less than a minute","eta.about_one_minute":"about 1 minute","eta.about_minutes":"about {n} minutes","eta.about_one_hour":"about 1 hour","eta.about_hours":"about {n} hours"}"#,
        );
        assert_eq!(eta_words(0, &en), "less than a minute");
        assert_eq!(eta_words(59, &en), "less than a minute");
        assert_eq!(eta_words(60, &en), "about 1 minute");
        assert_eq!(eta_words(89, &en), "about 1 minute");
        assert_eq!(eta_words(90, &en), "about 2 minutes");
        assert_eq!(eta_words(240, &en), "about 4 minutes");
        assert_eq!(eta_words(3569, &en), "about 59 minutes");
        assert_eq!(eta_words(3570, &en), "about 1 hour");
        assert_eq!(eta_words(5399, &en), "about 1 hour");
        assert_eq!(eta_words(5400, &en), "about 2 hours");
        assert!(eta_words(u64::MAX, &en).starts_with("about "));
    }

    #[test]
    fn page_progress_pct_bounds() {
        assert_eq!(progress_pct(0, 0), 0);
        assert_eq!(progress_pct(10, 10), 0);
        assert_eq!(progress_pct(10, 12), 0);
        assert_eq!(progress_pct(10, 5), 50);
        assert_eq!(progress_pct(10, 1), 90);
        assert_eq!(progress_pct(10, 0), 100);
        assert_eq!(progress_pct(u64::MAX, 1), 99);
    }

    #[test]
    fn page_format_utc_time() {
        assert_eq!(format_utc_time(0), "00:00:00");
        assert_eq!(format_utc_time(1_700_000_000_123), "22:13:20");
    }
}
