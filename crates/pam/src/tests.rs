//! Unit tests of the decisions, with a scripted fake handle and verifier.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use apitokend_proto::client::ClientError;
use apitokend_proto::{ErrorCode, Request, Response};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::auth::{
    self, Handle, Level, NO_RHOST_ADDRESS, PROMPT, SocketVerifier, Verdict, Verifier,
};
use crate::code::Code;

const TOKEN: &str = "SECRETTOKEN0123456789ABCDEFGHIJK";
const ARGS: &[&str] = &["function=listaccts", "socket=/run/test/verify.sock"];

/// A scripted `pam_handle_t`.
struct Fake {
    user: Result<String, Code>,
    rhost: Option<String>,
    authtok: Option<String>,
    answer: Result<Option<String>, Code>,
    prompts: Vec<String>,
    verified: Option<String>,
    logs: RefCell<Vec<(Level, String)>>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            user: Ok("alice".into()),
            rhost: Some("192.0.2.7".into()),
            authtok: Some(TOKEN.into()),
            answer: Err(Code::CONV_ERR),
            prompts: Vec::new(),
            verified: None,
            logs: RefCell::new(Vec::new()),
        }
    }

    fn logs(&self) -> Vec<(Level, String)> {
        self.logs.borrow().clone()
    }

    fn logged(&self, level: Level, text: &str) -> bool {
        self.logs
            .borrow()
            .iter()
            .any(|(l, m)| *l == level && m.contains(text))
    }
}

impl Handle for Fake {
    fn user(&mut self) -> Result<String, Code> {
        self.user.clone()
    }

    fn rhost(&self) -> Result<Option<String>, Code> {
        Ok(self.rhost.clone())
    }

    fn authtok(&self) -> Result<Option<Zeroizing<String>>, Code> {
        Ok(self.authtok.clone().map(Zeroizing::new))
    }

    fn prompt_secret(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>, Code> {
        self.prompts.push(prompt.to_owned());
        self.answer.clone().map(|a| a.map(Zeroizing::new))
    }

    fn set_authtok(&mut self, token: &str) -> Result<(), Code> {
        self.authtok = Some(token.to_owned());
        Ok(())
    }

    fn set_verified(&mut self, user: Option<&str>) -> Result<(), Code> {
        self.verified = user.map(str::to_owned);
        Ok(())
    }

    fn verified_user(&self) -> Option<String> {
        self.verified.clone()
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }
}

type Reply = Box<dyn Fn() -> Result<Response, ClientError>>;

/// A scripted verify socket that records what it was asked.
struct FakeVerifier {
    reply: Reply,
    seen: RefCell<Vec<(PathBuf, Duration, Request)>>,
}

impl FakeVerifier {
    fn new(reply: impl Fn() -> Result<Response, ClientError> + 'static) -> FakeVerifier {
        FakeVerifier {
            reply: Box::new(reply),
            seen: RefCell::new(Vec::new()),
        }
    }

    fn accepting() -> FakeVerifier {
        FakeVerifier::new(|| Ok(ok_reply()))
    }

    fn refusing(code: ErrorCode) -> FakeVerifier {
        FakeVerifier::new(move || Ok(Response::fail("verify", code, "no")))
    }

    fn calls(&self) -> usize {
        self.seen.borrow().len()
    }

    fn arg(&self, key: &str) -> String {
        let seen = self.seen.borrow();
        let (_, _, r) = seen.last().unwrap();
        r.args[key].as_str().unwrap().to_owned()
    }
}

impl Verifier for FakeVerifier {
    fn verify(
        &self,
        socket: &Path,
        timeout: Duration,
        request: &Request,
    ) -> Result<Response, ClientError> {
        self.seen
            .borrow_mut()
            .push((socket.to_owned(), timeout, request.clone()));
        (self.reply)()
    }
}

fn ok_reply() -> Response {
    Response::ok(
        "verify",
        Some(json!({"user": "alice", "token_name": "ftp", "acls": ["list-accts"]})),
    )
}

fn io_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset")
}

#[test]
fn accepted_token_sends_the_four_arguments() {
    let mut h = Fake::new();
    let v = FakeVerifier::accepting();
    let args = ["function=listaccts", "socket=/run/x.sock", "timeout_ms=750"];
    assert_eq!(auth::authenticate(&mut h, &args, &v), Code::SUCCESS);
    let seen = v.seen.borrow();
    let (socket, timeout, req) = &seen[0];
    assert_eq!(socket, Path::new("/run/x.sock"));
    assert_eq!(*timeout, Duration::from_millis(750));
    assert_eq!(req.command, "verify");
    assert_eq!(req.user, None);
    assert_eq!(
        Value::Object(req.args.clone()),
        json!({"user": "alice", "token": TOKEN, "ip": "192.0.2.7", "function": "listaccts"})
    );
    assert!(h.prompts.is_empty(), "PAM_AUTHTOK was set: no prompt");
    assert_eq!(h.verified.as_deref(), Some("alice"));
    assert!(h.logged(
        Level::Info,
        "accepted: user=alice rhost=192.0.2.7 function=listaccts token_name=ftp"
    ));
}

#[test]
fn default_socket_and_timeout() {
    let mut h = Fake::new();
    let v = FakeVerifier::accepting();
    assert_eq!(
        auth::authenticate(&mut h, &["function=listaccts"], &v),
        Code::SUCCESS
    );
    let seen = v.seen.borrow();
    assert_eq!(seen[0].0, Path::new("/run/apitokend/verify.sock"));
    assert_eq!(seen[0].1, Duration::from_millis(2000));
}

#[test]
fn every_daemon_error_code_is_mapped() {
    let unavailable = [
        ErrorCode::Internal,
        ErrorCode::TooManyConnections,
        ErrorCode::NotAuthorized,
        ErrorCode::UnknownCommand,
        ErrorCode::InvalidJson,
    ];
    for code in ErrorCode::ALL {
        let expected = if unavailable.contains(&code) {
            Code::AUTHINFO_UNAVAIL
        } else {
            Code::AUTH_ERR
        };
        let mut h = Fake::new();
        let v = FakeVerifier::refusing(code);
        assert_eq!(
            auth::authenticate(&mut h, ARGS, &v),
            expected,
            "{code} should give {expected}"
        );
        assert_eq!(h.verified, None);
        assert!(
            h.logs()
                .iter()
                .any(|(_, m)| m.contains(&format!("error={code}"))),
            "{code}: {:?}",
            h.logs()
        );
    }
    // The refusals the issue names, explicitly.
    for code in [
        ErrorCode::InvalidToken,
        ErrorCode::Expired,
        ErrorCode::IpNotAllowed,
        ErrorCode::AclDenied,
        ErrorCode::Suspended,
        ErrorCode::UnknownUser,
        ErrorCode::BadRequest,
        ErrorCode::LockedOut,
    ] {
        let r = Response::fail("verify", code, "x");
        assert_eq!(auth::judge(&r).code(), Code::AUTH_ERR, "{code}");
    }
}

#[test]
fn odd_replies_fail_closed() {
    let mut no_code = Response::fail("verify", ErrorCode::Expired, "x");
    no_code.metadata.error = None;
    let mut unknown_code = no_code.clone();
    unknown_code.metadata.error = Some("brand_new_code".into());
    let mut result_two = ok_reply();
    result_two.metadata.result = 2;
    for reply in [no_code, unknown_code, result_two] {
        assert!(
            matches!(auth::judge(&reply), Verdict::Refused { .. }),
            "{reply:?}"
        );
        let mut h = Fake::new();
        let v = FakeVerifier::new(move || Ok(reply.clone()));
        assert_eq!(auth::authenticate(&mut h, ARGS, &v), Code::AUTH_ERR);
    }
    // Accepted without data is still accepted (the daemon said result 1).
    assert_eq!(
        auth::judge(&Response::ok("verify", None)),
        Verdict::Accepted { token_name: None }
    );
}

#[test]
fn client_errors_are_authinfo_unavail() {
    let errors: Vec<fn() -> ClientError> = vec![
        || ClientError::Connect(std::io::Error::from(std::io::ErrorKind::NotFound)),
        || ClientError::Connect(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        || ClientError::Timeout,
        || ClientError::Io(io_error()),
        || ClientError::Protocol("not a reply".into()),
    ];
    for make in errors {
        let mut h = Fake::new();
        let v = FakeVerifier::new(move || Err(make()));
        assert_eq!(auth::authenticate(&mut h, ARGS, &v), Code::AUTHINFO_UNAVAIL);
        assert!(h.logged(Level::Error, "daemon unavailable: user=alice"));
        assert!(h.logged(Level::Error, "/run/test/verify.sock"));
    }
}

#[test]
fn bad_arguments_are_service_errors_and_named() {
    for (args, named) in [
        (&["function=listaccts", "sokcet=/x"][..], "sokcet=/x"),
        (&["socket=/x"][..], "function=NAME"),
        (&["function=listaccts", "timeout_ms=abc"][..], "abc"),
        (&["function=listaccts", "timeout_ms=0"][..], "timeout_ms"),
        (&["function=list accts"][..], "function"),
        (&["function=listaccts", "socket=rel.sock"][..], "absolute"),
    ] {
        let mut h = Fake::new();
        let v = FakeVerifier::accepting();
        assert_eq!(
            auth::authenticate(&mut h, args, &v),
            Code::SERVICE_ERR,
            "{args:?}"
        );
        assert_eq!(v.calls(), 0);
        assert!(h.logged(Level::Error, named), "{args:?}: {:?}", h.logs());
        assert_eq!(h.verified, None);
    }
}

#[test]
fn missing_rhost_is_refused_without_prompting() {
    for rhost in [None, Some(""), Some("  ")] {
        let mut h = Fake::new();
        h.rhost = rhost.map(str::to_owned);
        h.authtok = None;
        let v = FakeVerifier::accepting();
        assert_eq!(auth::authenticate(&mut h, ARGS, &v), Code::AUTH_ERR);
        assert_eq!(v.calls(), 0);
        assert!(h.prompts.is_empty());
        assert!(h.logged(Level::Notice, "no PAM_RHOST"));
    }
}

#[test]
fn allow_no_rhost_checks_as_loopback() {
    let mut h = Fake::new();
    h.rhost = None;
    let v = FakeVerifier::accepting();
    let args = ["function=listaccts", "allow_no_rhost"];
    assert_eq!(auth::authenticate(&mut h, &args, &v), Code::SUCCESS);
    assert_eq!(v.arg("ip"), NO_RHOST_ADDRESS);
    assert_eq!(NO_RHOST_ADDRESS, "127.0.0.1");
    assert!(h.logged(Level::Info, "rhost=- function=listaccts"));
    // A set rhost still wins over allow_no_rhost.
    let mut h = Fake::new();
    let v = FakeVerifier::accepting();
    assert_eq!(auth::authenticate(&mut h, &args, &v), Code::SUCCESS);
    assert_eq!(v.arg("ip"), "192.0.2.7");
}

#[test]
fn rhost_must_be_an_address() {
    for (rhost, sent) in [
        ("192.0.2.7", Some("192.0.2.7")),
        (" 192.0.2.7\n", Some("192.0.2.7")),
        ("2001:db8::1", Some("2001:db8::1")),
        ("[2001:db8::1]", Some("2001:db8::1")),
        ("::ffff:192.0.2.7", Some("::ffff:192.0.2.7")),
        ("client.example.com", None),
        ("localhost", None),
        ("192.0.2.7:2222", None),
        ("192.0.2.0/24", None),
        ("[192.0.2.7", None),
        ("999.0.2.7", None),
    ] {
        let mut h = Fake::new();
        h.rhost = Some(rhost.to_owned());
        let v = FakeVerifier::accepting();
        let code = auth::authenticate(&mut h, &["function=listaccts", "allow_no_rhost"], &v);
        match sent {
            Some(ip) => {
                assert_eq!(code, Code::SUCCESS, "{rhost:?}");
                assert_eq!(v.arg("ip"), ip);
            }
            None => {
                assert_eq!(code, Code::AUTH_ERR, "{rhost:?}");
                assert_eq!(v.calls(), 0, "{rhost:?}: never resolved nor sent");
                assert!(h.logged(Level::Notice, "not an IP address"));
            }
        }
    }
}

#[test]
fn prompts_through_the_conversation_when_authtok_unset() {
    let mut h = Fake::new();
    h.authtok = None;
    h.answer = Ok(Some(TOKEN.into()));
    let v = FakeVerifier::accepting();
    assert_eq!(auth::authenticate(&mut h, ARGS, &v), Code::SUCCESS);
    assert_eq!(h.prompts, vec![PROMPT.to_owned()]);
    assert_eq!(v.arg("token"), TOKEN);
    // Stored for modules stacked after this one.
    assert_eq!(h.authtok.as_deref(), Some(TOKEN));
}

#[test]
fn use_first_pass_never_prompts() {
    let mut h = Fake::new();
    h.authtok = None;
    h.answer = Ok(Some(TOKEN.into()));
    let v = FakeVerifier::accepting();
    let args = ["function=listaccts", "use_first_pass"];
    assert_eq!(auth::authenticate(&mut h, &args, &v), Code::AUTH_ERR);
    assert!(h.prompts.is_empty());
    assert_eq!(v.calls(), 0);
    // With PAM_AUTHTOK set it works as usual.
    let mut h = Fake::new();
    assert_eq!(auth::authenticate(&mut h, &args, &v), Code::SUCCESS);
}

#[test]
fn conversation_failures() {
    for (answer, expected) in [
        (Ok(None), Code::AUTH_ERR),
        (Ok(Some(String::new())), Code::AUTH_ERR),
        (Err(Code::CONV_ERR), Code::CONV_ERR),
        (Err(Code::CONV_AGAIN), Code::INCOMPLETE),
        (Err(Code::BUF_ERR), Code::BUF_ERR),
    ] {
        let mut h = Fake::new();
        h.authtok = None;
        h.answer = answer.clone();
        let v = FakeVerifier::accepting();
        assert_eq!(auth::authenticate(&mut h, ARGS, &v), expected, "{answer:?}");
        assert_eq!(v.calls(), 0);
        assert_eq!(h.authtok, None, "nothing stored");
    }
}

#[test]
fn empty_oversized_or_not_token_shaped_passwords_are_refused_locally() {
    for t in [
        String::new(),
        "A".repeat(auth::MAX_TOKEN_BYTES + 1),
        "hunter2".into(),
        TOKEN.to_lowercase(),
        format!("{TOKEN} "),
    ] {
        let mut h = Fake::new();
        h.authtok = Some(t);
        let v = FakeVerifier::accepting();
        assert_eq!(auth::authenticate(&mut h, ARGS, &v), Code::AUTH_ERR);
        assert_eq!(v.calls(), 0);
    }
}

#[test]
fn user_name_problems() {
    for (user, expected) in [
        (Ok(String::new()), Code::USER_UNKNOWN),
        (Err(Code::CONV_ERR), Code::USER_UNKNOWN),
        (Err(Code::SYSTEM_ERR), Code::USER_UNKNOWN),
        (Err(Code::CONV_AGAIN), Code::INCOMPLETE),
    ] {
        let mut h = Fake::new();
        h.user = user;
        let v = FakeVerifier::accepting();
        assert_eq!(auth::authenticate(&mut h, ARGS, &v), expected);
        assert_eq!(v.calls(), 0);
    }
}

#[test]
fn log_lines_escape_untrusted_text() {
    let mut h = Fake::new();
    h.user = Ok("eve\nfake line".into());
    h.rhost = Some("evil\u{1b}[31m".into());
    let v = FakeVerifier::accepting();
    assert_eq!(auth::authenticate(&mut h, ARGS, &v), Code::AUTH_ERR);
    for (_, m) in h.logs() {
        assert!(!m.contains('\n') && !m.contains('\u{1b}'), "{m:?}");
    }
    assert_eq!(auth::shown(&"x".repeat(500)).chars().count(), 129);
}

/// Every path, with `debug`: no log line ever holds the token.
#[test]
fn debug_output_never_contains_the_token() {
    type Setup = fn(&mut Fake);
    let setups: Vec<Setup> = vec![
        |_| {},
        |h| h.authtok = None,
        |h| {
            h.authtok = None;
            h.answer = Ok(Some(TOKEN.into()));
        },
        |h| h.rhost = None,
        |h| h.rhost = Some("host.example".into()),
        |h| h.user = Ok(String::new()),
        |h| h.authtok = Some(format!("{TOKEN}{TOKEN}")),
    ];
    let replies: Vec<fn() -> Result<Response, ClientError>> = vec![
        || Ok(ok_reply()),
        || {
            Ok(Response::fail(
                "verify",
                ErrorCode::InvalidToken,
                "no such token",
            ))
        },
        || {
            Ok(Response::fail(
                "verify",
                ErrorCode::Internal,
                "internal error",
            ))
        },
        || Err(ClientError::Timeout),
        || Err(ClientError::Protocol("garbage".into())),
    ];
    let mut lines = 0;
    for setup in &setups {
        for reply in &replies {
            for args in [
                &["function=listaccts", "debug"][..],
                &["function=listaccts", "debug", "allow_no_rhost"][..],
                &["function=listaccts", "debug", "use_first_pass"][..],
                &["debug"][..],
            ] {
                let mut h = Fake::new();
                setup(&mut h);
                let v = FakeVerifier::new(*reply);
                auth::authenticate(&mut h, args, &v);
                auth::acct_mgmt(&mut h, args);
                for (_, m) in h.logs() {
                    lines += 1;
                    assert!(!m.contains(TOKEN), "token in log line {m:?}");
                    assert!(!m.contains("SECRET"), "token in log line {m:?}");
                }
            }
        }
    }
    assert!(lines > 100);
    // And debug does add lines.
    let mut h = Fake::new();
    auth::authenticate(
        &mut h,
        &["function=listaccts", "debug"],
        &FakeVerifier::accepting(),
    );
    assert!(h.logs().iter().any(|(l, _)| *l == Level::Debug));
    let mut h = Fake::new();
    auth::authenticate(&mut h, ARGS, &FakeVerifier::accepting());
    assert!(h.logs().iter().all(|(l, _)| *l != Level::Debug));
}

#[test]
fn acct_mgmt_vouches_only_for_its_own_success() {
    // Authenticated by this module: success.
    let mut h = Fake::new();
    assert_eq!(
        auth::authenticate(&mut h, ARGS, &FakeVerifier::accepting()),
        Code::SUCCESS
    );
    assert_eq!(auth::acct_mgmt(&mut h, &[]), Code::SUCCESS);
    assert_eq!(auth::acct_mgmt(&mut h, ARGS), Code::SUCCESS);
    // PAM_USER changed since: no opinion.
    h.user = Ok("bob".into());
    assert_eq!(auth::acct_mgmt(&mut h, &[]), Code::IGNORE);
    // A later failed attempt in the same transaction forgets the success.
    let mut h = Fake::new();
    auth::authenticate(&mut h, ARGS, &FakeVerifier::accepting());
    let refused = FakeVerifier::refusing(ErrorCode::InvalidToken);
    assert_eq!(auth::authenticate(&mut h, ARGS, &refused), Code::AUTH_ERR);
    assert_eq!(auth::acct_mgmt(&mut h, &[]), Code::IGNORE);
    // Never authenticated here (another module did): no opinion.
    let mut h = Fake::new();
    assert_eq!(auth::acct_mgmt(&mut h, &["debug"]), Code::IGNORE);
    assert!(h.logged(Level::Debug, "not authenticated by this module"));
    h.user = Err(Code::CONV_ERR);
    assert_eq!(auth::acct_mgmt(&mut h, &[]), Code::IGNORE);
    // Typos are still caught on account lines.
    let mut h = Fake::new();
    assert_eq!(auth::acct_mgmt(&mut h, &["degub"]), Code::SERVICE_ERR);
    assert!(h.logged(Level::Error, "degub"));
}

#[test]
fn setcred_succeeds() {
    assert_eq!(auth::setcred(), Code::SUCCESS);
}

#[test]
fn guard_turns_panics_into_errors() {
    assert_eq!(auth::guard(|| Code::AUTH_ERR), Some(Code::AUTH_ERR));
    assert_eq!(auth::guard(|| panic!("boom")), None);
    assert_eq!(
        auth::guard(|| std::panic::panic_any(String::from("owned payload"))),
        None
    );
}

#[test]
fn token_argument_is_wiped() {
    let mut r = Request::new("verify")
        .arg("user", "alice")
        .arg("token", TOKEN);
    auth::wipe_token(&mut r);
    assert_eq!(r.args["token"], "");
    assert_eq!(r.args["user"], "alice");
}

/// The real client against a real socket: a reply, silence, nothing there.
#[test]
fn socket_verifier_reply_timeout_and_absent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verify.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        // First connection: answer. Second: read and stay silent.
        let (s, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        let req: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(req["command"], "verify");
        assert_eq!(req["args"]["token"], TOKEN);
        let mut out = serde_json::to_vec(&ok_reply()).unwrap();
        out.push(b'\n');
        (&s).write_all(&out).unwrap();
        let (s2, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&s2).read_line(&mut line).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        drop(s2);
    });
    let args = [
        "function=listaccts",
        &format!("socket={}", path.display()),
        "timeout_ms=200",
    ];
    let mut h = Fake::new();
    assert_eq!(
        auth::authenticate(&mut h, &args, &SocketVerifier),
        Code::SUCCESS
    );
    let mut h = Fake::new();
    assert_eq!(
        auth::authenticate(&mut h, &args, &SocketVerifier),
        Code::AUTHINFO_UNAVAIL
    );
    assert!(h.logged(Level::Error, "did not answer in time"));
    server.join().unwrap();
    let gone = [
        "function=listaccts",
        &format!("socket={}", dir.path().join("absent.sock").display()),
    ];
    let mut h = Fake::new();
    assert_eq!(
        auth::authenticate(&mut h, &gone, &SocketVerifier),
        Code::AUTHINFO_UNAVAIL
    );
    assert!(h.logged(Level::Error, "cannot connect"));
}
