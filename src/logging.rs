//! Log lines, to syslog or stderr: operational lines to LOG_DAEMON, audit
//! lines (see `audit`) to LOG_AUTHPRIV.
//!
//! Request handlers only queue a finished line; one logger thread does the
//! writing, so a refused verify costs a channel send, not a syscall. The
//! queue is bounded and a full queue blocks the sender: under a flood the
//! daemon slows down rather than losing lines. Callers pass finished
//! sentences and are never given a secret to put in one (tokens live in
//! `tokens::Token`, which has no `Display`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

use crate::config::LogTarget;

const QUEUE: usize = 65_536;

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

enum Message {
    Line(Channel, Level, String),
    /// Acknowledged once every earlier line is written.
    Flush(SyncSender<()>),
}

static QUEUE_TX: OnceLock<SyncSender<Message>> = OnceLock::new();

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
        process: "apitokend".into(),
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

fn stderr_line(channel: Channel, level: Level, msg: &str) {
    let tag = match (channel, level) {
        (Channel::Audit, _) => "audit",
        (Channel::Operational, Level::Info) => "info",
        (Channel::Operational, Level::Warn) => "warning",
        (Channel::Operational, Level::Error) => "error",
    };
    eprintln!("apitokend: {tag}: {msg}");
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

fn run(mut sink: Sink, rx: &Receiver<Message>) {
    while let Ok(message) = rx.recv() {
        match message {
            Message::Line(channel, level, msg) => sink.write(channel, level, &msg),
            Message::Flush(ack) => {
                let _ = ack.send(());
            }
        }
    }
}

/// Starts the logger thread once; later calls do nothing.
pub fn init(target: LogTarget, syslog_socket: &Path) {
    if QUEUE_TX.get().is_some() {
        return;
    }
    let (tx, rx) = sync_channel(QUEUE);
    let sink = open_sink(target, syslog_socket);
    let started = std::thread::Builder::new()
        .name("apitokend-log".into())
        .spawn(move || run(sink, &rx));
    match started {
        Ok(_) => {
            let _ = QUEUE_TX.set(tx);
        }
        Err(e) => eprintln!("apitokend: warning: no logger thread ({e}); logging inline"),
    }
}

fn emit(channel: Channel, level: Level, msg: String) {
    match QUEUE_TX.get() {
        Some(tx) => {
            if let Err(std::sync::mpsc::SendError(Message::Line(channel, level, msg))) =
                tx.send(Message::Line(channel, level, msg))
            {
                stderr_line(channel, level, &msg);
            }
        }
        None => stderr_line(channel, level, &msg),
    }
}

/// Waits until every line queued so far is written (shutdown, tests).
pub fn flush() {
    if let Some(tx) = QUEUE_TX.get() {
        let (ack_tx, ack_rx) = sync_channel(1);
        if tx.send(Message::Flush(ack_tx)).is_ok() {
            let _ = ack_rx.recv();
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
