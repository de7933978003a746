//! The parking loop: one thread that serves every quiet verify connection.
//!
//! A connection thread whose client has sent nothing for [`PARK_AFTER`]
//! hands its connection here and ends. This thread waits on all of them in
//! one epoll set and answers what arrives itself, on the same fast path
//! (`Verifier::answer_now`), with non-blocking reads and writes: a thousand
//! keep-alive connections that each send now and then cost one thread, not
//! a thousand, and their requests are answered in batches instead of each
//! waking a thread of its own. A connection that turns busy again
//! ([`PROMOTE_AFTER`] requests in a row each within [`QUICK`] of the last),
//! sends a line only the general path can answer (it may wait for Argon2),
//! or does not read its replies, gets a thread of its own again. Request
//! line deadlines are checked every [`SCAN_EVERY`].

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use super::server::DRAIN_DEADLINE;
use super::threaded::{Shared, spawn_thread};
use super::verify_conn::{Conn, Pass};
use crate::logging;

/// A connection quiet this long leaves its thread for the parking loop.
pub(super) const PARK_AFTER: Duration = Duration::from_millis(20);
/// A request this soon after the previous reply counts as "in a row".
const QUICK: Duration = Duration::from_millis(1);
/// Requests in a row that bring a parked connection its thread back.
const PROMOTE_AFTER: u32 = 8;
/// How often parked connections' deadlines are checked.
const SCAN_EVERY: Duration = Duration::from_millis(100);
/// The event key of the stop signal (connection ids start at 1).
const STOP: u64 = 0;

/// A parked connection and its activity.
#[derive(Debug)]
struct Parked {
    conn: Conn,
    last_reply: Option<Instant>,
    quick: u32,
}

#[derive(Debug)]
pub(super) struct Parker {
    epoll: Epoll,
    conns: Mutex<HashMap<u64, Parked>>,
    /// Written (closed) by `stop`; the loop ends once nothing is parked.
    stop: Mutex<Option<UnixStream>>,
    woken: UnixStream,
}

/// What serving a readable parked connection did.
enum Next {
    Keep,
    Close,
    Promote,
}

impl Parker {
    pub(super) fn new() -> std::io::Result<Parker> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(std::io::Error::from)?;
        let (stop, woken) = UnixStream::pair()?;
        epoll
            .add(&woken, EpollEvent::new(EpollFlags::EPOLLIN, STOP))
            .map_err(std::io::Error::from)?;
        Ok(Parker {
            epoll,
            conns: Mutex::new(HashMap::new()),
            stop: Mutex::new(Some(stop)),
            woken,
        })
    }

    /// Takes `conn` from its thread, or gives it back (`Some`: its thread
    /// keeps serving it).
    pub(super) fn park(&self, conn: Conn) -> Option<Conn> {
        if conn.stream.set_nonblocking(true).is_err() {
            return Some(conn);
        }
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let event = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP, conn.id);
        if self.epoll.add(&conn.stream, event).is_err() {
            drop(conns);
            let _ = conn.stream.set_nonblocking(false);
            return Some(conn);
        }
        conns.insert(
            conn.id,
            Parked {
                conn,
                last_reply: None,
                quick: 0,
            },
        );
        None
    }

    /// Ends the loop once every parked connection is gone.
    pub(super) fn stop(&self) {
        self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn unpark(&self, conns: &mut HashMap<u64, Parked>, id: u64) -> Option<Conn> {
        let parked = conns.remove(&id)?;
        let _ = self.epoll.delete(&parked.conn.stream);
        Some(parked.conn)
    }
}

/// The loop; runs on its own thread until stopped and empty.
pub(super) fn run(shared: &Arc<Shared>) {
    let parker = &shared.parker;
    let mut events = vec![EpollEvent::empty(); 256];
    let mut stopping: Option<Instant> = None;
    let mut scanned = Instant::now();
    loop {
        let wait = EpollTimeout::try_from(SCAN_EVERY).unwrap_or(EpollTimeout::NONE);
        let n = match parker.epoll.wait(&mut events, wait) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => {
                logging::error(&format!("the verify parking loop cannot wait: {e}"));
                std::thread::sleep(SCAN_EVERY);
                0
            }
        };
        let now = Instant::now();
        let mut promoted = Vec::new();
        {
            let mut conns = parker.conns.lock().unwrap_or_else(|p| p.into_inner());
            for ev in &events[..n] {
                let id = ev.data();
                if id == STOP {
                    stopping.get_or_insert(now);
                    let _ = parker.epoll.delete(&parker.woken);
                    continue;
                }
                let Some(parked) = conns.get_mut(&id) else {
                    continue;
                };
                match serve_ready(parked, shared, now) {
                    Next::Keep => {}
                    Next::Close => drop(parker.unpark(&mut conns, id)),
                    Next::Promote => promoted.extend(parker.unpark(&mut conns, id)),
                }
            }
            if now.duration_since(scanned) >= SCAN_EVERY {
                scanned = now;
                let late: Vec<u64> = conns
                    .iter()
                    .filter(|(_, p)| p.conn.deadline <= now)
                    .map(|(id, _)| *id)
                    .collect();
                for id in late {
                    drop(parker.unpark(&mut conns, id));
                }
            }
            // Stopping: every read side is shut, so what is parked ends as
            // soon as what it had received is answered; past the drain
            // deadline the rest is dropped (closed).
            if let Some(since) = stopping
                && ((conns.is_empty() && promoted.is_empty())
                    || now.duration_since(since) >= DRAIN_DEADLINE)
            {
                return;
            }
        }
        for conn in promoted {
            if conn.stream.set_nonblocking(false).is_ok() {
                spawn_thread(conn, shared);
            }
        }
    }
}

/// Reads what a parked connection sent and answers it without blocking.
fn serve_ready(parked: &mut Parked, shared: &Shared, now: Instant) -> Next {
    let conn = &mut parked.conn;
    match conn.read_more() {
        Ok(0) => return Next::Close,
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
            return Next::Keep;
        }
        Err(_) => return Next::Close,
    }
    let pass = conn.answer_lines(shared, false);
    if !conn.out.is_empty() {
        match write_now(&conn.stream, &conn.out) {
            Ok(written) if written == conn.out.len() => conn.out.clear(),
            Ok(written) => {
                // The client is not reading yet: its thread waits for it
                // (with the idle time as the limit).
                conn.out.drain(..written);
                return Next::Promote;
            }
            Err(()) => return Next::Close,
        }
        conn.deadline = now + shared.idle();
        parked.quick = match parked.last_reply {
            Some(t) if now.duration_since(t) < QUICK => parked.quick + 1,
            _ => 0,
        };
        parked.last_reply = Some(now);
    }
    if pass == Pass::NeedsThread || parked.quick >= PROMOTE_AFTER {
        return Next::Promote;
    }
    Next::Keep
}

/// Writes what the socket takes now; `Err` if it failed.
fn write_now(mut stream: &UnixStream, bytes: &[u8]) -> Result<usize, ()> {
    let mut written = 0;
    while written < bytes.len() {
        match stream.write(&bytes[written..]) {
            Ok(0) => return Err(()),
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
    Ok(written)
}
