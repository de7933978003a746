//! Audit trail: one LOG_AUTHPRIV line for every change and every refused
//! request, and optionally cPanel's accounting log.
//!
//! A line says who (peer uid and pid, WHM user), what (command, token
//! name), from where (the caller's address for verify), the result and the
//! reason. Never the token or anything derived from it: an [`Event`] has no
//! field that could hold one, and token-shaped text in any field is
//! hidden. Every value is sanitised, so a hostile user or token name cannot
//! forge extra lines or fields.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::authz::Peer;
use crate::logging;

/// One audited request.
#[derive(Debug, Default)]
pub struct Event<'a> {
    pub command: &'a str,
    pub peer: Option<&'a Peer>,
    /// The WHM user acted for (owner), as requested or resolved.
    pub user: Option<&'a str>,
    pub token_names: &'a [String],
    pub ip: Option<&'a str>,
    pub function: Option<&'a str>,
    /// The token that authenticated a request relayed by the HTTPS front.
    pub auth_token: Option<&'a str>,
    /// How the web session a request came through was opened.
    pub web_session: Option<&'a str>,
    /// `None` on success; the stable error code otherwise.
    pub error: Option<&'a str>,
    pub reason: &'a str,
}

/// Escapes a value for an audit line, keeping at most `max` characters of
/// it: printable ASCII stays, `\` and `"` become `\\` and `\"`, a space
/// outside quoted text becomes `\x20`, newline, return and tab become
/// `\n`, `\r`, `\t`, and any other character (control, non-ASCII) its
/// code point, `\u{e9}` (in the quoted reason, spaces and the quote marks
/// “ ” stay). Nothing is lost (two different names never look
/// alike: a Cyrillic `а` in `аdmin` shows as `\u{430}dmin`), a hostile
/// value cannot forge fields or lines, and input text always reaches the
/// line as ASCII. Token-shaped text is hidden first (a token pasted into a
/// name or user field must not be logged).
fn clean_into(out: &mut String, s: &str, max: usize, spaces: bool) {
    use std::fmt::Write as _;
    let s = crate::text::hide_tokens(s);
    let plain = |c: char| c.is_ascii_graphic() && c != '\\' && c != '"';
    let mut rest: &str = &s;
    let mut kept = 0;
    while let Some(c) = rest.chars().next() {
        if kept == max {
            out.push_str("...");
            return;
        }
        // A run of plain ASCII goes in at once.
        let run = rest
            .bytes()
            .take(max - kept)
            .take_while(|&b| plain(char::from(b)))
            .count();
        if run > 0 {
            out.push_str(&rest[..run]);
            rest = &rest[run..];
            kept += run;
            continue;
        }
        rest = &rest[c.len_utf8()..];
        kept += 1;
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            // Quoted text (the reason): spaces, and the daemon's own quote
            // marks around names, stay as they are.
            ' ' | '“' | '”' if spaces => out.push(c),
            ' ' => out.push_str("\\x20"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_graphic() => out.push(c),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
}

fn clean(s: &str, max: usize) -> String {
    let mut out = String::new();
    clean_into(&mut out, s, max, false);
    out
}

/// The text of an audit line (exposed for tests), built in one buffer: a
/// refused verify writes one, and it should cost one allocation.
pub fn format(e: &Event<'_>) -> String {
    use std::fmt::Write as _;
    let mut line = String::with_capacity(256);
    let field = |line: &mut String, key: &str, value: &str, max: usize| {
        line.push(' ');
        line.push_str(key);
        line.push('=');
        clean_into(line, value, max, false);
    };
    line.push_str("audit: command=");
    clean_into(&mut line, e.command, 64, false);
    match e.error {
        None => line.push_str(" result=ok"),
        Some(code) => {
            line.push_str(" result=refused");
            field(&mut line, "error", code, 40);
        }
    }
    if let Some(p) = e.peer {
        let _ = write!(
            line,
            " peer_uid={} peer_pid={}",
            p.uid.0,
            p.pid.unwrap_or(-1)
        );
    }
    field(&mut line, "user", e.user.unwrap_or("-"), 64);
    if !e.token_names.is_empty() {
        line.push_str(" token_name=");
        for (i, n) in e.token_names.iter().take(20).enumerate() {
            if i > 0 {
                line.push(',');
            }
            clean_into(&mut line, n, 64, false);
        }
        if e.token_names.len() > 20 {
            line.push_str(",...");
        }
    }
    if let Some(ip) = e.ip {
        field(&mut line, "ip", ip, 64);
    }
    if let Some(f) = e.function {
        field(&mut line, "function", f, 64);
    }
    if let Some(t) = e.auth_token {
        field(&mut line, "auth_token", t, 64);
    }
    if let Some(m) = e.web_session {
        field(&mut line, "web_session", m, 16);
    }
    line.push_str(" reason=\"");
    clean_into(&mut line, e.reason, 300, true);
    line.push('"');
    line
}

pub fn record(e: &Event<'_>) {
    logging::audit(format(e), e.error.is_some());
}

/// Audit lines of refusals to peers that may do nothing at all (a plain
/// local user), let through at most [`LIMITED_BURST`] at once and
/// [`LIMITED_PER_SEC`] a second: anyone may connect to the control socket,
/// and its refusals must not flood the log. What is left out is counted
/// and the count logged with the next line let through, or by
/// [`flush_suppressed`].
const LIMITED_PER_SEC: f64 = 10.0;
const LIMITED_BURST: f64 = 10.0;

struct Bucket {
    tokens: f64,
    last: Option<std::time::Instant>,
    suppressed: u64,
}

static LIMITED: std::sync::Mutex<Bucket> = std::sync::Mutex::new(Bucket {
    tokens: LIMITED_BURST,
    last: None,
    suppressed: 0,
});

/// Like [`record`], rate-limited (see [`LIMITED_PER_SEC`]).
pub fn record_limited(e: &Event<'_>) {
    let now = std::time::Instant::now();
    let mut b = LIMITED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(last) = b.last {
        let refill = now.duration_since(last).as_secs_f64() * LIMITED_PER_SEC;
        b.tokens = (b.tokens + refill).min(LIMITED_BURST);
    }
    b.last = Some(now);
    if b.tokens < 1.0 {
        b.suppressed += 1;
        return;
    }
    b.tokens -= 1.0;
    let suppressed = std::mem::take(&mut b.suppressed);
    drop(b);
    report_suppressed(suppressed);
    record(e);
}

/// Logs how many rate-limited lines were left out, if any (periodically
/// and at shutdown).
pub fn flush_suppressed() {
    let suppressed =
        std::mem::take(&mut LIMITED.lock().unwrap_or_else(|p| p.into_inner()).suppressed);
    report_suppressed(suppressed);
}

fn report_suppressed(n: u64) {
    if n > 0 {
        logging::audit(
            format!(
                "audit: {n} audit lines suppressed (refusals of peers that may do nothing, \
                 over {LIMITED_PER_SEC} a second)"
            ),
            true,
        );
    }
}

/// cPanel's accounting-log verbs.
#[derive(Debug, Clone, Copy)]
pub enum Accounting {
    Create,
    Update,
    Revoke,
}

impl Accounting {
    fn verb(self) -> &'static str {
        match self {
            Accounting::Create => "CREATEAPITOKEN",
            Accounting::Update => "UPDATEAPITOKEN",
            Accounting::Revoke => "REVOKEAPITOKEN",
        }
    }
}

/// Appends `<time>:VERB:<caller>:<owner>:not-applicable:<token name>` lines.
pub fn accounting(path: &Path, verb: Accounting, caller: &str, owner: &str, names: &[String]) {
    if names.is_empty() {
        return;
    }
    let time = chrono::Local::now().format("%a %b %e %H:%M:%S %Y");
    let mut text = String::new();
    for name in names {
        text.push_str(&format!(
            "{time}:{}:{}:{}:not-applicable:{}\n",
            verb.verb(),
            clean(caller, 64),
            clean(owner, 64),
            clean(name, 64)
        ));
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = written {
        logging::error(&format!("cannot append to {}: {e}", path.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Uid;

    #[test]
    fn lines_are_sanitised() {
        let peer = Peer {
            uid: Uid(1001),
            pid: Some(42),
        };
        let names = vec!["ok-name".to_owned(), "evil\nresult=ok".to_owned()];
        let line = format(&Event {
            command: "api_token_revoke",
            peer: Some(&peer),
            user: Some("bob\" x=1"),
            token_names: &names,
            error: Some("not_found"),
            reason: "no \"such\" token\n",
            ..Event::default()
        });
        assert_eq!(
            line,
            r#"audit: command=api_token_revoke result=refused error=not_found peer_uid=1001 peer_pid=42 user=bob\"\x20x=1 token_name=ok-name,evil\nresult=ok reason="no \"such\" token\n""#
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn non_ascii_is_escaped_not_lost() {
        let names = vec![
            "café".to_owned(),
            "\u{430}dmin".to_owned(),
            "a\\b\u{202e}".to_owned(),
        ];
        let line = format(&Event {
            command: "api_token_create",
            token_names: &names,
            error: Some("invalid_name"),
            reason: "invalid token_name “café”",
            ..Event::default()
        });
        assert!(
            line.contains(r"token_name=caf\u{e9},\u{430}dmin,a\\b\u{202e} "),
            "{line}"
        );
        assert!(
            line.contains(r#"reason="invalid token_name “caf\u{e9}”""#),
            "{line}"
        );
        assert!(line.replace(['“', '”'], "").is_ascii(), "{line}");
    }
}
