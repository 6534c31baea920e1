//! `/api/passports…`: forwarded to the origin only for admitted visitors
//! whose session is live and not revoked; the origin's release and revoke
//! signals free the active slot.

use waitroom_core::entry;
use waitroom_core::protocol::shard::Release;
use worker::*;

use super::visitor::Visitor;
use crate::config::EdgeConfig;
use crate::forward::{self, RELEASE_HEADER, REVOKE_HEADER};
use crate::http;
use crate::protocol;
use crate::ratelimit::{self, Client};

pub async fn forward(
    req: Request,
    env: &Env,
    cfg: &EdgeConfig,
    who: Visitor,
    now: u64,
    client: &Client,
) -> Result<Response> {
    let Visitor::Admitted(claims, raw) = who else {
        return http::error(
            403,
            "not_admitted",
            "Your turn has not come yet: please wait in the line.",
        );
    };
    // Every call below reaches the shard: a flood of one admission stops here.
    if !ratelimit::allow_poll(env, &claims.ticket_id, client).await {
        return ratelimit::too_many(&req);
    }
    // A revoked admission is refused at once, though its ticket still verifies.
    if crate::operator::is_revoked(env, &claims).await? {
        return crate::operator::revoked_response();
    }
    let mut resp = forward::to_origin(req, cfg, Some(&raw), now).await?;
    let release = resp.headers().has(RELEASE_HEADER)?;
    let revoke = resp.headers().has(REVOKE_HEADER)?;
    if revoke {
        // Fraud or abuse: free the slot and refuse this ticket from now on.
        crate::operator::revoke(env, &claims).await?;
    } else if release {
        // The citizen is done: free the active slot now.
        let id = entry::entry_id(&claims.ticket_id);
        protocol::shard_call(env, claims.shard, Release { id }).await?;
    }
    if release || revoke {
        resp.headers_mut().delete(RELEASE_HEADER)?;
        resp.headers_mut().delete(REVOKE_HEADER)?;
    }
    if revoke {
        resp.headers_mut()
            .append("Set-Cookie", &http::clear_ticket_cookie())?;
    }
    Ok(resp)
}
