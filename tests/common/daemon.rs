//! The daemon under test: the real `apitokend` binary on a temp directory
//! (config, state, accounts, sockets), driven over its sockets or through
//! the real `apitoken` CLI.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apitokend_proto::client::Client;
use apitokend_proto::{Request, Response};
use serde_json::Value;

use super::users::TestUser;
use super::verify::{verify_cli_args, verify_req};
use super::wait_until;

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
        self.start_with(|_, text| text)
    }

    /// Like `start`, with the config text passed through `edit` (given the
    /// temp dir) before it is written: for paths inside that dir.
    pub fn start_with(self, edit: impl FnOnce(&Path, String) -> String) -> Daemon {
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
        std::fs::write(&config, edit(dir.path(), text)).unwrap();
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
        wait_until(
            Duration::from_secs(20),
            || self.stderr().matches(text).count() >= n,
            || format!("never saw {text:?} x{n} in: {}", self.stderr()),
        );
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

    /// `owner`'s tokens (root's for `None`) as `api_token_list` shows them
    /// to root: the `tokens` object, by name.
    pub fn tokens(&self, owner: Option<&str>) -> Value {
        let listed = self.call(Request::new("api_token_list").user(owner.map(str::to_owned)));
        listed.data.unwrap()["tokens"].clone()
    }

    /// A connection to the verify socket.
    pub fn verify_client(&self) -> Client {
        Client::connect(&self.verify_socket, Duration::from_secs(30)).unwrap()
    }

    /// verify(user, token, ip, function) over the verify socket.
    pub fn verify(&self, user: &str, token: &str, ip: &str, function: &str) -> Response {
        self.verify_client()
            .call(&verify_req(user, token, ip, function))
            .unwrap()
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

    /// `apitoken verify` against this daemon's verify socket, as root.
    pub fn cli_verify(&self, user: &str, ip: &str, function: &str) -> Command {
        let mut c = self.cli();
        c.arg("--verify-socket")
            .arg(&self.verify_socket)
            .args(verify_cli_args(user, ip, function));
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
        super::reply_of(&c.output().unwrap(), command)
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
