//! Unit tests of `login`.

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
    let super::super::tickets::Issue::Issued { ticket, .. } = w.tickets.issue("bob", 100) else {
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
    let super::super::tickets::Issue::Issued { ticket, .. } = w.tickets.issue("sue", 100) else {
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
