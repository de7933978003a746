//! The `apitoken` CLI end to end: the real binary against the real daemon,
//! asserting what an administrator sees (stdout, stderr, exit status).
//!
//! Tests run as root, so every command acts on root's tokens unless `--user`
//! is given. Each test starts its own daemon.
// The output parsers unwrap and panic outside #[test] fns, which
// clippy.toml's allow-*-in-tests does not cover.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::Command;

use chrono::{Days, Local, NaiveDate, TimeZone};
use common::{CLI, Daemon, Ran, create, is_token, now, run_with_stdin, token, token_names};
use serde_json::{Value, json};

/// Runs `d.cli()` with `args` and an empty (closed) stdin.
fn cli(d: &Daemon, args: &[&str]) -> Ran {
    d.cli().args(args).output().unwrap().into()
}

/// Runs `d.cli()` with `args` and `stdin`.
fn cli_stdin(d: &Daemon, args: &[&str], stdin: &str) -> Ran {
    run_with_stdin(d.cli().args(args), stdin).into()
}

/// The token from `create`'s human output (the `Token:` line).
fn token_of(create_stdout: &str) -> String {
    let line = create_stdout
        .lines()
        .find(|l| l.starts_with("Token:"))
        .unwrap_or_else(|| panic!("no Token: line in {create_stdout:?}"));
    let token = line["Token:".len()..].trim().to_owned();
    assert!(is_token(&token), "not a [0-9A-Z]{{32}} token: {token:?}");
    token
}

/// The value of a `Label: value` line.
fn field<'a>(stdout: &'a str, label: &str) -> &'a str {
    let prefix = format!("{label}:");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {label}: line in {stdout:?}"))
        .trim()
}

/// Table rows as cells: columns are separated by at least two spaces and no
/// cell holds two spaces in a row.
fn table(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// The row of token `name` (the first cell), without the header.
fn row<'a>(rows: &'a [Vec<String>], name: &str) -> &'a [String] {
    rows[1..]
        .iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no row {name} in {rows:?}"))
}

/// `YYYY-MM-DD` (the table's Created), digits checked one by one.
fn is_list_day(s: &str) -> bool {
    let shape = b"dddd-dd-dd";
    s.len() == shape.len()
        && s.bytes().zip(shape.iter()).all(|(c, want)| match want {
            b'd' => c.is_ascii_digit(),
            other => c == *other,
        })
}

fn local(t: i64, fmt: &str) -> String {
    Local.timestamp_opt(t, 0).unwrap().format(fmt).to_string()
}

/// The sorted token names of a `--json list` reply.
fn json_names(reply: &Value) -> Vec<String> {
    token_names(&reply["data"]["tokens"])
}

fn assert_not_logged(d: &mut Daemon, tokens: &[&str]) -> String {
    let log = d.stop_and_read_log();
    for t in tokens {
        assert!(!log.contains(t), "token {t} in the daemon's log:\n{log}");
    }
    log
}

#[test]
fn create_prints_token_once_and_it_works_with_details() {
    let mut d = Daemon::start();
    let expires = now() + 30 * 86_400;
    let expires_arg = expires.to_string();
    let r = cli(
        &d,
        &[
            "create",
            "ci",
            "--acl",
            "list-accts",
            "--acl",
            "create-acct,list-accts",
            "--ip",
            "10.0.0.1",
            "--ip",
            "fc00:abcd::f",
            "--ip",
            "10.0.0.1/32",
            "--expires",
            &expires_arg,
        ],
    )
    .expect(0);
    assert!(
        r.stdout
            .starts_with("Token \"ci\" created. Copy it now: it is shown only once.\n"),
        "{r:#?}"
    );
    let token = token_of(&r.stdout);
    assert_eq!(
        field(&r.stdout, "Expires"),
        local(expires, "%Y-%m-%d %H:%M:%S")
    );
    assert_eq!(field(&r.stdout, "IPs"), "10.0.0.1, fc00:abcd::f");
    // On screen IPv6 is compressed; the API keeps cPanel's expanded form.
    let reply = cli(&d, &["--json", "list"]).expect(0).json();
    assert_eq!(
        reply["data"]["tokens"]["ci"]["whitelist_ips"],
        json!(["10.0.0.1", "fc00:abcd:0000:0000:0000:0000:0000:000f"])
    );
    assert_eq!(field(&r.stdout, "ACLs"), "create-acct, list-accts");
    assert!(r.stderr.is_empty(), "{r:#?}");

    // The token is usable: details finds it from stdin.
    let r = cli_stdin(&d, &["details"], &format!("{token}\n")).expect(0);
    assert_eq!(field(&r.stdout, "Name"), "ci");
    assert_eq!(field(&r.stdout, "ACLs"), "create-acct, list-accts");
    assert!(
        !r.stdout.contains(&token),
        "details shows the token: {r:#?}"
    );

    // A wrong token (right shape) is not found: exit 1, nothing on stdout.
    let wrong = if token.starts_with('0') {
        "1".repeat(32)
    } else {
        "0".repeat(32)
    };
    let r = cli_stdin(&d, &["details"], &format!("{wrong}\n")).expect(1);
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(r.stderr.starts_with("No such token"), "{r:#?}");

    // The token is shown by create only.
    let r = cli(&d, &["--json", "list"]).expect(0);
    assert!(!r.stdout.contains(&token));
    assert_not_logged(&mut d, &[&token]);
}

#[test]
fn list_table_columns_marks_and_search() {
    let d = Daemon::builder()
        .config("expiry_warning_days = 2\n")
        .start();
    let t0: i64 = 1_800_000_000;
    d.set_now(t0);

    let r = cli(&d, &["list"]).expect(0);
    assert_eq!(r.stdout, "No API tokens.\n");
    let r = cli(&d, &["list", "--search", "x"]).expect(0);
    assert_eq!(r.stdout, "No API tokens.\n");

    // The CLI only parses --expires; the daemon checks it against t0.
    let day = 86_400;
    let old_at = (t0 + 3_600).to_string();
    let soon_at = (t0 + 10 * day).to_string();
    let far_at = (t0 + 100 * day).to_string();
    cli(&d, &["create", "Full"]).expect(0);
    cli(&d, &["create", "old", "--expires", &old_at]).expect(0);
    cli(
        &d,
        &["create", "Soon", "--acl", "ssl", "--expires", &soon_at],
    )
    .expect(0);
    cli(
        &d,
        &[
            "create",
            "restricted",
            "--acl",
            "list-accts",
            "--ip",
            "10.1.2.3/16",
            "--ip",
            "192.0.2.7",
            "--expires",
            &far_at,
        ],
    )
    .expect(0);

    // Nine days later: "old" has expired, "Soon" is within two days.
    d.set_now(t0 + 9 * day);
    let r = cli(&d, &["list"]).expect(0);
    let rows = table(&r.stdout);
    assert_eq!(
        rows[0],
        ["Name", "Created", "Expires", "Last used", "IPs", "ACLs"],
        "{}",
        r.stdout
    );
    assert_eq!(rows.len(), 5, "{}", r.stdout);
    // Sorted by name, case-insensitively.
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["Full", "old", "restricted", "Soon"]);
    for r in &rows[1..] {
        assert_eq!(r.len(), 6, "{r:?}");
        assert!(is_list_day(&r[1]), "Created not YYYY-MM-DD: {r:?}");
        assert_eq!(r[1], local(t0, "%Y-%m-%d"));
    }

    let full = row(&rows, "Full");
    assert_eq!(full[2..], ["never", "never", "any", "all"]);

    let old = row(&rows, "old");
    assert_eq!(
        old[2],
        format!("{} (expired)", local(t0 + 3_600, "%Y-%m-%d %H:%M"))
    );
    assert_eq!(old[3..], ["never", "any", "all"]);

    let soon = row(&rows, "Soon");
    assert_eq!(
        soon[2],
        format!("{} (soon)", local(t0 + 10 * day, "%Y-%m-%d %H:%M"))
    );
    assert_eq!(soon[3..], ["never", "any", "ssl"]);

    let restricted = row(&rows, "restricted");
    assert_eq!(restricted[2], local(t0 + 100 * day, "%Y-%m-%d %H:%M"));
    assert_eq!(
        restricted[3..],
        ["never", "10.1.0.0/16, 192.0.2.7", "list-accts"]
    );

    // --search: substring of the name, case-insensitive.
    let r = cli(&d, &["list", "--search", "sOoN"]).expect(0);
    let rows = table(&r.stdout);
    assert_eq!(rows.len(), 2, "{}", r.stdout);
    assert_eq!(rows[1][0], "Soon");
    let r = cli(&d, &["list", "--search", "L"]).expect(0);
    let rows = table(&r.stdout);
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["Full", "old"], "{}", r.stdout);
    let r = cli(&d, &["list", "--search", "nomatch"]).expect(0);
    assert_eq!(r.stdout, "No API tokens match \"nomatch\".\n");
}

#[test]
fn json_list_is_the_daemons_reply() {
    let d = Daemon::start();
    create(&d, None, json!({"token_name": "one"}));
    create(&d, None, json!({"token_name": "two", "acl": "ssl"}));
    let r = cli(&d, &["--json", "list"]).expect(0);
    let reply = r.json();
    assert_eq!(reply["metadata"]["result"], 1);
    assert_eq!(reply["metadata"]["command"], "api_token_list");
    assert_eq!(json_names(&reply), ["one", "two"]);
    assert_eq!(reply["data"]["tokens"]["two"]["acls"]["ssl"], 1);
    assert_eq!(reply["data"]["tokens"]["two"]["has_full_access"], 0);
    assert_eq!(reply["data"]["tokens"]["one"]["has_full_access"], 1);
    // --json after the subcommand is the same global flag.
    let r = cli(&d, &["list", "--json"]).expect(0);
    assert_eq!(json_names(&r.json()), ["one", "two"]);
}

#[test]
fn update_renames_clears_ips_and_expiry() {
    let d = Daemon::start();
    create(
        &d,
        None,
        json!({"token_name": "old-name", "acl": "list-accts",
               "whitelist_ip": "10.0.0.1", "expires_at": now() + 86_400}),
    );
    let r = cli(
        &d,
        &[
            "update",
            "old-name",
            "--new-name",
            "new-name",
            "--any-ip",
            "--expires",
            "never",
        ],
    )
    .expect(0);
    assert!(
        r.stdout.starts_with("Token \"old-name\" updated.\n"),
        "{r:#?}"
    );
    assert_eq!(field(&r.stdout, "Name"), "new-name");
    assert_eq!(field(&r.stdout, "Expires"), "never");
    assert_eq!(field(&r.stdout, "IPs"), "any");
    assert_eq!(field(&r.stdout, "ACLs"), "list-accts");

    let reply = cli(&d, &["--json", "list"]).expect(0).json();
    assert_eq!(json_names(&reply), ["new-name"]);
    let rec = &reply["data"]["tokens"]["new-name"];
    assert_eq!(rec["whitelist_ips"], Value::Null);
    assert_eq!(rec["expires_at"], Value::Null);
    assert_eq!(rec["acls"]["list-accts"], 1, "ACLs kept: {rec}");
    assert_eq!(rec["has_full_access"], 0);

    // Nothing to change: the daemon refuses.
    let r = cli(&d, &["update", "new-name"]).expect(1);
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(
        r.stderr.starts_with("error: ") && r.stderr.contains("(nothing_to_change)"),
        "{r:#?}"
    );
    // No such token.
    let r = cli(&d, &["update", "ghost", "--new-name", "x"]).expect(1);
    assert!(r.stderr.contains("(not_found)"), "{r:#?}");
    assert!(r.stderr.contains("ghost"), "{r:#?}");
    let reply = cli(&d, &["--json", "list"]).expect(0).json();
    assert_eq!(json_names(&reply), ["new-name"]);
}

#[test]
fn revoke_names_and_revoke_all() {
    let d = Daemon::start();
    for n in ["a", "b", "c", "d"] {
        create(&d, None, json!({"token_name": n}));
    }
    // A name that does not exist: the others are revoked, the command
    // fails and says which (the wire keeps WHM's "not an error").
    let r = cli(&d, &["revoke", "a", "b", "ghost"]).expect(1);
    assert_eq!(r.stdout, "Revoked: a, b\n", "{r:#?}");
    assert_eq!(
        r.stderr,
        "apitoken: no API token named “ghost” (check the name with: apitoken list)\n"
    );
    let r = cli(&d, &["revoke", "ghost", "--ignore-not-found"]).expect(0);
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""));
    let reply = cli(&d, &["--json", "revoke", "ghost"]).expect(1).json();
    assert_eq!(reply["data"]["not_found"], json!(["ghost"]));
    let reply = cli(&d, &["--json", "list"]).expect(0).json();
    assert_eq!(json_names(&reply), ["c", "d"]);

    // --all without --yes is a usage error and revokes nothing.
    let r = cli(&d, &["revoke", "--all"]).expect(2);
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(r.stderr.contains("--yes"), "{r:#?}");
    let reply = cli(&d, &["--json", "list"]).expect(0).json();
    assert_eq!(json_names(&reply), ["c", "d"]);

    let r = cli(&d, &["revoke", "--all", "--yes"]).expect(0);
    assert_eq!(r.stdout, "Revoked 2 token(s).\n");
    let r = cli(&d, &["list"]).expect(0);
    assert_eq!(r.stdout, "No API tokens.\n");
}

#[test]
fn exit_statuses() {
    let d = Daemon::start();

    // 2: usage errors, caught before the daemon is asked.
    let r = cli(&d, &["list", "--bogus"]).expect(2);
    assert!(r.stderr.contains("--bogus"), "{r:#?}");
    assert!(r.stdout.is_empty());
    let r = cli(&d, &["create", "x", "--expires", "tomorrow"]).expect(2);
    assert!(r.stderr.contains("'tomorrow'"), "{r:#?}");
    let r = cli(&d, &["create", "x", "--expires", "2030-02-30"]).expect(2);
    assert!(r.stderr.contains("not a valid calendar date"), "{r:#?}");
    let r = cli(&d, &[]).expect(2);
    assert!(r.stdout.is_empty());
    let reply = cli(&d, &["--json", "list"]).expect(0).json();
    assert_eq!(json_names(&reply), Vec::<String>::new(), "nothing created");

    // 3: the daemon cannot be reached; the message names the socket.
    let out = Command::new(CLI)
        .args(["--socket", "/nonexistent/x.sock", "list"])
        .output()
        .unwrap();
    let r = Ran::from(out).expect(3);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("/nonexistent/x.sock"), "{r:#?}");
    assert!(r.stderr.contains("cannot reach apitokend"), "{r:#?}");

    // 1: the daemon refuses; its reason and code go to stderr.
    let r = cli(&d, &["create", "bad name"]).expect(1);
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(r.stderr.starts_with("error: "), "{r:#?}");
    assert!(r.stderr.contains("(invalid_name)"), "{r:#?}");
    let r = cli(&d, &["create", "x", "--acl", "no-such-privilege"]).expect(1);
    assert!(r.stderr.contains("no-such-privilege"), "{r:#?}");
    assert!(r.stderr.contains("(invalid_acl)"), "{r:#?}");
    let past = (now() - 3_600).to_string();
    let r = cli(&d, &["create", "x", "--expires", &past]).expect(1);
    assert!(r.stderr.starts_with("error: "), "{r:#?}");
    // --json keeps the exit status and prints the reply on stdout.
    let r = cli(&d, &["--json", "create", "bad name"]).expect(1);
    let reply = r.json();
    assert_eq!(reply["metadata"]["result"], 0);
    assert_eq!(reply["metadata"]["error"], "invalid_name");
}

#[test]
fn token_is_read_from_stdin_never_argv() {
    let mut d = Daemon::start();
    let token = token(&create(&d, None, json!({"token_name": "piped"})));

    // No positional token is accepted.
    let r = cli(&d, &["details", &token]).expect(2);
    assert!(r.stdout.is_empty(), "{r:#?}");
    // Empty or blank stdin: usage error.
    let r = cli_stdin(&d, &["details"], "").expect(2);
    assert!(r.stderr.contains("standard input"), "{r:#?}");
    cli_stdin(&d, &["details"], "   \n").expect(2);
    cli(&d, &["details"]).expect(2);

    // The first line is the token, surrounding blanks trimmed.
    let r = cli_stdin(&d, &["details"], &format!("  {token} \nignored\n")).expect(0);
    assert_eq!(field(&r.stdout, "Name"), "piped");

    // call --stdin-arg puts stdin's line under the key.
    let r = cli_stdin(
        &d,
        &["call", "api_token_get_details", "--stdin-arg", "token"],
        &format!("{token}\n"),
    )
    .expect(0);
    let reply = r.json();
    assert_eq!(reply["metadata"]["result"], 1);
    assert_eq!(reply["data"]["name"], "piped");
    assert!(!r.stdout.contains(&token));

    // A key both on argv and --stdin-arg is refused before anything is sent.
    let r = cli_stdin(
        &d,
        &[
            "call",
            "api_token_get_details",
            "token=x",
            "--stdin-arg",
            "token",
        ],
        &format!("{token}\n"),
    )
    .expect(2);
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert_not_logged(&mut d, &[&token]);
}

#[test]
fn call_sends_raw_pairs_and_prints_json() {
    let d = Daemon::start();
    let r = cli(
        &d,
        &[
            "call",
            "api_token_create",
            "token_name=x",
            "acl=list-accts",
            "acl=create-acct",
        ],
    )
    .expect(0);
    let reply = r.json();
    assert_eq!(reply["metadata"]["result"], 1);
    assert_eq!(reply["metadata"]["command"], "api_token_create");
    assert_eq!(reply["data"]["name"], "x");
    assert_eq!(reply["data"]["acls"], json!(["create-acct", "list-accts"]));
    assert!(is_token(reply["data"]["token"].as_str().unwrap()));

    // A refusal is printed as JSON too, with exit status 1.
    let r = cli(&d, &["call", "api_token_create", "token_name=x"]).expect(1);
    let reply = r.json();
    assert_eq!(reply["metadata"]["result"], 0);
    assert_eq!(reply["metadata"]["error"], "name_exists");

    // A pair without '=' (or with an empty key) is a usage error.
    let r = cli(&d, &["call", "api_token_create", "token_name"]).expect(2);
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(r.stderr.contains("KEY=VALUE"), "{r:#?}");
    cli(&d, &["call", "api_token_create", "=y"]).expect(2);
    let reply = cli(&d, &["--json", "list"]).expect(0).json();
    assert_eq!(json_names(&reply), ["x"]);
}

#[test]
fn expires_date_is_end_of_that_local_day() {
    let d = Daemon::start();
    let day: NaiveDate = Local::now()
        .date_naive()
        .checked_add_days(Days::new(40))
        .unwrap();
    let arg = day.format("%Y-%m-%d").to_string();
    let expected = Local
        .from_local_datetime(&day.and_hms_opt(23, 59, 59).unwrap())
        .latest()
        .unwrap()
        .timestamp();

    let reply = cli(&d, &["--json", "create", "dated", "--expires", &arg])
        .expect(0)
        .json();
    assert_eq!(reply["data"]["expires_at"], expected);
    assert_eq!(
        local(expected, "%Y-%m-%d %H:%M:%S"),
        format!("{arg} 23:59:59")
    );

    // Human output shows the same moment; update takes a date as well.
    let later = day.checked_add_days(Days::new(1)).unwrap();
    let later_arg = later.format("%Y-%m-%d").to_string();
    let r = cli(&d, &["update", "dated", "--expires", &later_arg]).expect(0);
    assert_eq!(field(&r.stdout, "Expires"), format!("{later_arg} 23:59:59"));
    let reply = cli(&d, &["--json", "list"]).expect(0).json();
    let expected_later = Local
        .from_local_datetime(&later.and_hms_opt(23, 59, 59).unwrap())
        .latest()
        .unwrap()
        .timestamp();
    assert_eq!(
        reply["data"]["tokens"]["dated"]["expires_at"],
        expected_later
    );
}

#[test]
fn tokens_never_reach_the_daemons_log() {
    let mut d = Daemon::start();
    let expires = (now() + 86_400).to_string();
    let r = cli(
        &d,
        &[
            "create",
            "human",
            "--acl",
            "ssl",
            "--ip",
            "10.0.0.1",
            "--expires",
            &expires,
        ],
    )
    .expect(0);
    let human = token_of(&r.stdout);
    let reply = cli(&d, &["--json", "create", "json"]).expect(0).json();
    let json_token = token(&reply["data"]);
    assert!(is_token(&json_token));
    let reply = cli(&d, &["call", "api_token_create", "token_name=raw"])
        .expect(0)
        .json();
    let raw = token(&reply["data"]);

    for t in [&human, &json_token, &raw] {
        cli_stdin(&d, &["details"], &format!("{t}\n")).expect(0);
        cli_stdin(&d, &["--json", "details"], &format!("{t}\n")).expect(0);
        cli_stdin(
            &d,
            &["call", "api_token_get_details", "--stdin-arg", "token"],
            &format!("{t}\n"),
        )
        .expect(0);
    }
    // Near misses of a real token, and refusals of every kind.
    let mut near = human.clone().into_bytes();
    near[31] = if near[31] == b'A' { b'B' } else { b'A' };
    let near = String::from_utf8(near).unwrap();
    cli_stdin(&d, &["details"], &format!("{near}\n")).expect(1);
    cli_stdin(&d, &["details"], &format!("{}\n", human.to_lowercase())).expect(1);
    cli(
        &d,
        &["update", "human", "--new-name", "renamed", "--any-ip"],
    )
    .expect(0);
    cli(&d, &["update", "renamed"]).expect(1);
    cli(&d, &["create", "bad name"]).expect(1);
    cli(&d, &["list"]).expect(0);
    cli(&d, &["revoke", "renamed", "ghost"]).expect(1);
    // Revoked: no longer found.
    cli_stdin(&d, &["details"], &format!("{human}\n")).expect(1);
    cli(&d, &["revoke", "--all", "--yes"]).expect(0);
    cli_stdin(&d, &["details"], &format!("{raw}\n")).expect(1);

    let lower = human.to_lowercase();
    let log = assert_not_logged(&mut d, &[&human, &json_token, &raw, &near, &lower]);
    // Not vacuous: the daemon did log these requests.
    for command in ["api_token_create", "api_token_update", "api_token_revoke"] {
        assert!(log.contains(command), "{command} not logged:\n{log}");
    }
}

/// The state letter of `/proc/<pid>/stat` (R, S, T, Z...), or None once reaped.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

fn wait_state(pid: u32, wanted: &[char]) -> Option<char> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let s = proc_state(pid);
        if s.is_none_or(|c| wanted.contains(&c)) {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} stuck in {s:?}"
        );
        std::thread::yield_now();
    }
}

/// A stop and continue (job control, a checkpointing host, a PAM host's
/// own signals) interrupts a socket read that has a timeout with EINTR on
/// Linux; the client resumes waiting instead of failing the command.
#[test]
fn a_stopped_and_continued_client_still_gets_its_reply() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stand-in.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let child = Command::new(CLI)
        .args(["--socket", path.to_str().unwrap(), "--json", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (stream, _) = listener.accept().unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    reader.read_line(&mut request).unwrap();
    assert!(request.contains("api_token_list"), "{request}");

    // The request is sent: the client is (or is about to be) in its read.
    assert_eq!(wait_state(pid, &['S']), Some('S'));
    let p = Pid::from_raw(i32::try_from(pid).unwrap());
    kill(p, Signal::SIGSTOP).unwrap();
    assert_eq!(wait_state(pid, &['T', 't']).map(|_| ()), Some(()));
    kill(p, Signal::SIGCONT).unwrap();
    // Back to waiting (fixed) or exiting with an error (the bug).
    let after = wait_state(pid, &['S', 'Z']);
    let reply = r#"{"data":{"tokens":{}},"metadata":{"command":"api_token_list","result":1,"reason":"OK","version":1}}"#;
    let _ = (&stream).write_all(format!("{reply}\n").as_bytes());
    let out = child.wait_with_output().unwrap();
    let ran = Ran::from(out);
    assert_eq!(after, Some('S'), "client gave up after SIGCONT: {ran:#?}");
    assert_eq!(ran.code, 0, "{ran:#?}");
    let printed: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(printed["data"]["tokens"], json!({}));
}
