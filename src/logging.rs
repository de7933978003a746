//! Operational log lines, to syslog (LOG_DAEMON) or stderr.
//!
//! Callers pass finished sentences; nothing here formats request data, so
//! a secret can only reach a log if a caller puts it in a message — and no
//! caller is given one (tokens live in `tokens::Token`, which has no
//! `Display`).

use std::sync::{Mutex, OnceLock};

use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

use crate::config::LogTarget;

enum Sink {
    Stderr,
    Syslog(Mutex<Logger<LoggerBackend, Formatter3164>>),
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Chooses the sink once, at start; falls back to stderr if syslog is
/// unreachable (and says so).
pub fn init(target: LogTarget) {
    let sink = match target {
        LogTarget::Stderr => Sink::Stderr,
        LogTarget::Syslog => {
            let formatter = Formatter3164 {
                facility: Facility::LOG_DAEMON,
                hostname: None,
                process: "apitokend".into(),
                pid: std::process::id(),
            };
            match syslog::unix(formatter) {
                Ok(logger) => Sink::Syslog(Mutex::new(logger)),
                Err(e) => {
                    eprintln!("apitokend: warning: syslog unavailable ({e}); logging to stderr");
                    Sink::Stderr
                }
            }
        }
    };
    let _ = SINK.set(sink);
}

#[derive(Clone, Copy)]
enum Level {
    Info,
    Warn,
    Error,
}

fn emit(level: Level, msg: &str) {
    match SINK.get().unwrap_or(&Sink::Stderr) {
        Sink::Stderr => {
            let tag = match level {
                Level::Info => "info",
                Level::Warn => "warning",
                Level::Error => "error",
            };
            eprintln!("apitokend: {tag}: {msg}");
        }
        Sink::Syslog(logger) => {
            let mut logger = logger.lock().unwrap_or_else(|p| p.into_inner());
            let sent = match level {
                Level::Info => logger.info(msg),
                Level::Warn => logger.warning(msg),
                Level::Error => logger.err(msg),
            };
            if sent.is_err() {
                eprintln!("apitokend: {msg}");
            }
        }
    }
}

pub fn info(msg: &str) {
    emit(Level::Info, msg);
}

pub fn warn(msg: &str) {
    emit(Level::Warn, msg);
}

pub fn error(msg: &str) {
    emit(Level::Error, msg);
}
