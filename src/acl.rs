//! Privilege (WHM ACL) names: which exist, and what an owner holds.
//!
//! The known privileges are data, not an enum: WHM's built-in list plus any
//! an administrator adds in `acls_file` for plugins (`software-*` and the
//! like). `all` implies every privilege.

use std::collections::BTreeSet;
use std::path::Path;

/// The privilege that implies every other one.
pub const ALL: &str = "all";

/// WHM's built-in privileges, grouped as the WHM privileges page groups them.
pub const BUILTIN: &[&str] = &[
    // initial
    "acct-summary",
    "basic-system-info",
    "basic-whm-functions",
    "connected-applications",
    "cors-proxy-get",
    "cpanel-api",
    "cpanel-integration",
    "create-user-session",
    "digest-auth",
    "generate-email-config",
    "list-pkgs",
    "manage-api-tokens",
    "manage-dns-records",
    "manage-oidc",
    "manage-styles",
    "mysql-info",
    "ns-config",
    "public-contact",
    "ssl-info",
    "track-email",
    // standard
    "list-accts",
    "show-bandwidth",
    "create-acct",
    "kill-acct",
    "suspend-acct",
    "upgrade-account",
    "ssl",
    "ssl-buy",
    "ssl-gencrt",
    "edit-mx",
    "passwd",
    "file-restore",
    "create-dns",
    "kill-dns",
    "park-dns",
    "edit-dns",
    "add-pkg",
    "edit-pkg",
    "thirdparty",
    "mailcheck",
    "news",
    "assign-root-account-enhancements",
    // package
    "allow-shell",
    "viewglobalpackages",
    "allow-addoncreate",
    "allow-parkedcreate",
    "add-pkg-ip",
    "add-pkg-shell",
    "allow-unlimited-pkgs",
    "allow-emaillimits-pkgs",
    "allow-unlimited-disk-pkgs",
    "allow-unlimited-bw-pkgs",
    // global
    "status",
    "stats",
    "restart",
    "resftp",
    // super
    "edit-account",
    "limit-bandwidth",
    "quota",
    "demo-setup",
    "rearrange-accts",
    "clustering",
    "locale-edit",
    // everything
    ALL,
];

/// Privileges a token holder can use to escape the token's own limits.
pub const DANGEROUS: &[&str] = &[
    ALL,
    "passwd",
    "create-user-session",
    "manage-api-tokens",
    "cpanel-api",
];

/// The set of privilege names the daemon accepts in a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalog {
    known: BTreeSet<String>,
}

/// A privilege name is lowercase letters, digits, `-` and `_`.
pub fn is_valid_name(acl: &str) -> bool {
    !acl.is_empty()
        && acl.len() <= 64
        && acl
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Catalog {
    pub fn builtin() -> Catalog {
        Catalog {
            known: BUILTIN.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Built-in privileges plus those listed in `extra` (one per line,
    /// blank lines and `#` comments ignored).
    pub fn load(extra: Option<&Path>) -> Result<Catalog, String> {
        let mut catalog = Catalog::builtin();
        let Some(path) = extra else {
            return Ok(catalog);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if !is_valid_name(line) {
                return Err(format!(
                    "{}:{}: invalid privilege name {line:?}",
                    path.display(),
                    n + 1
                ));
            }
            catalog.known.insert(line.to_owned());
        }
        Ok(catalog)
    }

    pub fn is_known(&self, acl: &str) -> bool {
        self.known.contains(acl)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.known.iter().map(String::as_str)
    }
}

/// What an owner holds right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holdings {
    /// `all`: root, or a reseller granted everything.
    All,
    Some(BTreeSet<String>),
}

impl Holdings {
    /// Parses a reseller's comma-separated privilege list.
    pub fn from_list(list: &str) -> Holdings {
        let set: BTreeSet<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if set.contains(ALL) {
            Holdings::All
        } else {
            Holdings::Some(set)
        }
    }

    pub fn holds(&self, acl: &str) -> bool {
        match self {
            Holdings::All => true,
            Holdings::Some(set) => set.contains(acl),
        }
    }

    /// The known privileges this holder may see (and grant), sorted.
    pub fn visible<'a>(&'a self, catalog: &'a Catalog) -> impl Iterator<Item = &'a str> {
        catalog.iter().filter(move |acl| self.holds(acl))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_all_and_no_duplicates() {
        let c = Catalog::builtin();
        assert!(c.is_known("all"));
        assert!(c.is_known("manage-api-tokens"));
        assert_eq!(c.iter().count(), BUILTIN.len());
        assert!(BUILTIN.iter().all(|a| is_valid_name(a)));
    }

    #[test]
    fn reseller_list_parsing() {
        assert_eq!(Holdings::from_list("list-accts, ,all"), Holdings::All);
        let h = Holdings::from_list("list-accts,,create-acct");
        assert!(h.holds("list-accts") && h.holds("create-acct") && !h.holds("all"));
        let c = Catalog::builtin();
        assert_eq!(
            h.visible(&c).collect::<Vec<_>>(),
            vec!["create-acct", "list-accts"]
        );
    }

    #[test]
    fn extra_file_adds_plugin_privileges() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("acls.conf");
        std::fs::write(&p, "# plugins\nsoftware-foo\n\nsoftware-bar # note\n").unwrap();
        let c = Catalog::load(Some(&p)).unwrap();
        assert!(c.is_known("software-foo") && c.is_known("software-bar"));
        std::fs::write(&p, "Bad Name\n").unwrap();
        assert!(Catalog::load(Some(&p)).unwrap_err().contains(":1:"));
    }
}
