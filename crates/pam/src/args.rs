//! Module arguments (the words after the module path in a pam.d line).
//!
//! | argument | default | meaning |
//! |---|---|---|
//! | `function=NAME` | required on `auth` lines | WHM API 1 function the login is for; the token must hold its privilege |
//! | `socket=PATH` | `/run/apitokend/verify.sock` | the daemon's verify socket (absolute path) |
//! | `timeout_ms=N` | 2000 | per connect/read/write timeout, 1..=60000 |
//! | `allow_no_rhost` | off | accept a login without PAM_RHOST, checked as from 127.0.0.1 |
//! | `use_first_pass` | off | never prompt: use PAM_AUTHTOK from an earlier module or fail |
//! | `try_first_pass` | on | use PAM_AUTHTOK if set, else prompt (the default; accepted for symmetry with other modules) |
//! | `debug` | off | extra LOG_DEBUG lines (never the token) |
//!
//! An unknown argument, a repeated one, a bad value or (on `auth`) a
//! missing `function=` makes the module return PAM_SERVICE_ERR and log a
//! line naming the problem: a typo must never silently change a policy.

use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_SOCKET: &str = "/run/apitokend/verify.sock";
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// `sun_path` holds 108 bytes including the terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;
/// As the daemon's function-name check.
pub const MAX_FUNCTION_LEN: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub socket: PathBuf,
    /// Always `Some` when parsed for `auth`.
    pub function: Option<String>,
    pub timeout: Duration,
    pub debug: bool,
    pub allow_no_rhost: bool,
    pub use_first_pass: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            socket: PathBuf::from(DEFAULT_SOCKET),
            function: None,
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            debug: false,
            allow_no_rhost: false,
            use_first_pass: false,
        }
    }
}

/// Which management group the arguments were given to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `auth`: `function=` is required.
    Auth,
    /// `account`: the same arguments are accepted, none is required.
    Account,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgError {
    Unknown(String),
    Repeated(&'static str),
    BadValue {
        name: &'static str,
        value: String,
        why: &'static str,
    },
    /// A flag was given a value (`debug=1`).
    FlagWithValue(&'static str),
    MissingFunction,
    /// An argument that is not valid UTF-8 (reported by the FFI layer).
    NotUtf8,
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgError::Unknown(a) => write!(f, "unknown module argument “{}”", shown(a)),
            ArgError::Repeated(n) => write!(f, "module argument “{n}” given more than once"),
            ArgError::BadValue { name, value, why } => {
                write!(f, "bad value “{}” for “{name}”: {why}", shown(value))
            }
            ArgError::FlagWithValue(n) => write!(f, "module argument “{n}” takes no value"),
            ArgError::MissingFunction => f.write_str(
                "module argument “function=NAME” is required (the WHM function this login is for)",
            ),
            ArgError::NotUtf8 => f.write_str("a module argument is not valid UTF-8"),
        }
    }
}

/// Printable, bounded form of an argument for a log line.
fn shown(s: &str) -> String {
    crate::auth::shown(s)
}

/// The daemon's rule for function names.
pub fn is_valid_function(name: &str) -> bool {
    (1..=MAX_FUNCTION_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

fn set_once<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), ArgError> {
    if slot.is_some() {
        return Err(ArgError::Repeated(name));
    }
    *slot = Some(value);
    Ok(())
}

fn flag(slot: &mut bool, name: &'static str, value: Option<&str>) -> Result<(), ArgError> {
    if value.is_some() {
        return Err(ArgError::FlagWithValue(name));
    }
    if *slot {
        return Err(ArgError::Repeated(name));
    }
    *slot = true;
    Ok(())
}

fn need<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, ArgError> {
    value.ok_or(ArgError::BadValue {
        name,
        value: String::new(),
        why: "needs a value (NAME=VALUE)",
    })
}

fn parse_socket(value: &str) -> Result<PathBuf, ArgError> {
    let bad = |why| ArgError::BadValue {
        name: "socket",
        value: value.to_owned(),
        why,
    };
    if !value.starts_with('/') {
        return Err(bad("must be an absolute path"));
    }
    if value.len() > MAX_SOCKET_PATH {
        return Err(bad("longer than a Unix socket path may be"));
    }
    Ok(PathBuf::from(value))
}

fn parse_timeout(value: &str) -> Result<Duration, ArgError> {
    let bad = |why| ArgError::BadValue {
        name: "timeout_ms",
        value: value.to_owned(),
        why,
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("must be a whole number of milliseconds"));
    }
    match value.parse::<u64>() {
        Ok(n) if (1..=MAX_TIMEOUT_MS).contains(&n) => Ok(Duration::from_millis(n)),
        _ => Err(bad("must be between 1 and 60000")),
    }
}

/// Parses the module arguments of one pam.d line.
pub fn parse(args: &[&str], phase: Phase) -> Result<Options, ArgError> {
    let mut socket = None;
    let mut function = None;
    let mut timeout = None;
    let mut o = Options::default();
    let mut try_first_pass = false;
    for &arg in args {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg, None),
        };
        match name {
            "socket" => set_once(&mut socket, "socket", parse_socket(need(value, "socket")?)?)?,
            "function" => {
                let v = need(value, "function")?;
                if !is_valid_function(v) {
                    return Err(ArgError::BadValue {
                        name: "function",
                        value: v.to_owned(),
                        why: "1 to 128 of A-Z a-z 0-9 _ - . :",
                    });
                }
                set_once(&mut function, "function", v.to_owned())?;
            }
            "timeout_ms" => set_once(
                &mut timeout,
                "timeout_ms",
                parse_timeout(need(value, "timeout_ms")?)?,
            )?,
            "debug" => flag(&mut o.debug, "debug", value)?,
            "allow_no_rhost" => flag(&mut o.allow_no_rhost, "allow_no_rhost", value)?,
            "use_first_pass" => flag(&mut o.use_first_pass, "use_first_pass", value)?,
            "try_first_pass" => flag(&mut try_first_pass, "try_first_pass", value)?,
            _ => return Err(ArgError::Unknown(arg.to_owned())),
        }
    }
    if let Some(s) = socket {
        o.socket = s;
    }
    if let Some(t) = timeout {
        o.timeout = t;
    }
    o.function = function;
    if phase == Phase::Auth && o.function.is_none() {
        return Err(ArgError::MissingFunction);
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(args: &[&str]) -> Result<Options, ArgError> {
        parse(args, Phase::Auth)
    }

    #[test]
    fn defaults_with_only_function() {
        let o = auth(&["function=listaccts"]).unwrap();
        assert_eq!(
            o,
            Options {
                function: Some("listaccts".into()),
                ..Options::default()
            }
        );
        assert_eq!(o.socket, PathBuf::from("/run/apitokend/verify.sock"));
        assert_eq!(o.timeout, Duration::from_millis(2000));
        assert!(!o.debug && !o.allow_no_rhost && !o.use_first_pass);
    }

    #[test]
    fn every_argument() {
        let o = auth(&[
            "socket=/tmp/v.sock",
            "function=cpanel:Email.list_pops",
            "timeout_ms=250",
            "debug",
            "allow_no_rhost",
            "use_first_pass",
            "try_first_pass",
        ])
        .unwrap();
        assert_eq!(o.socket, PathBuf::from("/tmp/v.sock"));
        assert_eq!(o.function.as_deref(), Some("cpanel:Email.list_pops"));
        assert_eq!(o.timeout, Duration::from_millis(250));
        assert!(o.debug && o.allow_no_rhost && o.use_first_pass);
    }

    #[test]
    fn function_is_required_for_auth_only() {
        assert_eq!(auth(&[]), Err(ArgError::MissingFunction));
        assert_eq!(auth(&["debug"]), Err(ArgError::MissingFunction));
        let o = parse(&["debug"], Phase::Account).unwrap();
        assert!(o.debug && o.function.is_none());
        assert!(parse(&[], Phase::Account).is_ok());
        // The account line may repeat the auth line's arguments.
        assert!(parse(&["function=listaccts", "socket=/x"], Phase::Account).is_ok());
    }

    #[test]
    fn unknown_arguments_are_named() {
        let e = auth(&["function=x", "sokcet=/tmp/v"]).unwrap_err();
        assert_eq!(e, ArgError::Unknown("sokcet=/tmp/v".into()));
        assert!(e.to_string().contains("sokcet=/tmp/v"));
        assert_eq!(
            auth(&["function=x", "nullok"]),
            Err(ArgError::Unknown("nullok".into()))
        );
        assert_eq!(
            auth(&["function=x", ""]),
            Err(ArgError::Unknown(String::new()))
        );
        assert_eq!(
            auth(&["function=x", "DEBUG"]),
            Err(ArgError::Unknown("DEBUG".into()))
        );
    }

    #[test]
    fn bad_numbers() {
        for v in [
            "",
            "abc",
            "-5",
            "+5",
            "1.5",
            "0",
            "60001",
            "99999999999999999999999",
            " 5",
        ] {
            let e = auth(&["function=x", &format!("timeout_ms={v}")]).unwrap_err();
            assert!(
                matches!(
                    e,
                    ArgError::BadValue {
                        name: "timeout_ms",
                        ..
                    }
                ),
                "{v:?}: {e:?}"
            );
        }
        assert_eq!(
            auth(&["function=x", "timeout_ms=1"]).unwrap().timeout,
            Duration::from_millis(1)
        );
        assert_eq!(
            auth(&["function=x", "timeout_ms=60000"]).unwrap().timeout,
            Duration::from_millis(60_000)
        );
        assert!(matches!(
            auth(&["function=x", "timeout_ms"]),
            Err(ArgError::BadValue { .. })
        ));
    }

    #[test]
    fn bad_socket_and_function_values() {
        for v in ["", "relative/v.sock", "v.sock"] {
            assert!(matches!(
                auth(&["function=x", &format!("socket={v}")]),
                Err(ArgError::BadValue { name: "socket", .. })
            ));
        }
        let long = format!("socket=/{}", "a".repeat(MAX_SOCKET_PATH));
        assert!(matches!(
            auth(&["function=x", &long]),
            Err(ArgError::BadValue { name: "socket", .. })
        ));
        for v in ["", "list accts", "a/b", "x;y", &"f".repeat(129)] {
            assert!(matches!(
                auth(&[&format!("function={v}")]),
                Err(ArgError::BadValue {
                    name: "function",
                    ..
                })
            ));
        }
        assert!(matches!(
            auth(&["function"]),
            Err(ArgError::BadValue {
                name: "function",
                ..
            })
        ));
    }

    #[test]
    fn repeats_and_flag_values_are_errors() {
        assert_eq!(
            auth(&["function=a", "function=b"]),
            Err(ArgError::Repeated("function"))
        );
        assert_eq!(
            auth(&["function=a", "socket=/a", "socket=/b"]),
            Err(ArgError::Repeated("socket"))
        );
        assert_eq!(
            auth(&["function=a", "timeout_ms=5", "timeout_ms=5"]),
            Err(ArgError::Repeated("timeout_ms"))
        );
        assert_eq!(
            auth(&["function=a", "debug", "debug"]),
            Err(ArgError::Repeated("debug"))
        );
        assert_eq!(
            auth(&["function=a", "debug=1"]),
            Err(ArgError::FlagWithValue("debug"))
        );
        assert_eq!(
            auth(&["function=a", "allow_no_rhost=yes"]),
            Err(ArgError::FlagWithValue("allow_no_rhost"))
        );
    }

    #[test]
    fn messages_are_printable() {
        let e = auth(&["function=x", "bad\n\u{1b}[31m"]).unwrap_err();
        let m = e.to_string();
        assert!(!m.contains('\n') && !m.contains('\u{1b}'), "{m}");
    }
}
