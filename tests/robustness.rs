//! Bad input gets a clear failure reply and the daemon keeps serving.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use apitokend_proto::Response;
use common::{Daemon, create, error_code, req};
use serde_json::json;

#[test]
fn malformed_lines_get_failures_and_the_connection_stays_usable() {
    let mut d = Daemon::builder()
        .config("[limits]\nmax_request_bytes = 2048\n")
        .start();
    let mut c = d.client();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json at all\n".to_vec(), "invalid_json"),
        (b"{\"command\": \n".to_vec(), "invalid_json"),
        (b"[1,2,3]\n".to_vec(), "bad_request"),
        (b"{\"command\": 5}\n".to_vec(), "bad_request"),
        (b"{\"args\": {}}\n".to_vec(), "bad_request"),
        (b"{\"command\": \"api_token_list\", \"args\": []}\n".to_vec(), "bad_request"),
        (b"{\"command\": \"api_token_list\", \"user\": 7}\n".to_vec(), "bad_request"),
        (b"{\"command\": \"api_token_list\", \"extra\": 1}\n".to_vec(), "bad_request"),
        (b"{\"command\": \"drop_tables\"}\n".to_vec(), "unknown_command"),
        (b"{\"command\": \"api_token_create\", \"args\": {}}\n".to_vec(), "bad_request"),
        (b"{\"command\": \"api_token_create\", \"args\": {\"token_name\": {\"x\": 1}}}\n".to_vec(), "bad_request"),
        (b"{\"command\": \"api_token_create\", \"args\": {\"token_name\": \"t\", \"acl\": [1.5]}}\n".to_vec(), "bad_request"),
        (b"{\"command\": \"api_token_create\", \"args\": {\"token_name\": \"t\", \"whitelist_ip\": [[\"1.2.3.4\"]]}}\n".to_vec(), "bad_request"),
        (b"\xff\xfe\x00garbage\n".to_vec(), "invalid_json"),
        ([b"{\"command\":\"", &b"x".repeat(5000)[..], b"\"}\n"].concat(), "request_too_large"),
    ];
    for (line, code) in &cases {
        c.send_raw(line).unwrap();
        let r = c.read_response().unwrap();
        assert_eq!(
            error_code(&r),
            *code,
            "for {:?}",
            String::from_utf8_lossy(&line[..line.len().min(60)])
        );
        assert!(!r.metadata.reason.is_empty());
    }
    // Blank lines are ignored; the same connection still works.
    c.send_raw(b"\n  \n").unwrap();
    c.send_raw(b"{\"command\":\"api_token_create\",\"args\":{\"token_name\":\"ok\"}}\n")
        .unwrap();
    assert!(c.read_response().unwrap().is_ok());
    // Several requests in one write are answered in order.
    c.send_raw(b"{\"command\":\"api_token_list\"}\n{\"command\":\"nope\"}\n{\"command\":\"api_token_list\"}\n")
        .unwrap();
    assert!(c.read_response().unwrap().is_ok());
    assert_eq!(error_code(&c.read_response().unwrap()), "unknown_command");
    assert!(c.read_response().unwrap().is_ok());
    assert!(!d.stop_and_read_log().contains("panicked"));
}

#[test]
fn oversized_line_is_refused_early_and_other_clients_are_unaffected() {
    let d = Daemon::builder()
        .config("[limits]\nmax_request_bytes = 4096\n")
        .start();
    let mut big = d.client();
    // Past the cap, without a newline: the reply comes before the line ends.
    big.send_raw(&vec![b'a'; 10_000]).unwrap();
    assert_eq!(
        error_code(&big.read_response().unwrap()),
        "request_too_large"
    );
    // Meanwhile another client is served normally.
    create(&d, None, json!({"token_name": "x"}));
    // The rest of the long line is skipped; the next line is read normally.
    big.send_raw(&vec![b'b'; 100_000]).unwrap();
    big.send_raw(b"\n{\"command\":\"api_token_list\"}\n")
        .unwrap();
    let r = big.read_response().unwrap();
    assert!(r.is_ok(), "{r:?}");
    assert!(r.data.unwrap()["tokens"].get("x").is_some());
}

#[test]
fn connection_limit_answers_instead_of_hanging() {
    let d = Daemon::builder()
        .config("[limits]\nmax_connections = 3\n")
        .start();
    // Hold three served connections (the harness's readiness probe may
    // still occupy a slot for a moment, so retry until three are in).
    let mut held = Vec::new();
    for _ in 0..500 {
        if held.len() == 3 {
            break;
        }
        let mut c = d.client();
        match c.call(&req("api_token_list")) {
            Ok(r) if r.is_ok() => held.push(c),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    assert_eq!(held.len(), 3);
    let mut extra = UnixStream::connect(&d.socket).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = String::new();
    extra.read_to_string(&mut reply).unwrap();
    let r: Response = serde_json::from_str(reply.trim()).unwrap();
    assert_eq!(error_code(&r), "too_many_connections");
    drop(held);
    // Slots free up again.
    let mut ok = None;
    for _ in 0..200 {
        let mut c = d.client();
        if let Ok(r) = c.call(&req("api_token_list"))
            && r.is_ok()
        {
            ok = Some(r);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ok.is_some(), "the daemon never accepted again");
}

#[test]
fn idle_connections_are_closed() {
    let d = Daemon::builder()
        .config("[limits]\nidle_timeout_secs = 1\n")
        .start();
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.write_all(b"{\"command\":\"api_tok").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = Vec::new();
    // EOF (read returns 0) proves the daemon closed its end.
    let n = s.read_to_end(&mut buf).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn unprivileged_json_shapes_never_crash_the_daemon() {
    let d = Daemon::start();
    let mut c = d.client();
    let nasty = [
        json!({"command": "api_token_update", "args": {"token_name": ["a", "b"], "new_name": "c"}}),
        json!({"command": "api_token_revoke", "args": {"token_name": [null]}}),
        json!({"command": "api_token_revoke", "args": {"token_name-99999999999999999999999": "a"}}),
        json!({"command": "api_token_create", "args": {"token_name": "t", "expires_at": 1e300}}),
        json!({"command": "api_token_create", "args": {"token_name": "t", "expires_at": "99999999999999999999999"}}),
        json!({"command": "api_token_create", "args": {"token_name": "t", "whitelist_ip": "1.2.3.4/999"}}),
        json!({"command": "api_token_get_details", "args": {"token": ""}}),
        json!({"command": "account_rename", "args": {"user": "a", "new_user": "a"}}),
        json!({"command": "", "args": {}}),
    ];
    for n in nasty {
        let mut line = serde_json::to_vec(&n).unwrap();
        line.push(b'\n');
        c.send_raw(&line).unwrap();
        let r = c.read_response().unwrap();
        assert_eq!(r.metadata.result, 0, "{n}");
    }
    let deep = format!("{}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let mut c2 = Daemon::client(&d);
    c2.send_raw(deep.as_bytes()).unwrap();
    let r = c2.read_response().unwrap();
    assert_eq!(r.metadata.result, 0);
    assert!(d.call(req("api_token_list")).is_ok());
}
