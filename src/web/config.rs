//! The `[web]` section of apitokend.toml: the HTTPS front's keys.
//!
//! It lives in the daemon's configuration type so one file configures both
//! processes, `apitokend --check-config` validates it, and the daemon knows
//! which account (`user`) may relay token-authenticated requests.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// The account the front runs as (it switches to it when started as root).
    pub user: String,
    /// The front's own directory: the self-signed certificate and key.
    pub state_dir: PathBuf,
    /// HTTPS listeners.
    pub listen: Vec<SocketAddr>,
    /// PEM certificate chain and private key; a self-signed pair in
    /// `state_dir` when unset. Re-read on SIGHUP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Plain-HTTP listeners, loopback addresses only (behind nginx).
    pub http_listen: Vec<SocketAddr>,
    /// Unix socket serving only `GET /auth` for nginx `auth_request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_socket: Option<PathBuf>,
    /// Group given the auth socket (mode 0660); the front's own group when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_socket_group: Option<String>,
    /// `http://host:port`: where WHM API 1 functions not served here go,
    /// once the token is authorized for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// TCP peers whose `X-Real-IP` header is taken as the client address.
    pub trusted_proxies: Vec<String>,
    /// Concurrent connections over all listeners; past it a client gets 503.
    pub max_connections: usize,
    /// Concurrent connections from one address.
    pub max_connections_per_ip: usize,
    /// Request line plus headers, in bytes (past it: 431).
    pub max_header_bytes: usize,
    /// Number of request headers (past it: 431).
    pub max_headers: usize,
    /// Request target length in bytes (past it: 414).
    pub max_uri_bytes: usize,
    /// Request body in bytes (past it: 413).
    pub max_body_bytes: usize,
    pub tls_handshake_timeout_secs: u64,
    /// A new connection, or a keep-alive one between requests, must send
    /// a whole request head within this time.
    pub header_timeout_secs: u64,
    /// From the end of the headers to the end of the body. A reply the
    /// client stops reading is dropped after header + request timeout.
    pub request_timeout_secs: u64,
    /// A web page session ends after this long without a request...
    pub session_idle_secs: u64,
    /// ...and this long after its log-in in any case.
    pub session_max_secs: u64,
    /// The PAM service the daemon checks web log-in passwords with.
    pub pam_service: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            user: "apitokend-web".to_owned(),
            state_dir: PathBuf::from("/var/lib/apitokend-web"),
            listen: vec![
                SocketAddr::from(([0, 0, 0, 0], 2087)),
                SocketAddr::from(([0u16; 8], 2087)),
            ],
            tls_cert: None,
            tls_key: None,
            http_listen: Vec::new(),
            auth_socket: None,
            auth_socket_group: None,
            upstream: None,
            trusted_proxies: Vec::new(),
            max_connections: 1024,
            max_connections_per_ip: 64,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: 64 * 1024,
            tls_handshake_timeout_secs: 10,
            header_timeout_secs: 10,
            request_timeout_secs: 30,
            session_idle_secs: 1800,
            session_max_secs: 43_200,
            pam_service: "apitokend-web".to_owned(),
        }
    }
}

/// An upstream base URL, split once at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port` for the connection and the `Host` header.
    pub authority: String,
}

impl WebConfig {
    /// Checks every key; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !crate::accounts::is_valid_user_name(&self.user) || self.user == "root" {
            return Err("web.user must be the name of an unprivileged account".to_owned());
        }
        for (key, p) in [
            ("web.state_dir", Some(&self.state_dir)),
            ("web.tls_cert", self.tls_cert.as_ref()),
            ("web.tls_key", self.tls_key.as_ref()),
            ("web.auth_socket", self.auth_socket.as_ref()),
        ] {
            if p.is_some_and(|p| !p.is_absolute()) {
                return Err(format!("{key} must be an absolute path"));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("web.tls_cert and web.tls_key go together".to_owned());
        }
        if let Some(a) = self.http_listen.iter().find(|a| !a.ip().is_loopback()) {
            return Err(format!(
                "web.http_listen: {a} is not a loopback address (plain HTTP is for a local proxy only)"
            ));
        }
        if self
            .auth_socket_group
            .as_ref()
            .is_some_and(|g| g.is_empty() || g.contains(['/', ':', '\0']))
        {
            return Err("web.auth_socket_group must be a group name".to_owned());
        }
        if self.listen.is_empty() && self.http_listen.is_empty() && self.auth_socket.is_none() {
            return Err(
                "web: at least one of listen, http_listen and auth_socket is needed".to_owned(),
            );
        }
        self.upstream()?;
        self.trusted_proxies()?;
        let ranges: [(&str, usize, usize, usize); 6] = [
            ("web.max_connections", self.max_connections, 1, 1_000_000),
            (
                "web.max_connections_per_ip",
                self.max_connections_per_ip,
                1,
                1_000_000,
            ),
            ("web.max_header_bytes", self.max_header_bytes, 1024, 1 << 20),
            ("web.max_headers", self.max_headers, 8, 1024),
            ("web.max_uri_bytes", self.max_uri_bytes, 256, 1 << 20),
            ("web.max_body_bytes", self.max_body_bytes, 1024, 64 << 20),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(format!("{key} must be between {min} and {max}"));
            }
        }
        for (key, value) in [
            (
                "web.tls_handshake_timeout_secs",
                self.tls_handshake_timeout_secs,
            ),
            ("web.header_timeout_secs", self.header_timeout_secs),
            ("web.request_timeout_secs", self.request_timeout_secs),
        ] {
            if !(1..=3600).contains(&value) {
                return Err(format!("{key} must be between 1 and 3600"));
            }
        }
        if !(60..=86_400).contains(&self.session_idle_secs) {
            return Err("web.session_idle_secs must be between 60 and 86400".to_owned());
        }
        if !(60..=2_592_000).contains(&self.session_max_secs)
            || self.session_max_secs < self.session_idle_secs
        {
            return Err(
                "web.session_max_secs must be between 60 and 2592000 and at least session_idle_secs"
                    .to_owned(),
            );
        }
        if self.pam_service.is_empty()
            || !self
                .pam_service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            || self.pam_service.starts_with('.')
        {
            return Err(
                "web.pam_service must be a PAM service name (letters, digits, -_.)".to_owned(),
            );
        }
        Ok(())
    }

    /// `trusted_proxies` parsed: addresses are single-host ranges.
    pub fn trusted_proxies(&self) -> Result<Vec<IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| {
                        format!(
                            "web.trusted_proxies: “{}” is not an address or range",
                            super::printable(s, 64)
                        )
                    })
            })
            .collect()
    }

    /// `upstream` parsed: only `http://host[:port]` with no path or query.
    pub fn upstream(&self) -> Result<Option<Upstream>, String> {
        let Some(url) = &self.upstream else {
            return Ok(None);
        };
        let bad = || {
            Err(
                "web.upstream must look like http://host:port (plain HTTP, no path, no query)"
                    .to_owned(),
            )
        };
        let Some(rest) = url.strip_prefix("http://") else {
            return bad();
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty()
            || authority.contains(['/', '?', '#', '@'])
            || authority.parse::<hyper::http::uri::Authority>().is_err()
        {
            return bad();
        }
        Ok(Some(Upstream {
            authority: authority.to_owned(),
        }))
    }

    pub fn tls_handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.tls_handshake_timeout_secs)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, String> {
        let c: WebConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn defaults_are_valid() {
        let c = parse("").unwrap();
        assert_eq!(c, WebConfig::default());
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.upstream().unwrap(), None);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("user = \"root\"", "web.user"),
            ("user = \"a b\"", "web.user"),
            ("state_dir = \"rel\"", "web.state_dir"),
            ("tls_cert = \"/c.pem\"", "tls_key"),
            ("http_listen = [\"0.0.0.0:8080\"]", "loopback"),
            ("http_listen = [\"192.0.2.1:8080\"]", "loopback"),
            ("upstream = \"https://x\"", "web.upstream"),
            ("upstream = \"http://x/path\"", "web.upstream"),
            ("upstream = \"http://\"", "web.upstream"),
            ("upstream = \"http://u@x:80\"", "web.upstream"),
            ("trusted_proxies = [\"nope\"]", "web.trusted_proxies"),
            ("max_connections = 0", "web.max_connections"),
            ("max_header_bytes = 10", "web.max_header_bytes"),
            ("max_body_bytes = 1", "web.max_body_bytes"),
            ("header_timeout_secs = 0", "web.header_timeout_secs"),
            ("listen = []", "at least one"),
            ("auth_socket_group = \"\"", "web.auth_socket_group"),
        ];
        for (text, key) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
        assert!(parse("bogus = 1").unwrap_err().contains("bogus"));
    }

    #[test]
    fn good_values_parse() {
        let c = parse(
            "listen = [\"127.0.0.1:0\"]\nhttp_listen = [\"127.0.0.1:8080\", \"[::1]:8080\"]\n\
             upstream = \"http://127.0.0.1:9000/\"\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n",
        )
        .unwrap();
        assert_eq!(c.upstream().unwrap().unwrap().authority, "127.0.0.1:9000");
        let t = c.trusted_proxies().unwrap();
        assert!(t[0].contains(&"127.0.0.1".parse::<IpAddr>().unwrap()));
        assert!(t[1].contains(&"10.9.8.7".parse::<IpAddr>().unwrap()));
        assert!(parse("listen = []\nauth_socket = \"/run/x.sock\"").is_ok());
    }
}
