//! One client connection: framed reads with a size cap and a deadline for
//! each whole request line, and one reply line per request.
//!
//! Framing is `apitokend_proto::framing`, shared with the blocking client.
//! The deadline runs from the connection's start, then from each reply: a
//! request line that is not complete by then ends the connection, however
//! its bytes trickle in (one byte, or a blank line, every few seconds
//! resets nothing). A reply the client does not read within the idle time
//! ends it too, so a slot is never held by a client that stopped reading.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use apitokend_proto::framing::{Frame, LineFramer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::Instant;

use crate::reply::Reply;

#[derive(Debug)]
pub(crate) enum ReadError {
    /// No complete request line by the deadline.
    Idle,
    /// The peer reset or the socket failed: nothing more to read.
    Io,
}

#[derive(Debug)]
pub(crate) struct Connection {
    stream: UnixStream,
    framer: LineFramer,
    ready: VecDeque<Frame>,
    idle: Duration,
    /// When the next request line must be complete.
    deadline: Instant,
    buf: Box<[u8]>,
}

impl Connection {
    pub(crate) fn new(stream: UnixStream, max_line: usize, idle: Duration) -> Connection {
        Connection {
            stream,
            framer: LineFramer::new(max_line),
            ready: VecDeque::new(),
            idle,
            deadline: Instant::now() + idle,
            buf: vec![0u8; 8192].into_boxed_slice(),
        }
    }

    /// Brings the deadline of the next request line forward to `within`
    /// from now, if that is sooner.
    pub(crate) fn shorten_deadline(&mut self, within: Duration) {
        self.deadline = self.deadline.min(Instant::now() + within);
    }

    /// The next complete frame; `Ok(None)` at end of stream. Cancel-safe:
    /// bytes already read stay in the framer.
    pub(crate) async fn next_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Ok(Some(frame));
            }
            let read = tokio::time::timeout_at(self.deadline, self.stream.read(&mut self.buf));
            let n = match read.await {
                Err(_) => return Err(ReadError::Idle),
                Ok(Err(_)) => return Err(ReadError::Io),
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                return Ok(None);
            }
            let mut frames = Vec::new();
            self.framer.push(&self.buf[..n], &mut frames);
            // The read buffer may hold a token: clear what was used.
            self.buf[..n].fill(0);
            self.ready.extend(frames);
        }
    }

    /// A frame that is complete without waiting: buffered already, or in
    /// bytes the kernel holds for us now (used while shutting down).
    pub(crate) fn next_ready_frame(&mut self) -> Option<Frame> {
        if let Some(frame) = self.ready.pop_front() {
            return Some(frame);
        }
        loop {
            match self.stream.try_read(&mut self.buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => {
                    let mut frames = Vec::new();
                    self.framer.push(&self.buf[..n], &mut frames);
                    self.buf[..n].fill(0);
                    self.ready.extend(frames);
                    if let Some(frame) = self.ready.pop_front() {
                        return Some(frame);
                    }
                }
            }
        }
    }

    /// Writes one reply line (the reply is gone once serialized, so a
    /// large one is not held twice while the client reads it), then starts
    /// the next request line's deadline.
    pub(crate) async fn send(&mut self, reply: Reply) -> io::Result<()> {
        let line = reply.into_line().map_err(io::Error::other)?;
        let written = match tokio::time::timeout(self.idle, self.stream.write_all(&line)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "client is not reading",
            )),
        };
        self.deadline = Instant::now() + self.idle;
        written
    }
}
