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

/// The shipped privilege list: `# group` headings name the categories.
const SHIPPED_ACLS: &str = include_str!("../../etc/apitokend/acls.conf");

/// The WHM category of a shipped privilege; `None` for one added by an
/// administrator (a plugin's).
pub(crate) fn category(privilege: &str) -> Option<&'static str> {
    let mut current = None;
    for line in SHIPPED_ACLS.lines() {
        let line = line.trim();
        if let Some(heading) = line.strip_prefix("# ")
            && !heading.is_empty()
            && heading.bytes().all(|b| b.is_ascii_lowercase())
        {
            current = Some(heading);
        } else if line == privilege {
            return current;
        }
    }
    None
}

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
                "category": category(p).unwrap_or("additional"),
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

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shipped_privileges_have_their_category() {
        assert_eq!(category("manage-api-tokens"), Some("initial"));
        assert_eq!(category("list-accts"), Some("standard"));
        assert_eq!(category("all"), Some("everything"));
        assert_eq!(category("software-foo"), None);
        // Every shipped privilege has one.
        for p in acl::Catalog::builtin().iter() {
            assert!(category(p).is_some(), "{p}");
        }
    }
}
