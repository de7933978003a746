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
//! A connection quiet for a moment leaves its thread for the parking loop
//! (`parked`), which serves all quiet connections on one thread and gives
//! a connection its own thread back when it turns busy: threads follow the
//! busy connections, not the open ones.

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use apitokend_proto::{ErrorCode, Response};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use tokio::runtime::Handle;

use super::parked::{self, PARK_AFTER, Parker};
use super::server::{DRAIN_DEADLINE, busy_reason};
use super::slots::Slots;
use super::verify_conn::Conn;
use crate::accounts::Uid;
use crate::authz::Peer;
use crate::config::Limits;
use crate::logging;
use crate::verify::Verifier;

/// The name of a connection's thread (the acceptor is `apitokend-verify`,
/// the parking loop `apitokend-park`; Linux keeps 15 bytes of a name).
pub(crate) const CONN_THREAD: &str = "apitokend-conn";

/// Stack of a connection thread: the fast path needs little; the general
/// decoder's recursion is bounded by serde_json's depth limit.
const STACK_BYTES: usize = 256 * 1024;

/// Connections being served, so the drain can reach and count them.
#[derive(Debug, Default)]
pub(super) struct Live {
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

    pub(super) fn remove(&self, id: u64) {
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

/// What a connection needs, on its thread or parked.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) verifier: Arc<Verifier>,
    pub(super) runtime: Handle,
    pub(super) limits: Limits,
    pub(super) live: Arc<Live>,
    pub(super) parker: Parker,
    /// Set at stop: a thread no longer parks its connection.
    stopping: AtomicBool,
}

impl Shared {
    /// The time a request line has, from the connection's start or the
    /// last reply.
    pub(super) fn idle(&self) -> Duration {
        Duration::from_secs(self.limits.idle_timeout_secs).max(Duration::from_millis(1))
    }
}

/// The running server; [`VerifyServer::stop`] drains it.
#[derive(Debug)]
pub(crate) struct VerifyServer {
    acceptor: JoinHandle<()>,
    parking: JoinHandle<()>,
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
            live: Arc::default(),
            parker: Parker::new()?,
            stopping: AtomicBool::new(false),
        });
        let parking = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("apitokend-park".into())
                .spawn(move || parked::run(&shared))?
        };
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("apitokend-verify".into())
                .spawn(move || accept_loop(&listener, &woken, &slots, &shared))?
        };
        Ok(VerifyServer {
            acceptor,
            parking,
            wake,
            shared,
        })
    }

    /// Stops accepting, lets every connection answer what it has received,
    /// and waits for them (up to the drain deadline).
    pub(crate) fn stop(self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        drop(self.wake);
        if self.acceptor.join().is_err() {
            logging::error("the verify acceptor panicked");
        }
        self.shared.live.shut_reads();
        if !self.shared.live.drained(Instant::now() + DRAIN_DEADLINE) {
            logging::warn("shutdown: some verify connections did not finish in time");
        }
        self.shared.parker.stop();
        if self.parking.join().is_err() {
            logging::error("the verify parking loop panicked");
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
    if let Ok(line) = crate::reply::Reply::from(reply).into_line() {
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
    let Ok(own) = stream.try_clone() else {
        shared.live.remove(id);
        return refuse(&stream, ErrorCode::Internal, "internal error".into());
    };
    let conn = Conn::new(own, peer, id, ticket, shared);
    if !spawn_thread(conn, shared) {
        refuse(
            &stream,
            ErrorCode::TooManyConnections,
            "The daemon cannot take another connection now; try again shortly.".into(),
        );
    }
}

/// Gives `conn` a thread of its own; false (the connection closed) if no
/// thread could be started.
pub(super) fn spawn_thread(conn: Conn, shared: &Arc<Shared>) -> bool {
    let shared = Arc::clone(shared);
    let started = std::thread::Builder::new()
        .name(CONN_THREAD.into())
        .stack_size(STACK_BYTES)
        .spawn(move || serve(conn, &shared));
    match started {
        Ok(_) => true,
        Err(e) => {
            logging::warn(&format!("cannot start a verify connection thread: {e}"));
            false
        }
    }
}

/// Serves `conn` on this thread until it ends or, quiet, is parked.
fn serve(mut conn: Conn, shared: &Arc<Shared>) {
    let idle = shared.idle();
    if conn.stream.set_write_timeout(Some(idle)).is_err() {
        return;
    }
    let mut timeout = None;
    loop {
        // (Replies a parked connection could not write yet go out first.)
        let _ = conn.answer_lines(shared, true);
        let mut replied = false;
        if !conn.out.is_empty() {
            if (&conn.stream).write_all(&conn.out).is_err() {
                return;
            }
            conn.out.clear();
            conn.deadline = Instant::now() + idle;
            replied = true;
        }
        // The socket's timeout: the time left for this line, or less to
        // notice a quiet client. It changes only while a line is
        // incomplete, so a busy client costs no call (and, right after a
        // reply, not even a clock read).
        let left = if replied {
            idle
        } else {
            conn.deadline.saturating_duration_since(Instant::now())
        };
        if left.is_zero() {
            return;
        }
        let wanted = if left >= PARK_AFTER { PARK_AFTER } else { left };
        if timeout != Some(wanted) {
            if conn.stream.set_read_timeout(Some(wanted)).is_err() {
                return;
            }
            timeout = Some(wanted);
        }
        match conn.read_more() {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() >= conn.deadline {
                    return;
                }
                if wanted == PARK_AFTER && !shared.stopping.load(Ordering::SeqCst) {
                    match shared.parker.park(conn) {
                        None => return,
                        Some(back) => conn = back,
                    }
                }
            }
            // The socket failed.
            Err(_) => return,
        }
    }
}
