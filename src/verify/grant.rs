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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TokenRecord;
    use crate::tokens::Index;

    fn grant(token_acls: Option<&[&str]>, owner: &Holdings) -> Grant {
        let record = TokenRecord {
            owner: "o".into(),
            name: "t".into(),
            create_time: 0,
            expires_at: None,
            acls: token_acls.map(|l| l.iter().map(|a| (*a).to_owned()).collect()),
            whitelist_ips: Vec::new(),
            index: Index([0; 32]),
            verifier: String::new(),
            generation: 1,
        };
        let account = Account {
            name: "o".into(),
            holdings: owner.clone(),
            suspended: false,
        };
        Grant::new(
            Arc::new(account),
            Arc::new(Snapshot::of(&record, 0)),
            record.index,
        )
    }

    /// `holds` and `each_acl` answer what `effective` (the rule) says, for
    /// every kind of token under every kind of owner.
    #[test]
    fn holds_and_lists_what_effective_says() {
        let reseller = Holdings::from_list("list-accts,create-acct");
        let tokens: [Option<&[&str]>; 5] = [
            None,
            Some(&["list-accts"]),
            Some(&["list-accts", "passwd"]),
            Some(&["all"]),
            Some(&["all", "list-accts"]),
        ];
        let probes = ["list-accts", "create-acct", "passwd", "all", "reboot"];
        for owner in [Holdings::All, reseller] {
            for token in tokens {
                let g = grant(token, &owner);
                let list: Option<Vec<String>> =
                    token.map(|l| l.iter().map(|a| (*a).to_owned()).collect());
                let rule = effective(list.as_deref(), &owner);
                for acl in probes {
                    assert_eq!(g.holds(acl), rule.holds(acl), "{token:?} {owner:?} {acl}");
                }
                let mut listed = Vec::new();
                g.each_acl(|a| listed.push(a.to_owned()));
                let want: Vec<String> = match &rule {
                    Holdings::All => vec![acl::ALL.to_owned()],
                    Holdings::Some(set) => set.iter().cloned().collect(),
                };
                assert_eq!(listed, want, "{token:?} {owner:?}");
                assert_eq!(g.verified().effective, rule);
            }
        }
    }
}
