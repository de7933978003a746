//! What the module decides, in safe code behind two traits.
//!
//! [`Handle`] is what the module needs from libpam (user, rhost, token,
//! conversation, module data, syslog); [`Verifier`] is the round trip to the
//! daemon's verify socket. The FFI layer implements `Handle` on the real
//! `pam_handle_t`; unit tests use a scripted fake of each.
//!
//! Result table of `pam_sm_authenticate`:
//!
//! | situation | result |
//! |---|---|
//! | daemon answered `result: 1` | PAM_SUCCESS |
//! | daemon refused (`invalid_token`, `expired`, `ip_not_allowed`, `acl_denied`, `suspended`, `unknown_user`, `locked_out`, `bad_request`, any other or no code) | PAM_AUTH_ERR |
//! | daemon answered `internal`, `too_many_connections`, `not_authorized`, `unknown_command`, `invalid_json` (its fault or a misconfigured socket, not the caller's) | PAM_AUTHINFO_UNAVAIL |
//! | socket absent/refused/forbidden, timeout, I/O or protocol error | PAM_AUTHINFO_UNAVAIL |
//! | bad module arguments | PAM_SERVICE_ERR |
//! | no PAM_RHOST (unless `allow_no_rhost`), or PAM_RHOST not an IP address | PAM_AUTH_ERR |
//! | empty token, token over 1024 bytes or not UTF-8, `use_first_pass` without PAM_AUTHTOK | PAM_AUTH_ERR |
//! | no user name (or an empty one) | PAM_USER_UNKNOWN |
//! | the conversation failed | libpam's code (PAM_CONV_ERR; PAM_CONV_AGAIN becomes PAM_INCOMPLETE) |
//! | a panic inside the module | PAM_SERVICE_ERR |

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use apitokend_proto::client::{self, ClientError};
use apitokend_proto::{ErrorCode, Request, Response};
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

use crate::args::{self, Options, Phase};
use crate::code::Code;

/// The prompt when no earlier module left PAM_AUTHTOK: the token is the
/// login's password, so clients that answer "Password:" prompts work.
pub const PROMPT: &str = "Password: ";
/// A longer answer is not a token; refused without asking the daemon.
pub const MAX_TOKEN_BYTES: usize = 1024;
/// Sent as the address when PAM_RHOST is unset and `allow_no_rhost` is given.
pub const NO_RHOST_ADDRESS: &str = "127.0.0.1";
/// The pam data key under which a successful authentication is remembered
/// for `pam_sm_acct_mgmt` in the same transaction.
pub const VERIFIED_KEY: &str = "apitokend:pam_apitoken:verified";

/// syslog priorities used by the module (facility: LOG_AUTHPRIV, set by
/// `pam_syslog`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Notice,
    Info,
    Debug,
}

/// What the module needs from libpam.
pub trait Handle {
    /// PAM_USER (libpam may ask for it through the conversation).
    fn user(&mut self) -> Result<String, Code>;
    /// PAM_RHOST as set by the application, if any.
    fn rhost(&self) -> Result<Option<String>, Code>;
    /// PAM_AUTHTOK if an earlier module or the application set it.
    fn authtok(&self) -> Result<Option<Zeroizing<String>>, Code>;
    /// Asks for a secret (echo off) through the application's conversation.
    fn prompt_secret(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>, Code>;
    /// Stores PAM_AUTHTOK for later modules (`try_first_pass`/`use_first_pass`).
    fn set_authtok(&mut self, token: &str) -> Result<(), Code>;
    /// Remembers (or forgets, with `None`) who this module authenticated.
    fn set_verified(&mut self, user: Option<&str>) -> Result<(), Code>;
    /// Who this module authenticated earlier in this transaction.
    fn verified_user(&self) -> Option<String>;
    /// One syslog line. Callers never pass a token.
    fn log(&self, level: Level, message: &str);
}

/// One verify round trip.
pub trait Verifier {
    fn verify(
        &self,
        socket: &Path,
        timeout: Duration,
        request: &Request,
    ) -> Result<Response, ClientError>;
}

/// The real thing: one connection per authentication, blocking, with
/// read/write timeouts.
#[derive(Clone, Copy, Debug, Default)]
pub struct SocketVerifier;

impl Verifier for SocketVerifier {
    fn verify(
        &self,
        socket: &Path,
        timeout: Duration,
        request: &Request,
    ) -> Result<Response, ClientError> {
        client::call_once(socket, timeout, request)
    }
}

/// Printable, bounded form of untrusted text for a log line: control
/// characters escaped, at most 128 characters.
pub fn shown(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == 128 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// PAM_RHOST as an address: a literal IPv4/IPv6 address, optionally in
/// brackets. Host names are never resolved (no DNS in an auth path).
pub fn parse_rhost(text: &str) -> Option<IpAddr> {
    let t = text.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(t);
    t.parse().ok()
}

/// What a daemon reply means for PAM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted {
        token_name: Option<String>,
    },
    /// The credentials (or their use here) were refused.
    Refused {
        error: String,
        reason: String,
    },
    /// The daemon could not decide; not the caller's fault.
    Unavailable {
        error: String,
        reason: String,
    },
}

impl Verdict {
    pub fn code(&self) -> Code {
        match self {
            Verdict::Accepted { .. } => Code::SUCCESS,
            Verdict::Refused { .. } => Code::AUTH_ERR,
            Verdict::Unavailable { .. } => Code::AUTHINFO_UNAVAIL,
        }
    }
}

/// Failure codes that say the daemon (or the socket it is reached by) is
/// at fault rather than the credentials.
fn is_service_fault(code: ErrorCode) -> bool {
    match code {
        ErrorCode::Internal
        | ErrorCode::TooManyConnections
        | ErrorCode::NotAuthorized
        | ErrorCode::UnknownCommand
        | ErrorCode::InvalidJson => true,
        ErrorCode::RequestTooLarge
        | ErrorCode::BadRequest
        | ErrorCode::InvalidName
        | ErrorCode::InvalidAcl
        | ErrorCode::InvalidIp
        | ErrorCode::InvalidExpiry
        | ErrorCode::InvalidUser
        | ErrorCode::NameExists
        | ErrorCode::TooManyTokens
        | ErrorCode::NotFound
        | ErrorCode::NothingToChange
        | ErrorCode::Suspended
        | ErrorCode::UnknownUser
        | ErrorCode::InvalidToken
        | ErrorCode::Expired
        | ErrorCode::IpNotAllowed
        | ErrorCode::AclDenied
        | ErrorCode::LockedOut
        // Web page log-ins and sessions: never a verify reply; a refusal.
        | ErrorCode::LoginFailed
        | ErrorCode::SessionInvalid
        | ErrorCode::CsrfInvalid => false,
    }
}

/// Maps a reply to a verdict. Anything but `result: 1` is a refusal unless
/// its code says the service is at fault: fail closed.
pub fn judge(reply: &Response) -> Verdict {
    let reason = shown(&reply.metadata.reason);
    if reply.metadata.result == 1 {
        let token_name = reply
            .data
            .as_ref()
            .and_then(|d| d.get("token_name"))
            .and_then(Value::as_str)
            .map(shown);
        return Verdict::Accepted { token_name };
    }
    let error = reply
        .metadata
        .error
        .as_deref()
        .map_or_else(|| "none".to_owned(), shown);
    match reply.error_code() {
        Some(code) if is_service_fault(code) => Verdict::Unavailable { error, reason },
        _ => Verdict::Refused { error, reason },
    }
}

/// A verify request whose token argument is wiped when it goes away.
struct VerifyRequest(Request);

impl Drop for VerifyRequest {
    fn drop(&mut self) {
        wipe_token(&mut self.0);
    }
}

/// Zeroizes the `token` argument of a request in place.
pub fn wipe_token(request: &mut Request) {
    if let Some(Value::String(s)) = request.args.get_mut("token") {
        s.zeroize();
    }
}

/// Runs `f`; `None` if it panicked, so a panic never unwinds into C.
pub fn guard<F: FnOnce() -> Code>(f: F) -> Option<Code> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(code) => Some(code),
        Err(payload) => {
            // Dropping a payload can itself panic; leaking it cannot.
            std::mem::forget(payload);
            None
        }
    }
}

/// Logging with the context of one call.
struct Ctx<'a, H: Handle> {
    h: &'a mut H,
    debug: bool,
}

impl<H: Handle> Ctx<'_, H> {
    fn debug(&self, msg: &str) {
        if self.debug {
            self.h.log(Level::Debug, msg);
        }
    }
}

/// `pam_sm_authenticate`.
pub fn authenticate(h: &mut impl Handle, args: &[&str], verifier: &impl Verifier) -> Code {
    let opts = match args::parse(args, Phase::Auth) {
        Ok(o) => o,
        Err(e) => {
            h.log(Level::Error, &format!("{e}; refusing every login"));
            return Code::SERVICE_ERR;
        }
    };
    let mut ctx = Ctx {
        debug: opts.debug,
        h,
    };
    let (code, user) = authenticate_with(&mut ctx, &opts, verifier);
    let h = ctx.h;
    let verified = (code == Code::SUCCESS).then_some(user.as_deref()).flatten();
    if (verified.is_some() || h.verified_user().is_some())
        && let Err(e) = h.set_verified(verified)
    {
        h.log(
            Level::Error,
            &format!("cannot record the result for account management: {e}"),
        );
    }
    code
}

fn authenticate_with<H: Handle>(
    ctx: &mut Ctx<'_, H>,
    opts: &Options,
    verifier: &impl Verifier,
) -> (Code, Option<String>) {
    let function = opts.function.as_deref().unwrap_or_default();
    ctx.debug(&format!(
        "arguments: socket={} function={function} timeout_ms={} allow_no_rhost={} use_first_pass={}",
        shown(&opts.socket.to_string_lossy()),
        opts.timeout.as_millis(),
        opts.allow_no_rhost,
        opts.use_first_pass,
    ));

    let user = match ctx.h.user() {
        Ok(u) if !u.is_empty() => u,
        Ok(_) => {
            ctx.h.log(Level::Notice, "refused: the user name is empty");
            return (Code::USER_UNKNOWN, None);
        }
        Err(Code::CONV_AGAIN) => return (Code::INCOMPLETE, None),
        Err(e) => {
            ctx.h
                .log(Level::Error, &format!("cannot get the user name: {e}"));
            return (Code::USER_UNKNOWN, None);
        }
    };
    let user_shown = shown(&user);

    let rhost = match ctx.h.rhost() {
        Ok(r) => r.filter(|r| !r.trim().is_empty()),
        Err(e) => {
            ctx.h
                .log(Level::Error, &format!("cannot read PAM_RHOST: {e}"));
            return (e, None);
        }
    };
    let rhost_shown = rhost.as_deref().map_or_else(|| "-".to_owned(), shown);
    let who = format!("user={user_shown} rhost={rhost_shown} function={function}");
    let refuse = |h: &H, why: &str| {
        h.log(Level::Notice, &format!("refused: {who}: {why}"));
        (Code::AUTH_ERR, None)
    };
    let ip = match rhost.as_deref() {
        None if opts.allow_no_rhost => {
            ctx.debug(&format!(
                "no PAM_RHOST: checking as from {NO_RHOST_ADDRESS} (allow_no_rhost)"
            ));
            NO_RHOST_ADDRESS.to_owned()
        }
        None => {
            return refuse(
                ctx.h,
                "no PAM_RHOST (the service gave no client address; add allow_no_rhost for local logins)",
            );
        }
        Some(text) => match parse_rhost(text) {
            Some(ip) => ip.to_string(),
            None => {
                return refuse(
                    ctx.h,
                    "PAM_RHOST is not an IP address (host names are not resolved)",
                );
            }
        },
    };

    let token = match ctx.h.authtok() {
        Ok(Some(t)) => {
            ctx.debug("token taken from PAM_AUTHTOK");
            t
        }
        Ok(None) if opts.use_first_pass => {
            return refuse(
                ctx.h,
                "no PAM_AUTHTOK from an earlier module (use_first_pass)",
            );
        }
        Ok(None) => {
            ctx.debug("no PAM_AUTHTOK: asking through the conversation");
            match ctx.h.prompt_secret(PROMPT) {
                Ok(Some(t)) => {
                    if !t.is_empty()
                        && let Err(e) = ctx.h.set_authtok(&t)
                    {
                        ctx.debug(&format!("could not store PAM_AUTHTOK: {e}"));
                    }
                    t
                }
                Ok(None) => Zeroizing::new(String::new()),
                Err(Code::CONV_AGAIN) => return (Code::INCOMPLETE, None),
                Err(e) => {
                    ctx.h.log(
                        Level::Error,
                        &format!("{who}: the conversation failed: {e}"),
                    );
                    return (e, None);
                }
            }
        }
        Err(e) => {
            ctx.h
                .log(Level::Notice, &format!("{who}: cannot read the token: {e}"));
            return (e, None);
        }
    };
    if token.is_empty() {
        return refuse(ctx.h, "empty token");
    }
    if token.len() > MAX_TOKEN_BYTES {
        return refuse(ctx.h, "the password is too long to be a token");
    }
    if !apitokend_proto::is_token_shaped(&token) {
        // Most likely a system password in a token-first stack: it never
        // leaves this process and never counts towards the daemon's lockout.
        return refuse(
            ctx.h,
            "the password is not shaped like an API token (32 characters of 0-9 and A-Z)",
        );
    }

    let request = VerifyRequest(
        Request::new("verify")
            .arg("user", user.as_str())
            .arg("token", token.as_str())
            .arg("ip", ip.as_str())
            .arg("function", function),
    );
    drop(token);
    ctx.debug(&format!(
        "asking {} (ip={ip})",
        shown(&opts.socket.to_string_lossy())
    ));
    let started = Instant::now();
    let reply = verifier.verify(&opts.socket, opts.timeout, &request.0);
    drop(request);
    let took = started.elapsed().as_millis();
    match reply {
        Ok(reply) => {
            let verdict = judge(&reply);
            match &verdict {
                Verdict::Accepted { token_name } => ctx.h.log(
                    Level::Info,
                    &format!(
                        "accepted: {who} token_name={}",
                        token_name.as_deref().unwrap_or("-")
                    ),
                ),
                Verdict::Refused { error, reason } => ctx.h.log(
                    Level::Notice,
                    &format!("refused: {who} error={error} ({reason})"),
                ),
                Verdict::Unavailable { error, reason } => ctx.h.log(
                    Level::Error,
                    &format!("daemon cannot decide: {who} error={error} ({reason})"),
                ),
            }
            ctx.debug(&format!("reply in {took} ms: {}", verdict.code()));
            let code = verdict.code();
            (code, (code == Code::SUCCESS).then_some(user))
        }
        Err(e) => {
            ctx.h.log(
                Level::Error,
                &format!(
                    "daemon unavailable: {who}: {} (socket {}, timeout {} ms)",
                    shown(&e.to_string()),
                    shown(&opts.socket.to_string_lossy()),
                    opts.timeout.as_millis()
                ),
            );
            (Code::AUTHINFO_UNAVAIL, None)
        }
    }
}

/// `pam_sm_acct_mgmt`: PAM_SUCCESS when this module authenticated the same
/// user earlier in this transaction (the daemon checked suspension, expiry,
/// address and privilege moments ago), PAM_IGNORE otherwise (another module
/// authenticated the user: this one has no opinion on the account).
pub fn acct_mgmt(h: &mut impl Handle, args: &[&str]) -> Code {
    let opts = match args::parse(args, Phase::Account) {
        Ok(o) => o,
        Err(e) => {
            h.log(Level::Error, &format!("{e}; refusing every login"));
            return Code::SERVICE_ERR;
        }
    };
    let user = match h.user() {
        Ok(u) => u,
        Err(Code::CONV_AGAIN) => return Code::INCOMPLETE,
        Err(e) => {
            if opts.debug {
                h.log(
                    Level::Debug,
                    &format!("account: no user name ({e}): no opinion"),
                );
            }
            return Code::IGNORE;
        }
    };
    let verified = h.verified_user();
    if verified.as_deref() == Some(user.as_str()) {
        if opts.debug {
            h.log(
                Level::Debug,
                &format!("account: user={} was authenticated by token", shown(&user)),
            );
        }
        Code::SUCCESS
    } else {
        if opts.debug {
            h.log(
                Level::Debug,
                &format!(
                    "account: user={} was not authenticated by this module: no opinion",
                    shown(&user)
                ),
            );
        }
        Code::IGNORE
    }
}

/// `pam_sm_setcred`: there are no credentials to establish or delete.
pub fn setcred() -> Code {
    Code::SUCCESS
}
