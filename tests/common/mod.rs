//! Test harness: starts the real `apitokend` binary on a temp directory
//! (config, state, accounts, socket) and talks to it over its socket or
//! through the real `apitoken` CLI.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use apitokend_proto::client::Client;
use apitokend_proto::{Request, Response};
use serde_json::Value;

pub const DAEMON: &str = env!("CARGO_BIN_EXE_apitokend");
pub const CLI: &str = env!("CARGO_BIN_EXE_apitoken");

/// Small Argon2 parameters keep tests fast; one test uses the defaults.
pub const FAST_ARGON2: &str = "[argon2]\nm_cost = 256\nt_cost = 1\np_cost = 1\n";

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub verify_socket: PathBuf,
    pub accounts: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    pub clock_file: PathBuf,
    child: Option<Child>,
    stderr_log: PathBuf,
    env: Vec<(String, String)>,
}

pub struct Builder {
    resellers: String,
    extra: String,
    env: Vec<(String, String)>,
    log: &'static str,
}

impl Builder {
    pub fn resellers(mut self, text: &str) -> Self {
        self.resellers = text.to_owned();
        self
    }

    /// An environment variable for the daemon process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// `log = "syslog"` with `syslog_socket` at `path` instead of stderr.
    pub fn syslog_to(mut self, path: &Path) -> Self {
        self.extra
            .insert_str(0, &format!("syslog_socket = {:?}\n", path));
        self.log = "syslog";
        self
    }

    /// Extra TOML appended to the config (sections last).
    pub fn config(mut self, text: &str) -> Self {
        self.extra.push_str(text);
        self
    }

    pub fn start(self) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        // Other test uids must reach the socket inside.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let accounts = dir.path().join("accounts");
        std::fs::create_dir_all(accounts.join("suspended")).unwrap();
        std::fs::create_dir_all(accounts.join("users")).unwrap();
        std::fs::write(accounts.join("resellers"), &self.resellers).unwrap();
        let state = dir.path().join("state");
        let socket = dir.path().join("control.sock");
        let verify_socket = dir.path().join("verify.sock");
        let config = dir.path().join("apitokend.toml");
        let mut text = format!(
            "state_dir = {state:?}\naccounts_dir = {accounts:?}\ncontrol_socket = {socket:?}\n\
             verify_socket = {verify_socket:?}\nlog = \"{}\"\n",
            self.log
        );
        let (top, sections) = split_sections(&self.extra);
        text.push_str(&top);
        if !sections.contains("[argon2]") {
            text.push_str(FAST_ARGON2);
        }
        text.push_str(&sections);
        std::fs::write(&config, text).unwrap();
        let clock_file = dir.path().join("now");
        let stderr_log = dir.path().join("daemon.stderr");
        let mut d = Daemon {
            env: self.env,
            socket,
            verify_socket,
            accounts,
            state,
            config,
            clock_file,
            child: None,
            stderr_log,
            dir,
        };
        d.spawn();
        d
    }
}

fn split_sections(extra: &str) -> (String, String) {
    match extra
        .find("\n[")
        .map(|i| i + 1)
        .or(extra.starts_with('[').then_some(0))
    {
        Some(i) => (extra[..i].to_owned(), extra[i..].to_owned()),
        None => (extra.to_owned(), String::new()),
    }
}

impl Daemon {
    pub fn builder() -> Builder {
        Builder {
            resellers: String::new(),
            extra: String::new(),
            env: Vec::new(),
            log: "stderr",
        }
    }

    pub fn start() -> Daemon {
        Daemon::builder().start()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_log)
            .unwrap();
        let child = Command::new(DAEMON)
            .arg("--config")
            .arg(&self.config)
            .env("APITOKEND_TEST_CLOCK_FILE", &self.clock_file)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Both sockets: the verify socket is bound after the control one.
            let up = |p: &Path| std::os::unix::net::UnixStream::connect(p).is_ok();
            if up(&self.socket) && up(&self.verify_socket) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("apitokend exited early ({status}): {}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "apitokend did not start: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid()).unwrap());
        nix::sys::signal::kill(pid, sig).unwrap();
    }

    /// Waits (bounded) until the daemon's stderr contains `text` `n` times.
    pub fn wait_for_stderr(&self, text: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.stderr().matches(text).count() < n {
            assert!(
                Instant::now() < deadline,
                "never saw {text:?} x{n} in: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the daemon gracefully (its logger drains on the way out) and
    /// returns everything it wrote. The only sound basis for asserting that
    /// something was *not* logged: a live daemon may still hold lines.
    pub fn stop_and_read_log(&mut self) -> String {
        assert_eq!(self.terminate(), Some(0), "daemon did not exit 0");
        self.stderr()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sets the daemon's clock (debug builds read this file on every call).
    pub fn set_now(&self, t: i64) {
        let tmp = self.clock_file.with_extension("tmp");
        std::fs::write(&tmp, t.to_string()).unwrap();
        std::fs::rename(&tmp, &self.clock_file).unwrap();
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket, Duration::from_secs(30)).unwrap()
    }

    /// One request as root (the test process).
    pub fn call(&self, req: Request) -> Response {
        self.client().call(&req).unwrap_or_else(|e| {
            panic!(
                "{} failed: {e}; daemon log:\n{}",
                req.command,
                self.stderr()
            )
        })
    }

    /// A connection to the verify socket.
    pub fn verify_client(&self) -> Client {
        Client::connect(&self.verify_socket, Duration::from_secs(30)).unwrap()
    }

    /// verify(user, token, ip, function) over the verify socket.
    pub fn verify(&self, user: &str, token: &str, ip: &str, function: &str) -> Response {
        let r = Request::new("verify")
            .arg("user", user)
            .arg("token", token)
            .arg("ip", ip)
            .arg("function", function);
        self.verify_client().call(&r).unwrap()
    }

    pub fn call_json(&self, line: Value) -> Response {
        let req: Request = serde_json::from_value(line).unwrap();
        self.call(req)
    }

    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        child.wait().unwrap().code()
    }

    /// Waits for a daemon already told to stop; returns the exit code.
    pub fn terminate_wait(&mut self) -> Option<i32> {
        self.child.take().unwrap().wait().unwrap().code()
    }

    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.spawn();
    }

    /// The `apitoken` CLI pointed at this daemon, run as root.
    pub fn cli(&self) -> Command {
        let mut c = Command::new(CLI);
        c.arg("--socket").arg(&self.socket);
        c
    }

    /// The CLI run as another user.
    pub fn cli_as(&self, user: &TestUser) -> Command {
        let mut c = self.cli();
        // std drops supplementary groups when root switches uid.
        c.uid(user.uid).gid(user.gid);
        c
    }

    /// A raw request sent by `user` through `apitoken --json call`.
    pub fn call_as(
        &self,
        user: &TestUser,
        command: &str,
        args: &[(&str, &str)],
        owner: Option<&str>,
    ) -> Response {
        let mut c = self.cli_as(user);
        c.args(["--json", "call", command]);
        for (k, v) in args {
            c.arg(format!("{k}={v}"));
        }
        if let Some(o) = owner {
            c.args(["--user", o]);
        }
        let out = c.output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "not a reply ({e}): stdout {:?} stderr {:?}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    pub fn write_resellers(&self, text: &str) {
        let tmp = self.accounts.join("resellers.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.accounts.join("resellers")).unwrap();
    }

    pub fn suspend(&self, user: &str, on: bool) {
        let p = self.accounts.join("suspended").join(user);
        if on {
            std::fs::write(p, "").unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs a command with `stdin` text; returns its output.
pub fn run_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that exits before reading (a usage error) closes its stdin
    // first: a broken pipe here is expected, any other error is not.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

pub fn req(command: &str) -> Request {
    Request::new(command)
}

/// Creates a token as root for `owner`; returns the reply data.
pub fn create(d: &Daemon, owner: Option<&str>, args: Value) -> Value {
    let mut r = Request::new("api_token_create").user(owner.map(str::to_owned));
    r.args = args.as_object().unwrap().clone();
    let resp = d.call(r);
    assert!(resp.is_ok(), "create failed: {:?}", resp.metadata);
    resp.data.unwrap()
}

pub fn error_code(resp: &Response) -> &str {
    assert_eq!(resp.metadata.result, 0, "expected a failure: {resp:?}");
    resp.metadata.error.as_deref().unwrap_or("<none>")
}

/// A real system user for peer-credential tests.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Looks up, or (as root) creates, a system user with no home and no shell.
pub fn test_user(name: &str) -> TestUser {
    assert!(
        nix::unistd::geteuid().is_root(),
        "peer-credential tests create system users and must run as root (CI does)"
    );
    let lookup = || nix::unistd::User::from_name(name).unwrap();
    if lookup().is_none() {
        // Parallel tests may race on /etc/passwd's lock: retry.
        for _ in 0..50 {
            let out = Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--user-group",
                    "--shell",
                    "/usr/sbin/nologin",
                    name,
                ])
                .output()
                .unwrap();
            if out.status.success() || lookup().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let u = lookup().unwrap_or_else(|| panic!("cannot create test user {name}"));
    TestUser {
        name: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
