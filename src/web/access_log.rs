//! One access log line per request, through the shared logger (a request
//! never waits for it).
//!
//! A line never holds a token or an `Authorization` value: headers are not
//! logged, bodies are not logged, and in the query string the value of
//! every parameter that can carry a secret (`token`, the plaintext that
//! `api_token_get_details` takes, the page's `ticket`, and anything named like a password or a
//! secret) is replaced by `REDACTED`.

use std::net::IpAddr;
use std::time::Duration;

/// What one request did.
#[derive(Debug)]
pub struct Entry<'a> {
    pub listener: &'static str,
    pub ip: Option<IpAddr>,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub status: u16,
    /// The authenticated WHM user, once the daemon said who it is.
    pub user: Option<&'a str>,
    /// Why the front refused on its own (never a header value).
    pub note: Option<&'static str>,
    pub elapsed: Duration,
}

const MAX_PATH: usize = 256;
const MAX_QUERY: usize = 512;

/// Whether a parameter's value must never be logged.
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    // `acl-1`, `token-2`: WHM's repeat suffix does not change the meaning.
    let base = match key.rsplit_once('-') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => key.as_str(),
    };
    base == "token"
        // The web page's one-time log-in link and session values.
        || base == "ticket"
        || base == "csrf"
        || base.contains("session")
        || base.contains("pass")
        || base.contains("secret")
        || base.contains("authorization")
}

/// The query string with secret values replaced.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (raw_key, has_value) = match pair.split_once('=') {
                Some((k, _)) => (k, true),
                None => (pair, false),
            };
            let key = super::params::decode(raw_key.as_bytes()).unwrap_or_default();
            if has_value && is_secret(&key) {
                format!("{raw_key}=REDACTED")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub fn format(e: &Entry<'_>) -> String {
    use std::fmt::Write;
    // One buffer, written in place: this runs for every request.
    let mut line = String::with_capacity(160);
    let _ = write!(line, "access: listener={} ip=", e.listener);
    match e.ip {
        Some(ip) => {
            let _ = write!(line, "{ip}");
        }
        None => line.push('-'),
    }
    let _ = write!(
        line,
        " method={} path=\"{}\"",
        super::printable(e.method, 16),
        super::printable(e.path, MAX_PATH)
    );
    if let Some(q) = e.query {
        let _ = write!(
            line,
            " query=\"{}\"",
            super::printable(&redact_query(q), MAX_QUERY)
        );
    }
    let _ = write!(line, " status={}", e.status);
    if let Some(user) = e.user {
        let _ = write!(line, " user={}", super::printable(user, 64));
    }
    if let Some(note) = e.note {
        let _ = write!(line, " refused=\"{note}\"");
    }
    let micros = e.elapsed.as_micros();
    let _ = write!(line, " ms={}.{:03}", micros / 1000, micros % 1000);
    line
}

pub fn record(e: &Entry<'_>) {
    crate::logging::info(&format(e));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let cases = [
            ("api.version=1&token=ABCDEF", "api.version=1&token=REDACTED"),
            (
                "token-1=ABC&token_name=keep",
                "token-1=REDACTED&token_name=keep",
            ),
            ("TOKEN=ABC", "TOKEN=REDACTED"),
            ("%74oken=ABC", "%74oken=REDACTED"),
            ("password=x&user=bob", "password=REDACTED&user=bob"),
            ("new_pass=x", "new_pass=REDACTED"),
            ("client_secret=x", "client_secret=REDACTED"),
            ("token", "token"),
            ("a=1&&b=2", "a=1&&b=2"),
        ];
        for (q, want) in cases {
            assert_eq!(redact_query(q), want, "{q}");
        }
    }

    #[test]
    fn line_is_sanitised() {
        let line = format(&Entry {
            listener: "https",
            ip: Some("203.0.113.7".parse().expect("ip")),
            method: "GET",
            path: "/json-api/x\"\n forged=1",
            query: Some("token=SECRETSECRET&a=1"),
            status: 403,
            user: None,
            note: Some("no credentials"),
            elapsed: Duration::from_micros(1500),
        });
        assert!(!line.contains("SECRETSECRET"), "{line}");
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("status=403"), "{line}");
        assert!(line.contains("ms=1.500"), "{line}");
        assert!(!line.contains("\" forged"), "{line}");
    }
}
