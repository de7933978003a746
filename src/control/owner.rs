//! The account a command acts on, as the account files say now.

use apitokend_proto::ErrorCode;

use super::validate::Failure;
use crate::accounts::{Account, Lookup};
use crate::logging;
use crate::state::State;
use crate::text::shown;

/// The WHM user `name` (root or a reseller), suspended or not.
pub(super) fn owner(state: &State, name: &str) -> Result<Account, Failure> {
    match state.accounts.lookup(name) {
        Ok(Lookup::Found(a)) => Ok(a),
        Ok(Lookup::NotWhmUser) => Err(Failure::new(
            ErrorCode::UnknownUser,
            format!(
                "“{}” is not a WHM user (root or a reseller)",
                shown(name, 64)
            ),
        )),
        Err(e) => {
            logging::error(&e);
            Err(Failure::new(
                ErrorCode::Internal,
                "cannot read the account data",
            ))
        }
    }
}

/// Like [`owner`], refusing a suspended account (for commands that grant).
pub(super) fn active_owner(state: &State, name: &str) -> Result<Account, Failure> {
    let account = owner(state, name)?;
    if account.suspended {
        return Err(Failure::new(
            ErrorCode::Suspended,
            format!("the account “{name}” is suspended"),
        ));
    }
    Ok(account)
}
