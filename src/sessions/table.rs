//! Web sessions in the daemon's memory: who is logged in, since when, when
//! last seen, and the CSRF token that every request of the session must
//! carry.
//!
//! A restart logs everyone out (nothing is written to disk). An entry ends
//! when it has been idle for `idle_secs`, when it is `max_secs` old, on
//! log-out, or when its account goes away. The table is bounded: one user
//! holds at most [`MAX_PER_USER`] sessions (a new log-in ends that user's
//! least recently used one), and past [`MAX_SESSIONS`] in all a log-in is
//! refused until sessions expire, rather than ending someone else's.

use std::collections::HashMap;
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::secret::{self, Key};

pub(crate) const MAX_SESSIONS: usize = 10_000;
pub(crate) const MAX_PER_USER: usize = 32;

/// How a session was opened (shown in the audit line and on the page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Password,
    Ticket,
    Token,
}

impl Method {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Method::Password => "password",
            Method::Ticket => "ticket",
            Method::Token => "token",
        }
    }
}

/// Lifetimes, from `[web] session_idle_secs` and `session_max_secs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lifetimes {
    pub(crate) idle_secs: i64,
    pub(crate) max_secs: i64,
}

#[derive(Debug)]
struct Entry {
    user: String,
    csrf: Zeroizing<String>,
    method: Method,
    created: i64,
    last_seen: i64,
}

impl Entry {
    fn ends_at(&self, life: Lifetimes) -> i64 {
        self.last_seen
            .saturating_add(life.idle_secs)
            .min(self.created.saturating_add(life.max_secs))
    }
}

/// A session just opened: the id goes into the cookie, the CSRF token into
/// the page.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) id: Zeroizing<String>,
    pub(crate) csrf: Zeroizing<String>,
    pub(crate) expires_at: i64,
}

/// A live session, as a request sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Live {
    pub(crate) user: String,
    pub(crate) csrf: Zeroizing<String>,
    pub(crate) method: Method,
    pub(crate) created: i64,
    /// When it ends if no further request comes.
    pub(crate) expires_at: i64,
}

#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    Live(Live),
    /// It existed and has just ended (idle or too old); it is gone now.
    Expired {
        user: String,
    },
    Unknown,
}

#[must_use]
#[derive(Debug)]
pub(crate) enum Open {
    Opened(Opened),
    Full,
    /// The OS gave no randomness.
    Failed(String),
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    table: Mutex<HashMap<Key, Entry>>,
}

impl Sessions {
    /// Opens a session for `user` at `now`.
    pub(crate) fn open(&self, user: &str, method: Method, now: i64, life: Lifetimes) -> Open {
        let (id, csrf) = match (secret::fresh(), secret::fresh()) {
            (Ok(id), Ok(csrf)) => (id, csrf),
            (Err(e), _) | (_, Err(e)) => return Open::Failed(e),
        };
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.retain(|_, e| e.ends_at(life) > now);
        let mine: Vec<(Key, i64)> = table
            .iter()
            .filter(|(_, e)| e.user == user)
            .map(|(k, e)| (*k, e.last_seen))
            .collect();
        if mine.len() >= MAX_PER_USER
            && let Some((oldest, _)) = mine.iter().min_by_key(|(_, seen)| *seen)
        {
            table.remove(oldest);
        }
        if table.len() >= MAX_SESSIONS {
            return Open::Full;
        }
        let entry = Entry {
            user: user.to_owned(),
            csrf: csrf.clone(),
            method,
            created: now,
            last_seen: now,
        };
        let expires_at = entry.ends_at(life);
        table.insert(secret::key(&id), entry);
        Open::Opened(Opened {
            id,
            csrf,
            expires_at,
        })
    }

    /// Finds the session `id` at `now` and, when it is live, counts this as
    /// activity (the idle timer restarts).
    pub(crate) fn touch(&self, id: &str, now: i64, life: Lifetimes) -> Found {
        if !secret::is_shaped(id) {
            return Found::Unknown;
        }
        let key = secret::key(id);
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = table.get_mut(&key) else {
            return Found::Unknown;
        };
        if entry.ends_at(life) <= now {
            let user = entry.user.clone();
            table.remove(&key);
            return Found::Expired { user };
        }
        entry.last_seen = entry.last_seen.max(now);
        Found::Live(Live {
            user: entry.user.clone(),
            csrf: entry.csrf.clone(),
            method: entry.method,
            created: entry.created,
            expires_at: entry.ends_at(life),
        })
    }

    /// Ends the session `id`; its user if it existed.
    pub(crate) fn end(&self, id: &str) -> Option<String> {
        if !secret::is_shaped(id) {
            return None;
        }
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.remove(&secret::key(id)).map(|e| e.user)
    }

    /// Ends every session of `user` (its account was removed or renamed);
    /// how many there were.
    pub(crate) fn end_user(&self, user: &str) -> usize {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let before = table.len();
        table.retain(|_, e| e.user != user);
        before - table.len()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used)]
mod tests {
    use super::*;

    const LIFE: Lifetimes = Lifetimes {
        idle_secs: 100,
        max_secs: 1000,
    };

    fn opened(s: &Sessions, user: &str, now: i64) -> Opened {
        match s.open(user, Method::Password, now, LIFE) {
            Open::Opened(o) => o,
            other => panic!("{other:?}"),
        }
    }

    fn live(found: Found) -> Live {
        match found {
            Found::Live(l) => l,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let s = Sessions::default();
        let o = opened(&s, "root", 0);
        assert_eq!(o.expires_at, 100);
        // Activity keeps it alive past the idle time...
        for t in (90..=990).step_by(90) {
            let l = live(s.touch(&o.id, t, LIFE));
            assert_eq!(l.user, "root");
            assert!(secret::same(&l.csrf, &o.csrf));
        }
        // ...but never past the absolute lifetime.
        assert_eq!(live(s.touch(&o.id, 999, LIFE)).expires_at, 1000);
        assert_eq!(
            s.touch(&o.id, 1000, LIFE),
            Found::Expired {
                user: "root".into()
            }
        );
        assert_eq!(
            s.touch(&o.id, 1000, LIFE),
            Found::Unknown,
            "gone once expired"
        );
        let idle = opened(&s, "root", 2000);
        assert!(matches!(s.touch(&idle.id, 2099, LIFE), Found::Live(_)));
        assert!(matches!(
            s.touch(&idle.id, 2199, LIFE),
            Found::Expired { .. }
        ));
    }

    #[test]
    fn logout_and_account_removal_end_sessions() {
        let s = Sessions::default();
        let a = opened(&s, "bob", 0);
        let b = opened(&s, "bob", 0);
        let c = opened(&s, "alice", 0);
        assert_eq!(s.end(&a.id).as_deref(), Some("bob"));
        assert_eq!(s.end(&a.id), None);
        assert_eq!(s.touch(&a.id, 1, LIFE), Found::Unknown);
        assert_eq!(s.end_user("bob"), 1);
        assert_eq!(s.touch(&b.id, 1, LIFE), Found::Unknown);
        assert!(matches!(s.touch(&c.id, 1, LIFE), Found::Live(_)));
        for bad in ["", "x", &c.csrf] {
            assert_eq!(s.touch(bad, 1, LIFE), Found::Unknown, "{bad}");
        }
    }

    #[test]
    fn bounded_per_user_and_overall() {
        let s = Sessions::default();
        let first = opened(&s, "bob", 0);
        for t in 1..MAX_PER_USER as i64 {
            let _ = opened(&s, "bob", t);
        }
        assert_eq!(s.len(), MAX_PER_USER);
        // One more ends bob's least recently used session.
        let _ = opened(&s, "bob", 50);
        assert_eq!(s.len(), MAX_PER_USER);
        assert_eq!(s.touch(&first.id, 50, LIFE), Found::Unknown);
        // Fill the table with other users (a minute apart, all live).
        let mut n = 0;
        while s.len() < MAX_SESSIONS {
            let _ = opened(&s, &format!("u{}", n / MAX_PER_USER), 60);
            n += 1;
        }
        assert!(matches!(
            s.open("carol", Method::Ticket, 60, LIFE),
            Open::Full
        ));
        // Once they have expired there is room again.
        assert!(matches!(
            s.open("carol", Method::Ticket, 500, LIFE),
            Open::Opened(_)
        ));
        assert_eq!(s.len(), 1);
    }
}
