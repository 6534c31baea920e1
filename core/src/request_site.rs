//! Where a request comes from, as the browser tells us: which requests may
//! change state, and which may create a place in the queue.
//!
//! Attack: another site makes a citizen's browser send requests to us with
//! the citizen's cookies. A `<form action=".../queue/leave">` would drop
//! their place; an `<img src=".../">` on a busy page would create places
//! for its visitors and spend their network's join budget.
//!
//! Browsers say where a request comes from in `Sec-Fetch-Site` (every
//! current browser) and `Origin` (on every cross-origin request and every
//! `POST`). A request without either is not a browser acting for someone
//! else (a phone app, curl, a test client): it has no cookies it did not
//! choose to send, so it is not a cross-site request forgery and is let
//! through. The headers cannot be set by a page's script.
//!
//! - [`may_change_state`]: every method other than `GET`/`HEAD` needs
//!   `Sec-Fetch-Site: same-origin` (or `none`: the user typed it), or, from
//!   a browser without fetch metadata, an `Origin` equal to ours.
//! - [`may_create_place`]: only a top-level navigation (a link followed, an
//!   address typed) creates a place from a page load, never a subresource
//!   (`<img>`, `<script>`, `fetch` in `no-cors` mode) or a frame. A link
//!   from the government's own site to the waiting room is a cross-site
//!   navigation and does create one: that is how citizens arrive.

/// `Sec-Fetch-Site` values that mean "this site, or the user directly".
fn same_site_or_user(site: &str) -> bool {
    site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none")
}

/// Whether a state-changing request (`POST`, `PUT`, …) may be served.
///
/// `fetch_site` is `Sec-Fetch-Site`, `origin` the `Origin` header and
/// `own_origin` ours (`https://passport.example`, as the request's URL has
/// it). `Origin: null` (a sandboxed frame, a redirect across sites) is
/// never ours.
pub fn may_change_state(fetch_site: Option<&str>, origin: Option<&str>, own_origin: &str) -> bool {
    if let Some(site) = fetch_site {
        return same_site_or_user(site.trim());
    }
    match origin {
        Some(o) => o.trim().eq_ignore_ascii_case(own_origin),
        None => true,
    }
}

/// Whether a page load may create a place: it is a top-level navigation,
/// or a client that sends no fetch metadata at all. `fetch_mode` is
/// `Sec-Fetch-Mode`, `fetch_dest` is `Sec-Fetch-Dest`.
pub fn may_create_place(fetch_mode: Option<&str>, fetch_dest: Option<&str>) -> bool {
    let navigate = fetch_mode.is_none_or(|m| m.trim().eq_ignore_ascii_case("navigate"));
    let document = fetch_dest.is_none_or(|d| d.trim().eq_ignore_ascii_case("document"));
    navigate && document
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "https://passport.example";

    #[test]
    fn same_origin_and_typed_requests_change_state() {
        assert!(may_change_state(Some("same-origin"), Some(OURS), OURS));
        assert!(may_change_state(Some("none"), None, OURS));
        assert!(may_change_state(Some("Same-Origin"), None, OURS));
    }

    #[test]
    fn other_sites_never_change_state_whatever_the_origin_says() {
        for site in ["cross-site", "same-site", "garbage", ""] {
            assert!(!may_change_state(Some(site), Some(OURS), OURS), "{site}");
        }
    }

    #[test]
    fn without_fetch_metadata_the_origin_decides() {
        assert!(may_change_state(None, Some(OURS), OURS));
        assert!(!may_change_state(None, Some("https://evil.example"), OURS));
        assert!(!may_change_state(None, Some("null"), OURS));
        // A prefix of ours is another origin.
        assert!(!may_change_state(
            None,
            Some("https://passport.example.evil.example"),
            OURS
        ));
        assert!(!may_change_state(
            None,
            Some("http://passport.example"),
            OURS
        ));
    }

    #[test]
    fn clients_that_are_not_browsers_are_let_through() {
        assert!(may_change_state(None, None, OURS));
        assert!(may_create_place(None, None));
    }

    #[test]
    fn only_a_top_level_navigation_creates_a_place() {
        assert!(may_create_place(Some("navigate"), Some("document")));
        for (mode, dest) in [
            ("no-cors", "image"),
            ("no-cors", "script"),
            ("cors", "empty"),
            ("navigate", "iframe"),
            ("navigate", "frame"),
            ("navigate", "object"),
        ] {
            assert!(!may_create_place(Some(mode), Some(dest)), "{mode} {dest}");
        }
        assert!(!may_create_place(Some("no-cors"), None));
        assert!(!may_create_place(None, Some("image")));
    }
}
