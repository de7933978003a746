//! What every request handler of the front shares: its configuration, the
//! links to the daemon's sockets, the connection limits and the upstream
//! client. The front holds no store, no pepper, no account data: every
//! decision comes from the daemon.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::config::{Upstream, WebConfig};
use super::conn::Limits;
use super::daemon_link::Link;
use super::json_api::forward::UpstreamClient;

/// Persistent connections kept to each daemon socket.
const LINK_SLOTS: usize = 4;
/// How long a daemon call may take (a first use of a token runs Argon2
/// behind a semaphore; a burst of them queues).
const DAEMON_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Front {
    pub web: WebConfig,
    pub trusted: Vec<IpNet>,
    /// verify(user, token, ip, function): the gate and forwarded functions.
    pub verify: Link,
    /// Token-authenticated management (the daemon checks the peer is us).
    pub control: Link,
    pub upstream: Option<(Upstream, UpstreamClient)>,
    pub limits: Arc<Limits>,
}

/// The daemon sockets the front talks to.
#[derive(Clone, Debug)]
pub struct DaemonSockets {
    pub control: PathBuf,
    pub verify: PathBuf,
    /// The daemon's `limits.idle_timeout_secs`.
    pub idle: Duration,
}

impl Front {
    pub fn new(web: WebConfig, daemon: &DaemonSockets) -> Result<Front, String> {
        let trusted = web.trusted_proxies()?;
        let upstream = web
            .upstream()?
            .map(|u| (u, super::json_api::forward::client()));
        let limits = Limits::new(web.max_connections, web.max_connections_per_ip);
        Ok(Front {
            trusted,
            verify: Link::new(
                daemon.verify.clone(),
                LINK_SLOTS,
                DAEMON_TIMEOUT,
                daemon.idle,
            ),
            control: Link::new(
                daemon.control.clone(),
                LINK_SLOTS,
                DAEMON_TIMEOUT,
                daemon.idle,
            ),
            upstream,
            limits,
            web,
        })
    }
}
