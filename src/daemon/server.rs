//! The control socket's accept loop, connection limits and graceful
//! shutdown (the verify socket has its own server: `threaded`).
//!
//! `run(listener, control, limits, slots, shutdown)` takes a bound
//! listener and a shutdown future so tests and socket activation can
//! supply their own. At accept the peer's credentials decide whether it
//! gets a slot (`slots`): past its limit a client gets a one-line
//! `too_many_connections` reply instead of a hang. The peer's rights then
//! say how the connection is served: a peer that may do nothing on the socket
//! is answered one request and closed at once. On shutdown the loop stops
//! accepting, each connection finishes the request it is running, and
//! `run` returns once all are gone (or the drain deadline passes).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apitokend_proto::framing::Frame;
use apitokend_proto::{ErrorCode, Response};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use zeroize::Zeroizing;

use super::connection::{Connection, ReadError};
use super::slots::{Busy, Slots, Ticket};
use crate::accounts::Uid;
use crate::authz::Peer;
use crate::config::Limits;
use crate::control::Control;
use crate::logging;
use crate::reply::Reply;

/// How a connection is served, decided once its peer is known.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Requests until the client closes or goes quiet.
    Serve,
    /// A peer that may do nothing here: one request line, if it comes
    /// within [`ONE_REQUEST_WITHIN`], gets its (refusal) reply, then the
    /// connection is closed.
    OneRequest,
}

/// How long a peer that may do nothing is given to send its one request.
pub(crate) const ONE_REQUEST_WITHIN: Duration = Duration::from_secs(1);

fn internal(e: &tokio::task::JoinError) -> Reply {
    logging::error(&format!("request handler failed: {e}"));
    Reply::from(Response::fail("", ErrorCode::Internal, "internal error"))
}

/// How connections from `peer` are served: root at once; anyone else as
/// `may_act` says (it reads account files: on the blocking pool).
async fn admission(control: &Arc<Control>, peer: &Peer) -> Admission {
    if peer.uid == Uid::ROOT {
        return Admission::Serve;
    }
    let (control, peer) = (Arc::clone(control), peer.clone());
    match tokio::task::spawn_blocking(move || control.may_act(&peer)).await {
        Ok(true) => Admission::Serve,
        Ok(false) | Err(_) => Admission::OneRequest,
    }
}

/// Turns one request line into a reply. Control requests commit to LMDB
/// and may run Argon2: blocking pool. A request that runs Argon2 first
/// waits (on the event loop, holding no thread) for a turn under the
/// daemon-wide Argon2 limit. Relayed credentials are authenticated
/// before, on the event loop (the verify path's cache, and the Argon2
/// limit).
async fn handle(control: &Arc<Control>, peer: Peer, line: Zeroizing<Vec<u8>>) -> Reply {
    let (request, relayed) = match control.prepare(&peer, &line).await {
        Ok(prepared) => prepared,
        Err(reply) => return Reply::from(reply),
    };
    drop(line);
    let turn = if Control::runs_argon2(&request) {
        match control.argon2_turn().await {
            Some(turn) => Some(turn),
            None => {
                logging::error("the Argon2 limiter is closed");
                return Reply::from(Response::fail("", ErrorCode::Internal, "internal error"));
            }
        }
    } else {
        None
    };
    let control = Arc::clone(control);
    let run = move || {
        let _turn = turn;
        control.run(&peer, request, relayed)
    };
    match tokio::task::spawn_blocking(run).await {
        Ok(reply) => reply,
        Err(e) => internal(&e),
    }
}

/// How long shutdown waits for in-flight requests.
pub(crate) const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Serves `listener` until `shutdown`.
pub(crate) async fn run(
    listener: UnixListener,
    handler: Arc<Control>,
    limits: Limits,
    slots: Arc<Slots>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connections so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let Some(peer) = peer_of(&stream) else { continue };
                    match slots.admit(&peer) {
                        Ok(ticket) => {
                            let handler = Arc::clone(&handler);
                            let limits = limits.clone();
                            let stop = stop_rx.clone();
                            connections.spawn(serve(stream, peer, ticket, handler, limits, stop));
                        }
                        Err(busy) => refuse_busy(&stream, busy),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    logging::error(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_DEADLINE, async {
        while connections.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        logging::warn("shutdown: some connections did not finish in time");
    }
}

/// The kernel's word on who connected (read at accept, before any byte).
fn peer_of(stream: &UnixStream) -> Option<Peer> {
    match stream.peer_cred() {
        Ok(cred) => Some(Peer {
            uid: Uid(cred.uid()),
            pid: cred.pid(),
        }),
        Err(e) => {
            logging::warn(&format!("cannot read peer credentials: {e}"));
            None
        }
    }
}

/// The reason of a `too_many_connections` refusal.
pub(crate) fn busy_reason(busy: Busy) -> String {
    match busy {
        Busy::Full => "The daemon is at its connection limit; try again shortly.".to_owned(),
        Busy::PerUid(n) => format!(
            "This user already holds {n} connections to the daemon, the most allowed per user; \
             close some and try again."
        ),
    }
}

fn refuse_busy(stream: &UnixStream, busy: Busy) {
    let reply = Response::fail("", ErrorCode::TooManyConnections, busy_reason(busy));
    if let Ok(line) = Reply::from(reply).into_line() {
        // A fresh socket's buffer takes one short line without blocking.
        let _ = stream.try_write(&line);
    }
}

async fn serve(
    stream: UnixStream,
    peer: Peer,
    ticket: Ticket,
    handler: Arc<Control>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let idle = Duration::from_secs(limits.idle_timeout_secs);
    // Identifying the peer reads account files: bounded like a request.
    let admission = tokio::time::timeout(idle, admission(&handler, &peer))
        .await
        .unwrap_or(Admission::OneRequest);
    // Peers that may do nothing share a few slots; past them they are
    // turned away at once, so they cannot hold the shared ones.
    let _ticket = match admission {
        Admission::Serve => ticket,
        Admission::OneRequest => match ticket.for_one_request() {
            Ok(ticket) => ticket,
            Err(busy) => return refuse_busy(&stream, busy),
        },
    };
    let mut conn = Connection::new(stream, limits.max_request_bytes, idle);
    if admission == Admission::OneRequest {
        conn.shorten_deadline(ONE_REQUEST_WITHIN);
    }
    let mut stopping = false;
    loop {
        // Once stopping, answer only what has already arrived, then close.
        let frame = if stopping {
            match conn.next_ready_frame() {
                Some(frame) => Ok(Some(frame)),
                None => return,
            }
        } else {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {
                    stopping = true;
                    continue;
                }
                frame = conn.next_frame() => frame,
            }
        };
        let reply = match frame {
            Ok(Some(Frame::Line(line))) => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                handle(&handler, peer.clone(), line).await
            }
            Ok(Some(Frame::TooLong)) => Reply::from(Response::fail(
                "",
                ErrorCode::RequestTooLarge,
                format!(
                    "The request line exceeds {} bytes.",
                    limits.max_request_bytes
                ),
            )),
            Ok(None) | Err(ReadError::Idle | ReadError::Io) => return,
        };
        if conn.send(reply).await.is_err() || admission == Admission::OneRequest {
            return;
        }
    }
}
