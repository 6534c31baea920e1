//! Which `ORIGIN_URL`s the edge may forward citizens' requests to.
//!
//! Forwarded requests carry personal data and the admission ticket, so
//! they travel over `https://`. Plain `http://` is accepted only to a
//! loopback host (`127.0.0.0/8`, `::1`, `localhost`): the local stack and
//! tests, where nothing leaves the machine. The edge checks this when it
//! reads its configuration and refuses to serve otherwise, so a typo in a
//! deployment fails loudly at once instead of sending data in clear.

use std::net::IpAddr;

/// Why an origin URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OriginUrlError {
    #[error("ORIGIN_URL must use https:// (http:// only to 127.0.0.1, ::1 or localhost)")]
    NotHttps,
    #[error("ORIGIN_URL must be an http(s) URL with a host")]
    NotHttp,
}

/// Checks an already parsed URL's `scheme` and `host` (as the `url` crate
/// gives them: IPv6 in brackets).
pub fn check(scheme: &str, host: Option<&str>) -> Result<(), OriginUrlError> {
    let host = host
        .filter(|h| !h.is_empty())
        .ok_or(OriginUrlError::NotHttp)?;
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        "http" => Err(OriginUrlError::NotHttps),
        _ => Err(OriginUrlError::NotHttp),
    }
}

fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        assert_eq!(check("https", Some("origin.example")), Ok(()));
        assert_eq!(check("https", Some("10.0.0.5")), Ok(()));
        for host in ["127.0.0.1", "127.1.2.3", "[::1]", "localhost", "LOCALHOST"] {
            assert_eq!(check("http", Some(host)), Ok(()), "{host}");
        }
        for host in [
            "origin.example",
            "10.0.0.5",
            "[::2]",
            "localhost.evil.example",
            "0.0.0.0",
        ] {
            assert_eq!(
                check("http", Some(host)),
                Err(OriginUrlError::NotHttps),
                "{host}"
            );
        }
    }

    #[test]
    fn other_schemes_and_missing_hosts_are_refused() {
        assert_eq!(
            check("ftp", Some("origin.example")),
            Err(OriginUrlError::NotHttp)
        );
        assert_eq!(check("https", None), Err(OriginUrlError::NotHttp));
        assert_eq!(check("https", Some("")), Err(OriginUrlError::NotHttp));
    }
}
