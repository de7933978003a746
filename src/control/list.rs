//! `api_token_list`: the owner's tokens with privileges as the caller may
//! see them, expiry flags and last use.

use serde_json::{Map, json};

use super::Ctx;
use super::owner::owner;
use super::reply::{Done, Outcome};
use crate::authz;

pub(super) fn run(ctx: &Ctx<'_>) -> Outcome {
    let state = ctx.state;
    let owner = owner(state, &ctx.actor.owner)?;
    let viewer = authz::visible_privileges(ctx.caller);
    let now = state.clock.now();
    let catalog = state.catalog();
    let warning = state.expiry_warning_secs();
    let mut tokens = Map::new();
    for rec in state.store.list(&owner.name)? {
        let mut acls = Map::new();
        for privilege in viewer.visible(&catalog) {
            let has = match &rec.acls {
                None => owner.holdings.holds(privilege),
                Some(list) => list.iter().any(|a| a == privilege),
            };
            acls.insert(privilege.to_owned(), json!(u8::from(has)));
        }
        let expires_soon = rec
            .expires_at
            .is_some_and(|t| t > now && t - now <= warning);
        let last = state.last_use(&rec)?;
        let entry = json!({
            "name": rec.name,
            "create_time": rec.create_time,
            "expires_at": rec.expires_at,
            "whitelist_ips": (!rec.whitelist_ips.is_empty()).then_some(&rec.whitelist_ips),
            "acls": acls,
            "has_full_access": u8::from(rec.acls.is_none()),
            "expired": u8::from(rec.is_expired(now)),
            "expires_soon": u8::from(expires_soon),
            "last_used_at": last.as_ref().map(|u| u.at),
            "last_used_ip": last.map(|u| u.ip),
        });
        tokens.insert(rec.name.clone(), entry);
    }
    Ok(Done::data(json!({ "tokens": tokens })))
}
