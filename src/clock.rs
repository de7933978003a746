//! The daemon's notion of "now", injected so expiry is testable without
//! sleeping.
//!
//! Production uses the system clock. Debug builds (what `cargo test` builds)
//! also honour `APITOKEND_TEST_CLOCK_FILE`: a file holding a Unix time that
//! is re-read on every call, so an integration test can move the running
//! daemon's time forward. Release builds ignore that variable entirely.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> i64;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that reads the time from a file (debug builds only).
#[cfg(debug_assertions)]
#[derive(Debug)]
pub struct FileClock(pub std::path::PathBuf);

#[cfg(debug_assertions)]
impl Clock for FileClock {
    fn now(&self) -> i64 {
        std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| SystemClock.now())
    }
}

/// The clock the daemon binary runs with.
pub fn from_environment() -> Arc<dyn Clock> {
    #[cfg(debug_assertions)]
    if let Some(path) = std::env::var_os("APITOKEND_TEST_CLOCK_FILE") {
        return Arc::new(FileClock(path.into()));
    }
    Arc::new(SystemClock)
}
