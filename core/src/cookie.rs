//! Reading one cookie from a request's `Cookie` header(s): the edge's
//! ticket and language cookies, the origin's per-passport key cookie.
//!
//! A `Cookie` header is `name=value` pairs separated by `;`. Whitespace
//! around names and values is ignored; a value runs to the next `;` and may
//! hold `=`; a pair without `=` or with an empty name names nothing. Quotes
//! are kept (none of our values is quoted, so a quoted one fails to verify).
//!
//! **A name sent twice counts as absent.** A browser sends every cookie
//! that matches the request, and others than us can put one beside ours
//! under the same name: a sibling subdomain (`Domain=`), a more specific
//! `Path`, a page over plain HTTP for non-prefixed names. The browser puts
//! the longer path first, so "first wins" lets a planted cookie shadow ours,
//! and "last wins" the reverse; neither is known to be ours. Absent is the
//! outcome both the edge and the origin already handle safely: no ticket
//! means a fresh place in line, no key cookie means the PDF is not found.

/// The value of cookie `name` in one `Cookie` header: `None` when absent or
/// sent more than once.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    cookie_in(std::iter::once(header), name)
}

/// [`cookie`] over several `Cookie` header lines (HTTP/2 may split them):
/// a name is "sent twice" across lines too.
pub fn cookie_in<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    if name.is_empty() {
        return None;
    }
    let mut found = None;
    for pair in headers.into_iter().flat_map(|h| h.split(';')) {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        if k.trim() == name {
            if found.is_some() {
                return None;
            }
            found = Some(v.trim());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "__Host-waitroom";

    #[test]
    fn finds_a_cookie_among_others_whatever_the_spacing() {
        assert_eq!(cookie("__Host-waitroom=abc", T), Some("abc"));
        assert_eq!(cookie("a=1; __Host-waitroom=abc; b=2", T), Some("abc"));
        assert_eq!(cookie("a=1;__Host-waitroom=abc;b=2", T), Some("abc"));
        assert_eq!(cookie("  __Host-waitroom = abc  ;b=2", T), Some("abc"));
        assert_eq!(cookie("a=1;\t__Host-waitroom=abc\t", T), Some("abc"));
    }

    #[test]
    fn values_may_hold_equals_and_may_be_empty() {
        assert_eq!(cookie("k=YWJj==; b=2", "k"), Some("YWJj=="));
        assert_eq!(cookie("k=a=b=c", "k"), Some("a=b=c"));
        assert_eq!(cookie("k=; b=2", "k"), Some(""));
        assert_eq!(cookie("k=", "k"), Some(""));
        assert_eq!(cookie("k=\"q\"", "k"), Some("\"q\""));
    }

    #[test]
    fn names_match_exactly() {
        assert_eq!(cookie("__Host-waitroomx=1", T), None);
        assert_eq!(cookie("x__Host-waitroom=1", T), None);
        assert_eq!(cookie("__host-waitroom=1", T), None);
        assert_eq!(cookie("k=1", "K"), None);
        // A value that looks like a pair is not one.
        assert_eq!(cookie("a=k=1", "k"), None);
    }

    #[test]
    fn missing_names_and_pairs_name_nothing() {
        assert_eq!(cookie("", T), None);
        assert_eq!(cookie(";;; ;", T), None);
        assert_eq!(cookie("=abc", ""), None);
        assert_eq!(cookie("=abc; k=1", "k"), Some("1"));
        assert_eq!(cookie("__Host-waitroom; k=1", T), None);
        assert_eq!(cookie("__Host-waitroom; k=1", "k"), Some("1"));
        assert_eq!(cookie("k=1", ""), None);
    }

    #[test]
    fn a_cookie_sent_twice_counts_as_absent() {
        assert_eq!(cookie("__Host-waitroom=a; __Host-waitroom=b", T), None);
        assert_eq!(cookie("__Host-waitroom=a; __Host-waitroom=a", T), None);
        assert_eq!(cookie("__Host-waitroom=; __Host-waitroom=b", T), None);
        assert_eq!(cookie("__Host-waitroom=a;  __Host-waitroom =b", T), None);
        // The other cookies are still read.
        assert_eq!(
            cookie("k=1; __Host-waitroom=a; __Host-waitroom=b", "k"),
            Some("1")
        );
        // Across header lines as well.
        assert_eq!(cookie_in(["k=1", "k=2"], "k"), None);
        assert_eq!(cookie_in(["a=1", "k=2"], "k"), Some("2"));
        assert_eq!(cookie_in([], "k"), None);
    }
}
