//! Process lifecycle: configuration, durability across SIGKILL, graceful
//! shutdown, file modes, and refusing a store that is not ours.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{
    DAEMON, Daemon, config_accepted, config_refused, create, error_code, mode, req, start_fails,
    token_names,
};
use serde_json::json;

#[test]
fn state_files_and_socket_modes() {
    let d = Daemon::start();
    assert_eq!(mode(&d.state), 0o700);
    for f in ["data.mdb", "lock.mdb", "pepper"] {
        assert_eq!(mode(&d.state.join(f)), 0o600, "{f}");
    }
    assert_eq!(std::fs::metadata(d.state.join("pepper")).unwrap().len(), 32);
    assert_eq!(mode(&d.socket), 0o666);
}

#[test]
fn acknowledged_changes_survive_sigkill() {
    // Default Argon2 parameters here: the real cost, once.
    let mut d = Daemon::builder()
        .config("[argon2]\nm_cost = 19456\nt_cost = 2\np_cost = 1\n")
        .start();
    let mut tokens = Vec::new();
    for i in 0..5 {
        let data = create(
            &d,
            None,
            json!({"token_name": format!("t{i}"), "acl": ["list-accts"], "whitelist_ip": "10.0.0.0/8"}),
        );
        assert!(data["create_time"].as_i64().is_some());
        tokens.push(data);
    }
    let r = d.call_json(json!({"command": "api_token_update", "args": {"token_name": "t1", "new_name": "renamed", "acl": "all"}}));
    assert!(r.is_ok());
    let r = d.call_json(json!({"command": "api_token_revoke", "args": {"token_name": "t2"}}));
    assert!(r.is_ok());
    let before = d.call(req("api_token_list")).data.unwrap();

    d.kill9();
    d.restart();
    let after = d.call(req("api_token_list")).data.unwrap();
    assert_eq!(before, after, "the store changed across SIGKILL");
    assert_eq!(token_names(&after["tokens"]), ["renamed", "t0", "t3", "t4"]);
    // Tokens still authenticate (the pepper and verifiers survived).
    for (i, t) in tokens.iter().enumerate() {
        let r =
            d.call_json(json!({"command": "api_token_get_details", "args": {"token": t["token"]}}));
        assert_eq!(r.data.is_some(), i != 2, "token {i}");
    }
}

#[test]
fn a_staging_socket_left_by_a_killed_start_is_replaced() {
    let mut d = Daemon::start();
    d.kill9();
    // Sockets are bound as `.NAME.new` and renamed into place; a daemon
    // killed in between leaves one behind.
    let staged = [&d.socket, &d.verify_socket].map(|sock| {
        let name = sock.file_name().unwrap().to_str().unwrap();
        sock.with_file_name(format!(".{name}.new"))
    });
    for staging in &staged {
        drop(std::os::unix::net::UnixListener::bind(staging).unwrap());
    }
    d.restart();
    assert!(d.call(req("api_token_list")).is_ok());
    for staging in &staged {
        assert!(!staging.exists(), "{}", staging.display());
    }
    assert_eq!(mode(&d.socket), 0o666);
    assert_eq!(mode(&d.verify_socket), 0o660);
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let mut d = Daemon::start();
    create(&d, None, json!({"token_name": "x"}));
    let _idle = d.client();
    assert_eq!(d.terminate(), Some(0));
    assert!(!d.socket.exists(), "socket removed on shutdown");
    assert!(d.stderr().contains("stopped"));
    d.restart();
    assert!(d.tokens(None).get("x").is_some());
}

#[test]
fn second_daemon_on_same_store_is_refused() {
    let d = Daemon::start();
    let err = start_fails(&d.config);
    assert!(err.contains("already"), "{err}");
    assert!(d.call(req("api_token_list")).is_ok());
}

#[test]
fn a_foreign_or_missing_pepper_is_refused() {
    let mut d = Daemon::start();
    create(&d, None, json!({"token_name": "x"}));
    d.kill9();
    let pepper = d.state.join("pepper");
    let original = std::fs::read(&pepper).unwrap();
    std::fs::remove_file(&pepper).unwrap();
    assert!(start_fails(&d.config).contains("missing"));
    std::fs::write(&pepper, [7u8; 32]).unwrap();
    std::fs::set_permissions(&pepper, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(start_fails(&d.config).contains("fingerprint"));
    std::fs::write(&pepper, original).unwrap();
    d.restart();
    assert!(d.tokens(None).get("x").is_some());
}

#[test]
fn config_errors_name_the_key_and_check_config_prints_effective_settings() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "state_dir = \"/tmp/x\"\n[limits]\nmax_conections = 5\n",
    )
    .unwrap();
    assert!(config_refused(&cfg).contains("max_conections"));

    std::fs::write(&cfg, "stat_dir = \"/tmp/x\"\n").unwrap();
    assert!(config_refused(&cfg).contains("stat_dir"));

    std::fs::write(
        &cfg,
        "expiry_warning_days = 3\n[limits]\nidle_timeout_secs = 9\n",
    )
    .unwrap();
    let shown = config_accepted(&cfg);
    assert_eq!(shown["expiry_warning_days"].as_integer(), Some(3));
    assert_eq!(shown["limits"]["idle_timeout_secs"].as_integer(), Some(9));
    assert_eq!(shown["limits"]["max_connections"].as_integer(), Some(1024));
    assert_eq!(shown["state_dir"].as_str(), Some("/var/cpanel/apitokend"));
    assert_eq!(
        shown["pepper_file"].as_str(),
        Some("/var/cpanel/apitokend/pepper")
    );

    let missing = dir.path().join("absent.toml");
    assert!(config_refused(&missing).contains("absent.toml"));

    let acls = dir.path().join("acls.conf");
    std::fs::write(&acls, "Not A Name\n").unwrap();
    std::fs::write(&cfg, format!("acls_file = {acls:?}\n")).unwrap();
    assert!(config_refused(&cfg).contains("acls.conf:1"));
}

#[test]
fn plugin_privileges_from_acls_file() {
    let dir = tempfile::tempdir().unwrap();
    let acls = dir.path().join("acls.conf");
    std::fs::write(&acls, "# plugin privileges\nsoftware-foo\n").unwrap();
    let d = Daemon::builder()
        .config(&format!("acls_file = {acls:?}\n"))
        .start();
    let data = create(
        &d,
        None,
        json!({"token_name": "p", "acl": ["software-foo"]}),
    );
    assert_eq!(data["acls"], json!(["software-foo"]));
    let r = d.call_json(json!({"command": "api_token_create", "args": {"token_name": "q", "acl": ["software-bar"]}}));
    assert_eq!(error_code(&r), "invalid_acl");
}

#[test]
fn dev_dir_runs_without_root_paths() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(DAEMON)
        .arg("--dev-dir")
        .arg(dir.path())
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!(
        "{}",
        dir.path().canonicalize().unwrap().join("state").display()
    )));
    assert!(text.contains("log = \"stderr\""));
    assert!(dir.path().join("accounts/resellers").exists());
}

#[test]
fn shipped_config_is_valid_and_matches_the_defaults() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped = std::fs::read_to_string(root.join("etc/apitokend/apitokend.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("apitokend.toml");
    let etc = root.join("etc/apitokend");
    // As shipped, in place: its data files are named relative to it.
    let shown = config_accepted(&etc.join("apitokend.toml"));
    assert_eq!(
        shown["functions_file"].as_str(),
        etc.join("functions.conf").to_str()
    );
    assert_eq!(shown["state_dir"].as_str(), Some("/var/cpanel/apitokend"));
    assert_eq!(
        shown["limits"]["max_request_bytes"].as_integer(),
        Some(65536)
    );
    assert_eq!(shown["argon2"]["m_cost"].as_integer(), Some(19456));
    // Every commented-out key names a real key: uncommenting all of them
    // (with their documented defaults) must still be valid.
    let uncommented: String = shipped
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.contains(" = ") || rest.starts_with('[') => rest.to_owned(),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "= \"functions.conf\"",
            &format!("= {:?}", etc.join("functions.conf")),
        )
        .replace("= \"acls.conf\"", &format!("= {:?}", etc.join("acls.conf")))
        .replace(
            "verify_socket_group = \"apitokend-verify\"",
            "verify_socket_group = \"daemon\"",
        );
    std::fs::write(&cfg, uncommented).unwrap();
    config_accepted(&cfg);
}
