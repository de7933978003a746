//! pam_apitoken.so under real libpam: `pamtester` drives a temporary
//! /etc/pam.d service that loads the freshly built module by absolute path
//! and points it at a live daemon's verify socket.
//!
//! Needs root (it writes /etc/pam.d/apitokend-test-*) and `pamtester` plus
//! `libpam0g-dev` (`.ci/run` installs both).
// module() and Service unwrap and panic outside #[test] fns, which
// clippy.toml's allow-*-in-tests does not cover.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Daemon, create, error_code, now, path_str, run_with_stdin, token};
use serde_json::{Value, json};

const SUCCESS: &str = "pamtester: successfully authenticated";
const ACCOUNT_OK: &str = "pamtester: account management done";
/// pam_strerror(PAM_AUTH_ERR)
const AUTH_ERR: &str = "Authentication failure";
/// pam_strerror(PAM_AUTHINFO_UNAVAIL)
const AUTHINFO_UNAVAIL: &str = "Authentication service cannot retrieve authentication info";
/// pam_strerror(PAM_SERVICE_ERR)
const SERVICE_ERR: &str = "Error in service module";
/// pam_strerror(PAM_PERM_DENIED): an account stack where every module
/// answered PAM_IGNORE.
const PERM_DENIED: &str = "Permission denied";

/// Builds the module once per test process and returns its absolute path.
fn module() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the PAM tests write /etc/pam.d and must run as root (CI does)"
        );
        match Command::new("pamtester").output() {
            Ok(_) => {}
            Err(e) => panic!(
                "pamtester is not available ({e}): apt-get install -y pamtester libpam0g-dev \
                 (.ci/run does)"
            ),
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(env!("CARGO"))
            .args(["build", "-p", "apitokend-pam"])
            .current_dir(root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "building the PAM module (cargo build -p apitokend-pam) failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), |t| root.join(t));
        let so = target.join("debug").join("libpam_apitoken.so");
        assert!(so.is_file(), "no module at {}", so.display());
        so
    })
}

/// A temporary /etc/pam.d service, removed on drop.
struct Service {
    name: String,
    path: PathBuf,
}

impl Service {
    /// `lines` may use `MODULE` for the module's absolute path.
    fn new(lines: &str) -> Service {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "apitokend-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = Path::new("/etc/pam.d").join(&name);
        let text = lines.replace("MODULE", path_str(module()));
        std::fs::write(&path, text).unwrap();
        Service { name, path }
    }

    /// `auth required` + `account required` with this module, against `d`.
    fn for_daemon(d: &Daemon, extra: &str) -> Service {
        Service::new(&format!(
            "auth required MODULE socket={} function=listaccts {extra}\n\
             account required MODULE\n",
            path_str(&d.verify_socket)
        ))
    }

    /// Runs pamtester with `stdin` as the conversation's answers.
    fn run(&self, user: &str, rhost: Option<&str>, ops: &[&str], stdin: &str) -> Output {
        let mut c = Command::new("pamtester");
        if let Some(r) = rhost {
            c.arg("-I").arg(format!("rhost={r}"));
        }
        c.arg(&self.name).arg(user).args(ops);
        run_with_stdin(&mut c, stdin)
    }

    /// `authenticate` as `user` from `rhost` with `token` typed at the prompt.
    fn auth(&self, user: &str, rhost: Option<&str>, token: &str) -> Output {
        let out = self.run(user, rhost, &["authenticate"], &format!("{token}\n"));
        if !token.is_empty() {
            assert!(
                !text(&out).contains(token),
                "the token leaked into pamtester's output: {}",
                text(&out)
            );
        }
        out
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// How one pamtester run must end.
#[derive(Clone, Copy, Debug)]
enum Want {
    Success,
    /// Failure with this pam_strerror text.
    Fails(&'static str),
}

/// A table row's check: `out` ended as `want`; `label` names the row.
#[track_caller]
fn assert_outcome(out: &Output, want: Want, label: &str) {
    match want {
        Want::Success => assert!(
            out.status.success() && text(out).contains(SUCCESS),
            "{label}expected success: {}",
            text(out)
        ),
        Want::Fails(message) => {
            assert!(
                !out.status.success() && String::from_utf8_lossy(&out.stderr).contains(message),
                "{label}expected failure {message:?}: {}",
                text(out)
            );
            assert!(!text(out).contains(SUCCESS), "{label}{}", text(out));
        }
    }
}

#[track_caller]
fn assert_success(out: &Output) {
    assert_outcome(out, Want::Success, "");
}

#[track_caller]
fn assert_fails_with(out: &Output, message: &'static str) {
    assert_outcome(out, Want::Fails(message), "");
}

/// A root token made with `args`, and a service against `d` with `extra`
/// module arguments.
fn token_and_service(d: &Daemon, args: Value, extra: &str) -> (String, Service) {
    (token(&create(d, None, args)), Service::for_daemon(d, extra))
}

#[test]
fn success_then_account_management() {
    let d = Daemon::start();
    let (t, svc) = token_and_service(&d, json!({"token_name": "ftp"}), "");
    assert_success(&svc.auth("root", Some("192.0.2.10"), &t));
    // Same transaction: the account phase vouches for what auth verified.
    let out = svc.run(
        "root",
        Some("192.0.2.10"),
        &["authenticate", "acct_mgmt"],
        &format!("{t}\n"),
    );
    assert_success(&out);
    assert!(text(&out).contains(ACCOUNT_OK), "{}", text(&out));
    // IPv6 and IPv4-mapped client addresses work as well.
    assert_success(&svc.auth("root", Some("2001:db8::5"), &t));
    assert_success(&svc.auth("root", Some("::ffff:192.0.2.10"), &t));
    // `debug` changes nothing but the log.
    let dbg = Service::for_daemon(&d, "debug");
    assert_success(&dbg.auth("root", Some("192.0.2.10"), &t));
}

#[test]
fn wrong_token_and_unknown_user() {
    let d = Daemon::start();
    let (t, svc) = token_and_service(&d, json!({"token_name": "ftp"}), "");
    let wrong = "0000000000AAAAAAAAAABBBBBBBBBB12";
    let lower = t.to_lowercase();
    for (user, password, label) in [
        ("root", wrong, "a token never issued: "),
        ("root", &lower, "the token in lower case: "),
        ("root", "", "an empty answer: "),
        ("nosuchuser", &t, "a user that does not exist: "),
    ] {
        let out = svc.auth(user, Some("192.0.2.10"), password);
        assert_outcome(&out, Want::Fails(AUTH_ERR), label);
    }
    // A failed authentication never lets the account phase through.
    let out = svc.run(
        "root",
        Some("192.0.2.10"),
        &["authenticate", "acct_mgmt"],
        &format!("{wrong}\n"),
    );
    assert_fails_with(&out, AUTH_ERR);
    assert!(!text(&out).contains(ACCOUNT_OK));
    assert_success(&svc.auth("root", Some("192.0.2.10"), &t));
}

#[test]
fn refused_address() {
    let d = Daemon::start();
    let (t, svc) = token_and_service(
        &d,
        json!({"token_name": "lan", "whitelist_ip": ["10.1.0.0/16"]}),
        "",
    );
    for (rhost, want) in [
        ("192.0.2.10", Want::Fails(AUTH_ERR)),
        ("10.2.0.1", Want::Fails(AUTH_ERR)),
        ("10.1.2.3", Want::Success),
        ("::ffff:10.1.2.3", Want::Success),
    ] {
        let out = svc.auth("root", Some(rhost), &t);
        assert_outcome(&out, want, &format!("rhost {rhost}: "));
    }
}

#[test]
fn missing_privilege() {
    let d = Daemon::start();
    let (t, svc) = token_and_service(
        &d,
        json!({"token_name": "info", "acl": ["basic-system-info"]}),
        "",
    );
    assert_fails_with(&svc.auth("root", Some("192.0.2.10"), &t), AUTH_ERR);
    // The same token for a function its privilege covers.
    let version = Service::new(&format!(
        "auth required MODULE socket={} function=version\n",
        path_str(&d.verify_socket)
    ));
    assert_success(&version.auth("root", Some("192.0.2.10"), &t));
}

#[test]
fn expired_token() {
    let d = Daemon::start();
    let (t, svc) = token_and_service(
        &d,
        json!({"token_name": "temp", "expires_at": now() + 3600}),
        "",
    );
    assert_success(&svc.auth("root", Some("192.0.2.10"), &t));
    d.set_now(now() + 7200);
    assert_fails_with(&svc.auth("root", Some("192.0.2.10"), &t), AUTH_ERR);
}

#[test]
fn suspended_owner() {
    let d = Daemon::builder().resellers("res:all\n").start();
    let t = token(&create(&d, Some("res"), json!({"token_name": "ftp"})));
    let svc = Service::for_daemon(&d, "");
    assert_success(&svc.auth("res", Some("192.0.2.10"), &t));
    d.suspend("res", true);
    // Verify sees account file changes within 100 ms.
    common::until_account_change_seen("the suspension", || {
        svc.auth("res", Some("192.0.2.10"), &t).status.code() != Some(0)
    });
    assert_fails_with(&svc.auth("res", Some("192.0.2.10"), &t), AUTH_ERR);
}

#[test]
fn daemon_down_or_stuck_is_authinfo_unavail() {
    let mut d = Daemon::start();
    let (t, svc) = token_and_service(&d, json!({"token_name": "ftp"}), "timeout_ms=300");
    assert_success(&svc.auth("root", Some("192.0.2.10"), &t));
    // Stopped: connects (the socket still listens) but never answers.
    d.signal(nix::sys::signal::Signal::SIGSTOP);
    let started = std::time::Instant::now();
    let out = svc.auth("root", Some("192.0.2.10"), &t);
    d.signal(nix::sys::signal::Signal::SIGCONT);
    assert_fails_with(&out, AUTHINFO_UNAVAIL);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_success(&svc.auth("root", Some("192.0.2.10"), &t));
    // Gone: nothing accepts on the socket.
    d.kill9();
    assert_fails_with(&svc.auth("root", Some("192.0.2.10"), &t), AUTHINFO_UNAVAIL);
    // A socket path where nothing ever was.
    let nowhere = Service::new(
        "auth required MODULE socket=/nonexistent/apitokend/verify.sock function=listaccts\n",
    );
    assert_fails_with(
        &nowhere.auth("root", Some("192.0.2.10"), &t),
        AUTHINFO_UNAVAIL,
    );
}

#[test]
fn no_rhost_is_refused_unless_allowed() {
    let d = Daemon::start();
    let any = token(&create(&d, None, json!({"token_name": "any"})));
    let lan = token(&create(
        &d,
        None,
        json!({"token_name": "lan", "whitelist_ip": ["10.0.0.0/8"]}),
    ));
    let local = token(&create(
        &d,
        None,
        json!({"token_name": "local", "whitelist_ip": ["10.0.0.0/8", "127.0.0.1"]}),
    ));
    let strict = Service::for_daemon(&d, "");
    let relaxed = Service::for_daemon(&d, "allow_no_rhost");
    for (svc, rhost, t, want, label) in [
        (&strict, None, &any, Want::Fails(AUTH_ERR), "no rhost: "),
        (
            &strict,
            Some(""),
            &any,
            Want::Fails(AUTH_ERR),
            "an empty rhost: ",
        ),
        (
            &relaxed,
            None,
            &any,
            Want::Success,
            "allowed, any address: ",
        ),
        // Checked as from 127.0.0.1: an IP list must include it.
        (
            &relaxed,
            None,
            &lan,
            Want::Fails(AUTH_ERR),
            "allowed, 127.0.0.1 not listed: ",
        ),
        (
            &relaxed,
            None,
            &local,
            Want::Success,
            "allowed, 127.0.0.1 listed: ",
        ),
        // A given rhost is still checked.
        (
            &relaxed,
            Some("10.9.9.9"),
            &lan,
            Want::Success,
            "allowed, rhost given: ",
        ),
    ] {
        assert_outcome(&svc.auth("root", rhost, t), want, label);
    }
}

#[test]
fn host_name_rhost_is_refused() {
    let d = Daemon::start();
    let (t, svc) = token_and_service(&d, json!({"token_name": "any"}), "allow_no_rhost");
    for name in ["client.example.com", "localhost"] {
        assert_fails_with(&svc.auth("root", Some(name), &t), AUTH_ERR);
    }
}

#[test]
fn bad_module_arguments_are_service_errors() {
    let d = Daemon::start();
    let t = token(&create(&d, None, json!({"token_name": "any"})));
    let sock = path_str(&d.verify_socket).to_owned();
    for args in [
        format!("socket={sock} function=listaccts bogus=1"),
        format!("socket={sock}"),
        format!("socket={sock} function=listaccts timeout_ms=abc"),
        format!("socket={sock} function=listaccts timeout_ms=0"),
        format!("socket={sock} function=list/accts"),
        "socket=relative.sock function=listaccts".to_owned(),
        format!("socket={sock} function=listaccts debug=yes"),
        format!("socket={sock} function=listaccts function=version"),
    ] {
        let svc = Service::new(&format!("auth required MODULE {args}\n"));
        let out = svc.auth("root", Some("192.0.2.10"), &t);
        assert_fails_with(&out, SERVICE_ERR);
        // Refused before any prompt.
        assert!(!text(&out).contains("Password:"), "{args}: {}", text(&out));
    }
    let account = Service::new("account required MODULE degub\n");
    assert_fails_with(
        &account.run("root", Some("192.0.2.10"), &["acct_mgmt"], ""),
        SERVICE_ERR,
    );
}

#[test]
fn acct_mgmt_has_no_opinion_without_its_own_authentication() {
    let d = Daemon::start();
    // Alone in the account stack, PAM_IGNORE leaves libpam nothing to go on.
    let alone = Service::for_daemon(&d, "");
    assert_fails_with(
        &alone.run("root", Some("192.0.2.10"), &["acct_mgmt"], ""),
        PERM_DENIED,
    );
    // Next to another account module, it does not get in the way.
    let stacked = Service::new("account required MODULE debug\naccount required pam_permit.so\n");
    let out = stacked.run("root", Some("192.0.2.10"), &["acct_mgmt"], "");
    assert!(
        out.status.success() && text(&out).contains(ACCOUNT_OK),
        "{}",
        text(&out)
    );
}

#[test]
fn a_password_not_shaped_like_a_token_never_reaches_the_daemon() {
    // One daemon-side refusal locks an address out.
    let d = Daemon::builder()
        .config("[lockout]\nmax_failures = 1\nwindow_secs = 300\ncooldown_secs = 900\n")
        .start();
    let (t, svc) = token_and_service(&d, json!({"token_name": "ftp"}), "");
    for password in ["hunter2", "correct horse battery staple", &t.to_lowercase()] {
        let out = svc.auth("root", Some("192.0.2.10"), password);
        assert_fails_with(&out, AUTH_ERR);
    }
    // Refused in the module: the address is not locked out.
    assert_success(&svc.auth("root", Some("192.0.2.10"), &t));
    // A token-shaped wrong one does reach the daemon, and locks it out.
    let wrong = "0000000000AAAAAAAAAABBBBBBBBBB12";
    assert_fails_with(&svc.auth("root", Some("192.0.2.10"), wrong), AUTH_ERR);
    assert_fails_with(&svc.auth("root", Some("192.0.2.10"), &t), AUTH_ERR);
    assert_eq!(
        error_code(&d.verify("root", &t, "192.0.2.10", "listaccts")),
        "locked_out"
    );
}

#[test]
fn an_imported_access_hash_is_refused_in_the_module_and_works_on_the_verify_socket() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accesshash");
    // As cPanel writes .accesshash: lines of lowercase letters and digits.
    let hash: String = (0..4)
        .map(|i| format!("{}{i}\n", "k3x9q".repeat(6)))
        .collect();
    std::fs::write(&file, &hash).unwrap();
    let out = d
        .cli()
        .args(["--json", "import-accesshash", "--user", "root", "--file"])
        .arg(&file)
        .output()
        .unwrap();
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    let name = reply["data"]["name"].as_str().unwrap().to_owned();
    let plain: String = hash.split_whitespace().collect();
    let last_used = || {
        let list = d.call(common::req("api_token_list")).data.unwrap();
        list["tokens"][name.as_str()]["last_used_at"].clone()
    };
    // Not shaped like a token: refused in the module, never sent.
    let svc = Service::for_daemon(&d, "");
    assert_fails_with(&svc.auth("root", Some("192.0.2.30"), &plain), AUTH_ERR);
    assert_eq!(last_used(), Value::Null, "the module sent the access hash");
    // `Authorization: whm root:<hash>` goes through the verify socket.
    assert!(d.verify("root", &plain, "192.0.2.30", "listaccts").is_ok());
    assert!(last_used().is_i64(), "a verify is recorded as a use");
}

#[test]
fn stacking_sufficient_and_first_pass() {
    let d = Daemon::start();
    let t = token(&create(
        &d,
        None,
        json!({"token_name": "lim", "acl": ["list-accts"]}),
    ));
    let sock = path_str(&d.verify_socket).to_owned();
    // Token or nothing: `sufficient` in front of pam_deny.
    let sufficient = Service::new(&format!(
        "auth sufficient MODULE socket={sock} function=listaccts timeout_ms=300\n\
         auth required pam_deny.so\n"
    ));
    assert_success(&sufficient.auth("root", Some("192.0.2.10"), &t));
    assert_fails_with(
        &sufficient.auth(
            "root",
            Some("192.0.2.10"),
            "WRONGWRONGWRONGWRONGWRONGWRONG12",
        ),
        AUTH_ERR,
    );
    // The first module prompts once and leaves PAM_AUTHTOK for the next:
    // the token lacks create-acct, the second line (use_first_pass, never
    // prompts) accepts it for listaccts.
    let chain = Service::new(&format!(
        "auth sufficient MODULE socket={sock} function=createacct\n\
         auth required MODULE socket={sock} function=listaccts use_first_pass\n"
    ));
    let out = chain.auth("root", Some("192.0.2.10"), &t);
    assert_success(&out);
    assert_eq!(
        text(&out).matches("Password:").count(),
        1,
        "one prompt: {}",
        text(&out)
    );
    // The README's "token or system password" stacks, with the real pam_unix
    // (the token is not root's password, so pam_unix refuses it).
    for lines in [
        format!(
            "auth sufficient pam_unix.so\n\
             auth required MODULE socket={sock} function=listaccts use_first_pass\n\
             account sufficient MODULE\naccount required pam_unix.so\n"
        ),
        format!(
            "auth sufficient MODULE socket={sock} function=listaccts\n\
             auth required pam_unix.so try_first_pass\n\
             account sufficient MODULE\naccount required pam_unix.so\n"
        ),
    ] {
        let either = Service::new(&lines);
        let out = either.run(
            "root",
            Some("192.0.2.10"),
            &["authenticate", "acct_mgmt"],
            &format!("{t}\n"),
        );
        assert_success(&out);
        assert!(text(&out).contains(ACCOUNT_OK), "{}", text(&out));
        assert_eq!(text(&out).matches("Password:").count(), 1, "{}", text(&out));
        assert_fails_with(
            &either.auth("root", Some("192.0.2.10"), "NOTATOKENNOTAPASSWORD"),
            AUTH_ERR,
        );
    }
    // use_first_pass alone has nothing to use.
    let first_only = Service::new(&format!(
        "auth required MODULE socket={sock} function=listaccts use_first_pass\n"
    ));
    assert_fails_with(&first_only.auth("root", Some("192.0.2.10"), &t), AUTH_ERR);
}
