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
use std::path::Path;
use std::time::Duration;

use apitokend_proto::client::{Client, ClientError};
use apitokend_proto::{ErrorCode, Request, Response};
use serde_json::{Map, Value};

use super::args::{Cli, DEFAULT_TIMEOUT};
use super::cpanel::{ImportAccesshashArgs, ImportCpanelArgs};
use super::render::{EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE};
use super::sockets::{self, Target};
use crate::accounts::is_valid_user_name;
use crate::tokens::Token;
use files::{list, name_of, read_accesshash, read_user_file, scrub_entries};
use report::{Invalid, Report, Totals, UserReport, print_report};

mod files;
mod report;
#[cfg(test)]
mod tests;

/// Bytes of records per request: under the daemon's default 64 KiB line.
const BATCH_BYTES: usize = 48 * 1024;
/// A user's token file larger than this is refused (cPanel's are KiBs).
const MAX_FILE_BYTES: u64 = 256 << 20;
/// An access hash file larger than this is not one.
const MAX_ACCESSHASH_BYTES: u64 = 64 << 10;
type Entry = (String, Value);

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
