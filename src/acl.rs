//! Privilege (WHM ACL) names: which exist, and what an owner holds.
//!
//! The known privileges are data, not an enum: WHM's built-in list plus any
//! an administrator adds in `acls_file` for plugins (`software-*` and the
//! like). `all` implies every privilege.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// The privilege that implies every other one.
pub const ALL: &str = "all";

/// The shipped privilege list, compiled in as the default.
const SHIPPED_ACLS: &str = include_str!("../etc/apitokend/acls.conf");
/// The shipped function table, compiled in as the default.
const SHIPPED_FUNCTIONS: &str = include_str!("../etc/apitokend/functions.conf");

/// Privileges a token holder can use to escape the token's own limits.
pub const DANGEROUS: &[&str] = &[
    ALL,
    "passwd",
    "create-user-session",
    "manage-api-tokens",
    "cpanel-api",
];

/// The set of privilege names the daemon accepts in a token, each with
/// the group it is listed under (`[category]` lines in `acls.conf`, as the
/// WHM privileges page groups them; shown by `apitoken acls`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalog {
    known: BTreeMap<String, String>,
}

/// The group of privileges listed before any `[category]` line.
pub const NO_CATEGORY: &str = "other";

/// True for the privileges in [`DANGEROUS`].
pub fn bypasses_limits(acl: &str) -> bool {
    DANGEROUS.contains(&acl)
}

/// A privilege name is lowercase letters, digits, `-` and `_`.
pub fn is_valid_name(acl: &str) -> bool {
    !acl.is_empty()
        && acl.len() <= 64
        && acl
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Meaningful lines of a data file: comments and blanks dropped, numbered.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty())
}

fn read_data(path: Option<&Path>, shipped: &'static str) -> Result<(String, String), String> {
    match path {
        None => Ok((shipped.to_owned(), "built-in".to_owned())),
        Some(p) => std::fs::read_to_string(p)
            .map(|t| (t, p.display().to_string()))
            .map_err(|e| format!("cannot read {}: {e}", p.display())),
    }
}

impl Catalog {
    /// The shipped list (etc/apitokend/acls.conf).
    pub fn builtin() -> Catalog {
        Catalog::parse(SHIPPED_ACLS, "built-in")
            .unwrap_or_else(|e| unreachable!("the shipped acls.conf is valid: {e}"))
    }

    /// The privileges listed in `path` (one per line), or the shipped list
    /// when `None`; `all` is always known.
    pub fn load(path: Option<&Path>) -> Result<Catalog, String> {
        let (text, origin) = read_data(path, SHIPPED_ACLS)?;
        Catalog::parse(&text, &origin)
    }

    fn parse(text: &str, origin: &str) -> Result<Catalog, String> {
        let mut known = BTreeMap::new();
        let mut category = NO_CATEGORY.to_owned();
        for (n, line) in data_lines(text) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let name = name.trim();
                if !is_valid_name(name) {
                    return Err(format!("{origin}:{n}: invalid category name {name:?}"));
                }
                name.clone_into(&mut category);
                continue;
            }
            if !is_valid_name(line) {
                return Err(format!("{origin}:{n}: invalid privilege name {line:?}"));
            }
            known.insert(line.to_owned(), category.clone());
        }
        known
            .entry(ALL.to_owned())
            .or_insert_with(|| "everything".to_owned());
        Ok(Catalog { known })
    }

    pub fn is_known(&self, acl: &str) -> bool {
        self.known.contains_key(acl)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.known.keys().map(String::as_str)
    }

    /// The group `acl` is listed under, if it is known.
    pub fn category(&self, acl: &str) -> Option<&str> {
        self.known.get(acl).map(String::as_str)
    }

    /// Every known privilege with its category, sorted by name.
    pub fn categorised(&self) -> impl Iterator<Item = (&str, &str)> {
        self.known.iter().map(|(n, c)| (n.as_str(), c.as_str()))
    }
}

/// Which privileges each WHM API 1 function needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionTable {
    /// function → alternatives (any one suffices).
    needs: HashMap<String, Vec<String>>,
}

/// A function name as WHM API 1 spells them.
pub fn is_valid_function(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.' || b == b':')
}

impl FunctionTable {
    pub fn builtin() -> FunctionTable {
        FunctionTable::parse(SHIPPED_FUNCTIONS, "built-in")
            .unwrap_or_else(|e| unreachable!("the shipped functions.conf is valid: {e}"))
    }

    /// `function: privilege [privilege ...]` lines from `path`, or the
    /// shipped table when `None`.
    pub fn load(path: Option<&Path>) -> Result<FunctionTable, String> {
        let (text, origin) = read_data(path, SHIPPED_FUNCTIONS)?;
        FunctionTable::parse(&text, &origin)
    }

    fn parse(text: &str, origin: &str) -> Result<FunctionTable, String> {
        let mut needs = HashMap::new();
        for (n, line) in data_lines(text) {
            let Some((function, privileges)) = line.split_once(':') else {
                return Err(format!("{origin}:{n}: expected “function: privilege …”"));
            };
            let function = function.trim();
            if !is_valid_function(function) {
                return Err(format!("{origin}:{n}: invalid function name {function:?}"));
            }
            let alternatives: Vec<String> = privileges
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            if alternatives.is_empty() {
                return Err(format!("{origin}:{n}: {function} lists no privilege"));
            }
            if let Some(bad) = alternatives.iter().find(|p| !is_valid_name(p)) {
                return Err(format!("{origin}:{n}: invalid privilege name {bad:?}"));
            }
            if needs.insert(function.to_owned(), alternatives).is_some() {
                return Err(format!("{origin}:{n}: {function} is listed twice"));
            }
        }
        Ok(FunctionTable { needs })
    }

    /// True when `holdings` cover `function` (an unlisted function needs `all`).
    pub fn permits(&self, holdings: &Holdings, function: &str) -> bool {
        self.permits_by(|acl| holdings.holds(acl), function)
    }

    /// [`permits`](Self::permits) for a holder known by what it holds
    /// (a verify's effective privileges, never collected).
    pub fn permits_by(&self, holds: impl Fn(&str) -> bool, function: &str) -> bool {
        match self.needs.get(function) {
            Some(alternatives) => alternatives.iter().any(|p| holds(p)),
            None => holds(ALL),
        }
    }

    /// Every listed function that `holdings` cover.
    pub fn permitted(&self, holdings: &Holdings) -> Vec<&str> {
        self.needs
            .keys()
            .filter(|f| self.permits(holdings, f))
            .map(String::as_str)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.needs.len()
    }

    /// Every listed function with its alternatives, sorted by function.
    pub fn entries(&self) -> Vec<(&str, &[String])> {
        let mut all: Vec<(&str, &[String])> = self
            .needs
            .iter()
            .map(|(f, p)| (f.as_str(), p.as_slice()))
            .collect();
        all.sort_unstable_by_key(|(f, _)| *f);
        all
    }

    /// Why `token` may not call `function` (which [`permits`] refused): the
    /// privilege it needs, or, for a function not in the table (a typo,
    /// usually), that fact and the closest listed names.
    ///
    /// [`permits`]: FunctionTable::permits
    pub fn denial(&self, token: &str, function: &str) -> String {
        let shown = crate::text::shown(function, 64);
        match self.needs.get(function) {
            Some(alternatives) => {
                let quoted: Vec<String> = alternatives.iter().map(|p| format!("“{p}”")).collect();
                format!(
                    "the token “{token}” lacks the privilege for “{shown}” (it needs {})",
                    quoted.join(" or ")
                )
            }
            None => {
                let near = crate::text::closest(function, self.needs.keys().map(String::as_str));
                format!(
                    "“{shown}” is not in the function table{}; an unlisted function needs “all”, \
                     which the token “{token}” lacks",
                    crate::text::did_you_mean(&near)
                )
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.needs.is_empty()
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
mod tests {
    use super::*;

    #[test]
    fn shipped_privileges_have_their_category() {
        let c = Catalog::builtin();
        for (privilege, category) in [
            ("manage-api-tokens", Some("initial")),
            ("list-accts", Some("standard")),
            ("all", Some("everything")),
            ("software-foo", None),
        ] {
            assert_eq!(c.category(privilege), category, "{privilege}");
        }
    }

    #[test]
    fn shipped_lists_parse() {
        let c = Catalog::builtin();
        for p in [
            "all",
            "manage-api-tokens",
            "list-accts",
            "locale-edit",
            "allow-shell",
        ] {
            assert!(c.is_known(p), "{p}");
        }
        assert_eq!(c.iter().count(), 64);
        let categories: BTreeSet<&str> = c.categorised().map(|(_, cat)| cat).collect();
        assert_eq!(
            categories,
            BTreeSet::from([
                "everything",
                "global",
                "initial",
                "package",
                "standard",
                "super"
            ])
        );
        assert!(c.categorised().any(|e| e == ("list-accts", "standard")));
        assert!(DANGEROUS.iter().all(|d| c.is_known(d)));
        let f = FunctionTable::builtin();
        assert!(f.len() > 60);
        // Every privilege the table names is a known one.
        for alternatives in f.needs.values() {
            assert!(
                alternatives.iter().all(|p| c.is_known(p)),
                "{alternatives:?}"
            );
        }
    }

    #[test]
    fn function_table_rules() {
        let f = FunctionTable::builtin();
        let h = Holdings::from_list("list-accts,clustering");
        assert!(f.permits(&h, "listaccts"));
        assert!(!f.permits(&h, "createacct"));
        assert!(
            f.permits(&h, "version"),
            "alternatives: clustering suffices"
        );
        assert!(!f.permits(&h, "setacls"));
        assert!(!f.permits(&h, "not_in_table"), "unlisted needs all");
        assert!(f.permits(&Holdings::All, "not_in_table"));
        assert!(f.permits(&Holdings::All, "reboot"));
        let why = f.denial("t", "listaccts");
        assert!(why.contains("it needs “list-accts”"), "{why}");
        let why = f.denial("t", "listacct");
        assert!(
            why.contains("not in the function table (did you mean “listaccts”"),
            "{why}"
        );
    }

    #[test]
    fn data_file_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("functions.conf");
        std::fs::write(&p, "# c\nlistaccts: list-accts\nbroken line\n").unwrap();
        assert!(FunctionTable::load(Some(&p)).unwrap_err().contains(":3:"));
        std::fs::write(&p, "a: x\na: y\n").unwrap();
        assert!(FunctionTable::load(Some(&p)).unwrap_err().contains("twice"));
        std::fs::write(&p, "a:\n").unwrap();
        assert!(FunctionTable::load(Some(&p)).is_err());
        std::fs::write(&p, "myplugin_fn: software-foo list-accts\n").unwrap();
        let f = FunctionTable::load(Some(&p)).unwrap();
        assert!(f.permits(&Holdings::from_list("software-foo"), "myplugin_fn"));
        assert!(!f.permits(&Holdings::from_list("list-accts"), "listaccts"));
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
    fn acls_file_replaces_the_list_and_keeps_all() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("acls.conf");
        std::fs::write(&p, "# plugins\nsoftware-foo\n\nlist-accts # note\n").unwrap();
        let c = Catalog::load(Some(&p)).unwrap();
        assert!(c.is_known("software-foo") && c.is_known("list-accts") && c.is_known("all"));
        assert!(!c.is_known("passwd"));
        std::fs::write(&p, "Bad Name\n").unwrap();
        assert!(Catalog::load(Some(&p)).unwrap_err().contains(":1:"));
    }
}
