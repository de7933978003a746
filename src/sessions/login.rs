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
#[allow(clippy::panic, clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::verify::lockout::LockoutConfig;
    use std::cell::Cell;

    const LIFE: Lifetimes = Lifetimes {
        idle_secs: 1800,
        max_secs: 43200,
    };
    const TOKEN: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUV";

    /// PAM knows `root:pw` and `bob:pw` (and `carol:pw`, not a WHM user);
    /// the one valid token is TOKEN for any user, with `acls`.
    struct Fake {
        acls: Vec<String>,
        pam_calls: Cell<usize>,
        pam_down: bool,
    }

    impl Checks for Fake {
        fn password(&self, user: &str, password: &[u8], _ip: IpAddr) -> pam_login::Outcome {
            self.pam_calls.set(self.pam_calls.get() + 1);
            if self.pam_down {
                return pam_login::Outcome::Unavailable("down".into());
            }
            if password == b"pw" && ["root", "bob", "carol", "sue", "ned"].contains(&user) {
                pam_login::Outcome::Accepted
            } else {
                pam_login::Outcome::Refused("Authentication failure".into())
            }
        }

        fn token(&self, _user: &str, token: &str, _ip: IpAddr) -> TokenCheck {
            if token == TOKEN {
                TokenCheck::Valid {
                    acls: self.acls.clone(),
                }
            } else {
                TokenCheck::Refused {
                    reason: "no such token for this user".into(),
                    counted: false,
                }
            }
        }
    }

    struct World {
        _dir: tempfile::TempDir,
        accounts: Accounts,
        lockout: Lockout,
        sessions: Sessions,
        tickets: Tickets,
        slots: Slots,
    }

    impl World {
        fn new() -> World {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(
                dir.path().join("resellers"),
                "bob:manage-api-tokens,list-accts\nsue:all\nned:list-accts\n",
            )
            .unwrap();
            std::fs::create_dir(dir.path().join("suspended")).unwrap();
            std::fs::write(dir.path().join("suspended/sue"), "").unwrap();
            World {
                accounts: Accounts::new(dir.path()),
                lockout: Lockout::new(LockoutConfig {
                    max_failures: 3,
                    window_secs: 60,
                    cooldown_secs: 600,
                    ..LockoutConfig::default()
                }),
                sessions: Sessions::default(),
                tickets: Tickets::default(),
                slots: Slots::new(1),
                _dir: dir,
            }
        }

        fn deps(&self, now: i64) -> Deps<'_> {
            Deps {
                accounts: &self.accounts,
                lockout: &self.lockout,
                sessions: &self.sessions,
                tickets: &self.tickets,
                pam_slots: &self.slots,
                life: LIFE,
                now,
            }
        }
    }

    fn fake() -> Fake {
        Fake {
            acls: vec![MANAGE.to_owned()],
            pam_calls: Cell::new(0),
            pam_down: false,
        }
    }

    fn pw(user: &str, password: &str) -> Credential {
        Credential::Password {
            user: user.into(),
            password: Zeroizing::new(password.into()),
        }
    }

    fn tok(user: &str, token: &str) -> Credential {
        Credential::Token {
            user: user.into(),
            token: Zeroizing::new(token.into()),
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn who_may_log_in_and_how() {
        let w = World::new();
        let f = fake();
        let cases: &[(Credential, Option<&str>)] = &[
            (pw("root", "pw"), Some("root")),
            (pw("bob", "pw"), Some("bob")),
            (pw("bob", "wrong"), None),
            (pw("carol", "pw"), None), // not a WHM user
            (pw("sue", "pw"), None),   // suspended
            (pw("ned", "pw"), None),   // lacks manage-api-tokens
            (tok("bob", TOKEN), Some("bob")),
            (tok("bob", "WRONG"), None),
            (tok("carol", TOKEN), None),
        ];
        for (i, (cred, want)) in cases.iter().enumerate() {
            // One address per case so lockout stays out of it.
            let got = login(&w.deps(100), &f, cred, ip(u8::try_from(i).unwrap() + 1));
            match (got, want) {
                (LoggedIn::Opened { user, session, .. }, Some(u)) => {
                    assert_eq!(&user, u);
                    assert!(matches!(
                        w.sessions.touch(&session.id, 101, LIFE),
                        super::super::table::Found::Live(_)
                    ));
                }
                (LoggedIn::Refused { .. }, None) => {}
                (other, _) => panic!("{cred:?}: {other:?}"),
            }
        }
        let weak = Fake {
            acls: vec!["list-accts".into()],
            ..fake()
        };
        assert!(matches!(
            login(&w.deps(100), &weak, &tok("bob", TOKEN), ip(99)),
            LoggedIn::Refused { .. }
        ));
        let all = Fake {
            acls: vec!["all".into()],
            ..fake()
        };
        assert!(matches!(
            login(&w.deps(100), &all, &tok("root", TOKEN), ip(98)),
            LoggedIn::Opened { .. }
        ));
    }

    #[test]
    fn tickets_work_once_for_their_user() {
        let w = World::new();
        let f = fake();
        let super::super::tickets::Issue::Issued { ticket, .. } = w.tickets.issue("bob", 100)
        else {
            panic!("issue")
        };
        let cred = Credential::Ticket(ticket.clone());
        let LoggedIn::Opened { user, method, .. } = login(&w.deps(110), &f, &cred, ip(1)) else {
            panic!("first use")
        };
        assert_eq!((user.as_str(), method), ("bob", Method::Ticket));
        assert!(matches!(
            login(&w.deps(111), &f, &cred, ip(1)),
            LoggedIn::Refused { .. }
        ));
        // A ticket for an account suspended since is refused.
        let super::super::tickets::Issue::Issued { ticket, .. } = w.tickets.issue("sue", 100)
        else {
            panic!("issue")
        };
        assert!(matches!(
            login(&w.deps(110), &f, &Credential::Ticket(ticket), ip(2)),
            LoggedIn::Refused { .. }
        ));
    }

    #[test]
    fn control_characters_are_refused_before_pam() {
        let w = World::new();
        let f = fake();
        for cred in [
            pw("root", "p\nw"),
            pw("ro\tot", "pw"),
            pw("root", "pw\u{7f}"),
            pw("root", "pw\u{85}"),
            pw("", "pw"),
            pw("root", ""),
            pw("root", &"x".repeat(MAX_CREDENTIAL + 1)),
            tok("bob", "0123456789ABCDEFGHIJKLMNOPQRSTU\0"),
            Credential::Ticket(Zeroizing::new("\r\n".into())),
        ] {
            let w2 = World::new();
            assert!(
                matches!(
                    login(&w2.deps(1), &f, &cred, ip(1)),
                    LoggedIn::Refused { .. }
                ),
                "{cred:?}"
            );
        }
        assert_eq!(f.pam_calls.get(), 0);
        drop(w);
    }

    #[test]
    fn failures_lock_the_address_out() {
        let w = World::new();
        let f = fake();
        for n in 0..3 {
            let LoggedIn::Refused { locked_now, .. } =
                login(&w.deps(100), &f, &pw("root", "nope"), ip(7))
            else {
                panic!("refused")
            };
            assert_eq!(locked_now.is_some(), n == 2);
        }
        // Even the right password is refused now, without asking PAM.
        let calls = f.pam_calls.get();
        assert!(matches!(
            login(&w.deps(101), &f, &pw("root", "pw"), ip(7)),
            LoggedIn::LockedOut { until: 700 }
        ));
        assert_eq!(f.pam_calls.get(), calls);
        // Other addresses are not affected; after the cooldown it works.
        assert!(matches!(
            login(&w.deps(101), &f, &pw("root", "pw"), ip(8)),
            LoggedIn::Opened { .. }
        ));
        assert!(matches!(
            login(&w.deps(700), &f, &pw("root", "pw"), ip(7)),
            LoggedIn::Opened { .. }
        ));
    }

    #[test]
    fn pam_trouble_and_a_busy_limit_are_not_refusals() {
        let w = World::new();
        let down = Fake {
            pam_down: true,
            ..fake()
        };
        for _ in 0..5 {
            assert!(matches!(
                login(&w.deps(1), &down, &pw("root", "pw"), ip(1)),
                LoggedIn::Unavailable(_)
            ));
        }
        assert_eq!(w.lockout.locked_until(ip(1), 1), None, "not counted");
        let held = w.slots.acquire(Duration::ZERO).unwrap();
        assert!(w.slots.acquire(Duration::from_millis(10)).is_none());
        drop(held);
        assert!(w.slots.acquire(Duration::ZERO).is_some());
    }
}
