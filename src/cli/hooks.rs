//! `apitoken cpanel-hook` (what cPanel runs when WHM removes or renames an
//! account) and `apitoken cpanel-hooks install|uninstall|status` (which
//! registers it with cPanel's `manage_hooks`).
//!
//! The hook reads cPanel's standardized-hook input on stdin,
//! `{"context": {"category", "event", "stage", …}, "data": {"user", "newuser", …}}`,
//! and answers on stdout as cPanel reads a hook script: `1 <message>` or
//! `0 <message>`. A failure is never silent: it is that `0` line, a line on
//! stderr, a syslog line (LOG_AUTHPRIV) and exit status 1, and it says how
//! to finish by hand.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use apitokend_proto::Request;
use apitokend_proto::client::call_once;
use serde_json::Value;

use super::args::{Cli, DEFAULT_TIMEOUT};
use super::cpanel::{CpanelHooksArgs, HooksAction};
use super::render::{EXIT_OK, EXIT_REFUSED};
use crate::accounts::is_valid_user_name;
use crate::text::shown;

/// The events the hook is registered for (category Whostmgr, stage post).
pub const EVENTS: [&str; 2] = ["Accounts::Remove", "Accounts::Modify"];
pub const MANAGE_HOOKS: &str = "/usr/local/cpanel/bin/manage_hooks";
/// Overrides [`MANAGE_HOOKS`] (tests, unusual installs).
pub const MANAGE_HOOKS_ENV: &str = "APITOKEN_MANAGE_HOOKS";
/// Where the hook's syslog lines go (default `/dev/log`).
pub const SYSLOG_ENV: &str = "APITOKEN_SYSLOG_SOCKET";
/// cPanel's input for these events is a few KiB.
const MAX_INPUT: usize = 1 << 20;

/// What one hook run has to do.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    Remove(String),
    Rename {
        user: String,
        new_user: String,
    },
    /// Nothing for apitokend in this event: why.
    Nothing(String),
    /// The input is not what this hook is registered for: why.
    Refuse(String),
}

fn text<'a>(v: &'a Value, section: &str, key: &str) -> Option<&'a str> {
    v.get(section)?.get(key)?.as_str()
}

fn user_field(input: &Value, key: &str) -> Result<Option<String>, String> {
    match input.get("data").and_then(|d| d.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if is_valid_user_name(s) => Ok(Some(s.clone())),
        Some(_) => Err(format!("data.{key} is not a valid user name")),
    }
}

/// Decides from the hook input (pure, so every case is unit tested).
pub(crate) fn plan(input: &Value) -> Plan {
    if !input.is_object() {
        return Plan::Refuse("the hook input is not a JSON object".into());
    }
    let event = text(input, "context", "event").unwrap_or("");
    if let Some(category) = text(input, "context", "category")
        && category != "Whostmgr"
    {
        return Plan::Refuse(format!(
            "registered for the wrong category “{}” (Whostmgr expected)",
            shown(category, 40)
        ));
    }
    if !EVENTS.contains(&event) {
        return Plan::Refuse(format!(
            "registered for “{}”, but it handles only Whostmgr {} (post)",
            shown(event, 40),
            EVENTS.join(" and ")
        ));
    }
    if text(input, "context", "stage").is_some_and(|s| s != "post") {
        return Plan::Nothing("it acts after the change (stage post) only".into());
    }
    let user = match user_field(input, "user") {
        Ok(Some(u)) => u,
        Ok(None) => return Plan::Refuse("the hook input has no data.user".into()),
        Err(why) => return Plan::Refuse(why),
    };
    if event == "Accounts::Remove" {
        return Plan::Remove(user);
    }
    match user_field(input, "newuser") {
        Ok(Some(new_user)) if new_user != user => Plan::Rename { user, new_user },
        Ok(_) => Plan::Nothing(format!("“{user}” was not renamed: no API token changes")),
        Err(why) => Plan::Refuse(why),
    }
}

/// Writes a failure everywhere it must be seen.
fn failed(message: &str) -> i32 {
    println!("0 apitokend: {message}");
    let _ = writeln!(std::io::stderr(), "apitoken cpanel-hook: {message}");
    let path =
        std::env::var_os(SYSLOG_ENV).map_or_else(|| PathBuf::from("/dev/log"), PathBuf::from);
    let formatter = syslog::Formatter3164 {
        facility: syslog::Facility::LOG_AUTHPRIV,
        hostname: None,
        process: "apitoken-cpanel-hook".into(),
        pid: std::process::id(),
    };
    if let Ok(mut logger) = syslog::unix_custom(formatter, &path) {
        let _ = logger.err(format!("cPanel account hook failed: {message}"));
    }
    EXIT_REFUSED
}

/// `apitoken cpanel-hook`.
pub(super) fn hook(cli: &Cli) -> i32 {
    let mut input = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(u64::try_from(MAX_INPUT).unwrap_or(u64::MAX) + 1)
        .read_to_end(&mut input);
    if let Err(e) = read {
        return failed(&format!("cannot read the hook input: {e}"));
    }
    if input.len() > MAX_INPUT {
        return failed(&format!("the hook input is larger than {MAX_INPUT} bytes"));
    }
    let value: Value = match serde_json::from_slice(&input) {
        Ok(v) => v,
        Err(e) => {
            return failed(&format!(
                "the hook input is not JSON (line {}, column {})",
                e.line(),
                e.column()
            ));
        }
    };
    let (req, by_hand) = match plan(&value) {
        Plan::Nothing(why) => {
            println!("1 apitokend: nothing to do: {why}");
            return EXIT_OK;
        }
        Plan::Refuse(why) => return failed(&why),
        Plan::Remove(user) => (
            Request::new("account_remove").arg("user", user.as_str()),
            format!("apitoken call account_remove user={user}"),
        ),
        Plan::Rename { user, new_user } => (
            Request::new("account_rename")
                .arg("user", user.as_str())
                .arg("new_user", new_user.as_str()),
            format!("apitoken call account_rename user={user} new_user={new_user}"),
        ),
    };
    let user = req.args["user"].as_str().unwrap_or_default().to_owned();
    let what = match req.args.get("new_user").and_then(Value::as_str) {
        Some(n) => format!("the API tokens of “{user}” were not moved to “{n}”"),
        None => format!("the API tokens of “{user}” were not revoked"),
    };
    let target = super::sockets::target(cli);
    let timeout = Duration::from_secs(cli.timeout.unwrap_or(DEFAULT_TIMEOUT));
    let reply = match call_once(&target.path, timeout, &req) {
        Ok(r) => r,
        Err(e) => {
            return failed(&format!(
                "{what}: apitokend at {} is unreachable ({e}); once it runs, do: {by_hand}",
                target.path.display()
            ));
        }
    };
    if !reply.is_ok() {
        return failed(&format!(
            "{what}: {}; fix that, then do: {by_hand}",
            reply.metadata.reason
        ));
    }
    let data = reply.data.unwrap_or_default();
    match req.args.get("new_user").and_then(Value::as_str) {
        Some(n) => println!(
            "1 apitokend: moved {} API token(s) from “{user}” to “{n}”",
            data["moved"].as_u64().unwrap_or(0)
        ),
        None => println!(
            "1 apitokend: revoked {} API token(s) of “{user}”",
            data["revoked"].as_u64().unwrap_or(0)
        ),
    }
    EXIT_OK
}

fn manage_hooks() -> PathBuf {
    std::env::var_os(MANAGE_HOOKS_ENV).map_or_else(|| PathBuf::from(MANAGE_HOOKS), PathBuf::from)
}

/// Runs manage_hooks; its output (both streams) or why it failed.
fn run_manage_hooks(tool: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "{} {} failed ({}): {}",
            tool.display(),
            args.join(" "),
            out.status,
            text.trim()
        ))
    }
}

fn registration<'a>(verb: &'a str, hook: &'a str, event: &'a str) -> [&'a str; 10] {
    [
        verb,
        "script",
        hook,
        "--manual",
        "--category",
        "Whostmgr",
        "--event",
        event,
        "--stage",
        "post",
    ]
}

/// `apitoken cpanel-hooks install|uninstall|status`.
pub(super) fn manage(a: &CpanelHooksArgs) -> i32 {
    let tool = manage_hooks();
    let hook = a.hook.display().to_string();
    if !tool.is_file() {
        eprintln!(
            "apitoken: cPanel's manage_hooks is not at {}: this does not look like a cPanel & \
             WHM server, so nothing was {}. On a cPanel server, {hook} must be registered for \
             Whostmgr {} (stage post).",
            tool.display(),
            match a.action {
                HooksAction::Install => "registered",
                HooksAction::Uninstall => "unregistered",
                HooksAction::Status => "checked",
            },
            EVENTS.join(" and ")
        );
        return EXIT_REFUSED;
    }
    match a.action {
        HooksAction::Install => {
            if !a.hook.is_file() {
                eprintln!(
                    "apitoken: the hook program {hook} does not exist; nothing was registered"
                );
                return EXIT_REFUSED;
            }
            for event in EVENTS {
                // Delete first (its failure means "was not registered"), so
                // installing twice never registers the hook twice.
                let _ = run_manage_hooks(&tool, &registration("delete", &hook, event));
                if let Err(e) = run_manage_hooks(&tool, &registration("add", &hook, event)) {
                    eprintln!("apitoken: {e}");
                    return EXIT_REFUSED;
                }
                println!("registered {hook} for Whostmgr {event} (post)");
            }
            EXIT_OK
        }
        HooksAction::Uninstall => {
            let mut code = EXIT_OK;
            for event in EVENTS {
                match run_manage_hooks(&tool, &registration("delete", &hook, event)) {
                    Ok(_) => println!("unregistered {hook} from Whostmgr {event} (post)"),
                    Err(e) => {
                        eprintln!("apitoken: {e}");
                        code = EXIT_REFUSED;
                    }
                }
            }
            code
        }
        HooksAction::Status => match run_manage_hooks(&tool, &["list"]) {
            Err(e) => {
                eprintln!("apitoken: {e}");
                EXIT_REFUSED
            }
            Ok(listing) => {
                let mentions = listing
                    .lines()
                    .filter(|l| l.contains(hook.as_str()))
                    .count();
                if mentions >= EVENTS.len() {
                    println!("registered: manage_hooks lists {hook} ({mentions} entries)");
                    EXIT_OK
                } else if mentions > 0 {
                    println!(
                        "partly registered: manage_hooks lists {hook} {mentions} time(s), \
                         expected {}; run `apitoken cpanel-hooks install`",
                        EVENTS.len()
                    );
                    EXIT_REFUSED
                } else {
                    println!(
                        "not registered: manage_hooks does not list {hook}; run \
                         `apitoken cpanel-hooks install`"
                    );
                    EXIT_REFUSED
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(event: &str, stage: &str, data: Value) -> Value {
        json!({
            "context": {"category": "Whostmgr", "event": event, "stage": stage, "point": "main"},
            "data": data,
            "hook": {"exectype": "script", "hook": "/x", "stage": stage},
        })
    }

    #[test]
    fn plans_for_the_documented_inputs() {
        let cases = [
            (
                input(
                    "Accounts::Remove",
                    "post",
                    json!({"user": "bob", "killdns": 1}),
                ),
                Plan::Remove("bob".into()),
            ),
            (
                input(
                    "Accounts::Modify",
                    "post",
                    json!({"user": "bob", "newuser": "bobby"}),
                ),
                Plan::Rename {
                    user: "bob".into(),
                    new_user: "bobby".into(),
                },
            ),
        ];
        for (i, want) in cases {
            assert_eq!(plan(&i), want, "{i}");
        }
        let nothing = [
            input(
                "Accounts::Modify",
                "post",
                json!({"user": "bob", "newuser": "bob"}),
            ),
            input(
                "Accounts::Modify",
                "post",
                json!({"user": "bob", "newuser": ""}),
            ),
            input(
                "Accounts::Modify",
                "post",
                json!({"user": "bob", "BWLIMIT": 5}),
            ),
            input("Accounts::Remove", "pre", json!({"user": "bob"})),
        ];
        for i in nothing {
            assert!(matches!(plan(&i), Plan::Nothing(_)), "{i}");
        }
        let refused = [
            input("Accounts::Create", "post", json!({"user": "bob"})),
            input("Accounts::Remove", "post", json!({})),
            input("Accounts::Remove", "post", json!({"user": "../etc"})),
            input("Accounts::Remove", "post", json!({"user": 5})),
            input(
                "Accounts::Modify",
                "post",
                json!({"user": "bob", "newuser": "a b"}),
            ),
            json!({"context": {"category": "System", "event": "Accounts::Remove"}}),
            json!([1]),
        ];
        for i in refused {
            assert!(matches!(plan(&i), Plan::Refuse(_)), "{i}");
        }
    }
}
