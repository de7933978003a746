//! Reading cPanel's files as secrets: the user files of its token store
//! (listed, bounded, parsed, wiped after use) and a user's access hash.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

use super::report::UserReport;
use super::{Entry, MAX_ACCESSHASH_BYTES, MAX_FILE_BYTES};
use crate::accounts::is_valid_user_name;
use crate::cli::request::scrub_value;

/// The user files to import: (user, path) sorted by user, plus reports
/// for files that cannot be and names of files that are not user files.
pub(super) struct Listing {
    pub(super) files: Vec<(String, PathBuf)>,
    pub(super) unusable: Vec<UserReport>,
    pub(super) ignored: Vec<String>,
}

pub(super) fn list(dir: &Path, only: &[String]) -> Result<Listing, String> {
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
pub(super) fn name_of(record: &Value) -> String {
    match record.get("name") {
        Some(Value::String(s)) if !s.is_empty() => crate::text::shown(s, 60),
        _ => "(no name)".to_owned(),
    }
}

/// Wipes what a parsed file held (digests are secrets at cPanel's level).
pub(super) fn scrub_entries(entries: Vec<Entry>) {
    for (mut key, mut value) in entries {
        key.zeroize();
        scrub_value(&mut value);
    }
}

/// Reads and parses a user's file into its `tokens` entries.
pub(super) fn read_user_file(path: &Path, shown: &str) -> Result<Vec<Entry>, String> {
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

/// The access hash file as a secret: regular, bounded, and (for the
/// default path under a user's home) not a symlink and owned by that user
/// or root, so a user cannot make root import some other file.
pub(super) fn read_accesshash(
    path: &Path,
    owner_uid: Option<u32>,
) -> Result<Zeroizing<String>, String> {
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
