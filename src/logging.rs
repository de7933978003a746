//! Operational log lines, to syslog (LOG_DAEMON) or stderr.
//!
//! Request handlers only queue a finished line; one logger thread does the
//! writing, so a refused verify costs a channel send, not a syscall. The
//! queue is bounded and a full queue blocks the sender: under a flood the
//! daemon slows down rather than losing lines. Callers pass finished
//! sentences and are never given a secret to put in one (tokens live in
//! `tokens::Token`, which has no `Display`).

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

enum Message {
    Line(Level, String),
    /// Acknowledged once every earlier line is written.
    Flush(SyncSender<()>),
}

static QUEUE_TX: OnceLock<SyncSender<Message>> = OnceLock::new();

enum Sink {
    Stderr,
    Syslog(Logger<LoggerBackend, Formatter3164>),
}

impl Sink {
    fn write(&mut self, level: Level, msg: &str) {
        match self {
            Sink::Stderr => stderr_line(level, msg),
            Sink::Syslog(logger) => {
                let sent = match level {
                    Level::Info => logger.info(msg),
                    Level::Warn => logger.warning(msg),
                    Level::Error => logger.err(msg),
                };
                if sent.is_err() {
                    stderr_line(level, msg);
                }
            }
        }
    }
}

fn stderr_line(level: Level, msg: &str) {
    let tag = match level {
        Level::Info => "info",
        Level::Warn => "warning",
        Level::Error => "error",
    };
    eprintln!("apitokend: {tag}: {msg}");
}

fn open_sink(target: LogTarget) -> Sink {
    match target {
        LogTarget::Stderr => Sink::Stderr,
        LogTarget::Syslog => {
            let formatter = Formatter3164 {
                facility: Facility::LOG_DAEMON,
                hostname: None,
                process: "apitokend".into(),
                pid: std::process::id(),
            };
            match syslog::unix(formatter) {
                Ok(logger) => Sink::Syslog(logger),
                Err(e) => {
                    eprintln!("apitokend: warning: syslog unavailable ({e}); logging to stderr");
                    Sink::Stderr
                }
            }
        }
    }
}

fn run(mut sink: Sink, rx: &Receiver<Message>) {
    while let Ok(message) = rx.recv() {
        match message {
            Message::Line(level, msg) => sink.write(level, &msg),
            Message::Flush(ack) => {
                let _ = ack.send(());
            }
        }
    }
}

/// Starts the logger thread once; later calls do nothing.
pub fn init(target: LogTarget) {
    if QUEUE_TX.get().is_some() {
        return;
    }
    let (tx, rx) = sync_channel(QUEUE);
    let sink = open_sink(target);
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

fn emit(level: Level, msg: String) {
    match QUEUE_TX.get() {
        Some(tx) => {
            if let Err(std::sync::mpsc::SendError(Message::Line(level, msg))) =
                tx.send(Message::Line(level, msg))
            {
                stderr_line(level, &msg);
            }
        }
        None => stderr_line(level, &msg),
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
    emit(Level::Info, msg.to_owned());
}

pub fn warn(msg: &str) {
    emit(Level::Warn, msg.to_owned());
}

pub fn error(msg: &str) {
    emit(Level::Error, msg.to_owned());
}
