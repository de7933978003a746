//! systemd integration: readiness and watchdog notifications, socket
//! activation, dropped privileges, SIGHUP reload, graceful shutdown, and
//! the shipped unit files.
// collect_until and the socket-activation helpers unwrap outside #[test]
// fns, which clippy.toml's allow-*-in-tests does not cover.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use apitokend_proto::Request;
use apitokend_proto::client::Client;
use common::{
    DAEMON, Daemon, create, error_code, req, start_fails, token, units, verify_req, wait_until,
};
use nix::sys::signal::Signal;
use serde_json::json;

/// Collects datagrams (sd_notify messages) until `done` says stop.
fn collect_until(
    sock: &UnixDatagram,
    deadline: Duration,
    mut done: impl FnMut(&[String]) -> bool,
) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let end = Instant::now() + deadline;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    while Instant::now() < end && !done(&got) {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

#[test]
fn notify_ready_status_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let mut d = Daemon::builder()
        .env("NOTIFY_SOCKET", notify_path.to_str().unwrap())
        .env("WATCHDOG_USEC", "200000")
        .start();
    let got = collect_until(&notify, Duration::from_secs(10), |m| {
        m.iter().filter(|l| l.contains("WATCHDOG=1")).count() >= 2
    });
    let all = got.join("\n");
    assert!(all.contains("READY=1"), "{all}");
    assert!(all.contains("STATUS=serving on"), "{all}");
    assert!(
        got.iter().filter(|l| l.contains("WATCHDOG=1")).count() >= 2,
        "{all}"
    );
    let ready_at = got.iter().position(|l| l.contains("READY=1")).unwrap();
    assert!(
        got[..ready_at].iter().all(|l| !l.contains("WATCHDOG")),
        "ready comes first"
    );
    // READY=1 means the sockets answer.
    assert!(d.call(req("api_token_list")).is_ok());

    d.signal(Signal::SIGTERM);
    let got = collect_until(&notify, Duration::from_secs(10), |m| {
        m.iter().any(|l| l.contains("STATUS=stopped"))
    });
    let all = got.join("\n");
    assert!(all.contains("STOPPING=1"), "{all}");
    assert!(all.contains("STATUS=stopped"), "{all}");
    assert_eq!(d.terminate_wait(), Some(0));
}

#[test]
fn capabilities_are_dropped_and_no_new_privs_set() {
    let d = Daemon::start();
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} missing"))
            .trim()
            .to_owned()
    };
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(cap), "0000000000000000", "{cap}");
    }
    assert_eq!(field("NoNewPrivs"), "1");
    // Every thread, not just the main one (the account files' watcher too).
    let mut names = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{}/task", d.pid())).unwrap() {
        // Connection threads come and go: one may end while we look.
        let Ok(s) = std::fs::read_to_string(task.unwrap().path().join("status")) else {
            continue;
        };
        assert!(s.contains("CapEff:\t0000000000000000"), "{s}");
        names.extend(
            s.lines()
                .find_map(|l| l.strip_prefix("Name:\t"))
                .map(str::to_owned),
        );
    }
    assert!(names.iter().any(|n| n == "apitokend-accts"), "{names:?}");
    // And it still works without them.
    create(&d, None, json!({"token_name": "x"}));
}

fn socket_activated(
    dir: &Path,
    names: Option<&str>,
) -> (std::process::Child, std::path::PathBuf, std::path::PathBuf) {
    let control = dir.join("activated-control.sock");
    let verify = dir.join("activated-verify.sock");
    let state = dir.join("state");
    let accounts = dir.join("accounts");
    std::fs::create_dir_all(accounts.join("suspended")).unwrap();
    std::fs::write(accounts.join("resellers"), "").unwrap();
    let config = dir.join("c.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {state:?}\naccounts_dir = {accounts:?}\nlog = \"stderr\"\n\
             control_socket = {:?}\nverify_socket = {:?}\n[argon2]\nm_cost = 256\nt_cost = 1\n",
            dir.join("unused-control.sock"),
            dir.join("unused-verify.sock"),
        ),
    )
    .unwrap();
    let mut cmd = Command::new("systemd-socket-activate");
    // The verify socket first: names, not order, must decide.
    if let Some(n) = names {
        cmd.arg(format!("--fdname={n}"));
        cmd.arg("-l").arg(&verify).arg("-l").arg(&control);
    } else {
        cmd.arg("-l").arg(&control).arg("-l").arg(&verify);
    }
    let child = cmd
        .arg(DAEMON)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        Duration::from_secs(10),
        || control.exists() && verify.exists(),
        || "systemd-socket-activate made no sockets".to_owned(),
    );
    (child, control, verify)
}

fn use_activated(dir: &Path, control: &Path, verify: &Path) {
    // The first connection starts the daemon on the passed descriptors.
    let mut c = Client::connect(control, Duration::from_secs(20)).unwrap();
    let r = c
        .call(&Request::new("api_token_create").arg("token_name", "act"))
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    let token = token(&r.data.unwrap());
    let mut v = Client::connect(verify, Duration::from_secs(20)).unwrap();
    let r = v
        .call(&verify_req("root", &token, "10.0.0.1", "listaccts"))
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    // The control socket does not answer verify, and vice versa: the roles
    // were not swapped.
    let r = c.call(&Request::new("verify")).unwrap();
    assert_eq!(error_code(&r), "unknown_command");
    assert!(!dir.join("unused-control.sock").exists());
    assert!(!dir.join("unused-verify.sock").exists());
}

#[test]
fn socket_activation_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, control, verify) = socket_activated(dir.path(), Some("verify:control"));
    use_activated(dir.path(), &control, &verify);
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // Passed sockets belong to the service manager: not removed by us.
    assert!(control.exists());
}

#[test]
fn socket_activation_by_order_without_names() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, control, verify) = socket_activated(dir.path(), None);
    use_activated(dir.path(), &control, &verify);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn sighup_reloads_data_files_and_keeps_old_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let functions = dir.path().join("functions.conf");
    std::fs::write(&functions, "listaccts: list-accts\n").unwrap();
    let d = Daemon::builder()
        .config(&format!("functions_file = {functions:?}\n"))
        .start();
    let t = token(&create(
        &d,
        None,
        json!({"token_name": "t", "acl": "list-accts"}),
    ));
    assert!(d.verify("root", &t, "10.0.0.1", "listaccts").is_ok());
    assert_eq!(
        error_code(&d.verify("root", &t, "10.0.0.1", "myfn")),
        "acl_denied"
    );

    std::fs::write(&functions, "listaccts: list-accts\nmyfn: list-accts\n").unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_for_stderr("configuration reloaded", 1);
    assert!(d.verify("root", &t, "10.0.0.1", "myfn").is_ok());

    // A broken file: the old table stays and the log says why.
    std::fs::write(&functions, "this is not a table\n").unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_for_stderr("configuration reloaded", 2);
    assert!(d.stderr().contains("keeping the previous function table"));
    assert!(d.verify("root", &t, "10.0.0.1", "myfn").is_ok());

    // A live key changes; a restart-only key is named.
    let cfg = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(
        &d.config,
        cfg.replace("[argon2]", "expiry_warning_days = 30\n[argon2]")
            .replace("m_cost = 256", "m_cost = 512"),
    )
    .unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_for_stderr("configuration reloaded", 3);
    assert!(d.stderr().contains("argon2 changed; restart"));
    let now = 2_000_000_000;
    d.set_now(now);
    create(
        &d,
        None,
        json!({"token_name": "soon", "expires_at": now + 20 * 86400}),
    );
    assert_eq!(d.tokens(None)["soon"]["expires_soon"], 1);
}

#[test]
fn shutdown_finishes_requests_that_already_arrived() {
    let mut d = Daemon::builder()
        .config("[argon2]\nm_cost = 65536\nt_cost = 3\np_cost = 1\n")
        .start();
    let mut c = d.client();
    assert!(c.call(&req("api_token_list")).unwrap().is_ok());
    // The request is in the daemon's socket before the signal is sent.
    c.send_raw(b"{\"command\":\"api_token_create\",\"args\":{\"token_name\":\"late\"}}\n")
        .unwrap();
    d.signal(Signal::SIGTERM);
    let r = c.read_response().unwrap();
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(d.terminate_wait(), Some(0));
    d.restart();
    assert!(d.tokens(None).get("late").is_some());
    // Idle connections do not hold shutdown up.
    let _idle = d.client();
    let start = Instant::now();
    assert_eq!(d.terminate(), Some(0));
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn shipped_units_pass_systemd_analyze() {
    units::assert_exposure_at_most_1_5("apitokend.service");
    units::assert_verifies(
        "apitokend.service",
        "/usr/sbin/apitokend",
        DAEMON,
        &["apitokend.socket", "apitokend-verify.socket"],
    );
}

#[test]
fn connecting_to_a_running_daemons_socket_path_is_refused() {
    let d = Daemon::start();
    // A second daemon with another state dir but the same socket path.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = {:?}\ncontrol_socket = {:?}\nverify_socket = {:?}\nlog = \"stderr\"\n",
            dir.path().join("state"),
            d.socket,
            dir.path().join("v.sock")
        ),
    )
    .unwrap();
    assert!(start_fails(&cfg).contains("in use"));
    assert!(UnixStream::connect(&d.socket).is_ok());
}
