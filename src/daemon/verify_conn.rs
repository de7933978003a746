//! One verify connection's state, whoever serves it: its own thread
//! (`threaded`) while it is busy, the parking loop (`parked`) while it is
//! quiet. The bytes read and not yet answered, the line being skipped, the
//! request-line deadline and the replies not yet written all travel with
//! it, so a connection moves between the two without losing a byte.

use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Instant;

use apitokend_proto::{ErrorCode, Response};

use super::slots::Ticket;
use super::threaded::{Live, Shared};
use crate::authz::Peer;
use crate::logging;
use crate::reply::Reply;
use crate::verify::Answer;

/// Read buffer at first; it grows, up to the line cap, for long lines.
const FIRST_BUFFER: usize = 4096;

/// Frees the connection's slot and registry entry when it ends, whoever
/// holds it then.
#[derive(Debug)]
struct Ends {
    live: Arc<Live>,
    id: u64,
    _ticket: Ticket,
}

impl Drop for Ends {
    fn drop(&mut self) {
        self.live.remove(self.id);
    }
}

/// Zeroes the buffer when the connection ends: it held tokens.
#[derive(Debug)]
struct Buffer(Vec<u8>);

impl Drop for Buffer {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// How a pass over the buffered lines ended.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    /// Every complete line is answered.
    Done,
    /// A line needs the general path, which may wait (Argon2): it is left
    /// first in the buffer for a thread to answer.
    NeedsThread,
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) stream: UnixStream,
    pub(super) peer: Peer,
    pub(super) id: u64,
    buf: Buffer,
    /// `buf[..filled]` holds unanswered bytes; `buf[..scanned]` no newline.
    filled: usize,
    scanned: usize,
    /// The rest of an over-long line is being skipped.
    discarding: bool,
    /// When the next request line must be complete.
    pub(super) deadline: Instant,
    /// Replies not yet written.
    pub(super) out: Vec<u8>,
    _ends: Ends,
}

impl Conn {
    pub(super) fn new(
        stream: UnixStream,
        peer: Peer,
        id: u64,
        ticket: Ticket,
        shared: &Shared,
    ) -> Conn {
        let max_line = shared.limits.max_request_bytes;
        Conn {
            stream,
            peer,
            id,
            buf: Buffer(vec![0u8; FIRST_BUFFER.min(max_line + 1)]),
            filled: 0,
            scanned: 0,
            discarding: false,
            deadline: Instant::now() + shared.idle(),
            out: Vec::with_capacity(512),
            _ends: Ends {
                live: Arc::clone(&shared.live),
                id,
                _ticket: ticket,
            },
        }
    }

    /// One read from the socket into the buffer (blocking or not, as the
    /// socket is set); `Ok(0)` at end of stream.
    pub(super) fn read_more(&mut self) -> std::io::Result<usize> {
        use std::io::Read;
        let n = (&self.stream).read(&mut self.buf.0[self.filled..])?;
        self.filled += n;
        Ok(n)
    }

    /// Answers the complete lines read so far into `out` (blank lines get
    /// none; an over-long line one refusal, as soon as it passes the cap).
    /// `general`: whether a line the fast path leaves may be answered here,
    /// waiting on the daemon's runtime; if not, the pass stops at it.
    pub(super) fn answer_lines(&mut self, shared: &Shared, general: bool) -> Pass {
        let max_line = shared.limits.max_request_bytes;
        let mut start = 0;
        let mut pass = Pass::Done;
        while let Some(at) = self.buf.0[self.scanned..self.filled]
            .iter()
            .position(|&b| b == b'\n')
        {
            let end = self.scanned + at;
            if self.discarding {
                self.discarding = false;
            } else {
                let line = &self.buf.0[start..end];
                if !line.iter().all(u8::is_ascii_whitespace)
                    && shared.verifier.answer_now(&self.peer, line, &mut self.out) == Answer::Slow
                {
                    if !general {
                        pass = Pass::NeedsThread;
                        break;
                    }
                    let response = shared
                        .runtime
                        .block_on(shared.verifier.handle_line(&self.peer, line));
                    append(Reply::from(response), &mut self.out);
                }
            }
            start = end + 1;
            self.scanned = start;
        }
        if pass == Pass::Done {
            if !self.discarding && self.filled - start > max_line {
                self.discarding = true;
                let reply = Response::fail(
                    "",
                    ErrorCode::RequestTooLarge,
                    format!("The request line exceeds {max_line} bytes."),
                );
                append(Reply::from(reply), &mut self.out);
            }
            if self.discarding {
                start = self.filled;
            }
        }
        // Keep the unfinished line at the front; clear what was answered.
        self.buf.0.copy_within(start..self.filled, 0);
        self.filled -= start;
        self.buf.0[self.filled..self.filled + start].fill(0);
        self.scanned = match pass {
            Pass::Done => self.filled,
            // The line left is scanned again by whoever answers it.
            Pass::NeedsThread => 0,
        };
        if self.filled == self.buf.0.len() {
            let grown = (self.buf.0.len() * 2).min(max_line + 1);
            self.buf.0.resize(grown, 0);
        }
        pass
    }
}

pub(super) fn append(reply: Reply, out: &mut Vec<u8>) {
    match reply.into_line() {
        Ok(line) => out.extend_from_slice(&line),
        Err(e) => logging::error(&format!("cannot serialize a reply: {e}")),
    }
}
