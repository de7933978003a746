//! verify(user, token, ip, function) over the real verify socket.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{
    Daemon, accepted, config_refused, create, error_code, mode, refused, req, run_with_stdin,
    settles, token, verify_req, with_args,
};
use serde_json::{Value, json};

#[test]
fn accept_returns_effective_privileges() {
    let d = Daemon::start();
    let full = token(&create(&d, None, json!({"token_name": "full"})));
    let data = accepted(&d, "root", &full, "192.0.2.1", "listaccts");
    assert_eq!(
        data,
        json!({"user": "root", "token_name": "full", "acls": ["all"]})
    );
    accepted(&d, "root", &full, "192.0.2.1", "reboot");
    let limited = token(&create(
        &d,
        None,
        json!({"token_name": "lim", "acl": ["list-accts", "basic-system-info"]}),
    ));
    let data = accepted(&d, "root", &limited, "192.0.2.1", "listaccts");
    assert_eq!(data["acls"], json!(["basic-system-info", "list-accts"]));
    // An alternative privilege suffices (version: basic-system-info or clustering).
    accepted(&d, "root", &limited, "192.0.2.1", "version");
    for (function, label) in [
        ("createacct", "a privilege the token lacks"),
        (
            "some_plugin_function",
            "a function not in the table needs `all`",
        ),
    ] {
        assert_eq!(
            refused(&d, "root", &limited, "192.0.2.1", function),
            "acl_denied",
            "{label}"
        );
    }
    accepted(&d, "root", &full, "192.0.2.1", "some_plugin_function");
}

#[test]
fn wrong_token_wrong_user_unknown_user() {
    let d = Daemon::builder().resellers("res:all\n").start();
    let t = token(&create(&d, None, json!({"token_name": "t"})));
    let lower = t.to_lowercase();
    for (user, tok, code, label) in [
        (
            "root",
            "0000000000AAAAAAAAAABBBBBBBBBB12",
            "invalid_token",
            "a token never issued",
        ),
        ("root", &lower, "invalid_token", "the token in lower case"),
        ("res", &t, "invalid_token", "root's token for another user"),
        (
            "nosuchuser",
            &t,
            "unknown_user",
            "a user that does not exist",
        ),
        ("root", "", "invalid_token", "an empty token"),
    ] {
        assert_eq!(
            refused(&d, user, tok, "10.0.0.1", "listaccts"),
            code,
            "{label}"
        );
    }
}

#[test]
fn bad_requests_and_other_commands_are_refused() {
    let d = Daemon::start();
    let t = token(&create(&d, None, json!({"token_name": "t"})));
    for (ip, function, label) in [
        ("", "listaccts", "an empty ip"),
        ("  ", "listaccts", "a blank ip"),
        ("not-an-ip", "listaccts", "an ip that is not an address"),
        ("10.0.0.1/8", "listaccts", "a range as the ip"),
        ("10.0.0.1", "", "an empty function"),
        ("10.0.0.1", "list accts", "a function that is not a name"),
    ] {
        assert_eq!(
            refused(&d, "root", &t, ip, function),
            "bad_request",
            "{label}"
        );
    }
    let mut c = d.verify_client();
    for (line, code) in [
        (
            json!({"command": "verify", "args": {"user": "root", "token": t, "function": "listaccts"}}),
            "bad_request",
        ),
        (
            json!({"command": "verify", "args": {"user": "root", "token": 5, "ip": "1.1.1.1", "function": "x"}}),
            "bad_request",
        ),
        (json!({"command": "api_token_list"}), "unknown_command"),
        (
            json!({"command": "api_token_create", "args": {"token_name": "x"}}),
            "unknown_command",
        ),
        (
            json!({"command": "api_token_revoke", "args": {"token_name": "t"}}),
            "unknown_command",
        ),
    ] {
        let mut bytes = serde_json::to_vec(&line).unwrap();
        bytes.push(b'\n');
        c.send_raw(&bytes).unwrap();
        let r = c.read_response().unwrap();
        assert_eq!(error_code(&r), code, "{line}");
    }
    c.send_raw(b"{not json\n").unwrap();
    assert_eq!(error_code(&c.read_response().unwrap()), "invalid_json");
    // The verify socket changed nothing.
    assert_eq!(d.tokens(None).as_object().unwrap().len(), 1);
    accepted(&d, "root", &t, "10.0.0.1", "listaccts");
}

#[test]
fn ip_lists_v4_v6_ranges_and_mapped() {
    let d = Daemon::start();
    let t = token(&create(
        &d,
        None,
        json!({"token_name": "t", "whitelist_ip": ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "fc00::1"]}),
    ));
    for ip in [
        "10.1.2.3",
        "192.0.2.7",
        "::ffff:10.9.9.9",
        "::ffff:192.0.2.7",
        "2001:db8:1::5",
        "fc00:0:0:0:0:0:0:1",
        "FC00::1",
    ] {
        accepted(&d, "root", &t, ip, "listaccts");
    }
    for ip in [
        "11.0.0.1",
        "192.0.2.8",
        "::ffff:192.0.2.8",
        "2001:db9::1",
        "fc00::2",
        "::1",
        "127.0.0.1",
    ] {
        assert_eq!(
            refused(&d, "root", &t, ip, "listaccts"),
            "ip_not_allowed",
            "{ip}"
        );
    }
    // A mapped entry is stored as IPv4 and matches both spellings.
    let m = token(&create(
        &d,
        None,
        json!({"token_name": "m", "whitelist_ip": "::ffff:198.51.100.4"}),
    ));
    accepted(&d, "root", &m, "198.51.100.4", "listaccts");
    accepted(&d, "root", &m, "::ffff:198.51.100.4", "listaccts");
    let open = token(&create(&d, None, json!({"token_name": "open"})));
    accepted(&d, "root", &open, "2001:db8::99", "listaccts");
}

#[test]
fn expiry_uses_the_injected_clock() {
    let d = Daemon::start();
    let now = 2_000_000_000;
    d.set_now(now);
    let t = token(&create(
        &d,
        None,
        json!({"token_name": "t", "expires_at": now + 100}),
    ));
    accepted(&d, "root", &t, "10.0.0.1", "listaccts");
    d.set_now(now + 99);
    accepted(&d, "root", &t, "10.0.0.1", "listaccts");
    d.set_now(now + 100);
    assert_eq!(refused(&d, "root", &t, "10.0.0.1", "listaccts"), "expired");
    // Extending the expiry revives it on the next call.
    let r = d.call_json(
        json!({"command": "api_token_update", "args": {"token_name": "t", "expires_at": 0}}),
    );
    assert!(r.is_ok());
    accepted(&d, "root", &t, "10.0.0.1", "listaccts");
}

#[test]
fn token_changes_take_effect_on_the_next_verify_account_changes_within_100_ms() {
    let d = Daemon::builder()
        .resellers("res:list-accts,create-acct,manage-api-tokens\n")
        .start();
    let t = token(&create(
        &d,
        Some("res"),
        json!({"token_name": "t", "acl": ["list-accts", "create-acct"]}),
    ));
    let full = token(&create(&d, Some("res"), json!({"token_name": "full"})));
    accepted(&d, "res", &t, "10.0.0.1", "createacct");
    let data = accepted(&d, "res", &full, "10.0.0.1", "createacct");
    assert_eq!(
        data["acls"],
        json!(["create-acct", "list-accts", "manage-api-tokens"])
    );

    // The reseller loses create-acct: both tokens lose it at once.
    d.write_resellers("res:list-accts,manage-api-tokens\n");
    settles(&d, "res", &t, "10.0.0.1", "createacct", "acl_denied");
    for (tok, name) in [(&t, "t"), (&full, "full")] {
        assert_eq!(
            refused(&d, "res", tok, "10.0.0.1", "createacct"),
            "acl_denied",
            "{name}"
        );
    }
    let data = accepted(&d, "res", &t, "10.0.0.1", "listaccts");
    assert_eq!(data["acls"], json!(["list-accts"]));

    // Suspension and its end.
    d.suspend("res", true);
    settles(&d, "res", &t, "10.0.0.1", "listaccts", "suspended");
    assert_eq!(
        refused(&d, "res", &full, "10.0.0.1", "listaccts"),
        "suspended"
    );
    d.suspend("res", false);
    settles(&d, "res", &t, "10.0.0.1", "listaccts", "ok");
    accepted(&d, "res", &full, "10.0.0.1", "listaccts");

    // Update: an IP list, then new ACLs, then a new name.
    let upd = |args: Value| {
        assert!(
            d.call(with_args("api_token_update", args).user(Some("res".into())))
                .is_ok()
        );
    };
    upd(json!({"token_name": "t", "whitelist_ip": "192.0.2.0/24"}));
    assert_eq!(
        refused(&d, "res", &t, "10.0.0.1", "listaccts"),
        "ip_not_allowed"
    );
    accepted(&d, "res", &t, "192.0.2.9", "listaccts");
    upd(json!({"token_name": "t", "acl": "manage-api-tokens"}));
    assert_eq!(
        refused(&d, "res", &t, "192.0.2.9", "listaccts"),
        "acl_denied"
    );
    upd(json!({"token_name": "t", "new_name": "renamed"}));
    assert_eq!(
        accepted(&d, "res", &t, "192.0.2.9", "api_token_list")["token_name"],
        "renamed"
    );

    // Revoke.
    let r = d.call(
        req("api_token_revoke")
            .arg("token_name", "renamed")
            .user(Some("res".into())),
    );
    assert!(r.is_ok());
    assert_eq!(
        refused(&d, "res", &t, "192.0.2.9", "api_token_list"),
        "invalid_token"
    );

    // The account is no longer a reseller (deleted in WHM without the hook yet).
    accepted(&d, "res", &full, "10.0.0.1", "listaccts");
    d.write_resellers("");
    settles(&d, "res", &full, "10.0.0.1", "listaccts", "unknown_user");
}

#[test]
fn removed_and_renamed_accounts() {
    let d = Daemon::builder().resellers("old:all\ngone:all\n").start();
    let t = token(&create(&d, Some("old"), json!({"token_name": "t"})));
    let g = token(&create(&d, Some("gone"), json!({"token_name": "g"})));
    accepted(&d, "old", &t, "10.0.0.1", "listaccts");
    accepted(&d, "gone", &g, "10.0.0.1", "listaccts");

    d.write_resellers("new:all\ngone:all\n");
    settles(&d, "old", &t, "10.0.0.1", "listaccts", "unknown_user");
    let r = d.call_json(
        json!({"command": "account_rename", "args": {"user": "old", "new_user": "new"}}),
    );
    assert!(r.is_ok());
    accepted(&d, "new", &t, "10.0.0.1", "listaccts");
    assert_eq!(
        refused(&d, "old", &t, "10.0.0.1", "listaccts"),
        "unknown_user"
    );

    let r = d.call_json(json!({"command": "account_remove", "args": {"user": "gone"}}));
    assert!(r.is_ok());
    assert_eq!(
        refused(&d, "gone", &g, "10.0.0.1", "listaccts"),
        "invalid_token"
    );
}

#[test]
fn last_use_is_listed_and_survives_restart() {
    let mut d = Daemon::start();
    let now = 2_000_000_000;
    d.set_now(now);
    let t = token(&create(
        &d,
        None,
        json!({"token_name": "t", "acl": "list-accts"}),
    ));
    create(&d, None, json!({"token_name": "unused"}));
    d.set_now(now + 5);
    accepted(&d, "root", &t, "::ffff:203.0.113.9", "listaccts");
    d.set_now(now + 9);
    accepted(&d, "root", &t, "2001:db8::1", "listaccts");
    // A refused verify is not a use.
    d.set_now(now + 20);
    assert_eq!(
        refused(&d, "root", &t, "2001:db8::1", "createacct"),
        "acl_denied"
    );
    let check = |d: &Daemon| {
        let tokens = d.tokens(None);
        assert_eq!(tokens["t"]["last_used_at"], now + 9);
        assert_eq!(
            tokens["t"]["last_used_ip"],
            "2001:0db8:0000:0000:0000:0000:0000:0001"
        );
        assert_eq!(tokens["unused"]["last_used_at"], Value::Null);
        assert_eq!(tokens["unused"]["last_used_ip"], Value::Null);
    };
    check(&d);
    // Shutdown flushes the batch to the store.
    assert_eq!(d.terminate(), Some(0));
    d.restart();
    check(&d);
}

#[test]
fn verify_socket_mode_and_group() {
    let d = Daemon::builder()
        .config("verify_socket_group = \"daemon\"\n")
        .start();
    assert_eq!(mode(&d.verify_socket), 0o660);
    let meta = std::fs::metadata(&d.verify_socket).unwrap();
    let daemon_gid = nix::unistd::Group::from_name("daemon")
        .unwrap()
        .unwrap()
        .gid
        .as_raw();
    assert_eq!(meta.gid(), daemon_gid);
}

#[test]
fn unknown_verify_group_is_a_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "verify_socket_group = \"no-such-group-here\"\n").unwrap();
    assert!(config_refused(&cfg).contains("no-such-group-here"));
}

#[test]
fn custom_function_table() {
    let dir = tempfile::tempdir().unwrap();
    let functions = dir.path().join("functions.conf");
    std::fs::write(
        &functions,
        "# plugin\nmyplugin_run: software-foo\nlistaccts: list-accts\n",
    )
    .unwrap();
    let acls = dir.path().join("acls.conf");
    std::fs::write(&acls, "software-foo\nlist-accts\n").unwrap();
    let d = Daemon::builder()
        .config(&format!(
            "functions_file = {functions:?}\nacls_file = {acls:?}\n"
        ))
        .start();
    let t = token(&create(
        &d,
        None,
        json!({"token_name": "p", "acl": "software-foo"}),
    ));
    accepted(&d, "root", &t, "10.0.0.1", "myplugin_run");
    assert_eq!(
        refused(&d, "root", &t, "10.0.0.1", "listaccts"),
        "acl_denied"
    );
    // `version` is not in this table, so it needs `all`.
    assert_eq!(refused(&d, "root", &t, "10.0.0.1", "version"), "acl_denied");
}

#[test]
fn cli_verify_reads_the_token_from_stdin() {
    let mut d = Daemon::start();
    let t = token(&create(
        &d,
        None,
        json!({"token_name": "cli", "acl": "list-accts", "whitelist_ip": "10.0.0.0/8"}),
    ));
    let out = run_with_stdin(
        &mut d.cli_verify("root", "10.2.3.4", "listaccts"),
        &format!("{t}\n"),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("accepted") && stdout.contains("cli") && stdout.contains("list-accts"),
        "{stdout}"
    );

    let out = run_with_stdin(
        &mut d.cli_verify("root", "192.0.2.1", "listaccts"),
        &format!("{t}\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ip_not_allowed"), "{stderr}");
    assert!(!d.stop_and_read_log().contains(&t));
}

#[test]
fn many_concurrent_first_uses_and_cached_verifies_agree() {
    let d = Daemon::start();
    let tokens: Vec<String> = (0..20)
        .map(|i| {
            token(&create(
                &d,
                None,
                json!({"token_name": format!("t{i}"), "acl": "list-accts"}),
            ))
        })
        .collect();
    std::thread::scope(|s| {
        for chunk in tokens.chunks(5) {
            let d = &d;
            s.spawn(move || {
                let mut c = d.verify_client();
                for _ in 0..20 {
                    for t in chunk {
                        let r = c
                            .call(&verify_req("root", t, "10.0.0.1", "listaccts"))
                            .unwrap();
                        assert!(r.is_ok(), "{:?}", r.metadata);
                    }
                }
            });
        }
    });
}

/// A verify line with one character of `function` written as a JSON
/// escape: the same request, but one the fast path leaves to the general
/// decoder.
fn verify_line(user: &str, token: &str, ip: &str, function: &str, escaped: bool) -> Vec<u8> {
    let function = match (escaped, function.chars().next()) {
        (true, Some(c)) => format!("\\u{:04x}{}", u32::from(c), &function[c.len_utf8()..]),
        _ => function.to_owned(),
    };
    format!(
        "{{\"command\":\"verify\",\"args\":{{\"user\":\"{user}\",\"token\":\"{token}\",\
         \"ip\":\"{ip}\",\"function\":\"{function}\"}}}}\n"
    )
    .into_bytes()
}

#[test]
fn fast_and_general_paths_answer_alike() {
    use std::io::{BufRead, BufReader, Write};
    let d = Daemon::builder()
        .resellers("res:list-accts,create-acct,manage-api-tokens\nsus:all\n")
        .start();
    let now = 2_000_000_000;
    d.set_now(now);
    let tok = |owner: Option<&str>, args: Value| token(&create(&d, owner, args));
    let full = tok(None, json!({"token_name": "full"}));
    let lim = tok(
        Some("res"),
        json!({"token_name": "lim", "acl": ["list-accts", "create-acct"]}),
    );
    let res_full = tok(Some("res"), json!({"token_name": "rf"}));
    let net = tok(
        None,
        json!({"token_name": "net", "whitelist_ip": "192.0.2.0/24"}),
    );
    let soon = tok(None, json!({"token_name": "soon", "expires_at": now + 10}));
    let sus = tok(Some("sus"), json!({"token_name": "s"}));
    let never = "0000000000AAAAAAAAAABBBBBBBBBB12";
    let stream = std::os::unix::net::UnixStream::connect(&d.verify_socket).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut call = |line: &[u8]| {
        writer.write_all(line).unwrap();
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        reply
    };
    // Every token is used once first, so the fast path finds it cached.
    for (user, t) in [
        ("root", &full),
        ("res", &lim),
        ("res", &res_full),
        ("root", &soon),
        ("sus", &sus),
    ] {
        assert!(
            call(&verify_line(user, t, "10.0.0.1", "listaccts", false)).contains("\"result\":1")
        );
    }
    assert!(
        call(&verify_line("root", &net, "192.0.2.7", "listaccts", false)).contains("\"result\":1")
    );
    d.suspend("sus", true);
    settles(&d, "sus", &sus, "10.0.0.1", "listaccts", "suspended");
    d.set_now(now + 10);
    let counts = || {
        let status = d.call(req("status"));
        let data = status.data.unwrap();
        let n = |k: &str| data[k].as_u64().unwrap();
        (n("verifies_fast"), n("verifies_general"))
    };
    let before = counts();
    let cases = [
        ("root", full.as_str(), "10.0.0.1", "listaccts", "ok"),
        ("root", &full, "::ffff:10.0.0.1", "reboot", "ok"),
        ("res", &lim, "10.0.0.1", "createacct", "ok"),
        ("res", &res_full, "10.0.0.1", "listaccts", "ok"),
        ("root", &net, "192.0.2.7", "listaccts", "ok"),
        ("res", &lim, "10.0.0.1", "reboot", "acl_denied"),
        (
            "res",
            &lim,
            "10.0.0.1",
            "some_plugin_function",
            "acl_denied",
        ),
        ("root", &net, "10.0.0.1", "listaccts", "ip_not_allowed"),
        ("root", &soon, "10.0.2.1", "listaccts", "expired"),
        ("sus", &sus, "10.0.0.1", "listaccts", "suspended"),
        ("root", never, "10.0.3.1", "listaccts", "invalid_token"),
        ("res", &full, "10.0.4.1", "listaccts", "invalid_token"),
        ("nosuchuser", &full, "10.0.5.1", "listaccts", "unknown_user"),
    ];
    for (user, t, ip, function, outcome) in cases {
        let fast = call(&verify_line(user, t, ip, function, false));
        let general = call(&verify_line(user, t, ip, function, true));
        assert_eq!(fast, general, "{user} {function} from {ip}");
        let reply: Value = serde_json::from_str(&fast).unwrap();
        let code = reply["metadata"]["error"].as_str().unwrap_or("ok");
        assert_eq!(code, outcome, "{user} {function} from {ip}: {fast}");
    }
    // Each case took each path once.
    let after = counts();
    let n = cases.len() as u64;
    assert_eq!((after.0 - before.0, after.1 - before.1), (n, n));
}
