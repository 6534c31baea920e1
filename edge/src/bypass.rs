//! The operator's bypass rules (`PUT /admin/config {"bypass_rules": …}`,
//! `waitroom_core::operator::bypass`): a visitor about to be given a place
//! whose request matches a rule (client address range, a secret header,
//! `request.cf.country`) gets a session at once instead, counted by kind
//! in the stats and the report.
//!
//! Each isolate keeps the rules for [`RULES_TTL_MS`] (asking the
//! Coordinator for every new place would make it the launch's bottleneck),
//! and drops them when it applies a change itself: a change reaches every
//! isolate within that time.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;

use waitroom_core::operator::{BypassKind, BypassRules, RequestFacts};
use waitroom_core::protocol::RulesQuery;
use worker::*;

use crate::protocol;

/// How long an isolate trusts the rules it fetched.
pub const RULES_TTL_MS: u64 = 10_000;

thread_local! {
    /// `(fetched_ms, rules)` (a Worker isolate is single-threaded).
    static CACHE: RefCell<Option<(u64, Rc<BypassRules>)>> = const { RefCell::new(None) };
}

/// Forgets the cached rules (this isolate just changed them).
pub fn invalidate() {
    CACHE.with(|c| c.borrow_mut().take());
}

async fn rules(env: &Env, now: u64) -> Result<Rc<BypassRules>> {
    let cached = CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(at, _)| now < at + RULES_TTL_MS)
            .map(|(_, r)| Rc::clone(r))
    });
    if let Some(r) = cached {
        return Ok(r);
    }
    let rules = Rc::new(protocol::coordinator_call(env, RulesQuery).await?.rules);
    CACHE.with(|c| *c.borrow_mut() = Some((now, Rc::clone(&rules))));
    Ok(rules)
}

/// The country as Cloudflare sees it. Test builds also take it from a
/// header, since a local workerd has no `request.cf`.
fn country_of(req: &Request) -> Option<String> {
    #[cfg(feature = "test-routes")]
    if let Some(c) = req.headers().get("x-waitroom-test-country").ok().flatten() {
        return Some(c);
    }
    req.cf().and_then(|cf| cf.country())
}

/// The kind of rule `req` matches, if any. Rules that cannot be fetched
/// bypass nobody (the citizen queues as usual; the error is logged).
pub async fn matched(req: &Request, env: &Env, now: u64) -> Option<BypassKind> {
    let rules = match rules(env, now).await {
        Ok(r) => r,
        Err(e) => {
            console_error!("bypass rules unavailable, nobody bypasses: {e}");
            return None;
        }
    };
    if rules.is_empty() {
        return None;
    }
    let headers = req.headers();
    let client_ip = headers
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .and_then(|a| a.parse::<IpAddr>().ok());
    let country = country_of(req);
    let header = |name: &str| headers.get(name).ok().flatten();
    let facts = RequestFacts {
        client_ip,
        country: country.as_deref(),
        header: &header,
    };
    rules.matches(&facts).map(|m| m.kind)
}
