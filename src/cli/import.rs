//! `apitoken import-cpanel` and `apitoken import-accesshash`.
//!
//! The CLI reads cPanel's files (it runs as root; the daemon has no
//! capabilities and systemd hides home directories from it) and sends the
//! records, never a plaintext: cPanel's store holds SHA-512 digests, and
//! an access hash is hashed here. One user's records go in batches that
//! fit the daemon's `max_request_bytes` (a batch the daemon finds too long
//! is split in two and sent again), all records sharing a name in one
//! batch so the daemon decides which of them keeps it. Each batch is one
//! transaction: an import stopped half-way is finished by running it again.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use apitokend_proto::client::{Client, ClientError};
use apitokend_proto::{ErrorCode, Request, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use zeroize::{Zeroize, Zeroizing};

use super::args::{Cli, DEFAULT_TIMEOUT};
use super::cpanel::{ImportAccesshashArgs, ImportCpanelArgs};
use super::render::{EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE};
use super::request::scrub_value;
use super::sockets::{self, Target};
use crate::accounts::is_valid_user_name;
use crate::tokens::Token;

/// Bytes of records per request: under the daemon's default 64 KiB line.
const BATCH_BYTES: usize = 48 * 1024;
/// A user's token file larger than this is refused (cPanel's are KiBs).
const MAX_FILE_BYTES: u64 = 256 << 20;
/// An access hash file larger than this is not one.
const MAX_ACCESSHASH_BYTES: u64 = 64 << 10;

#[derive(Debug, Serialize, PartialEq, Eq)]
struct Invalid {
    name: String,
    reason: String,
}

/// What became of one user's file.
#[derive(Debug, Default, Serialize)]
struct UserReport {
    user: String,
    imported: Vec<String>,
    skipped: Vec<String>,
    invalid: Vec<Invalid>,
    /// Why the file as a whole could not be imported, if so.
    error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
struct Totals {
    users: usize,
    imported: usize,
    skipped: usize,
    invalid: usize,
    failed_users: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    from: PathBuf,
    dry_run: bool,
    users: Vec<UserReport>,
    /// Files in the directory that are not `<user>.json`.
    ignored: Vec<String>,
    totals: Totals,
}

impl Report {
    fn total(&mut self) {
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

    fn clean(&self) -> bool {
        self.totals.invalid == 0 && self.totals.failed_users == 0
    }
}

/// The user files to import: (user, path) sorted by user, plus reports
/// for files that cannot be and names of files that are not user files.
struct Listing {
    files: Vec<(String, PathBuf)>,
    unusable: Vec<UserReport>,
    ignored: Vec<String>,
}

fn list(dir: &Path, only: &[String]) -> Result<Listing, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "cannot read cPanel's token store {}: {e} (use --from DIR for another location)",
            dir.display()
        )
    })?;
    let mut listing = Listing {
        files: Vec::new(),
        unusable: Vec::new(),
        ignored: Vec::new(),
    };
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            listing
                .ignored
                .push(file_name.to_string_lossy().into_owned());
            continue;
        };
        let Some(user) = name.strip_suffix(".json") else {
            listing.ignored.push(name.to_owned());
            continue;
        };
        if !only.is_empty() && !only.iter().any(|u| u == user) {
            continue;
        }
        if is_valid_user_name(user) {
            listing.files.push((user.to_owned(), entry.path()));
        } else {
            listing.unusable.push(UserReport {
                user: crate::text::shown(user, 40),
                error: Some(format!("{name}: the file name is not <user>.json")),
                ..UserReport::default()
            });
        }
    }
    for user in only {
        if !listing.files.iter().any(|(u, _)| u == user) {
            listing.unusable.push(UserReport {
                user: crate::text::shown(user, 40),
                error: Some(format!("no token file {}/{user}.json", dir.display())),
                ..UserReport::default()
            });
        }
    }
    listing.files.sort();
    listing.ignored.sort();
    Ok(listing)
}

/// How a record is named in the report (as the daemon names it).
fn name_of(record: &Value) -> String {
    match record.get("name") {
        Some(Value::String(s)) if !s.is_empty() => crate::text::shown(s, 60),
        _ => "(no name)".to_owned(),
    }
}

type Entry = (String, Value);

/// Wipes what a parsed file held (digests are secrets at cPanel's level).
fn scrub_entries(entries: Vec<Entry>) {
    for (mut key, mut value) in entries {
        key.zeroize();
        scrub_value(&mut value);
    }
}

/// Reads and parses a user's file into its `tokens` entries.
fn read_user_file(path: &Path, shown: &str) -> Result<Vec<Entry>, String> {
    let mut f = File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let meta = f
        .metadata()
        .map_err(|e| format!("cannot stat {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("{shown} is larger than {MAX_FILE_BYTES} bytes"));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    f.read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "{shown} is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(mut top) = value else {
        return Err(format!("{shown} is not a JSON object"));
    };
    let entries = match top.remove("tokens") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(tokens)) => tokens.into_iter().collect(),
        Some(_) => return Err(format!("“tokens” in {shown} is not an object")),
    };
    scrub_value(&mut Value::Object(top));
    Ok(entries)
}

/// Splits entries into batches of about [`BATCH_BYTES`], keeping records
/// that share a name together.
fn batches(entries: Vec<Entry>, budget: usize) -> Vec<Vec<Entry>> {
    let mut groups: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for entry in entries {
        let name = match entry.1.get("name") {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        groups.entry(name).or_default().push(entry);
    }
    let size = |(k, v): &Entry| k.len() + v.to_string().len() + 8;
    let mut out = Vec::new();
    let mut current: Vec<Entry> = Vec::new();
    let mut used = 0;
    for group in groups.into_values() {
        let bytes: usize = group.iter().map(size).sum();
        if !current.is_empty() && used + bytes > budget {
            out.push(std::mem::take(&mut current));
            used = 0;
        }
        used += bytes;
        current.extend(group);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Why a user's import stopped.
enum Stop {
    /// The daemon refused the user (unknown user, …): the reason.
    Refused(String),
    /// The daemon could not be reached or the connection broke.
    Unreachable(ClientError),
}

/// One connection to the daemon, re-opened after a failure to send.
struct Session {
    target: Target,
    timeout: u64,
    client: Option<Client>,
}

impl Session {
    fn new(cli: &Cli) -> Session {
        Session {
            target: sockets::target(cli),
            timeout: cli.timeout.unwrap_or(DEFAULT_TIMEOUT),
            client: None,
        }
    }

    fn call(&mut self, req: &Request) -> Result<Response, ClientError> {
        let timeout = Duration::from_secs(self.timeout);
        let client = match &mut self.client {
            Some(c) => c,
            None => self
                .client
                .insert(Client::connect(&self.target.path, timeout)?),
        };
        let reply = client.call(req);
        if reply.is_err() {
            self.client = None;
        }
        reply
    }
}

fn strings(data: &Value, key: &str) -> Vec<String> {
    data[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Sends one batch (split further if the daemon finds it too long).
fn send(
    session: &mut Session,
    user: &str,
    dry_run: bool,
    batch: Vec<Entry>,
    report: &mut UserReport,
) -> Result<(), Stop> {
    let names: Vec<String> = batch.iter().map(|(_, v)| name_of(v)).collect();
    let tokens: Map<String, Value> = batch.into_iter().collect();
    let mut req = Request::new("import_cpanel_tokens")
        .arg("user", user)
        .arg("tokens", Value::Object(tokens));
    if dry_run {
        req = req.arg("dry_run", 1);
    }
    let reply = session.call(&req);
    let Some(Value::Object(tokens)) = req.args.remove("tokens") else {
        return Err(Stop::Refused("internal error: the batch vanished".into()));
    };
    let batch: Vec<Entry> = tokens.into_iter().collect();
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            scrub_entries(batch);
            return Err(Stop::Unreachable(e));
        }
    };
    if reply.is_ok() {
        scrub_entries(batch);
        let data = reply.data.unwrap_or_default();
        report.imported.extend(strings(&data, "imported"));
        report.skipped.extend(strings(&data, "skipped"));
        if let Some(bad) = data["invalid"].as_array() {
            report.invalid.extend(bad.iter().map(|b| Invalid {
                name: b["name"].as_str().unwrap_or("(no name)").to_owned(),
                reason: b["reason"].as_str().unwrap_or("invalid").to_owned(),
            }));
        }
        return Ok(());
    }
    if reply.error_code() == Some(ErrorCode::RequestTooLarge) {
        if batch.len() == 1 {
            scrub_entries(batch);
            report.invalid.push(Invalid {
                name: names.into_iter().next().unwrap_or_default(),
                reason: "the record is longer than the daemon's max_request_bytes".into(),
            });
            return Ok(());
        }
        let mut first = batch;
        let second = first.split_off(first.len() / 2);
        send(session, user, dry_run, first, report)?;
        return send(session, user, dry_run, second, report);
    }
    scrub_entries(batch);
    let why = reply.metadata.reason;
    report.invalid.extend(names.into_iter().map(|name| Invalid {
        name,
        reason: why.clone(),
    }));
    Err(Stop::Refused(why))
}

fn import_user(
    session: &mut Session,
    user: &str,
    path: &Path,
    dry_run: bool,
) -> Result<UserReport, ClientError> {
    let mut report = UserReport {
        user: user.to_owned(),
        ..UserReport::default()
    };
    let shown = format!("whostmgr/{user}.json");
    let entries = match read_user_file(path, &shown) {
        Ok(e) => e,
        Err(why) => {
            report.error = Some(why);
            return Ok(report);
        }
    };
    let mut pending = batches(entries, BATCH_BYTES).into_iter();
    while let Some(batch) = pending.next() {
        match send(session, user, dry_run, batch, &mut report) {
            Ok(()) => {}
            Err(Stop::Unreachable(e)) => {
                pending.for_each(scrub_entries);
                return Err(e);
            }
            Err(Stop::Refused(why)) => {
                // The daemon refuses the user, not a record: every record
                // not yet answered is reported with that reason.
                for batch in pending.by_ref() {
                    report.invalid.extend(batch.iter().map(|(_, v)| Invalid {
                        name: name_of(v),
                        reason: why.clone(),
                    }));
                    scrub_entries(batch);
                }
                report.error = Some(why);
            }
        }
    }
    report.imported.sort();
    report.skipped.sort();
    report.invalid.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(report)
}

/// `apitoken import-cpanel`.
pub(super) fn cpanel(cli: &Cli, a: &ImportCpanelArgs) -> i32 {
    if let Some(bad) = a.users.iter().find(|u| !is_valid_user_name(u)) {
        super::warn(&format!(
            "apitoken: error: invalid user name “{}”",
            crate::text::shown(bad, 40)
        ));
        return EXIT_USAGE;
    }
    let dir = a.from.join("whostmgr");
    let listing = match list(&dir, &a.users) {
        Ok(l) => l,
        Err(why) => {
            super::warn(&format!("apitoken: error: {why}"));
            return EXIT_REFUSED;
        }
    };
    let mut report = Report {
        from: dir,
        dry_run: a.dry_run,
        users: listing.unusable,
        ignored: listing.ignored,
        totals: Totals::default(),
    };
    let mut session = Session::new(cli);
    let mut lost = None;
    for (user, path) in &listing.files {
        match import_user(&mut session, user, path, a.dry_run) {
            Ok(r) => report.users.push(r),
            Err(e) => {
                lost = Some(e);
                break;
            }
        }
    }
    report.users.sort_by(|x, y| x.user.cmp(&y.user));
    report.total();
    print_report(cli, &report);
    if let Some(e) = lost {
        super::warn(sockets::unreachable(&session.target, session.timeout, &e).trim_end());
        super::warn(
            "apitoken: the import stopped there; what was reported above is stored. \
             Run the same command again to finish (tokens already imported are skipped).",
        );
        return EXIT_UNREACHABLE;
    }
    if report.clean() {
        EXIT_OK
    } else {
        EXIT_REFUSED
    }
}

fn print_report(cli: &Cli, report: &Report) {
    use std::io::Write;
    let text = if cli.json {
        serde_json::to_string_pretty(report).unwrap_or_default() + "\n"
    } else {
        human(report)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn human(r: &Report) -> String {
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

/// The access hash file as a secret: regular, bounded, and (for the
/// default path under a user's home) not a symlink and owned by that user
/// or root, so a user cannot make root import some other file.
fn read_accesshash(path: &Path, owner_uid: Option<u32>) -> Result<Zeroizing<String>, String> {
    let shown = path.display();
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    if owner_uid.is_some() {
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let mut f = options
        .open(path)
        .map_err(|e| format!("cannot open {shown}: {e}"))?;
    let meta = f
        .metadata()
        .map_err(|e| format!("cannot stat {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    if let Some(uid) = owner_uid
        && meta.uid() != uid
        && meta.uid() != 0
    {
        return Err(format!(
            "{shown} belongs to uid {}, neither the user nor root",
            meta.uid()
        ));
    }
    if meta.len() > MAX_ACCESSHASH_BYTES {
        return Err(format!(
            "{shown} is larger than {MAX_ACCESSHASH_BYTES} bytes"
        ));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    f.read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    // As convert_accesshash_to_token does: every whitespace character goes.
    let hash: Zeroizing<String> = Zeroizing::new(
        bytes
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .map(|&b| char::from(b))
            .collect(),
    );
    if hash.is_empty() {
        return Err(format!("{shown} holds no access hash"));
    }
    if !hash.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{shown} holds characters that are not printable ASCII: not an access hash"
        ));
    }
    Ok(hash)
}

/// `apitoken import-accesshash`.
pub(super) fn accesshash(cli: &Cli, a: &ImportAccesshashArgs) -> i32 {
    if !is_valid_user_name(&a.user) {
        super::warn("apitoken: error: invalid user name");
        return EXIT_USAGE;
    }
    let read = match &a.file {
        Some(path) => read_accesshash(path, None),
        None => match nix::unistd::User::from_name(&a.user) {
            Ok(Some(u)) => read_accesshash(&u.dir.join(".accesshash"), Some(u.uid.as_raw())),
            Ok(None) => Err(format!(
                "“{}” is not in the system user database: give the file with --file",
                a.user
            )),
            Err(e) => Err(format!("cannot read the system user database: {e}")),
        },
    };
    let hash = match read {
        Ok(h) => h,
        Err(why) => {
            super::warn(&format!("apitoken: error: {why}"));
            return EXIT_REFUSED;
        }
    };
    let digest = Token::from_secret(hash).digest().to_hex();
    let mut req = Request::new("import_accesshash")
        .arg("user", a.user.as_str())
        .arg("digest", digest.as_str());
    drop(digest);
    let mut session = Session::new(cli);
    let reply = session.call(&req);
    super::request::scrub(&mut req);
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            super::warn(sockets::unreachable(&session.target, session.timeout, &e).trim_end());
            return EXIT_UNREACHABLE;
        }
    };
    let code = if reply.is_ok() { EXIT_OK } else { EXIT_REFUSED };
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reply).unwrap_or_default()
        );
        return code;
    }
    if !reply.is_ok() {
        super::warn(&format!("error: {}", reply.metadata.reason));
        return code;
    }
    let data = reply.data.unwrap_or_default();
    let name = data["name"].as_str().unwrap_or("?");
    if data["imported"] == 1 {
        println!(
            "Imported the access hash of {} as the full-access token \"{name}\": \
             `Authorization: whm {}:<access hash>` keeps working. The file is left as it is.",
            a.user, a.user
        );
    } else {
        println!(
            "The access hash of {} is already the token \"{name}\": nothing to do.",
            a.user
        );
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(digest: char, name: &str) -> Entry {
        (
            digest.to_string().repeat(128),
            json!({"name": name, "create_time": 1}),
        )
    }

    #[test]
    fn batches_fit_the_budget_and_keep_a_name_together() {
        let entries: Vec<Entry> = (0..40)
            .map(|i| entry(char::from(b'a' + (i % 6)), &format!("t{}", i % 20)))
            .collect();
        let one = size_of(&entries[0]);
        let out = batches(entries, one * 5);
        assert_eq!(out.iter().map(Vec::len).sum::<usize>(), 40);
        for b in &out {
            assert!(b.len() <= 6, "{}", b.len());
        }
        for name in (0..20).map(|i| format!("t{i}")) {
            let holding = out
                .iter()
                .filter(|b| b.iter().any(|(_, v)| v["name"] == name.as_str()))
                .count();
            assert_eq!(holding, 1, "{name} is split");
        }
        // A group larger than the budget goes alone, not dropped.
        let big: Vec<Entry> = (0..5).map(|_| entry('f', "same")).collect();
        let out = batches(big, 1);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), 5);
    }

    fn size_of((k, v): &Entry) -> usize {
        k.len() + v.to_string().len() + 8
    }

    #[test]
    fn accesshash_whitespace_goes_and_odd_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".accesshash");
        std::fs::write(&p, "abc123\n def456\r\n\t789\n").unwrap();
        assert_eq!(&*read_accesshash(&p, None).unwrap(), "abc123def456789");
        assert_eq!(&*read_accesshash(&p, Some(0)).unwrap(), "abc123def456789");
        std::fs::write(&p, " \n\n").unwrap();
        assert!(
            read_accesshash(&p, None)
                .unwrap_err()
                .contains("no access hash")
        );
        std::fs::write(&p, "abc\u{e9}").unwrap();
        assert!(read_accesshash(&p, None).unwrap_err().contains("printable"));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(read_accesshash(&link, Some(0)).is_err(), "symlink followed");
        assert!(
            read_accesshash(dir.path(), None)
                .unwrap_err()
                .contains("regular")
        );
        std::fs::write(&p, "abc").unwrap();
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&p, Some(12345), None).unwrap();
            assert_eq!(&*read_accesshash(&p, Some(12345)).unwrap(), "abc");
        }
        let e = read_accesshash(&p, Some(54321)).unwrap_err();
        assert!(e.contains("neither the user nor root"), "{e}");
    }
}
