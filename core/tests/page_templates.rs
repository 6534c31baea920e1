//! The real templates and string tables of `public/`, exactly as the edge
//! `include_str!`s them: every key a template uses exists in every
//! language, and every page renders completely with the documented vars.

use waitroom_core::page::public::{self, EN, ES, PARTIALS};
use waitroom_core::page::{
    self, expand_partials, format_number, pick_lang, render, template_string_keys, template_vars,
    Lang, Strings,
};

/// (file, template, the vars the edge must supply) — the contract.
const PAGES: [(&str, &str, &[&str]); 5] = [
    (
        "waiting.html",
        public::WAITING,
        &[
            "lang",
            "refresh_seconds",
            "position",
            "ahead",
            "progress_pct",
            "eta_text",
            "queue_length",
            "updated_at",
            "i18n_json",
            "keep_open_hidden",
            "hold_hidden",
            "hold_ms",
            "hold_time",
            "hold_in",
            "message",
            "message_hidden",
        ],
    ),
    ("form.html", public::FORM, &["lang", "i18n_json"]),
    (
        "result.html",
        public::RESULT,
        &["lang", "passport_id", "i18n_json"],
    ),
    (
        "closed.html",
        public::CLOSED,
        &["lang", "reason_text", "reopen_at"],
    ),
    (
        "prequeue.html",
        public::PREQUEUE,
        &[
            "lang",
            "refresh_seconds",
            "opens_at_ms",
            "opens_at",
            "countdown",
            "i18n_json",
            "message",
            "message_hidden",
        ],
    ),
];

/// The pages as the edge renders them: partials pasted in.
fn templates() -> Vec<(&'static str, String, &'static [&'static str])> {
    PAGES
        .iter()
        .map(|&(file, template, vars)| (file, expand_partials(template, &PARTIALS), vars))
        .collect()
}

/// The page scripts: the keys they look up at run time must be sent.
const JS: [&str; 5] = [
    include_str!("../../public/assets/common.js"),
    include_str!("../../public/assets/prequeue.js"),
    include_str!("../../public/assets/waiting.js"),
    include_str!("../../public/assets/form.js"),
    include_str!("../../public/assets/result.js"),
];

fn tables() -> [(Lang, Strings); 2] {
    [
        (Lang::En, Strings::from_json(EN).unwrap()),
        (Lang::Es, Strings::from_json(ES).unwrap()),
    ]
}

fn sample_vars(strings: &Strings, lang: Lang) -> Vec<(&'static str, String)> {
    vec![
        ("lang", lang.code().to_owned()),
        ("refresh_seconds", "20".to_owned()),
        ("position", format_number(1234, lang)),
        ("ahead", format_number(1233, lang)),
        ("progress_pct", page::progress_pct(2000, 1234).to_string()),
        ("eta_text", page::eta_words(240, strings)),
        ("queue_length", format_number(5000, lang)),
        ("updated_at", page::format_utc_time(1_700_000_000_000)),
        ("i18n_json", strings.js_json()),
        ("keep_open_hidden", " hidden".to_owned()),
        ("hold_hidden", String::new()),
        ("hold_ms", "1700000600000".to_owned()),
        ("hold_time", "14:30 UTC".to_owned()),
        ("hold_in", page::eta_words(7_800, strings)),
        ("message", "Doors <b>open</b> at 9".to_owned()),
        ("message_hidden", String::new()),
        ("passport_id", "p_0123456789abcdef".to_owned()),
        (
            "reason_text",
            strings.get("c.reason_full").unwrap().to_owned(),
        ),
        ("reopen_at", "09:00 UTC".to_owned()),
        ("opens_at_ms", "1700000000000".to_owned()),
        ("opens_at", "08:00:00".to_owned()),
        ("countdown", "5:00".to_owned()),
    ]
}

#[test]
fn page_every_template_key_exists_in_every_language() {
    for (lang, strings) in tables() {
        for (file, template, _) in templates() {
            for key in template_string_keys(&template) {
                assert!(
                    strings.get(&key).is_some(),
                    "{file}: `{key}` missing from {}.json",
                    lang.code()
                );
            }
        }
    }
}

#[test]
fn page_string_tables_have_the_same_keys_and_no_empty_text() {
    let [(_, en), (_, es)] = tables();
    let en_keys: Vec<_> = en.keys().collect();
    let es_keys: Vec<_> = es.keys().collect();
    assert_eq!(
        en_keys, es_keys,
        "en.json and es.json must have the same keys"
    );
    for (lang, strings) in tables() {
        assert_eq!(strings.lang(), lang);
        for key in strings.keys() {
            assert!(
                !strings.get(key).unwrap().trim().is_empty(),
                "{}: `{key}` is empty",
                lang.code()
            );
        }
    }
}

#[test]
fn page_every_js_string_key_exists_in_every_language() {
    let mut used = Vec::new();
    for source in JS {
        // Calls look like t('js.key' …).
        for piece in source.split("t('").skip(1) {
            let key: String = piece.chars().take_while(|c| *c != '\'').collect();
            // `split('…` also ends in t(' : keep only string-table keys.
            if ["js.", "eta.", "num."].iter().any(|p| key.starts_with(p)) && !key.ends_with('.') {
                used.push(key);
            }
        }
    }
    // Field error messages are looked up as 'js.err.' + field name.
    for field in [
        "given_name",
        "family_name",
        "date_of_birth",
        "national_id",
        "email",
    ] {
        used.push(format!("js.err.{field}"));
    }
    assert!(used.len() > 15, "the key scan found too little: {used:?}");
    for (lang, strings) in tables() {
        let js: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&strings.js_json()).unwrap();
        for key in &used {
            assert!(
                js.contains_key(key),
                "`{key}` used by a script is not in {}.json's js_json",
                lang.code()
            );
        }
    }
}

#[test]
fn page_templates_use_exactly_the_documented_vars() {
    for (file, template, vars) in templates() {
        let mut used = template_vars(&template);
        used.sort();
        let mut documented: Vec<String> = vars.iter().map(|v| v.to_string()).collect();
        documented.sort();
        assert_eq!(used, documented, "{file}: vars differ from the contract");
    }
}

#[test]
fn page_templates_render_completely_in_both_languages() {
    for (lang, strings) in tables() {
        let vars = sample_vars(&strings, lang);
        for (file, template, _) in templates() {
            let html = render(&template, &strings, &vars);
            assert!(
                !html.contains("[[missing"),
                "{file} ({}): {html}",
                lang.code()
            );
            assert!(
                !html.contains("{{") && !html.contains("}}"),
                "{file}: unrendered placeholder"
            );
            assert!(html.contains(&format!("<html lang=\"{}\">", lang.code())));
            // The operator's message is text: escaped, never markup.
            assert!(!html.contains("<b>open</b>"), "{file}: message not escaped");
            if matches!(file, "waiting.html" | "prequeue.html") {
                assert!(
                    html.contains("Doors &lt;b&gt;open&lt;/b&gt; at 9"),
                    "{file}"
                );
            }
        }
    }
}

#[test]
fn page_partials_are_used_and_resolved() {
    for (file, template, _) in templates() {
        assert!(!template.contains("{{>"), "{file}: unresolved partial");
        assert_eq!(
            template.matches("<header class=\"top\">").count(),
            1,
            "{file}"
        );
        assert_eq!(
            template.matches("<meta charset=\"utf-8\">").count(),
            1,
            "{file}"
        );
    }
}

#[test]
fn page_templates_are_csp_safe() {
    // The edge sends `script-src 'self'; style-src 'self'`: no inline code.
    for (file, template, _) in templates() {
        let lower = template.to_ascii_lowercase();
        assert!(!lower.contains(" style="), "{file}: inline style attribute");
        assert!(!lower.contains("<style"), "{file}: inline <style>");
        assert!(!lower.contains("javascript:"), "{file}: javascript: URL");
        for handler in [
            " onclick=",
            " onload=",
            " onsubmit=",
            " onerror=",
            " oninput=",
            " onchange=",
        ] {
            assert!(
                !lower.contains(handler),
                "{file}: inline event handler {handler}"
            );
        }
        for (i, _) in lower.match_indices("<script") {
            let tag = &lower[i..i + lower[i..].find('>').unwrap()];
            assert!(
                tag.contains(" src=\"/assets/") || tag.contains("type=\"application/json\""),
                "{file}: inline or external script {tag}"
            );
        }
        assert!(
            !lower.contains("http://") && !lower.contains("https://"),
            "{file}: external resource"
        );
    }
}

#[test]
fn page_waiting_page_works_without_js() {
    let template = &templates()[0].1;
    assert!(template.contains(
        "<noscript><meta http-equiv=\"refresh\" content=\"{{refresh_seconds}}\"></noscript>"
    ));
    assert!(template.contains("aria-live=\"polite\""));
}

#[test]
fn page_i18n_json_cannot_break_out_of_its_script_element() {
    let strings =
        Strings::from_json(r#"{"lang.code":"en","js.evil":"</script><script>alert(1)</script>"}"#)
            .unwrap();
    let html = render(
        &templates()[1].1,
        &strings,
        &[("lang", "en".into()), ("i18n_json", strings.js_json())],
    );
    assert_eq!(
        html.matches("</script>").count(),
        3,
        "two asset scripts and the i18n block only"
    );
}

#[test]
fn page_pick_lang_matches_the_tables() {
    assert_eq!(pick_lang(None, None, Some("es-ES,es;q=0.9")), Lang::Es);
    for lang in Lang::ALL {
        assert_eq!(Lang::from_tag(lang.code()), Some(lang));
    }
}
