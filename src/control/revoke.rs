//! `api_token_revoke` (one or many names) and `api_token_revoke_all`.

use apitokend_proto::ErrorCode;
use serde_json::json;

use super::Ctx;
use super::owner::owner;
use super::params::Params;
use super::reply::{Done, Outcome};
use super::validate::{Failure, is_valid_token_name};

pub(super) fn run(ctx: &Ctx<'_>, args: Params<'_>) -> Outcome {
    let owner = owner(ctx.state, &ctx.actor.owner)?;
    let names = args.list("token_name")?.unwrap_or_default();
    if names.is_empty() {
        return Err(Failure::new(
            ErrorCode::BadRequest,
            "argument “token_name” is required (it may be repeated)",
        ));
    }
    let (valid, invalid): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|n| is_valid_token_name(n));
    let (revoked, mut not_found) = ctx.state.store.revoke(&owner.name, &valid)?;
    not_found.extend(invalid);
    let data = json!({ "revoked": revoked, "not_found": not_found });
    Ok(Done::changed(data, revoked))
}

pub(super) fn all(ctx: &Ctx<'_>) -> Outcome {
    let owner = owner(ctx.state, &ctx.actor.owner)?;
    let names = ctx.state.store.revoke_all(&owner.name)?;
    Ok(Done::changed(json!({ "revoked": names.len() }), names))
}
