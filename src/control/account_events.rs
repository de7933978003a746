//! `account_remove` and `account_rename`: what cPanel's account hooks send
//! when WHM deletes or renames an account, so its tokens follow (and its
//! web sessions end).

use apitokend_proto::ErrorCode;
use serde_json::json;

use super::Ctx;
use super::params::Params;
use super::reply::{Done, Outcome};
use super::validate::{Failure, valid_user};
use crate::store::RenameOutcome;

pub(super) fn remove(ctx: &Ctx<'_>, args: Params<'_>) -> Outcome {
    let user = valid_user(&args.required("user")?)?;
    if user == "root" {
        return Err(Failure::new(
            ErrorCode::BadRequest,
            "root cannot be removed",
        ));
    }
    let names = ctx.state.store.revoke_all(&user)?;
    // Its web sessions end with it.
    let _ = ctx.state.web.sessions.end_user(&user);
    Ok(Done::changed(
        json!({ "user": user, "revoked": names.len() }),
        names,
    ))
}

pub(super) fn rename(ctx: &Ctx<'_>, args: Params<'_>) -> Outcome {
    let user = valid_user(&args.required("user")?)?;
    let new_user = valid_user(&args.required("new_user")?)?;
    if user == "root" || new_user == "root" || user == new_user {
        return Err(Failure::new(
            ErrorCode::BadRequest,
            "a rename needs two different non-root user names",
        ));
    }
    match ctx.state.store.rename_owner(&user, &new_user)? {
        RenameOutcome::Moved(n) => {
            // Sessions belong to the old name: log it out.
            let _ = ctx.state.web.sessions.end_user(&user);
            Ok(Done::data(json!({
            "user": user, "new_user": new_user, "moved": n
            })))
        }
        RenameOutcome::Conflict(names) => Err(Failure::new(
            ErrorCode::NameExists,
            format!(
                "“{new_user}” already has API tokens named {}; nothing was moved",
                names.join(", ")
            ),
        )),
    }
}
