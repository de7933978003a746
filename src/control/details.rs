//! `api_token_get_details`: what a token the caller holds is, found by the
//! token itself (from `args`, moved into a zeroizing buffer).

use apitokend_proto::ErrorCode;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::Ctx;
use super::owner::owner;
use super::reply::{Done, Outcome, record_data};
use super::validate::Failure;
use crate::decode::string_arg;
use crate::tokens::{self, Scheme, Token};
use crate::verify::upgrade::upgrade_now;

pub(super) fn run(ctx: &Ctx<'_>, args: &mut Map<String, Value>) -> Outcome {
    let state = ctx.state;
    let token = string_arg(args.remove("token"), "token")
        .map(Zeroizing::new)
        .map_err(|why| Failure::new(ErrorCode::BadRequest, why))?;
    let owner = owner(state, &ctx.actor.owner)?;
    if token.is_empty() {
        return Err(Failure::new(
            ErrorCode::BadRequest,
            "argument “token” is empty",
        ));
    }
    let token = Token::from_secret(token);
    let digest = token.digest();
    let Some(rec) = state.store.find_by_index(&state.pepper.index(&digest))? else {
        return Ok(Done::default());
    };
    if rec.owner != owner.name || rec.is_expired(state.clock.now()) {
        return Ok(Done::default());
    }
    let proven = match tokens::scheme(&rec.verifier) {
        Scheme::Argon2 => state.hasher.verify(&digest, &rec.verifier),
        // An imported token: this use is the moment to give it Argon2id
        // (the control path runs on the blocking pool; a failed upgrade is
        // logged and retried at the next use).
        Scheme::Interim => {
            let ok = state.pepper.check_interim(&digest, &rec.verifier);
            if ok {
                let _ = upgrade_now(
                    state,
                    &rec.owner,
                    &rec.name,
                    &rec.index,
                    &rec.verifier,
                    &digest,
                );
            }
            ok
        }
    };
    if !proven {
        return Ok(Done::default());
    }
    let mut data = record_data(&rec);
    data.insert("acls".into(), json!(rec.acls.clone().unwrap_or_default()));
    Ok(Done::data(Value::Object(data)))
}
