//! Test harness shared by every integration test: the real daemon on a temp
//! directory ([`daemon`]), real system users ([`users`]), verify and its
//! outcomes ([`verify`]), plain process runs ([`process`]), runs on a
//! pseudo-terminal ([`terminal`]), generated cPanel token stores
//! ([`cpanel`]), and the small request and reply helpers below.
// Helpers are not `#[test]` fns, which is all clippy.toml's
// allow-unwrap/panic-in-tests covers; each test crate uses only some of them.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

pub mod browser;
pub mod cpanel;
pub mod daemon;
pub mod process;
pub mod terminal;
pub mod units;
pub mod users;
pub mod verify;
pub mod web;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use apitokend_proto::{Request, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

// The names tests use most, at `common::`; each test crate uses only some.
#[allow(unused_imports)]
pub use self::{
    daemon::{CLI, DAEMON, Daemon},
    process::{Ran, config_accepted, config_refused, run_with_stdin, start_fails},
    users::{TestUser, ensure_group, test_user},
    verify::{accepted, refused, settles, verify_req},
};

pub fn req(command: &str) -> Request {
    Request::new(command)
}

/// A request with `args` given as a JSON object.
pub fn with_args(command: &str, args: Value) -> Request {
    let mut r = req(command);
    r.args = args.as_object().unwrap().clone();
    r
}

/// Creates a token as root for `owner`; returns the reply data.
pub fn create(d: &Daemon, owner: Option<&str>, args: Value) -> Value {
    let resp = d.call(with_args("api_token_create", args).user(owner.map(str::to_owned)));
    assert!(resp.is_ok(), "create failed: {:?}", resp.metadata);
    resp.data.unwrap()
}

/// The token text in `create`'s reply data.
pub fn token(data: &Value) -> String {
    data["token"].as_str().unwrap().to_owned()
}

/// The names in an `api_token_list` `tokens` object, sorted.
pub fn token_names(tokens: &Value) -> Vec<String> {
    let mut names: Vec<String> = tokens.as_object().unwrap().keys().cloned().collect();
    names.sort();
    names
}

/// The error code of a failure reply (the reply must be a failure).
#[track_caller]
pub fn error_code(resp: &Response) -> &str {
    assert_eq!(resp.metadata.result, 0, "expected a failure: {resp:?}");
    resp.metadata.error.as_deref().unwrap_or("<none>")
}

/// A table row's check: `resp` is a failure with `code`; `label` names the
/// row when it is not.
#[track_caller]
pub fn assert_error(resp: &Response, code: &str, label: &str) {
    assert_eq!(
        resp.metadata.result, 0,
        "{label}: expected a failure: {resp:?}"
    );
    assert_eq!(
        resp.metadata.error.as_deref().unwrap_or("<none>"),
        code,
        "{label}"
    );
}

/// The JSON reply a CLI run printed on stdout (`--json`, `call`); `what`
/// names the run on failure.
#[track_caller]
pub fn reply_of<T: DeserializeOwned>(out: &Output, what: &str) -> T {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not a reply ({e}): stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Whether `s` is `[0-9A-Z]{32}`, the token shape (spelled out here, not
/// taken from the code under test).
pub fn is_token(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// The wall clock, in Unix seconds (for daemons that read the real clock).
pub fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Polls `done` every 10 ms until it holds; past `limit`, fails with `why()`.
#[track_caller]
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool, why: impl Fn() -> String) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{}", why());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How long a change to the account files may take to reach verify: the
/// daemon's rule is 100 ms after the change is on disk; the rest is margin
/// for a loaded machine.
pub const ACCOUNT_CHANGE_VISIBLE: Duration = Duration::from_secs(1);

/// Polls `seen` until the change to the account files it looks for shows,
/// for at most [`ACCOUNT_CHANGE_VISIBLE`].
#[track_caller]
pub fn until_account_change_seen(what: &str, seen: impl FnMut() -> bool) {
    wait_until(ACCOUNT_CHANGE_VISIBLE, seen, || {
        format!("{what}: not seen within {ACCOUNT_CHANGE_VISIBLE:?}")
    });
}

/// The permission bits of a file.
pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
