//! The verify socket's server: one thread per connection.
//!
//! A cached verify then costs what an echo server costs the kernel: the
//! client's write wakes the one thread blocked in `read` on that socket,
//! which answers synchronously (`Verifier::answer_now`) and writes; no
//! readiness syscall, no wake-up of another thread, and every core serves.
//! Only a line the fast path does not take (a token's first use, anything
//! unusual) enters the daemon's runtime, on this same thread
//! (`Handle::block_on`), so Argon2 still waits for its turn under the
//! daemon-wide limit without holding any other connection.
//!
//! What the event loop gave is kept: the shared connection limit with its
//! one-line refusal (`Slots`), a deadline for each whole request line
//! (from the connection's start, then from each reply; the socket's
//! receive timeout carries it, re-set only while a line is incomplete), a
//! reply the client does not read within the idle time ends the
//! connection (send timeout), the line cap with its reply, and the drain:
//! at stop the acceptor ends, each connection's read side is shut (a
//! blocked read returns at once; what already arrived is still read and
//! answered), and `stop` waits for the threads up to the drain deadline.
//! A thread that cannot be started is a refused connection, not a crash.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use apitokend_proto::{ErrorCode, Response};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use tokio::runtime::Handle;

use super::server::{DRAIN_DEADLINE, busy_reason};
use super::slots::{Slots, Ticket};
use crate::accounts::Uid;
use crate::authz::Peer;
use crate::config::Limits;
use crate::logging;
use crate::reply::Reply;
use crate::verify::{Answer, Verifier};

/// Stack of a connection thread: the fast path needs little; the general
/// decoder's recursion is bounded by serde_json's depth limit.
const STACK_BYTES: usize = 256 * 1024;
/// Read buffer at first; it grows, up to the line cap, for long lines.
const FIRST_BUFFER: usize = 4096;

/// Connections being served, so the drain can reach and count them.
#[derive(Debug, Default)]
struct Live {
    conns: Mutex<(u64, HashMap<u64, UnixStream>)>,
    gone: Condvar,
}

impl Live {
    fn add(&self, stream: &UnixStream) -> Option<u64> {
        // A second descriptor of the socket: the drain shuts it down
        // without racing the thread's own close of its descriptor.
        let handle = stream.try_clone().ok()?;
        let mut g = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        let id = g.0;
        g.1.insert(id, handle);
        Some(id)
    }

    fn remove(&self, id: u64) {
        let mut g = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        g.1.remove(&id);
        self.gone.notify_all();
    }

    fn shut_reads(&self) {
        let g = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for s in g.1.values() {
            let _ = s.shutdown(Shutdown::Read);
        }
    }

    /// Waits until every connection ended or `deadline` passed.
    fn drained(&self, deadline: Instant) -> bool {
        let mut g = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        while !g.1.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = self
                .gone
                .wait_timeout(g, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

/// What a connection thread needs.
#[derive(Debug)]
struct Shared {
    verifier: Arc<Verifier>,
    runtime: Handle,
    limits: Limits,
    live: Live,
}

/// The running server; [`VerifyServer::stop`] drains it.
#[derive(Debug)]
pub(crate) struct VerifyServer {
    acceptor: JoinHandle<()>,
    /// Dropping it wakes the acceptor (its poll sees the hang-up).
    wake: UnixStream,
    shared: Arc<Shared>,
}

impl VerifyServer {
    /// Serves `listener` on threads of its own; `runtime` runs the
    /// requests the fast path does not take.
    pub(crate) fn start(
        listener: UnixListener,
        verifier: Arc<Verifier>,
        runtime: Handle,
        limits: Limits,
    ) -> std::io::Result<VerifyServer> {
        let (wake, woken) = UnixStream::pair()?;
        let slots = Slots::shared(limits.max_connections);
        let shared = Arc::new(Shared {
            verifier,
            runtime,
            limits,
            live: Live::default(),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("apitokend-verify".into())
                .spawn(move || accept_loop(&listener, &woken, &slots, &shared))?
        };
        Ok(VerifyServer {
            acceptor,
            wake,
            shared,
        })
    }

    /// Stops accepting, lets every connection answer what it has received,
    /// and waits for them (up to the drain deadline).
    pub(crate) fn stop(self) {
        drop(self.wake);
        if self.acceptor.join().is_err() {
            logging::error("the verify acceptor panicked");
        }
        self.shared.live.shut_reads();
        if !self.shared.live.drained(Instant::now() + DRAIN_DEADLINE) {
            logging::warn("shutdown: some verify connections did not finish in time");
        }
    }
}

fn accept_loop(
    listener: &UnixListener,
    woken: &UnixStream,
    slots: &Arc<Slots>,
    shared: &Arc<Shared>,
) {
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(woken.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                logging::error(&format!("cannot wait for verify connections: {e}"));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        }
        if fds[1].any().unwrap_or(true) {
            return;
        }
        match listener.accept() {
            Ok((stream, _)) => admit(stream, slots, shared),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => {
                // EMFILE and the like: back off instead of spinning.
                logging::error(&format!("accept failed: {e}"));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The kernel's word on who connected (read at accept, before any byte).
fn peer_of(stream: &UnixStream) -> Option<Peer> {
    match getsockopt(stream, PeerCredentials) {
        Ok(cred) => Some(Peer {
            uid: Uid(cred.uid()),
            pid: Some(cred.pid()),
        }),
        Err(e) => {
            logging::warn(&format!("cannot read peer credentials: {e}"));
            None
        }
    }
}

fn refuse(mut stream: &UnixStream, code: ErrorCode, reason: String) {
    let reply = Response::fail("", code, reason);
    if let Ok(mut line) = serde_json::to_vec(&reply) {
        line.push(b'\n');
        // A fresh socket's buffer takes one short line without blocking.
        let _ = stream.set_nonblocking(true);
        let _ = stream.write(&line);
    }
}

fn admit(stream: UnixStream, slots: &Arc<Slots>, shared: &Arc<Shared>) {
    let Some(peer) = peer_of(&stream) else { return };
    let ticket = match slots.admit(&peer) {
        Ok(ticket) => ticket,
        Err(busy) => return refuse(&stream, ErrorCode::TooManyConnections, busy_reason(busy)),
    };
    let Some(id) = shared.live.add(&stream) else {
        return refuse(&stream, ErrorCode::Internal, "internal error".into());
    };
    let conn = Arc::clone(shared);
    let started = std::thread::Builder::new()
        .name("apitokend-verify".into())
        .stack_size(STACK_BYTES)
        .spawn({
            let stream = stream.try_clone();
            move || {
                let _ends = Ends {
                    live: &conn.live,
                    id,
                    _ticket: ticket,
                };
                if let Ok(stream) = stream {
                    serve(stream, &peer, &conn);
                }
            }
        });
    if let Err(e) = started {
        shared.live.remove(id);
        logging::warn(&format!("cannot start a verify connection thread: {e}"));
        refuse(
            &stream,
            ErrorCode::TooManyConnections,
            "The daemon cannot take another connection now; try again shortly.".into(),
        );
    }
}

/// Frees the connection's slot and entry however its thread ends.
struct Ends<'a> {
    live: &'a Live,
    id: u64,
    _ticket: Ticket,
}

impl Drop for Ends<'_> {
    fn drop(&mut self) {
        self.live.remove(self.id);
    }
}

/// Zeroes the buffer when the connection ends: it held tokens.
struct Buffer(Vec<u8>);

impl Drop for Buffer {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

fn serve(mut stream: UnixStream, peer: &Peer, shared: &Shared) {
    let idle = Duration::from_secs(shared.limits.idle_timeout_secs).max(Duration::from_millis(1));
    let max_line = shared.limits.max_request_bytes;
    if stream.set_read_timeout(Some(idle)).is_err() || stream.set_write_timeout(Some(idle)).is_err()
    {
        return;
    }
    let mut timeout = idle;
    let mut deadline = Instant::now() + idle;
    let mut buf = Buffer(vec![0u8; FIRST_BUFFER.min(max_line + 1)]);
    let mut out = Vec::with_capacity(512);
    // buf[..filled] holds unanswered bytes; the first `scanned` hold no
    // newline; while `discarding`, an over-long line is being skipped.
    let (mut filled, mut scanned, mut discarding) = (0usize, 0usize, false);
    loop {
        let mut start = 0;
        while let Some(at) = buf.0[scanned..filled].iter().position(|&b| b == b'\n') {
            let end = scanned + at;
            if discarding {
                discarding = false;
            } else {
                answer(&buf.0[start..end], peer, shared, &mut out);
            }
            start = end + 1;
            scanned = start;
        }
        if !discarding && filled - start > max_line {
            discarding = true;
            let reply = Response::fail(
                "",
                ErrorCode::RequestTooLarge,
                format!("The request line exceeds {max_line} bytes."),
            );
            append(Reply::from(reply), &mut out);
        }
        if discarding {
            start = filled;
        }
        // Keep the unfinished line at the front; clear what was answered.
        buf.0.copy_within(start..filled, 0);
        filled -= start;
        scanned = filled;
        buf.0[filled..filled + start].fill(0);
        let replied = !out.is_empty();
        if replied {
            if stream.write_all(&out).is_err() {
                return;
            }
            out.clear();
            deadline = Instant::now() + idle;
        }
        if filled == buf.0.len() {
            let grown = (buf.0.len() * 2).min(max_line + 1);
            buf.0.resize(grown, 0);
        }
        // The socket's timeout is the time left for this line; it changes
        // only while a line is incomplete, so a busy client costs no call
        // (and, right after a reply, not even a clock read).
        let left = if replied {
            idle
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        if left.is_zero() {
            return;
        }
        let wanted = if left + Duration::from_millis(5) >= idle {
            idle
        } else {
            left
        };
        if wanted != timeout {
            if stream.set_read_timeout(Some(wanted)).is_err() {
                return;
            }
            timeout = wanted;
        }
        let n = loop {
            match stream.read(&mut buf.0[filled..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Timed out (the line is late) or the socket failed.
                Err(_) => return,
            }
        };
        if n == 0 {
            return;
        }
        filled += n;
    }
}

/// Appends the reply to one request line (blank lines get none).
fn answer(line: &[u8], peer: &Peer, shared: &Shared, out: &mut Vec<u8>) {
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    if shared.verifier.answer_now(peer, line, out) == Answer::Slow {
        let response = shared
            .runtime
            .block_on(shared.verifier.handle_line(peer, line));
        append(Reply::from(response), out);
    }
}

fn append(reply: Reply, out: &mut Vec<u8>) {
    match reply.into_line() {
        Ok(line) => out.extend_from_slice(&line),
        Err(e) => logging::error(&format!("cannot serialize a reply: {e}")),
    }
}
