//! Audit trail over a real syslog socket: every change and every refusal is
//! recorded on LOG_AUTHPRIV, operational lines go to LOG_DAEMON, and no
//! token text ever reaches any log.
// Receiver unwraps outside #[test] fns, which clippy.toml's
// allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Daemon, create, error_code, run_with_stdin, test_user, token, wait_until};
use serde_json::json;

const LOG_DAEMON: u8 = 3;
const LOG_AUTHPRIV: u8 = 10;

/// A syslog receiver on a Unix datagram socket.
struct Receiver {
    lines: Arc<Mutex<Vec<(u8, u8, String)>>>,
}

impl Receiver {
    fn bind(path: &std::path::Path) -> Receiver {
        let sock = UnixDatagram::bind(path).unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                let n = match sock.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let pri: u8 = text
                    .strip_prefix('<')
                    .and_then(|t| t.split('>').next())
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(255);
                sink.lock().unwrap().push((pri / 8, pri % 8, text));
            }
        });
        Receiver { lines }
    }

    fn all(&self) -> Vec<(u8, u8, String)> {
        self.lines.lock().unwrap().clone()
    }

    fn audit(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|(f, _, _)| *f == LOG_AUTHPRIV)
            .map(|(_, _, t)| t)
            .collect()
    }

    /// Waits (bounded) for an audit line containing every part.
    fn expect_audit(&self, parts: &[&str]) -> String {
        let mut found = None;
        wait_until(
            Duration::from_secs(10),
            || {
                found = self
                    .audit()
                    .into_iter()
                    .find(|l| parts.iter().all(|p| l.contains(p)));
                found.is_some()
            },
            || {
                format!(
                    "no audit line with {parts:?} in:\n{}",
                    self.audit().join("\n")
                )
            },
        );
        found.unwrap()
    }
}

#[test]
fn full_cycle_is_audited_and_no_token_reaches_any_log() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("log.sock");
    let syslog = Receiver::bind(&log_path);
    let accounting = dir.path().join("accounting.log");
    let plain = test_user("apitokplain");
    let mut d = Daemon::builder()
        .resellers("res:all\n")
        .syslog_to(&log_path)
        .config(&format!("accounting_log = {accounting:?}\n"))
        .start();
    let mut tokens = Vec::new();

    let a = create(
        &d,
        None,
        json!({"token_name": "alpha", "acl": "list-accts", "whitelist_ip": "10.0.0.0/8"}),
    );
    tokens.push(token(&a));
    let b = create(&d, Some("res"), json!({"token_name": "beta"}));
    tokens.push(token(&b));
    let me = std::process::id().to_string();
    let line = syslog.expect_audit(&[
        "command=api_token_create",
        "result=ok",
        "token_name=alpha",
        "user=root",
    ]);
    assert!(
        line.contains("peer_uid=0") && line.contains(&format!("peer_pid={me}")),
        "{line}"
    );
    syslog.expect_audit(&[
        "command=api_token_create",
        "result=ok",
        "token_name=beta",
        "user=res",
    ]);

    // Refused management requests.
    let r = d.call_json(json!({"command": "api_token_create", "args": {"token_name": "bad name"}}));
    assert_eq!(error_code(&r), "invalid_name");
    syslog.expect_audit(&[
        "command=api_token_create",
        "result=refused",
        "error=invalid_name",
    ]);
    let r = d.call_as(&plain, "api_token_list", &[], Some("root"));
    assert_eq!(error_code(&r), "not_authorized");
    syslog.expect_audit(&[
        "command=api_token_list",
        "error=not_authorized",
        &format!("peer_uid={}", plain.uid),
    ]);
    let mut c = d.client();
    c.send_raw(b"{broken\n").unwrap();
    assert_eq!(error_code(&c.read_response().unwrap()), "invalid_json");
    syslog.expect_audit(&["error=invalid_json"]);

    // get_details with a token: not audited as a change, and never logged.
    let mut details = d.cli();
    details.arg("details");
    let out = run_with_stdin(&mut details, &format!("{}\n", tokens[0]));
    assert!(out.status.success());

    // Verify: successes are not audited, every refusal is.
    assert!(
        d.verify("root", &tokens[0], "10.1.1.1", "listaccts")
            .is_ok()
    );
    assert_eq!(
        error_code(&d.verify("root", &tokens[0], "192.0.2.1", "listaccts")),
        "ip_not_allowed"
    );
    let l = syslog.expect_audit(&[
        "command=verify",
        "error=ip_not_allowed",
        "ip=192.0.2.1",
        "token_name=alpha",
        "function=listaccts",
        "user=root",
    ]);
    assert!(l.contains("peer_uid=0"), "{l}");
    assert_eq!(
        error_code(&d.verify("root", &tokens[0], "10.1.1.1", "createacct")),
        "acl_denied"
    );
    syslog.expect_audit(&["command=verify", "error=acl_denied"]);
    let wrong = "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    assert_eq!(
        error_code(&d.verify("root", wrong, "10.1.1.1", "listaccts")),
        "invalid_token"
    );
    syslog.expect_audit(&["command=verify", "error=invalid_token"]);
    assert_eq!(
        error_code(&d.verify("nosuch", wrong, "10.1.1.1", "listaccts")),
        "unknown_user"
    );
    syslog.expect_audit(&["command=verify", "error=unknown_user", "user=nosuch"]);
    assert_eq!(
        error_code(&d.verify("root\nforged=1", wrong, "", "x")),
        "bad_request"
    );
    let l = syslog.expect_audit(&["command=verify", "error=bad_request"]);
    assert!(l.contains(r"user=root\nforged=1"), "{l}");

    // Update, revoke, account events.
    let r = d.call_json(json!({"command": "api_token_update", "args": {"token_name": "alpha", "new_name": "gamma"}}));
    assert!(r.is_ok());
    syslog.expect_audit(&["command=api_token_update", "result=ok", "token_name=gamma"]);
    let r = d.call_json(
        json!({"command": "api_token_revoke", "args": {"token_name": ["gamma", "ghost"]}}),
    );
    assert!(r.is_ok());
    syslog.expect_audit(&["command=api_token_revoke", "result=ok", "token_name=gamma"]);
    let r = d.call_json(json!({"command": "account_remove", "args": {"user": "res"}}));
    assert!(r.is_ok());
    syslog.expect_audit(&["command=account_remove", "result=ok", "token_name=beta"]);
    d.write_resellers("res2:all\n");
    let r = d.call_json(
        json!({"command": "account_rename", "args": {"user": "res", "new_user": "res2"}}),
    );
    assert!(r.is_ok());
    syslog.expect_audit(&["command=account_rename", "result=ok"]);

    assert_eq!(d.terminate(), Some(0));
    wait_until(
        Duration::from_secs(10),
        || {
            syslog
                .all()
                .iter()
                .any(|(f, _, t)| *f == LOG_DAEMON && t.contains("stopped"))
        },
        || "no LOG_DAEMON 'stopped' line".to_owned(),
    );
    // Operational lines are on LOG_DAEMON, with the program name.
    let all = syslog.all();
    assert!(
        all.iter().any(|(f, _, t)| *f == LOG_DAEMON
            && t.contains("apitokend[")
            && t.contains("serving on"))
    );
    // Refusals are warnings, changes are info.
    assert!(
        all.iter()
            .any(|(f, sev, t)| *f == LOG_AUTHPRIV && *sev == 4 && t.contains("result=refused"))
    );
    assert!(
        all.iter()
            .any(|(f, sev, t)| *f == LOG_AUTHPRIV && *sev == 6 && t.contains("result=ok"))
    );

    // cPanel's accounting lines.
    let acct = std::fs::read_to_string(&accounting).unwrap();
    for want in [
        ":CREATEAPITOKEN:root:root:not-applicable:alpha",
        ":CREATEAPITOKEN:root:res:not-applicable:beta",
        ":UPDATEAPITOKEN:root:root:not-applicable:gamma",
        ":REVOKEAPITOKEN:root:root:not-applicable:gamma",
        ":REVOKEAPITOKEN:root:res:not-applicable:beta",
    ] {
        assert!(acct.contains(want), "missing {want} in:\n{acct}");
    }
    assert!(!acct.contains("ghost"));

    // No token text anywhere: syslog, stderr, accounting log.
    let everything = format!(
        "{}\n{}\n{}",
        all.iter()
            .map(|(_, _, t)| t.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        d.stderr(),
        acct
    );
    for t in tokens.iter().map(String::as_str).chain([wrong]) {
        assert!(!everything.contains(t), "a token reached a log");
        assert!(!everything.to_lowercase().contains(&t.to_lowercase()));
    }
}
