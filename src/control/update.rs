//! `api_token_update`: rename, new privileges, expiry or address list,
//! in one atomic change that keeps the token itself.

use apitokend_proto::ErrorCode;
use serde_json::Value;

use super::Ctx;
use super::owner::active_owner;
use super::params::Params;
use super::reply::{Done, Outcome, record_data};
use super::validate::{
    Failure, is_valid_token_name, name_exists, not_found, parse_acls, parse_expiry, parse_ips,
    valid_name,
};
use crate::iplist;
use crate::store::UpdateOutcome;

pub(super) fn run(ctx: &Ctx<'_>, args: Params<'_>) -> Outcome {
    let state = ctx.state;
    let owner = active_owner(state, &ctx.actor.owner)?;
    let name = args.required("token_name")?;
    let new_name = args
        .single("new_name")?
        .map(|n| valid_name(&n, "new_name"))
        .transpose()?;
    let acls = args
        .list("acl")?
        .map(|values| parse_acls(&values, &owner.holdings, &state.catalog()))
        .transpose()?;
    let now = state.clock.now();
    let expires = parse_expiry(args.single("expires_at")?, now)?;
    let given_ips = args.list("whitelist_ip")?;
    let ips = given_ips.as_deref().map(parse_ips).transpose()?;
    let warnings = given_ips
        .as_deref()
        .map(iplist::host_bits_cleared)
        .unwrap_or_default();
    if new_name.is_none() && acls.is_none() && expires.is_none() && ips.is_none() {
        return Err(Failure::new(
            ErrorCode::NothingToChange,
            "nothing to change: give new_name, acl, expires_at or whitelist_ip",
        ));
    }
    if !is_valid_token_name(&name) {
        return Err(not_found(&name));
    }
    let outcome = state.store.update(&owner.name, &name, |rec| {
        if let Some(n) = new_name.clone() {
            rec.name = n;
        }
        if let Some(a) = acls.clone() {
            rec.acls = a;
        }
        if let Some(e) = expires {
            rec.expires_at = e;
        }
        if let Some(i) = ips.clone() {
            rec.whitelist_ips = i;
        }
    })?;
    match outcome {
        UpdateOutcome::Updated(rec) => {
            let data = Value::Object(record_data(&rec));
            Ok(Done::changed(data, vec![rec.name]).warning(warnings))
        }
        UpdateOutcome::NotFound => Err(not_found(&name)),
        UpdateOutcome::NameExists => Err(name_exists(new_name.as_deref().unwrap_or(&name))),
    }
}
