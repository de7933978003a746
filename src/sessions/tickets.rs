//! One-time log-in tickets (`apitoken web-login`): a 256-bit secret in a
//! link, good for one log-in within [`TICKET_SECS`], like WHM's user
//! session URLs.
//!
//! Redeeming removes the ticket whether or not it was still valid, so a
//! link works once. Bounded: [`MAX_PER_USER`] outstanding per user (a new
//! one replaces the oldest) and [`MAX_TICKETS`] in all.

use std::collections::HashMap;
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::secret::{self, Key};

pub(crate) const TICKET_SECS: i64 = 300;
pub(crate) const MAX_TICKETS: usize = 1_000;
pub(crate) const MAX_PER_USER: usize = 8;

#[derive(Debug)]
struct Entry {
    user: String,
    issued: i64,
}

#[must_use]
#[derive(Debug)]
pub(crate) enum Issue {
    Issued {
        ticket: Zeroizing<String>,
        expires_at: i64,
    },
    Full,
    Failed(String),
}

#[derive(Debug, Default)]
pub(crate) struct Tickets {
    table: Mutex<HashMap<Key, Entry>>,
}

impl Tickets {
    pub(crate) fn issue(&self, user: &str, now: i64) -> Issue {
        let ticket = match secret::fresh() {
            Ok(t) => t,
            Err(e) => return Issue::Failed(e),
        };
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.retain(|_, e| e.issued + TICKET_SECS > now);
        let mine: Vec<(Key, i64)> = table
            .iter()
            .filter(|(_, e)| e.user == user)
            .map(|(k, e)| (*k, e.issued))
            .collect();
        if mine.len() >= MAX_PER_USER
            && let Some((oldest, _)) = mine.iter().min_by_key(|(_, at)| *at)
        {
            table.remove(oldest);
        }
        if table.len() >= MAX_TICKETS {
            return Issue::Full;
        }
        table.insert(
            secret::key(&ticket),
            Entry {
                user: user.to_owned(),
                issued: now,
            },
        );
        Issue::Issued {
            ticket,
            expires_at: now + TICKET_SECS,
        }
    }

    /// The user a ticket was issued for, if it is still valid; the ticket
    /// is used up either way.
    pub(crate) fn redeem(&self, ticket: &str, now: i64) -> Option<String> {
        if !secret::is_shaped(ticket) {
            return None;
        }
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let entry = table.remove(&secret::key(ticket))?;
        (entry.issued <= now && now < entry.issued + TICKET_SECS).then_some(entry.user)
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn issued(t: &Tickets, user: &str, now: i64) -> Zeroizing<String> {
        match t.issue(user, now) {
            Issue::Issued { ticket, expires_at } => {
                assert_eq!(expires_at, now + TICKET_SECS);
                ticket
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn single_use_within_five_minutes() {
        let t = Tickets::default();
        let a = issued(&t, "bob", 1000);
        assert_eq!(t.redeem(&a, 1299).as_deref(), Some("bob"));
        assert_eq!(t.redeem(&a, 1299), None, "used up");
        let late = issued(&t, "bob", 1000);
        assert_eq!(t.redeem(&late, 1300), None, "expired");
        let early = issued(&t, "bob", 1000);
        assert_eq!(t.redeem(&early, 999), None, "clock before issue");
        assert_eq!(t.redeem(&early, 1000), None, "and used up by that try");
        assert_eq!(t.redeem("", 1000), None);
        assert_eq!(t.redeem(&"0".repeat(64), 1000), None);
    }

    #[test]
    fn bounded() {
        let t = Tickets::default();
        let first = issued(&t, "bob", 0);
        for i in 1..=MAX_PER_USER as i64 {
            let _ = issued(&t, "bob", i);
        }
        assert_eq!(t.redeem(&first, 20), None, "oldest replaced");
        let mut n = 0;
        loop {
            match t.issue(&format!("u{}", n / MAX_PER_USER), 30) {
                Issue::Issued { .. } => n += 1,
                Issue::Full => break,
                Issue::Failed(e) => panic!("{e}"),
            }
        }
        assert!(n < MAX_TICKETS);
        // Expired tickets make room.
        assert!(matches!(t.issue("carol", 400), Issue::Issued { .. }));
    }
}
