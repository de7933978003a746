//! Which socket a command talks to, where that choice came from, and what
//! to say when the daemon cannot be reached there.
//!
//! The flag wins, then the environment variable, then the default; the
//! error names the socket, where its path came from and the next step.

use std::io::ErrorKind;
use std::path::PathBuf;

use apitokend_proto::client::ClientError;

use super::args::{
    Cli, Command, DEFAULT_SOCKET, DEFAULT_VERIFY_SOCKET, SOCKET_ENV, VERIFY_SOCKET_ENV,
};

/// Where a socket path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    Default,
}

/// The socket a command uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub path: PathBuf,
    pub source: Source,
    /// The verify socket (else the control socket).
    pub verify: bool,
}

fn resolve(flag: Option<&PathBuf>, env: &str, default: &str, verify: bool) -> Target {
    let (path, source) = match (flag, std::env::var_os(env)) {
        (Some(p), _) => (p.clone(), Source::Flag),
        (None, Some(v)) if !v.is_empty() => (PathBuf::from(v), Source::Env),
        (None, _) => (PathBuf::from(default), Source::Default),
    };
    Target {
        path,
        source,
        verify,
    }
}

/// The socket `cli.command` talks to.
pub fn target(cli: &Cli) -> Target {
    match cli.command {
        Command::Verify(_) => resolve(
            cli.verify_socket.as_ref(),
            VERIFY_SOCKET_ENV,
            DEFAULT_VERIFY_SOCKET,
            true,
        ),
        _ => resolve(cli.socket.as_ref(), SOCKET_ENV, DEFAULT_SOCKET, false),
    }
}

/// What to print when `target` cannot be used: the problem, then hints.
pub fn unreachable(target: &Target, timeout: u64, e: &ClientError) -> String {
    let at = target.path.display();
    let (flag, env) = if target.verify {
        ("--verify-socket", VERIFY_SOCKET_ENV)
    } else {
        ("--socket", SOCKET_ENV)
    };
    let from = match target.source {
        Source::Flag => format!("given with {flag}"),
        Source::Env => format!("from {env}"),
        Source::Default => format!("the default; set {flag} or {env} for another"),
    };
    let kind = if target.verify { "verify" } else { "control" };
    let mut out = match e {
        ClientError::Connect(err) => {
            format!("apitoken: cannot reach apitokend's {kind} socket {at} ({from}): {err}\n")
        }
        ClientError::Timeout => format!(
            "apitoken: apitokend at {at} did not answer within {timeout} s (--timeout SECS waits longer)\n"
        ),
        ClientError::Io(err) => {
            format!("apitoken: connection to apitokend at {at} failed: {err}\n")
        }
        ClientError::Protocol(m) => {
            format!("apitoken: unexpected reply from {at} (is it apitokend's socket?): {m}\n")
        }
    };
    let hints: &[&str] = match e {
        ClientError::Connect(err) if err.kind() == ErrorKind::PermissionDenied && target.verify => {
            &[
                "the verify socket admits root and the members of its group (verify_socket_group); \
             run as root or as a member",
            ]
        }
        ClientError::Connect(err) if err.kind() == ErrorKind::PermissionDenied => {
            &["you may not open that socket: check its mode and the directories above it"]
        }
        ClientError::Connect(_) => &[
            "is the daemon running? check: systemctl status apitokend",
            "to try apitokend without root, start a playground: apitokend --dev-dir ./dev",
        ],
        ClientError::Timeout | ClientError::Io(_) => {
            &["check the daemon's log: journalctl -u apitokend"]
        }
        ClientError::Protocol(_) => &[],
    };
    for h in hints {
        out.push_str(&format!("hint: {h}\n"));
    }
    if matches!(e, ClientError::Connect(_)) && target.source != Source::Default {
        let default = if target.verify {
            DEFAULT_VERIFY_SOCKET
        } else {
            DEFAULT_SOCKET
        };
        out.push_str(&format!("hint: the packaged daemon listens on {default}\n"));
    }
    out
}
