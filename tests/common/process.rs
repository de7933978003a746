//! The binaries run as plain processes: a command fed on stdin, and
//! `apitokend` runs that must stop at start-up.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::DAEMON;

/// Runs a command with `stdin` text; returns its output.
pub fn run_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that exits before reading (a usage error, pamtester refusing
    // before any prompt) closes its stdin first: a broken pipe here is
    // expected, any other error is not.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

/// `apitokend --config FILE --check-config`.
fn check_config(cfg: &Path) -> Output {
    Command::new(DAEMON)
        .arg("--config")
        .arg(cfg)
        .arg("--check-config")
        .output()
        .unwrap()
}

/// `--check-config` must accept `cfg`; the effective settings it prints.
#[track_caller]
pub fn config_accepted(cfg: &Path) -> toml::Value {
    let out = check_config(cfg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    toml::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap()
}

/// `--check-config` must refuse `cfg` (exit 1); its stderr.
#[track_caller]
pub fn config_refused(cfg: &Path) -> String {
    let out = check_config(cfg);
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Starts a daemon on `cfg` that must refuse to start (exit 1); its stderr.
#[track_caller]
pub fn start_fails(cfg: &Path) -> String {
    let out = Command::new(DAEMON)
        .arg("--config")
        .arg(cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What one command run produced.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Ran {
    fn from(o: Output) -> Self {
        Ran {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8(o.stdout).unwrap(),
            stderr: String::from_utf8(o.stderr).unwrap(),
        }
    }
}

impl Ran {
    /// Asserts the exit status, showing everything on failure.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit status: {self:#?}");
        self
    }

    /// Stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}
