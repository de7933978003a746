//! A token that verified, as the verify path holds it: the owner's account
//! and the token's cached snapshot, shared, never copied. What the token
//! may do is answered from them directly (no privilege set is collected
//! per verify); [`Grant::verified`] makes the owned form the HTTPS front's
//! relayed requests need.

use std::sync::Arc;

use apitokend_proto::Response;
use serde_json::json;

use super::cache::Snapshot;
use super::{COMMAND, Verified, effective};
use crate::accounts::Account;
use crate::acl::{self, Holdings};
use crate::tokens::Index;

#[derive(Debug)]
pub(crate) struct Grant {
    account: Arc<Account>,
    snapshot: Arc<Snapshot>,
    index: Index,
}

impl Grant {
    pub(super) fn new(account: Arc<Account>, snapshot: Arc<Snapshot>, index: Index) -> Grant {
        Grant {
            account,
            snapshot,
            index,
        }
    }

    pub(crate) fn account(&self) -> &Account {
        &self.account
    }

    pub(crate) fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub(crate) fn index(&self) -> Index {
        self.index
    }

    /// Whether the token holds `acl` now: `effective(...).holds(acl)`
    /// without building the set.
    pub(crate) fn holds(&self, acl: &str) -> bool {
        let s = &self.snapshot;
        match (&s.acl_holdings, &self.account.holdings) {
            (None, owner) => owner.holds(acl),
            (Some(token), Holdings::All) => token.holds(acl),
            (Some(_), Holdings::Some(held)) => {
                held.contains(acl) && s.acl_set.as_ref().is_some_and(|t| t.contains(acl))
            }
        }
    }

    /// The effective privileges in reply order (sorted; `all` alone), as
    /// `effective(...)` would list them.
    pub(crate) fn each_acl(&self, mut f: impl FnMut(&str)) {
        let s = &self.snapshot;
        match (&s.acl_holdings, &self.account.holdings) {
            (None, Holdings::All) | (Some(Holdings::All), Holdings::All) => f(acl::ALL),
            (None, Holdings::Some(set)) | (Some(Holdings::Some(set)), Holdings::All) => {
                set.iter().for_each(|a| f(a));
            }
            (Some(_), Holdings::Some(held)) => {
                for a in s.acl_set.iter().flatten().filter(|a| held.contains(*a)) {
                    f(a);
                }
            }
        }
    }

    /// The owned form (user, token name, effective privileges).
    pub(crate) fn verified(&self) -> Verified {
        Verified {
            user: self.account.name.clone(),
            token_name: self.snapshot.name.clone(),
            effective: effective(self.snapshot.acls.as_deref(), &self.account.holdings),
        }
    }

    /// The reply of an accepted verify, built the general way (the fast
    /// path writes the same bytes directly; a test holds them equal).
    pub(crate) fn response(&self) -> Response {
        let mut acls = Vec::new();
        self.each_acl(|a| acls.push(a.to_owned()));
        Response::ok(
            COMMAND,
            Some(json!({
                "user": self.account.name,
                "token_name": self.snapshot.name,
                "acls": acls,
            })),
        )
    }
}
