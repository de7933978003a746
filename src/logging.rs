//! Log lines, to syslog or stderr: operational lines to LOG_DAEMON, audit
//! lines (see `audit`) to LOG_AUTHPRIV.
//!
//! Request handlers only append a finished line to a shared buffer; one
//! logger thread drains it every `DRAIN_EVERY` and does the writing. A
//! sender never waits and never wakes the logger (no syscall, no context
//! switch on the request path); only a flush, or the first line after the
//! logger went to sleep, wakes it. The buffer is bounded: when it is full
//! (syslog stopped reading, or cannot keep up with a flood) a line is
//! dropped and counted, and the count is logged once the logger has
//! written what it holds. Nothing on a request path ever blocks on
//! logging. Callers pass finished sentences and are never given a secret
//! to put in one (tokens live in `tokens::Token`, which has no `Display`).

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

use crate::config::LogTarget;

/// Lines buffered before new ones are dropped (and counted).
const QUEUE: usize = 65_536;
/// How often the logger thread writes what was buffered.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

#[derive(Clone, Copy, Debug)]
enum Level {
    Info,
    Warn,
    Error,
}

/// Which syslog facility a line belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// LOG_DAEMON.
    Operational,
    /// LOG_AUTHPRIV.
    Audit,
}

type Line = (Channel, Level, String);

/// The buffer between request handlers and the logger thread.
#[derive(Default)]
struct Shared {
    lines: Vec<Line>,
    /// Bumped by `flush`; the logger answers with `written`.
    flush_requested: u64,
    written: u64,
    /// The logger found nothing for a while and sleeps until woken: the
    /// next line wakes it (once), so an idle daemon has no timer wakeups.
    sleeping: bool,
    /// Lines dropped because the buffer was full, since last reported.
    dropped: u64,
}

struct Queue {
    shared: Mutex<Shared>,
    /// Wakes the logger (the first line after it slept, or a flush).
    wake: Condvar,
    /// Wakes `flush` callers waiting for their lines to be written.
    done: Condvar,
}

static QUEUE_STATE: OnceLock<Queue> = OnceLock::new();

/// The program name on every line (syslog tag, stderr prefix).
static PROGRAM: OnceLock<&'static str> = OnceLock::new();

fn program() -> &'static str {
    PROGRAM.get().copied().unwrap_or("apitokend")
}

/// Names the program on log lines (`apitokend-web` for the front); call
/// before `init`. The daemon's default is `apitokend`.
pub fn set_program(name: &'static str) {
    let _ = PROGRAM.set(name);
}

type Syslog = Logger<LoggerBackend, Formatter3164>;

// One value per process, living in the logger thread: size does not matter.
#[allow(clippy::large_enum_variant)]
enum Sink {
    Stderr,
    Syslog {
        path: PathBuf,
        daemon: Option<Syslog>,
        authpriv: Option<Syslog>,
    },
}

fn connect(path: &Path, facility: Facility) -> Option<Syslog> {
    let formatter = Formatter3164 {
        facility,
        hostname: None,
        process: program().into(),
        pid: std::process::id(),
    };
    syslog::unix_custom(formatter, path).ok()
}

fn send(logger: &mut Syslog, level: Level, msg: &str) -> bool {
    let sent = match level {
        Level::Info => logger.info(msg),
        Level::Warn => logger.warning(msg),
        Level::Error => logger.err(msg),
    };
    sent.is_ok()
}

impl Sink {
    fn write(&mut self, channel: Channel, level: Level, msg: &str) {
        let Sink::Syslog {
            path,
            daemon,
            authpriv,
        } = self
        else {
            return stderr_line(channel, level, msg);
        };
        let (slot, facility) = match channel {
            Channel::Operational => (daemon, Facility::LOG_DAEMON),
            Channel::Audit => (authpriv, Facility::LOG_AUTHPRIV),
        };
        // One reconnect attempt: syslog daemons restart and recreate the socket.
        for _ in 0..2 {
            if slot.is_none() {
                *slot = connect(path, facility);
            }
            if let Some(logger) = slot.as_mut()
                && send(logger, level, msg)
            {
                return;
            }
            *slot = None;
        }
        stderr_line(channel, level, msg);
    }
}

fn stderr_text(channel: Channel, level: Level, msg: &str) -> String {
    let tag = match (channel, level) {
        // Audit lines already start with "audit:" (they do in syslog too).
        (Channel::Audit, _) => return format!("{}: {msg}\n", program()),
        (Channel::Operational, Level::Info) => "info",
        (Channel::Operational, Level::Warn) => "warning",
        (Channel::Operational, Level::Error) => "error",
    };
    format!("{}: {tag}: {msg}\n", program())
}

fn stderr_line(channel: Channel, level: Level, msg: &str) {
    eprint!("{}", stderr_text(channel, level, msg));
}

fn open_sink(target: LogTarget, syslog_socket: &Path) -> Sink {
    match target {
        LogTarget::Stderr => Sink::Stderr,
        LogTarget::Syslog => {
            let daemon = connect(syslog_socket, Facility::LOG_DAEMON);
            if daemon.is_none() {
                eprintln!(
                    "apitokend: warning: syslog at {} unavailable; will retry per line",
                    syslog_socket.display()
                );
            }
            Sink::Syslog {
                path: syslog_socket.to_owned(),
                daemon,
                authpriv: connect(syslog_socket, Facility::LOG_AUTHPRIV),
            }
        }
    }
}

fn run(mut sink: Sink, q: &Queue) {
    loop {
        let (batch, flush, dropped) = {
            let mut g = q.shared.lock().unwrap_or_else(|p| p.into_inner());
            let idle = |g: &Shared| g.lines.is_empty() && g.flush_requested == g.written;
            if idle(&g) {
                // A short nap collects a burst without any wake-up...
                g = q
                    .wake
                    .wait_timeout(g, DRAIN_EVERY)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
                // ...and a quiet daemon sleeps until the next line.
                if idle(&g) {
                    g.sleeping = true;
                    while g.sleeping && idle(&g) {
                        g = q.wake.wait(g).unwrap_or_else(|p| p.into_inner());
                    }
                    g.sleeping = false;
                }
            }
            (
                std::mem::take(&mut g.lines),
                g.flush_requested,
                std::mem::take(&mut g.dropped),
            )
        };
        match &mut sink {
            // One write for the whole batch.
            Sink::Stderr => {
                let text: String = batch
                    .iter()
                    .map(|(c, l, m)| stderr_text(*c, *l, m))
                    .collect();
                let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
            }
            Sink::Syslog { .. } => {
                for (channel, level, msg) in batch {
                    sink.write(channel, level, &msg);
                }
            }
        }
        if dropped > 0 {
            let note =
                format!("{dropped} log lines dropped: the log queue was full (is syslog reading?)");
            sink.write(Channel::Operational, Level::Warn, &note);
        }
        let mut g = q.shared.lock().unwrap_or_else(|p| p.into_inner());
        if g.written != flush && g.lines.is_empty() {
            g.written = flush;
            q.done.notify_all();
        }
    }
}

/// Starts the logger thread once; later calls do nothing.
pub fn init(target: LogTarget, syslog_socket: &Path) {
    if QUEUE_STATE.get().is_some() {
        return;
    }
    let sink = open_sink(target, syslog_socket);
    let queue = QUEUE_STATE.get_or_init(|| Queue {
        shared: Mutex::new(Shared::default()),
        wake: Condvar::new(),
        done: Condvar::new(),
    });
    let started = std::thread::Builder::new()
        .name("apitokend-log".into())
        .spawn(move || run(sink, queue));
    if let Err(e) = started {
        eprintln!("apitokend: warning: no logger thread ({e}); logging to stderr");
    }
}

fn emit(channel: Channel, level: Level, msg: String) {
    let Some(q) = QUEUE_STATE.get() else {
        return stderr_line(channel, level, &msg);
    };
    let mut g = q.shared.lock().unwrap_or_else(|p| p.into_inner());
    if g.lines.len() >= QUEUE {
        g.dropped += 1;
        return;
    }
    g.lines.push((channel, level, msg));
    if g.sleeping {
        g.sleeping = false;
        q.wake.notify_one();
    }
}

/// Waits until every line queued so far is written (shutdown, tests).
pub fn flush() {
    let Some(q) = QUEUE_STATE.get() else {
        return;
    };
    let mut g = q.shared.lock().unwrap_or_else(|p| p.into_inner());
    g.flush_requested += 1;
    let ticket = g.flush_requested;
    q.wake.notify_one();
    while g.written < ticket {
        let (next, timeout) = q
            .done
            .wait_timeout(g, Duration::from_secs(5))
            .unwrap_or_else(|p| p.into_inner());
        g = next;
        if timeout.timed_out() {
            return;
        }
    }
}

pub fn info(msg: &str) {
    emit(Channel::Operational, Level::Info, msg.to_owned());
}

pub fn warn(msg: &str) {
    emit(Channel::Operational, Level::Warn, msg.to_owned());
}

pub fn error(msg: &str) {
    emit(Channel::Operational, Level::Error, msg.to_owned());
}

/// An audit line (LOG_AUTHPRIV); `refused` lines go out as warnings.
pub fn audit(msg: String, refused: bool) {
    let level = if refused { Level::Warn } else { Level::Info };
    emit(Channel::Audit, level, msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_lines_carry_one_tag() {
        assert_eq!(
            stderr_text(Channel::Audit, Level::Warn, "audit: command=x"),
            "apitokend: audit: command=x\n"
        );
        assert_eq!(
            stderr_text(Channel::Operational, Level::Warn, "slow"),
            "apitokend: warning: slow\n"
        );
    }
}
