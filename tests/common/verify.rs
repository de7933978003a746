//! verify(user, token, ip, function) over the verify socket, and the two
//! outcomes a test asserts on.

use apitokend_proto::Request;
use serde_json::Value;

use super::{ACCOUNT_CHANGE_VISIBLE, Daemon, error_code, wait_until};

/// The verify request, as the PAM module and WHM's front end send it.
pub fn verify_req(user: &str, token: &str, ip: &str, function: &str) -> Request {
    Request::new("verify")
        .arg("user", user)
        .arg("token", token)
        .arg("ip", ip)
        .arg("function", function)
}

/// `apitoken verify` arguments for one check (the token goes on stdin).
pub fn verify_cli_args<'a>(user: &'a str, ip: &'a str, function: &'a str) -> [&'a str; 7] {
    ["verify", "--user", user, "--ip", ip, "--function", function]
}

/// verify must accept; returns the reply data.
#[track_caller]
pub fn accepted(d: &Daemon, user: &str, t: &str, ip: &str, function: &str) -> Value {
    let r = d.verify(user, t, ip, function);
    assert!(
        r.is_ok(),
        "expected acceptance for {user} {ip} {function}: {:?}",
        r.metadata
    );
    r.data.unwrap()
}

/// verify must refuse (with no data); returns the error code.
#[track_caller]
pub fn refused(d: &Daemon, user: &str, t: &str, ip: &str, function: &str) -> String {
    let r = d.verify(user, t, ip, function);
    assert!(
        r.data.is_none(),
        "a refusal carries no data: {user} {ip} {function}: {r:?}"
    );
    error_code(&r).to_owned()
}

/// What verify answers: `"ok"` or the refusal's code.
pub fn outcome(d: &Daemon, user: &str, t: &str, ip: &str, function: &str) -> String {
    let r = d.verify(user, t, ip, function);
    if r.is_ok() {
        "ok".to_owned()
    } else {
        error_code(&r).to_owned()
    }
}

/// After a change to the account files: verifies until the outcome is
/// `want` (`"ok"` or a code), within the daemon's freshness rule plus a
/// margin. Once one verify sees a change, every later one does.
#[track_caller]
pub fn settles(d: &Daemon, user: &str, t: &str, ip: &str, function: &str, want: &str) {
    let last = std::cell::RefCell::new(String::new());
    wait_until(
        ACCOUNT_CHANGE_VISIBLE,
        || {
            *last.borrow_mut() = outcome(d, user, t, ip, function);
            *last.borrow() == want
        },
        || {
            format!(
                "verify {user} {function}: still {} after {ACCOUNT_CHANGE_VISIBLE:?}, want {want}",
                last.borrow()
            )
        },
    );
}
