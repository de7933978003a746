//! The web page's log-in and sessions, held by the root daemon: the front
//! (`apitokend-web`) only relays and sets the cookie.
//!
//! `table` (sessions: 256-bit ids, CSRF tokens, idle and absolute expiry,
//! bounded), `tickets` (one-time log-in links from `apitoken web-login`),
//! `login` (password through PAM, ticket, or API token; lockout), `secret`
//! (random bearer secrets and how tables key them). Nothing here is
//! written to disk: a restart logs everyone out.

pub(crate) mod info;
pub(crate) mod login;
pub(crate) mod relay;
pub(crate) mod secret;
pub(crate) mod table;
pub(crate) mod tickets;

use std::sync::RwLock;

use login::{PAM_SLOTS, Slots};
use table::{Lifetimes, Sessions};
use tickets::Tickets;

/// The PAM service the daemon checks web passwords with.
pub(crate) const DEFAULT_PAM_SERVICE: &str = "apitokend-web";
pub(crate) const DEFAULT_IDLE_SECS: u64 = 1800;
pub(crate) const DEFAULT_MAX_SECS: u64 = 43_200;

/// What the configuration says about sessions (`[web]` keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) idle_secs: u64,
    pub(crate) max_secs: u64,
    pub(crate) pam_service: String,
    /// `https://host:port` of the front, for log-in links.
    pub(crate) login_origin: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            idle_secs: DEFAULT_IDLE_SECS,
            max_secs: DEFAULT_MAX_SECS,
            pam_service: DEFAULT_PAM_SERVICE.to_owned(),
            login_origin: "https://localhost:2087".to_owned(),
        }
    }
}

impl Settings {
    /// From the `[web]` section.
    pub(crate) fn from_config(web: &crate::web::config::WebConfig) -> Settings {
        Settings {
            idle_secs: web.session_idle_secs,
            max_secs: web.session_max_secs,
            pam_service: web.pam_service.clone(),
            login_origin: login_origin(web),
        }
    }

    pub(crate) fn lifetimes(&self) -> Lifetimes {
        let secs = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Lifetimes {
            idle_secs: secs(self.idle_secs),
            max_secs: secs(self.max_secs),
        }
    }
}

/// Where a log-in link points: the first HTTPS listener; a wildcard
/// address means this host's name.
fn login_origin(web: &crate::web::config::WebConfig) -> String {
    let Some(addr) = web.listen.first() else {
        return format!("https://{}:2087", host_name());
    };
    let host = match addr.ip() {
        ip if ip.is_unspecified() => host_name(),
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    format!("https://{host}:{}", addr.port())
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Sessions, tickets and the PAM limit, shared by the control path.
#[derive(Debug)]
pub(crate) struct Web {
    pub(crate) sessions: Sessions,
    pub(crate) tickets: Tickets,
    pub(crate) pam_slots: Slots,
    settings: RwLock<Settings>,
}

impl Web {
    pub(crate) fn new(settings: Settings) -> Web {
        Web {
            sessions: Sessions::default(),
            tickets: Tickets::default(),
            pam_slots: Slots::new(PAM_SLOTS),
            settings: RwLock::new(settings),
        }
    }

    pub(crate) fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// New lifetimes apply to live sessions too (a shorter idle time ends
    /// the sessions idle longer than that).
    pub(crate) fn set_settings(&self, settings: Settings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }
}
