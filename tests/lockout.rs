//! Brute-force lockout on the verify socket, with the injected clock.

mod common;

use common::{Daemon, assert_error, create, error_code, req, test_user, token};
use serde_json::json;

const WRONG: &str = "0000000000000000000000000000WRNG";

fn daemon() -> (Daemon, String, i64) {
    let d = Daemon::builder()
        .resellers("res:all\n")
        .config("[lockout]\nmax_failures = 3\nwindow_secs = 60\ncooldown_secs = 120\n")
        .start();
    let now = 2_000_000_000;
    d.set_now(now);
    let t = token(&create(
        &d,
        None,
        json!({"token_name": "good", "acl": "list-accts", "whitelist_ip": ["192.0.2.0/24", "2001:db8::/32"]}),
    ));
    (d, t, now)
}

#[test]
fn failures_lock_one_address_only_and_the_cooldown_ends() {
    let (d, good, now) = daemon();
    let a = "192.0.2.1";
    // In order: three failures from `a`, then what `a` gets.
    for (user, t, ip, code, label) in [
        ("root", WRONG, a, "invalid_token", "failure 1"),
        ("root", WRONG, a, "invalid_token", "failure 2"),
        // Unknown users count too; the third failure starts the lockout.
        ("nosuch", WRONG, a, "unknown_user", "failure 3"),
        ("root", &good, a, "locked_out", "even a valid token"),
        // The IPv4-mapped spelling is the same address.
        (
            "root",
            &good,
            "::ffff:192.0.2.1",
            "locked_out",
            "the IPv4-mapped spelling",
        ),
    ] {
        assert_error(&d.verify(user, t, ip, "listaccts"), code, label);
    }
    // Other addresses are unaffected.
    assert!(d.verify("root", &good, "192.0.2.2", "listaccts").is_ok());
    d.wait_for_stderr("command=lockout", 1);
    assert!(d.stderr().contains("ip=192.0.2.1"));

    d.set_now(now + 119);
    assert_eq!(
        error_code(&d.verify("root", &good, a, "listaccts")),
        "locked_out"
    );
    d.set_now(now + 120);
    assert!(
        d.verify("root", &good, a, "listaccts").is_ok(),
        "cooldown over"
    );
}

#[test]
fn only_credential_failures_count_and_the_window_slides() {
    let (d, good, now) = daemon();
    let a = "2001:db8::7";
    // Wrong address (for the token) and missing privilege come from a real token holder.
    for round in 1..=5 {
        for (ip, function, code) in [
            ("198.51.100.1", "listaccts", "ip_not_allowed"),
            (a, "createacct", "acl_denied"),
        ] {
            let label = format!("round {round}: {function} from {ip}");
            assert_error(&d.verify("root", &good, ip, function), code, &label);
        }
    }
    assert!(d.verify("root", &good, a, "listaccts").is_ok());
    assert!(!d.verify("root", &good, "198.51.100.1", "listaccts").is_ok());
    // Two failures, then the window passes: the count restarts.
    for (at, window) in [(now, "first"), (now + 61, "next")] {
        d.set_now(at);
        for n in 1..=2 {
            let label = format!("failure {n} in the {window} window");
            assert_error(
                &d.verify("root", WRONG, a, "listaccts"),
                "invalid_token",
                &label,
            );
        }
    }
    assert!(d.verify("root", &good, a, "listaccts").is_ok());
    // An expired token counts.
    let exp = token(&create(
        &d,
        None,
        json!({"token_name": "exp", "expires_at": now + 70}),
    ));
    d.set_now(now + 80);
    assert_eq!(
        error_code(&d.verify("root", &exp, a, "listaccts")),
        "expired"
    );
    assert_eq!(
        error_code(&d.verify("root", &good, a, "listaccts")),
        "locked_out"
    );
}

#[test]
fn root_lists_and_clears_lockouts_over_the_socket_and_cli() {
    let (d, good, now) = daemon();
    for ip in ["192.0.2.9", "192.0.2.8"] {
        for _ in 0..3 {
            let _ = d.verify("root", WRONG, ip, "listaccts");
        }
    }
    let r = d.call(req("lockout_list"));
    let list = r.data.unwrap()["lockouts"].clone();
    assert_eq!(
        list,
        json!([
            {"ip": "192.0.2.8", "failures": 3, "locked_until": now + 120},
            {"ip": "192.0.2.9", "failures": 3, "locked_until": now + 120},
        ])
    );
    let plain = test_user("apitokplain");
    for (r, code, label) in [
        (
            d.call_as(&plain, "lockout_list", &[], None),
            "not_authorized",
            "root only",
        ),
        (d.call(req("lockout_clear")), "bad_request", "no address"),
        (
            d.call(req("lockout_clear").arg("ip", "not-an-ip")),
            "invalid_ip",
            "not an address",
        ),
    ] {
        assert_error(&r, code, label);
    }

    // CLI: table, then clear one.
    let out = d.cli().arg("lockouts").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Address"), "{text}");
    assert!(
        text.contains("192.0.2.8") && text.contains("192.0.2.9"),
        "{text}"
    );
    let out = d
        .cli()
        .args(["lockouts", "--clear", "192.0.2.9"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Cleared: 192.0.2.9\n"
    );
    assert!(d.verify("root", &good, "192.0.2.9", "listaccts").is_ok());
    assert_eq!(
        error_code(&d.verify("root", &good, "192.0.2.8", "listaccts")),
        "locked_out"
    );
    let out = d.cli().args(["lockouts", "--clear-all"]).output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Cleared: 192.0.2.8\n"
    );
    assert!(d.verify("root", &good, "192.0.2.8", "listaccts").is_ok());
    let out = d.cli().arg("lockouts").output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "No lockouts.\n");
    d.wait_for_stderr("command=lockout_clear result=ok", 1);
}

#[test]
fn lockout_can_be_disabled() {
    let d = Daemon::builder()
        .config("[lockout]\nmax_failures = 0\n")
        .start();
    let t = token(&create(&d, None, json!({"token_name": "t"})));
    for _ in 0..50 {
        let _ = d.verify("root", WRONG, "192.0.2.1", "listaccts");
    }
    assert!(d.verify("root", &t, "192.0.2.1", "listaccts").is_ok());
}
