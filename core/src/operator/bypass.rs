//! Bypass paths: prefixes that are never queued, and the subset forwarded
//! to the origin without a ticket.

/// Default bypass prefixes: never queued.
pub const DEFAULT_BYPASS_PATHS: &str = "/healthz,/.well-known/dcc/keys,/assets/";
/// Default prefixes forwarded to the origin without a ticket.
pub const DEFAULT_BYPASS_FORWARD: &str = "/.well-known/dcc/keys";

/// What a bypass path does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bypass {
    /// Not a bypass path: queue rules apply.
    No,
    /// Never queued; forwarded to the origin without a ticket.
    Origin,
    /// Never queued; answered by the edge (health, static files), never
    /// forwarded.
    Edge,
}

/// Whether `path` is under `prefix`: equal, or below it on a segment
/// boundary (`/healthz` covers `/healthz/x` but not `/healthzz`).
pub fn path_has_prefix(path: &str, prefix: &str) -> bool {
    if prefix.is_empty() || !prefix.starts_with('/') {
        return false;
    }
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Parses a comma-separated prefix list (blank entries and entries not
/// starting with `/` dropped).
pub fn parse_prefixes(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|p| p.starts_with('/') && p.len() > 1)
        .map(str::to_owned)
        .collect()
}

/// Classifies `path` under the bypass prefixes and the subset allowed to
/// reach the origin without a ticket. An `allowed_to_origin` prefix that is
/// not also a bypass prefix does nothing: forwarding is an exception to
/// bypass, never to the queue.
pub fn classify_bypass(path: &str, bypass: &[String], allowed_to_origin: &[String]) -> Bypass {
    if !bypass.iter().any(|p| path_has_prefix(path, p)) {
        return Bypass::No;
    }
    if allowed_to_origin.iter().any(|p| path_has_prefix(path, p)) {
        Bypass::Origin
    } else {
        Bypass::Edge
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bypass_matches_on_segment_boundaries() {
        let bypass = parse_prefixes(DEFAULT_BYPASS_PATHS);
        let fwd = parse_prefixes(DEFAULT_BYPASS_FORWARD);
        assert_eq!(classify_bypass("/healthz", &bypass, &fwd), Bypass::Edge);
        assert_eq!(classify_bypass("/healthzz", &bypass, &fwd), Bypass::No);
        assert_eq!(
            classify_bypass("/assets/app.css", &bypass, &fwd),
            Bypass::Edge
        );
        assert_eq!(classify_bypass("/assets", &bypass, &fwd), Bypass::No);
        assert_eq!(
            classify_bypass("/.well-known/dcc/keys", &bypass, &fwd),
            Bypass::Origin
        );
        assert_eq!(classify_bypass("/api/passports", &bypass, &fwd), Bypass::No);
        assert_eq!(classify_bypass("/", &bypass, &fwd), Bypass::No);
        // Forwarding needs bypass too: it never skips the queue on its own.
        let only_fwd = parse_prefixes("/api/");
        assert_eq!(
            classify_bypass("/api/passports", &bypass, &only_fwd),
            Bypass::No
        );
        assert_eq!(parse_prefixes(" /a , ,b,/ ,/c/"), vec!["/a", "/c/"]);
    }
}
