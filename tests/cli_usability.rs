//! The CLI as a tired administrator meets it (issue 15): the real
//! `apitoken` against the real daemon, on pipes and on a pseudo-terminal.
//! Each test starts its own daemon; tests run as root unless they switch
//! to a test user (names start with `apitok`, see the README).
// busy_daemon and the closures unwrap and panic outside #[test] fns,
// which clippy.toml's allow-*-in-tests does not cover.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use chrono::{Local, TimeZone};
use common::terminal::run_on_terminal;
use common::{CLI, DAEMON, Daemon, Ran, create, run_with_stdin, test_user};
use serde_json::json;

/// The CLI on `d` with a clean environment for what these tests vary.
fn base(d: &Daemon) -> Command {
    let mut c = d.cli();
    c.env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .env_remove("APITOKEND_SOCKET")
        .env_remove("APITOKEND_VERIFY_SOCKET");
    c
}

fn cli(d: &Daemon, args: &[&str]) -> Ran {
    base(d).args(args).output().unwrap().into()
}

fn cli_stdin(d: &Daemon, args: &[&str], stdin: &str) -> Ran {
    run_with_stdin(base(d).args(args), stdin).into()
}

fn local(t: i64, fmt: &str) -> String {
    Local.timestamp_opt(t, 0).unwrap().format(fmt).to_string()
}

#[test]
fn create_quiet_prints_only_the_token_and_verify_finds_its_socket_in_the_environment() {
    let d = Daemon::start();
    let r = cli(&d, &["create", "deploy", "--acl", "list-accts", "--quiet"]).expect(0);
    let token = r.stdout.strip_suffix('\n').unwrap().to_owned();
    assert_eq!(token.len(), 32, "{r:#?}");
    assert!(r.stderr.is_empty(), "{r:#?}");
    // No --verify-socket: APITOKEND_VERIFY_SOCKET names it.
    let out = run_with_stdin(
        Command::new(CLI)
            .env("APITOKEND_VERIFY_SOCKET", &d.verify_socket)
            .args([
                "verify",
                "--user",
                "root",
                "--ip",
                "192.0.2.9",
                "--function",
                "listaccts",
            ]),
        &format!("{token}\n"),
    );
    let r = Ran::from(out).expect(0);
    assert_eq!(
        r.stdout,
        "accepted: token deploy of root, privileges: list-accts\n"
    );
}

/// One token with 4 addresses (two IPv6) and 10 privileges, one expired,
/// one expiring soon, one used.
fn busy_daemon() -> (Daemon, i64) {
    let d = Daemon::builder()
        .config("expiry_warning_days = 2\n")
        .start();
    let t0: i64 = 1_800_000_000;
    d.set_now(t0);
    create(
        &d,
        None,
        json!({"token_name": "deploy",
               "acl": ["acct-summary", "create-acct", "edit-dns", "kill-acct", "list-accts",
                       "list-pkgs", "passwd", "ssl", "suspend-acct", "upgrade-account"],
               "whitelist_ip": ["192.0.2.1", "192.0.2.2", "2001:db8::/48", "fc00:abcd::f"]}),
    );
    create(
        &d,
        None,
        json!({"token_name": "old", "expires_at": t0 + 60}),
    );
    create(
        &d,
        None,
        json!({"token_name": "soon", "expires_at": t0 + 86_400 + 3_600}),
    );
    let used = create(&d, None, json!({"token_name": "used"}));
    let v = d.verify(
        "root",
        used["token"].as_str().unwrap(),
        "198.51.100.7",
        "listaccts",
    );
    assert!(v.is_ok(), "{v:?}");
    d.set_now(t0 + 3_600);
    (d, t0)
}

#[test]
fn list_on_a_terminal_fits_the_width_and_colours_rows() {
    let (d, t0) = busy_daemon();
    let on = run_on_terminal(
        {
            let mut c = base(&d);
            c.arg("list");
            c
        },
        120,
    );
    assert_eq!(on.code, 0, "{on:#?}");
    let lines: Vec<&str> = on.screen.lines().collect();
    for l in &lines {
        let visible = l
            .replace("\x1b[1m", "")
            .replace("\x1b[31m", "")
            .replace("\x1b[33m", "")
            .replace("\x1b[0m", "");
        assert!(
            visible.chars().count() <= 120,
            "wider than 120: {l:?}\n{}",
            on.screen
        );
    }
    let deploy = lines.iter().find(|l| l.starts_with("deploy")).unwrap();
    assert!(
        deploy.contains("192.0.2.1") && deploy.contains(" more"),
        "{deploy}"
    );
    assert!(deploy.contains("acct-summary"), "{deploy}");
    assert!(lines[0].starts_with("\x1b[1mName"), "{:?}", lines[0]);
    let old = lines.iter().find(|l| l.contains("old ")).unwrap();
    assert!(
        old.starts_with("\x1b[31mold") && old.contains("(expired)"),
        "{old:?}"
    );
    let soon = lines.iter().find(|l| l.contains("soon ")).unwrap();
    assert!(
        soon.starts_with("\x1b[33msoon") && soon.contains("(soon)"),
        "{soon:?}"
    );
    let used = lines.iter().find(|l| l.starts_with("used")).unwrap();
    assert!(
        used.contains(&local(t0, "%Y-%m-%d %H:%M")),
        "Last used: {used}"
    );

    // NO_COLOR on the same terminal: no colour, same fitting.
    let on = run_on_terminal(
        {
            let mut c = base(&d);
            c.env("NO_COLOR", "1").arg("list");
            c
        },
        120,
    );
    assert!(!on.screen.contains('\x1b'), "{:?}", on.screen);
    assert!(on.screen.contains(" more"), "{}", on.screen);
    // Narrower: the lists become counts.
    let on = run_on_terminal(
        {
            let mut c = base(&d);
            c.arg("list");
            c
        },
        100,
    );
    let deploy = on
        .screen
        .lines()
        .find(|l| l.starts_with("deploy"))
        .unwrap()
        .to_owned();
    assert!(
        deploy.contains("4 addresses") && deploy.contains("10 privileges"),
        "{}",
        on.screen
    );
    assert!(deploy.chars().count() <= 100, "{deploy}");
    // --color never too; --wide shows every value in full, with seconds.
    let on = run_on_terminal(
        {
            let mut c = base(&d);
            c.args(["list", "--wide", "--color", "never"]);
            c
        },
        100,
    );
    assert!(
        !on.screen.contains('\x1b') && !on.screen.contains(" more"),
        "{}",
        on.screen
    );
    for v in [
        "upgrade-account",
        "2001:db8::/48",
        "fc00:abcd::f",
        &local(t0, "%Y-%m-%d %H:%M:%S"),
    ] {
        assert!(on.screen.contains(v), "{v} in\n{}", on.screen);
    }
}

#[test]
fn list_on_a_pipe_is_plain_and_full_unless_told() {
    let (d, _) = busy_daemon();
    let r = cli(&d, &["list"]).expect(0);
    assert!(!r.stdout.contains('\x1b'), "{r:#?}");
    assert!(
        r.stdout.contains("upgrade-account") && r.stdout.contains("fc00:abcd::f"),
        "{r:#?}"
    );
    assert!(
        !r.stdout.contains("0000:"),
        "IPv6 compressed on screen: {r:#?}"
    );
    let r = cli(&d, &["list", "--color", "always"]).expect(0);
    assert!(r.stdout.contains("\x1b[31mold"), "{r:#?}");
    let r: Ran = base(&d)
        .env("COLUMNS", "90")
        .arg("list")
        .output()
        .unwrap()
        .into();
    assert!(
        r.stdout.contains("10 privileges"),
        "COLUMNS is honoured: {r:#?}"
    );
    // The API keeps cPanel's expanded form.
    let reply = cli(&d, &["--json", "list"]).expect(0).json();
    let ips = &reply["data"]["tokens"]["deploy"]["whitelist_ips"];
    assert!(
        ips.to_string()
            .contains("fc00:abcd:0000:0000:0000:0000:0000:000f"),
        "{ips}"
    );
}

#[test]
fn root_lists_every_owner() {
    let d = Daemon::builder()
        .resellers("bob:all\nalice:list-accts,manage-api-tokens\n")
        .start();
    create(&d, None, json!({"token_name": "mine"}));
    create(&d, Some("bob"), json!({"token_name": "bobs"}));
    create(&d, Some("alice"), json!({"token_name": "alices"}));
    let r = cli(&d, &["list", "--all-users"]).expect(0);
    let firsts: Vec<(&str, &str)> = r
        .stdout
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap(), w.next().unwrap())
        })
        .collect();
    assert_eq!(
        firsts,
        [
            ("Owner", "Name"),
            ("alice", "alices"),
            ("bob", "bobs"),
            ("root", "mine")
        ],
        "{r:#?}"
    );
    let all = cli(&d, &["--json", "list", "--all-users"]).expect(0).json();
    assert_eq!(all["owners"]["bob"]["tokens"]["bobs"]["name"], "bobs");
    let r = cli(&d, &["list", "--all-users", "--search", "bob"]).expect(0);
    assert_eq!(r.stdout.lines().count(), 2, "{r:#?}");
}

#[test]
fn unreachable_names_the_socket_where_it_came_from_and_what_to_do() {
    let r: Ran = Command::new(CLI)
        .env("APITOKEND_SOCKET", "/nonexistent/c.sock")
        .arg("list")
        .output()
        .unwrap()
        .into();
    let r = r.expect(3);
    for want in [
        "/nonexistent/c.sock (from APITOKEND_SOCKET)",
        "systemctl status apitokend",
        "apitokend --dev-dir ./dev",
    ] {
        assert!(r.stderr.contains(want), "{want:?} in {r:#?}");
    }
    let r: Ran = Command::new(CLI)
        .env_remove("APITOKEND_VERIFY_SOCKET")
        .args([
            "--verify-socket",
            "/nonexistent/v.sock",
            "verify",
            "--user",
            "u",
            "--ip",
            "1.2.3.4",
            "--function",
            "f",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
        .into();
    // Stdin is empty: a usage error before any connection.
    r.expect(2);
    let out = run_with_stdin(
        Command::new(CLI).args([
            "--verify-socket",
            "/nonexistent/v.sock",
            "verify",
            "--user",
            "u",
            "--ip",
            "1.2.3.4",
            "--function",
            "f",
        ]),
        "TOKEN\n",
    );
    let r = Ran::from(out).expect(3);
    assert!(
        r.stderr
            .contains("verify socket /nonexistent/v.sock (given with --verify-socket)"),
        "{r:#?}"
    );
}

#[test]
fn a_set_environment_variable_does_not_make_socket_look_required() {
    let r: Ran = Command::new(CLI)
        .env("APITOKEND_SOCKET", "/tmp/x.sock")
        .arg("create")
        .output()
        .unwrap()
        .into();
    let r = r.expect(2);
    assert!(r.stderr.contains("Usage: apitoken create <NAME>"), "{r:#?}");
    assert!(!r.stderr.contains("--socket"), "{r:#?}");
    for sub in ["create", "list", "verify"] {
        let r: Ran = Command::new(CLI)
            .env("APITOKEND_SOCKET", "/tmp/x.sock")
            .args([sub, "--help"])
            .output()
            .unwrap()
            .into();
        let r = r.expect(0);
        let own = r
            .stdout
            .find("\nOptions:")
            .unwrap_or_else(|| panic!("{r:#?}"));
        let global = r
            .stdout
            .find("\nGlobal options:")
            .unwrap_or_else(|| panic!("{r:#?}"));
        assert!(own < global, "{r:#?}");
        // The global options are listed under their heading only.
        assert!(!r.stdout[own..global].contains("--socket"), "{r:#?}");
        assert!(
            r.stdout[global..].contains("--socket") && r.stdout[global..].contains("--timeout")
        );
        assert!(r.stdout.contains("Examples:"), "{r:#?}");
    }
}

#[test]
fn errors_say_what_to_do() {
    let d = Daemon::builder()
        .config("[lockout]\nmax_failures = 2\nwindow_secs = 60\ncooldown_secs = 600\n")
        .start();
    let t0: i64 = 1_800_000_000;
    d.set_now(t0);
    let token = create(&d, None, json!({"token_name": "t", "acl": ["list-accts"]}))["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // A token on the command line: explained, never echoed.
    for args in [
        &["details", token.as_str()][..],
        &[
            "verify",
            "--user",
            "root",
            "--ip",
            "1.2.3.4",
            "--function",
            "f",
            "--token",
            token.as_str(),
        ],
    ] {
        let r = cli(&d, args).expect(2);
        assert!(
            r.stderr.contains("read from standard input") && r.stderr.contains("| apitoken"),
            "{r:#?}"
        );
        assert!(!r.stderr.contains(&token), "{r:#?}");
    }
    // An unknown privilege: the closest known names.
    let r = cli(&d, &["create", "x", "--acl", "list-acct"]).expect(1);
    assert!(r.stderr.contains("(did you mean “list-accts”?)"), "{r:#?}");
    // Times are dates.
    let past = (t0 - 86_400).to_string();
    let r = cli(&d, &["create", "x", "--expires", &past]).expect(1);
    let shown = local(t0 - 86_400, "%Y-%m-%d %H:%M:%S");
    assert!(
        r.stderr
            .contains(&format!("expires_at {shown} is not in the future")),
        "{r:#?}"
    );
    // --expires 0 is refused with a hint; never is the way.
    let r = cli(&d, &["create", "x", "--expires", "0"]).expect(2);
    assert!(r.stderr.contains("'never'"), "{r:#?}");
    let v = |args: &[&str], stdin: &str| {
        let mut a = vec![
            "--verify-socket",
            d.verify_socket.to_str().unwrap(),
            "verify",
            "--user",
            "root",
        ];
        a.extend_from_slice(args);
        cli_stdin(&d, &a, stdin)
    };
    // A mistyped function is not a missing privilege.
    let r = v(
        &["--ip", "1.2.3.4", "--function", "listacct"],
        &format!("{token}\n"),
    )
    .expect(1);
    assert!(
        r.stderr
            .contains("“listacct” is not in the function table (did you mean “listaccts”?)"),
        "{r:#?}"
    );
    let r = v(
        &["--ip", "1.2.3.4", "--function", "createacct"],
        &format!("{token}\n"),
    )
    .expect(1);
    assert!(
        r.stderr
            .contains("lacks the privilege for “createacct” (it needs “create-acct”)"),
        "{r:#?}"
    );
    // The lockout names its end as a date.
    for _ in 0..2 {
        v(
            &["--ip", "203.0.113.5", "--function", "listaccts"],
            &format!("{}\n", "A".repeat(32)),
        )
        .expect(1);
    }
    let r = v(
        &["--ip", "203.0.113.5", "--function", "listaccts"],
        &format!("{token}\n"),
    )
    .expect(1);
    let until = local(t0 + 600, "%Y-%m-%d %H:%M:%S");
    assert!(
        r.stderr.contains(&format!("locked out until {until}")),
        "{r:#?}"
    );
    let r = cli(&d, &["lockouts"]).expect(0);
    assert!(r.stdout.contains(&until), "{r:#?}");

    // verify sent to the control socket, and the reverse mistake.
    let r = cli_stdin(
        &d,
        &["call", "verify", "--stdin-arg", "token"],
        &format!("{token}\n"),
    )
    .expect(1);
    let reply = r.json();
    assert_eq!(reply["metadata"]["error"], "unknown_command");
    assert!(
        reply["metadata"]["reason"]
            .as_str()
            .unwrap()
            .contains("goes to the verify socket"),
        "{reply}"
    );
    let r = cli_stdin(
        &d,
        &[
            "--verify-socket",
            d.socket.to_str().unwrap(),
            "verify",
            "--user",
            "root",
            "--ip",
            "1.2.3.4",
            "--function",
            "listaccts",
        ],
        &format!("{token}\n"),
    )
    .expect(1);
    assert!(r.stderr.contains("goes to the verify socket"), "{r:#?}");
    let r = cli(&d, &["call", "api_token_lst"]).expect(1);
    assert!(
        r.json()["metadata"]["reason"]
            .as_str()
            .unwrap()
            .contains("did you mean “api_token_list”"),
        "{r:#?}"
    );
}

#[test]
fn create_says_what_it_stored() {
    let d = Daemon::start();
    let r = cli(
        &d,
        &[
            "create",
            "net",
            "--ip",
            "10.0.0.5/24",
            "--ip",
            "2001:db8::1/32",
        ],
    )
    .expect(0);
    assert!(
        r.stderr
            .contains("note: 10.0.0.5/24 is stored as 10.0.0.0/24"),
        "{r:#?}"
    );
    assert!(
        r.stderr
            .contains("note: 2001:db8::1/32 is stored as 2001:db8::/32"),
        "{r:#?}"
    );
    assert!(
        r.stdout.contains("IPs:     10.0.0.0/24, 2001:db8::/32"),
        "{r:#?}"
    );
    let r = cli(&d, &["create", "full", "--acl", "all,ssl"]).expect(0);
    assert!(r.stderr.contains("\"all\" means full access"), "{r:#?}");
    assert!(r.stdout.contains("ACLs:    all (full access)"), "{r:#?}");
    let r = cli(&d, &["update", "net", "--ip", "192.0.2.77/30"]).expect(0);
    assert!(
        r.stderr
            .contains("192.0.2.77/30 is stored as 192.0.2.76/30"),
        "{r:#?}"
    );
    // An exact host or network: nothing to say.
    let r = cli(&d, &["create", "exact", "--ip", "10.0.0.0/24,192.0.2.1"]).expect(0);
    assert!(r.stderr.is_empty(), "{r:#?}");
}

#[test]
fn acls_functions_status_and_completions() {
    let dir = tempfile::tempdir().unwrap();
    let acls = dir.path().join("acls.conf");
    std::fs::write(
        &acls,
        "[standard]\nlist-accts\npasswd\n[plugins]\nsoftware-foo\n",
    )
    .unwrap();
    let d = Daemon::builder()
        .resellers("apitokresa:list-accts,manage-api-tokens\n")
        .config(&format!("acls_file = {acls:?}\n"))
        .start();
    create(&d, None, json!({"token_name": "a"}));
    create(
        &d,
        Some("apitokresa"),
        json!({"token_name": "b", "acl": ["list-accts"]}),
    );

    let r = cli(&d, &["acls"]).expect(0);
    let rows: Vec<Vec<&str>> = r
        .stdout
        .lines()
        .take(5)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["Privilege", "Category", "Note"]);
    assert!(rows.contains(&vec!["software-foo", "plugins"]), "{r:#?}");
    assert!(
        rows.contains(&vec!["passwd", "standard", "bypasses", "token", "limits"]),
        "{r:#?}"
    );
    let r = cli(&d, &["acls", "--bypassing"]).expect(0);
    assert!(
        !r.stdout.contains("list-accts") && r.stdout.contains("passwd"),
        "{r:#?}"
    );

    let r = cli(&d, &["functions", "listaccts", "createac"]).expect(0);
    assert!(r.stdout.contains("listaccts  list-accts"), "{r:#?}");
    assert!(
        r.stdout
            .contains("createac   all (not in the table; did you mean “createacct”?)"),
        "{r:#?}"
    );
    let r = cli(&d, &["functions"]).expect(0);
    assert!(r.stdout.lines().count() > 60, "{r:#?}");

    let r = cli(&d, &["status"]).expect(0);
    for want in [
        "Version:        apitokend ".to_owned(),
        format!("Control socket: {}", d.socket.display()),
        format!("Verify socket:  {}", d.verify_socket.display()),
        "Tokens:         2 of 2 owners".to_owned(),
        "Lockouts:       0 addresses".to_owned(),
        "Last reload:    none since start".to_owned(),
    ] {
        assert!(r.stdout.contains(&want), "{want:?} in {r:#?}");
    }
    // A reseller sees its own share and the privileges it holds.
    let res = test_user("apitokresa");
    let r: Ran = d
        .cli_as(&res)
        .args(["--json", "status"])
        .output()
        .unwrap()
        .into();
    let data = r.expect(0).json()["data"].clone();
    assert_eq!(data["tokens"], 1);
    assert!(
        data.get("owners").is_none() && data.get("control_socket").is_none(),
        "{data}"
    );
    let r: Ran = d.cli_as(&res).arg("acls").output().unwrap().into();
    let r = r.expect(0);
    assert!(
        r.stdout.contains("list-accts") && !r.stdout.contains("passwd"),
        "{r:#?}"
    );
    let plain = test_user("apitokplain");
    let r: Ran = d.cli_as(&plain).arg("status").output().unwrap().into();
    assert!(r.expect(1).stderr.contains("not_authorized"));

    // A reload that could not apply everything is reported.
    std::fs::write(&acls, "Not A Name\n").unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.wait_for_stderr("configuration reloaded", 1);
    let r = cli(&d, &["status"]).expect(0);
    assert!(
        r.stdout.contains("with problems:") && r.stdout.contains("acls.conf:1"),
        "{r:#?}"
    );

    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef apitoken"),
        ("fish", "complete -c apitoken"),
    ] {
        let r = Ran::from(
            Command::new(CLI)
                .args(["completions", shell])
                .output()
                .unwrap(),
        )
        .expect(0);
        assert!(
            r.stdout.contains(marker),
            "{shell}: {}",
            &r.stdout[..200.min(r.stdout.len())]
        );
        assert!(
            r.stdout.contains("list") && !r.stdout.contains("--token"),
            "{shell}"
        );
    }
}

#[test]
fn audit_keeps_non_ascii_names_readable() {
    let mut d = Daemon::start();
    let r = cli(&d, &["create", "café"]).expect(1);
    assert!(r.stderr.contains("invalid_name"), "{r:#?}");
    cli(&d, &["create", "\u{430}dmin"]).expect(1);
    let log = d.stop_and_read_log();
    assert!(log.contains(r"token_name=caf\u{e9} "), "{log}");
    assert!(log.contains(r"token_name=\u{430}dmin "), "{log}");
}

#[test]
fn shipped_config_checks_from_a_checkout() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(DAEMON)
        .current_dir(root)
        .args(["--config", "etc/apitokend/apitokend.toml", "--check-config"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "functions_file = \"{root}/etc/apitokend/functions.conf\""
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("acls_file = \"{root}/etc/apitokend/acls.conf\"")),
        "{text}"
    );
}

/// The README's Quick start, run as written (two terminals: the daemon's
/// block in the background, then the other block in order), as a non-root
/// user, from a fresh directory.
#[test]
fn readme_quick_start_works_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .expect("a Quick start section");
    let blocks: Vec<&str> = section
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(
        blocks.len(),
        2,
        "the daemon's block and the client's: {section}"
    );
    let bin = std::path::Path::new(CLI)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    // `cargo build --release` has been done by the test build (debug).
    let adapt = |b: &str| -> String {
        b.lines()
            .filter(|l| !l.starts_with("cargo build"))
            .map(|l| {
                l.replace("$PWD/target/release", &bin)
                    .replace("target/release", &bin)
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let user = test_user("apitokqs");
    let dir = tempfile::tempdir().unwrap();
    nix::unistd::chown(dir.path(), Some(user.uid.into()), Some(user.gid.into())).unwrap();
    let as_user = |script: &str| {
        let mut c = Command::new("bash");
        c.args(["-euo", "pipefail", "-c", script])
            .current_dir(dir.path())
            .env_remove("APITOKEND_SOCKET")
            .env_remove("APITOKEND_VERIFY_SOCKET")
            .env("HOME", dir.path())
            .uid(user.uid)
            .gid(user.gid);
        c
    };
    let log = dir.path().join("daemon.log");
    // The playground's HTTPS front on a free port instead of 2087; the
    // client block's URL is pointed at it below.
    let mut daemon = as_user(&adapt(blocks[0]))
        .env("APITOKEND_DEV_WEB_LISTEN", "127.0.0.1:0")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("daemon.err")).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let sock = dir.path().join("dev/verify.sock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            daemon.try_wait().unwrap().is_none(),
            "daemon exited: {}",
            std::fs::read_to_string(dir.path().join("daemon.err")).unwrap_or_default()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the playground did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let front = loop {
        let err = std::fs::read_to_string(dir.path().join("daemon.err")).unwrap_or_default();
        if let Some(addr) = err
            .lines()
            .filter(|l| l.contains("listening on"))
            .flat_map(|l| l.split([' ', ',']))
            .find_map(|w| w.strip_prefix("https://"))
        {
            break addr.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the playground's front did not start: {err}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let client = adapt(blocks[1]).replace("127.0.0.1:2087", &front);
    let r = Ran::from(as_user(&client).output().unwrap());
    // Stop the playground (Ctrl-C in its terminal).
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(i32::try_from(daemon.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert!(daemon.wait().unwrap().success());
    let err = std::fs::read_to_string(dir.path().join("daemon.err")).unwrap();
    let r = r.expect(0);
    assert!(
        r.stdout.contains("accepted: token deploy of apitokqs"),
        "{r:#?}"
    );
    assert!(r.stdout.contains("deploy"), "{r:#?}");
    // The curl line: WHM API 1's api_token_list over HTTPS.
    assert!(
        r.stdout
            .contains(r#""metadata":{"command":"api_token_list","reason":"OK","result":1"#),
        "{r:#?}"
    );
    // The web-login line: a link to the front the playground really runs.
    assert!(
        r.stdout.contains(&format!("https://{front}/login?ticket=")),
        "{r:#?}"
    );
    assert!(!err.contains("warning"), "the playground warns: {err}");
    assert!(err.contains("export APITOKEND_SOCKET="), "{err}");
}

#[test]
fn plain_apitokend_as_non_root_points_to_the_playground() {
    let user = test_user("apitokplain");
    let out = Command::new(DAEMON)
        .uid(user.uid)
        .gid(user.gid)
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("not running as root") && err.contains("apitokend --dev-dir ./dev"),
        "{err}"
    );
}

/// The documented cleanup removes exactly what it is given, and refuses
/// names that are not test names. Tried on a user of its own, so test runs
/// going on at the same time keep theirs.
#[test]
fn remove_test_users_removes_what_it_is_given() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/remove-test-users.sh");
    let name = format!("apitokcl{}", std::process::id() % 100_000);
    let user = test_user(&name);
    assert!(
        nix::unistd::Group::from_gid(user.gid.into())
            .unwrap()
            .is_some()
    );
    let out = Command::new(script).arg(&name).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        nix::unistd::User::from_name(&name).unwrap().is_none(),
        "user {name} left"
    );
    assert!(
        nix::unistd::Group::from_name(&name).unwrap().is_none(),
        "group {name} left"
    );
    for not_ours in ["apitokend-verify", "root", "apitok"] {
        let out = Command::new(script).arg(not_ours).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{not_ours}");
    }
    assert!(nix::unistd::Group::from_name("root").unwrap().is_some());
}
