//! Blocking client for the daemon's sockets, used by the CLI and PAM module.
//!
//! Plain `std` sockets with read and write timeouts: a caller must never hang
//! on a stuck daemon. The serialized request is zeroized after sending since
//! it may carry a token.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::framing::{Frame, LineFramer};
use crate::{Request, Response};

/// Replies can be large (a list of many tokens); cap them anyway.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug)]
pub enum ClientError {
    /// The socket could not be reached (absent, refused, permission).
    Connect(io::Error),
    /// The daemon did not answer within the timeout.
    Timeout,
    /// The connection failed or closed mid-exchange.
    Io(io::Error),
    /// The daemon sent something that is not a reply.
    Protocol(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect(e) => write!(f, "cannot connect to the daemon: {e}"),
            ClientError::Timeout => f.write_str("the daemon did not answer in time"),
            ClientError::Io(e) => write!(f, "connection to the daemon failed: {e}"),
            ClientError::Protocol(m) => write!(f, "unexpected reply from the daemon: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

fn io_err(e: io::Error) -> ClientError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout,
        _ => ClientError::Io(e),
    }
}

/// One connection; reusable for many requests.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    framer: LineFramer,
    ready: Vec<Frame>,
    timeout: Duration,
}

impl Client {
    /// Connects and sets both timeouts to `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let stream = loop {
            match UnixStream::connect(path) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.map_err(ClientError::Connect)?,
            }
        };
        stream
            .set_read_timeout(Some(timeout))
            .map_err(ClientError::Connect)?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(ClientError::Connect)?;
        Ok(Client {
            stream,
            framer: LineFramer::new(MAX_RESPONSE_BYTES),
            ready: Vec::new(),
            timeout,
        })
    }

    /// Sends one request and waits for its reply.
    pub fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        let mut line = Zeroizing::new(
            serde_json::to_vec(request).map_err(|e| ClientError::Protocol(e.to_string()))?,
        );
        line.push(b'\n');
        self.stream.write_all(&line).map_err(io_err)?;
        self.read_response()
    }

    /// Sends raw bytes (tests and `call` of odd input use this).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes).map_err(io_err)
    }

    /// Reads the next reply line.
    ///
    /// A signal interrupting the wait (a PAM host's SIGCHLD or SIGALRM, a
    /// SIGSTOP/SIGCONT) does not fail the call: the read resumes with what
    /// is left of the timeout.
    pub fn read_response(&mut self) -> Result<Response, ClientError> {
        let mut buf = Zeroizing::new(vec![0u8; 16 * 1024]);
        let deadline = Instant::now() + self.timeout;
        let mut shortened = false;
        loop {
            if !self.ready.is_empty() {
                if shortened {
                    self.stream
                        .set_read_timeout(Some(self.timeout))
                        .map_err(ClientError::Io)?;
                }
                return match self.ready.remove(0) {
                    Frame::Line(l) => serde_json::from_slice(&l)
                        .map_err(|e| ClientError::Protocol(format!("not a reply ({e})"))),
                    Frame::TooLong => Err(ClientError::Protocol("reply too large".into())),
                };
            }
            let n = match self.stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(ClientError::Timeout);
                    }
                    self.stream
                        .set_read_timeout(Some(left))
                        .map_err(ClientError::Io)?;
                    shortened = true;
                    continue;
                }
                Err(e) => return Err(io_err(e)),
            };
            if n == 0 {
                return Err(ClientError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the daemon closed the connection",
                )));
            }
            self.framer.push(&buf[..n], &mut self.ready);
        }
    }

    /// The underlying stream, e.g. to half-close it in tests.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }
}

/// Connects, sends one request, returns its reply.
pub fn call_once(
    path: &Path,
    timeout: Duration,
    request: &Request,
) -> Result<Response, ClientError> {
    Client::connect(path, timeout)?.call(request)
}
