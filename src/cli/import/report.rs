//! What an import did, per user and in total, for people (`human`) and
//! for scripts (`--json`).

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::args::Cli;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub(super) struct Invalid {
    pub(super) name: String,
    pub(super) reason: String,
}

/// What became of one user's file.
#[derive(Debug, Default, Serialize)]
pub(super) struct UserReport {
    pub(super) user: String,
    pub(super) imported: Vec<String>,
    pub(super) skipped: Vec<String>,
    pub(super) invalid: Vec<Invalid>,
    /// Why the file as a whole could not be imported, if so.
    pub(super) error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct Totals {
    pub(super) users: usize,
    pub(super) imported: usize,
    pub(super) skipped: usize,
    pub(super) invalid: usize,
    pub(super) failed_users: usize,
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) from: PathBuf,
    pub(super) dry_run: bool,
    pub(super) users: Vec<UserReport>,
    /// Files in the directory that are not `<user>.json`.
    pub(super) ignored: Vec<String>,
    pub(super) totals: Totals,
}

impl Report {
    pub(super) fn total(&mut self) {
        let mut t = Totals {
            users: self.users.len(),
            ..Totals::default()
        };
        for u in &self.users {
            t.imported += u.imported.len();
            t.skipped += u.skipped.len();
            t.invalid += u.invalid.len();
            t.failed_users += usize::from(u.error.is_some());
        }
        self.totals = t;
    }

    pub(super) fn clean(&self) -> bool {
        self.totals.invalid == 0 && self.totals.failed_users == 0
    }
}

pub(super) fn print_report(cli: &Cli, report: &Report) {
    use std::io::Write;
    let text = if cli.json {
        serde_json::to_string_pretty(report).unwrap_or_default() + "\n"
    } else {
        human(report)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

pub(super) fn human(r: &Report) -> String {
    let mut out = format!("cPanel token store: {}\n", r.from.display());
    if r.dry_run {
        out.push_str("Dry run: nothing was written; \"imported\" means \"would be imported\".\n");
    }
    if r.users.is_empty() {
        out.push_str("No user token files: nothing to import.\n");
    } else {
        let width = r
            .users
            .iter()
            .map(|u| u.user.len())
            .max()
            .unwrap_or(4)
            .max(4);
        out.push_str(&format!(
            "{:<width$}  {:>8}  {:>7}  {:>7}\n",
            "User", "Imported", "Skipped", "Invalid"
        ));
        for u in &r.users {
            let line = format!(
                "{:<width$}  {:>8}  {:>7}  {:>7}",
                u.user,
                u.imported.len(),
                u.skipped.len(),
                u.invalid.len()
            );
            match &u.error {
                Some(e) => out.push_str(&format!("{line}  error: {e}\n")),
                None => out.push_str(&format!("{line}\n")),
            }
        }
    }
    let bad: Vec<String> = r
        .users
        .iter()
        .flat_map(|u| {
            u.invalid
                .iter()
                .map(move |i| format!("  {}: {}: {}\n", u.user, i.name, i.reason))
        })
        .collect();
    if !bad.is_empty() {
        out.push_str("\nNot imported:\n");
        out.extend(bad);
    }
    if !r.ignored.is_empty() {
        out.push_str(&format!(
            "\nIgnored (not <user>.json): {}\n",
            r.ignored.join(", ")
        ));
    }
    let t = &r.totals;
    out.push_str(&format!(
        "\nTotal: {} imported, {} skipped (already present), {} invalid, {} user file(s)",
        t.imported, t.skipped, t.invalid, t.users
    ));
    if t.failed_users > 0 {
        out.push_str(&format!(", {} refused as a whole", t.failed_users));
    }
    out.push_str(".\n");
    out
}
