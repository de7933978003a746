//! Two commands of the web page's: `session_info` (what the page needs to
//! draw itself: who is logged in, the CSRF token, what the owner may
//! grant, grouped as WHM groups privileges, and root's list of resellers)
//! and `session_ticket` (`apitoken web-login`: a one-time log-in link).

use apitokend_proto::ErrorCode;
use serde_json::{Value, json};

use super::login;
use super::table::Live;
use super::tickets::Issue;
use crate::acl::{self, Holdings};
use crate::control::reply::{Done, Outcome};
use crate::control::validate::Failure;
use crate::logging;
use crate::state::State;

fn internal(e: &str) -> Failure {
    logging::error(e);
    Failure::new(ErrorCode::Internal, "cannot read the account data")
}

fn owner_holdings(state: &State, owner: &str) -> Result<Holdings, Failure> {
    if owner == "root" {
        return Ok(Holdings::All);
    }
    match state.accounts.lookup(owner).map_err(|e| internal(&e))? {
        crate::accounts::Lookup::Found(a) => Ok(a.holdings),
        crate::accounts::Lookup::NotWhmUser => Err(Failure::new(
            ErrorCode::UnknownUser,
            format!(
                "“{}” is not a WHM user (root or a reseller)",
                crate::text::shown(owner, 64)
            ),
        )),
    }
}

/// `session_info` for the session `session`, about the tokens of `owner`
/// (the session's user, or for root any WHM user).
pub(crate) fn run(state: &State, session: Option<&Live>, owner: &str) -> Outcome {
    let Some(session) = session else {
        return Err(Failure::new(
            ErrorCode::NotAuthorized,
            "session_info is for web sessions only",
        ));
    };
    let holdings = owner_holdings(state, owner)?;
    let catalog = state.catalog();
    let privileges: Vec<Value> = holdings
        .visible(&catalog)
        .map(|p| {
            json!({
                "name": p,
                // The group of `acls.conf` (a plugin's privilege listed
                // before any group is in "other").
                "category": catalog.category(p).unwrap_or(acl::NO_CATEGORY),
                "dangerous": acl::DANGEROUS.contains(&p),
            })
        })
        .collect();
    let is_root = session.user == "root";
    let users = if is_root {
        let mut users = vec!["root".to_owned()];
        users.extend(state.accounts.reseller_names().map_err(|e| internal(&e))?);
        users
    } else {
        vec![session.user.clone()]
    };
    let settings = state.web.settings();
    Ok(Done::data(json!({
        "user": session.user,
        "owner": owner,
        "is_root": is_root,
        "csrf": session.csrf.as_str(),
        "method": session.method.name(),
        "created": session.created,
        "expires_at": session.expires_at,
        "idle_secs": settings.idle_secs,
        "now": state.clock.now(),
        "expiry_warning_secs": state.expiry_warning_secs(),
        "privileges": privileges,
        "users": users,
    })))
}

/// `session_ticket`: a one-time log-in link for `owner`.
pub(crate) fn ticket(state: &State, owner: &str) -> Outcome {
    if let Err(why) = login::admit(&state.accounts, owner) {
        return Err(Failure::new(
            ErrorCode::NotAuthorized,
            format!("no web log-in: {why}"),
        ));
    }
    let now = state.clock.now();
    match state.web.tickets.issue(owner, now) {
        Issue::Issued { ticket, expires_at } => {
            let origin = state.web.settings().login_origin;
            Ok(Done::data(json!({
                "user": owner,
                "url": format!("{origin}/login?ticket={}", ticket.as_str()),
                "expires_at": expires_at,
            })))
        }
        Issue::Full => Err(Failure::new(
            ErrorCode::TooManyConnections,
            "too many log-in links are outstanding; try again in a few minutes",
        )),
        Issue::Failed(e) => {
            logging::error(&e);
            Err(Failure::new(ErrorCode::Internal, "internal error"))
        }
    }
}
