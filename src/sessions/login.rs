//! Log-in to the web page, decided in the daemon: a user name and system
//! password (PAM), a one-time ticket, or a user name and an API token
//! holding `manage-api-tokens`.
//!
//! Order: credentials with control characters (or empty, or oversized)
//! are refused before anything sees them; a locked-out address is refused
//! next; then the credential is checked; then the account must be root or
//! a reseller that is not suspended and holds `manage-api-tokens` (the
//! page is that privilege's). Every refusal counts towards the address's
//! lockout, the one the verify socket keeps, and every refusal looks the
//! same to the client ([`LOGIN_INVALID`]); the reason goes to the audit
//! line only. PAM runs behind a small limit: a burst of log-ins waits a
//! little, then is told to come back, and never occupies the blocking pool.

use std::net::IpAddr;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use zeroize::Zeroizing;

use super::table::{Lifetimes, Method, Open, Opened, Sessions};
use super::tickets::Tickets;
use crate::accounts::{self, Account, Accounts, Lookup};
use crate::verify::lockout::{Lockout, Recorded};

/// What the client is told about any refused log-in.
pub(crate) const LOGIN_INVALID: &str = "The login is invalid.";
/// Longest user name, password, token or ticket looked at.
pub(crate) const MAX_CREDENTIAL: usize = 512;
/// PAM transactions at once.
pub(crate) const PAM_SLOTS: usize = 4;
/// How long a log-in waits for a PAM slot.
const PAM_WAIT: Duration = Duration::from_secs(5);

const MANAGE: &str = "manage-api-tokens";

/// What a log-in presents. Secrets are wiped on drop.
pub(crate) enum Credential {
    Password {
        user: String,
        password: Zeroizing<String>,
    },
    Ticket(Zeroizing<String>),
    Token {
        user: String,
        token: Zeroizing<String>,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Password { user, .. } => write!(f, "Password({user})"),
            Credential::Ticket(_) => f.write_str("Ticket"),
            Credential::Token { user, .. } => write!(f, "Token({user})"),
        }
    }
}

impl Credential {
    fn method(&self) -> Method {
        match self {
            Credential::Password { .. } => Method::Password,
            Credential::Ticket(_) => Method::Ticket,
            Credential::Token { .. } => Method::Token,
        }
    }

    /// The user name as presented (none for a ticket).
    pub(crate) fn user(&self) -> Option<&str> {
        match self {
            Credential::Password { user, .. } | Credential::Token { user, .. } => Some(user),
            Credential::Ticket(_) => None,
        }
    }

    /// Empty, too long, or holding a control character anywhere.
    fn is_malformed(&self) -> bool {
        let bad =
            |s: &str| s.is_empty() || s.len() > MAX_CREDENTIAL || s.chars().any(char::is_control);
        match self {
            Credential::Password { user, password } => bad(user) || bad(password),
            Credential::Ticket(t) => bad(t),
            Credential::Token { user, token } => bad(user) || bad(token),
        }
    }
}

/// What checking a token said (the verify path's answer).
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    /// The token is the user's, valid from this address, and its
    /// effective privileges are these.
    Valid {
        acls: Vec<String>,
    },
    /// Refused; the reason is for the audit line. `counted`: the check
    /// already counted it towards the lockout (as a verify does).
    Refused {
        reason: String,
        counted: bool,
    },
    Unavailable(String),
}

/// The checks a log-in needs from outside: PAM and the verify path.
pub(crate) trait Checks {
    fn password(&self, user: &str, password: &[u8], ip: IpAddr) -> pam_login::Outcome;
    fn token(&self, user: &str, token: &str, ip: IpAddr) -> TokenCheck;
}

/// The result of a log-in attempt.
#[must_use]
#[derive(Debug)]
pub(crate) enum LoggedIn {
    Opened {
        user: String,
        method: Method,
        session: Opened,
    },
    /// Refused: the reason is for the audit line, never the client.
    Refused {
        user: Option<String>,
        method: Method,
        reason: String,
        /// This refusal started a lockout of the address until then.
        locked_now: Option<i64>,
    },
    LockedOut {
        until: i64,
    },
    /// No PAM slot came free in time, or the session table is full.
    Busy(&'static str),
    /// PAM or the token check could not decide, or no randomness.
    Unavailable(String),
}

/// A counting limit for PAM transactions.
#[derive(Debug)]
pub(crate) struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A held slot; released on drop.
#[derive(Debug)]
pub(crate) struct Slot<'a>(&'a Slots);

impl Slots {
    pub(crate) fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    pub(crate) fn acquire(&self, wait: Duration) -> Option<Slot<'_>> {
        let free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        let (mut free, _) = self
            .freed
            .wait_timeout_while(free, wait, |n| *n == 0)
            .unwrap_or_else(|p| p.into_inner());
        if *free == 0 {
            return None;
        }
        *free -= 1;
        Some(Slot(self))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// What a log-in works with.
#[derive(Debug)]
pub(crate) struct Deps<'a> {
    pub(crate) accounts: &'a Accounts,
    pub(crate) lockout: &'a Lockout,
    pub(crate) sessions: &'a Sessions,
    pub(crate) tickets: &'a Tickets,
    pub(crate) pam_slots: &'a Slots,
    pub(crate) life: Lifetimes,
    pub(crate) now: i64,
}

/// Why an account may not log in, if it may not.
pub(crate) fn admit(accounts: &Accounts, user: &str) -> Result<(), String> {
    if user == "root" {
        return Ok(());
    }
    match accounts.lookup(user)? {
        Lookup::NotWhmUser => Err(format!("“{}” is neither root nor a reseller", shown(user))),
        Lookup::Found(Account {
            suspended: true, ..
        }) => Err(format!("the account “{}” is suspended", shown(user))),
        Lookup::Found(a) if !a.holdings.holds(MANAGE) => Err(format!(
            "the reseller “{}” lacks the “{MANAGE}” privilege",
            shown(user)
        )),
        Lookup::Found(_) => Ok(()),
    }
}

fn shown(s: &str) -> String {
    crate::text::shown(s, 64)
}

/// The first checks, before any credential is looked at: malformed
/// credentials (counted), a locked-out address. `None`: go on.
pub(crate) fn screen(deps: &Deps<'_>, cred: &Credential, ip: IpAddr) -> Option<LoggedIn> {
    if cred.is_malformed() {
        let locked_now = match deps.lockout.record_failure(ip, deps.now) {
            Recorded::LockedNow { until, .. } => Some(until),
            // Not tracked: a table full of live locks (audited by verify).
            Recorded::Counted | Recorded::NotTracked { .. } => None,
        };
        return Some(LoggedIn::Refused {
            user: None,
            method: cred.method(),
            reason: "malformed credentials".to_owned(),
            locked_now,
        });
    }
    deps.lockout
        .locked_until(ip, deps.now)
        .map(|until| LoggedIn::LockedOut { until })
}

/// One log-in attempt from `ip`.
pub(crate) fn login(
    deps: &Deps<'_>,
    checks: &dyn Checks,
    cred: &Credential,
    ip: IpAddr,
) -> LoggedIn {
    let method = cred.method();
    let refuse = |user: Option<&str>, reason: String| {
        let locked_now = match deps.lockout.record_failure(ip, deps.now) {
            Recorded::LockedNow { until, .. } => Some(until),
            // Not tracked: a table full of live locks (audited by verify).
            Recorded::Counted | Recorded::NotTracked { .. } => None,
        };
        LoggedIn::Refused {
            user: user.map(str::to_owned),
            method,
            reason,
            locked_now,
        }
    };
    if let Some(stop) = screen(deps, cred, ip) {
        return stop;
    }
    let user = match cred {
        Credential::Password { user, password } => {
            if !accounts::is_valid_user_name(user) {
                return refuse(Some(user), "not a valid user name".to_owned());
            }
            let Some(_slot) = deps.pam_slots.acquire(PAM_WAIT) else {
                return LoggedIn::Busy("Too many log-ins at once; try again shortly.");
            };
            match checks.password(user, password.as_bytes(), ip) {
                pam_login::Outcome::Accepted => user.clone(),
                pam_login::Outcome::Refused(why) => {
                    return refuse(Some(user), format!("PAM: {why}"));
                }
                pam_login::Outcome::Unavailable(why) => {
                    return LoggedIn::Unavailable(format!("PAM: {why}"));
                }
            }
        }
        Credential::Ticket(ticket) => match deps.tickets.redeem(ticket, deps.now) {
            Some(user) => user,
            None => return refuse(None, "no such ticket, used or expired".to_owned()),
        },
        Credential::Token { user, token } => {
            if !accounts::is_valid_user_name(user) {
                return refuse(Some(user), "not a valid user name".to_owned());
            }
            match checks.token(user, token, ip) {
                TokenCheck::Valid { acls } if acls.iter().any(|a| a == MANAGE || a == "all") => {
                    user.clone()
                }
                TokenCheck::Valid { .. } => {
                    return refuse(Some(user), format!("the token lacks “{MANAGE}”"));
                }
                TokenCheck::Refused {
                    reason,
                    counted: false,
                } => return refuse(Some(user), reason),
                TokenCheck::Refused {
                    reason,
                    counted: true,
                } => {
                    return LoggedIn::Refused {
                        user: Some(user.clone()),
                        method,
                        reason,
                        locked_now: None,
                    };
                }
                TokenCheck::Unavailable(why) => return LoggedIn::Unavailable(why),
            }
        }
    };
    if let Err(why) = admit(deps.accounts, &user) {
        return refuse(Some(&user), why);
    }
    match deps.sessions.open(&user, method, deps.now, deps.life) {
        Open::Opened(session) => LoggedIn::Opened {
            user,
            method,
            session,
        },
        Open::Full => LoggedIn::Busy("Too many open sessions; try again later."),
        Open::Failed(e) => LoggedIn::Unavailable(e),
    }
}

#[cfg(test)]
mod tests;
