//! Accept loop, connection limit and graceful shutdown.
//!
//! `run(listener, handler, limits, shutdown)` takes a bound listener and a
//! shutdown future so tests and socket activation can supply their own. A
//! semaphore bounds connections: past the limit a client gets a one-line
//! `too_many_connections` reply instead of a hang. On shutdown the loop
//! stops accepting, each connection finishes the request it is running,
//! and `run` returns once all are gone (or the drain deadline passes).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apitokend_proto::framing::Frame;
use apitokend_proto::{ErrorCode, Response};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use zeroize::Zeroizing;

use super::connection::{Connection, ReadError};
use crate::accounts::Uid;
use crate::authz::Peer;
use crate::config::Limits;
use crate::logging;

/// Turns one request line from `peer` into a reply.
pub(crate) trait Handler: Send + Sync + 'static {
    fn handle(
        self: &Arc<Self>,
        peer: Peer,
        line: Zeroizing<Vec<u8>>,
    ) -> impl Future<Output = Response> + Send;
}

/// Control requests commit to LMDB and may run Argon2: blocking pool.
/// Relayed credentials are authenticated first, on the event loop (the
/// verify path's cache and Argon2 limiter).
impl Handler for crate::control::Control {
    async fn handle(self: &Arc<Self>, peer: Peer, line: Zeroizing<Vec<u8>>) -> Response {
        let (request, relayed) = match self.prepare(&peer, &line).await {
            Ok(prepared) => prepared,
            Err(reply) => return reply,
        };
        drop(line);
        let control = Arc::clone(self);
        match tokio::task::spawn_blocking(move || control.run(&peer, request, relayed)).await {
            Ok(reply) => reply,
            Err(e) => {
                logging::error(&format!("request handler failed: {e}"));
                Response::fail("", ErrorCode::Internal, "internal error")
            }
        }
    }
}

/// Verifies answer from cache on the event loop; Argon2 is offloaded inside.
impl Handler for crate::verify::Verifier {
    async fn handle(self: &Arc<Self>, peer: Peer, line: Zeroizing<Vec<u8>>) -> Response {
        self.handle_line(&peer, &line).await
    }
}

/// How long shutdown waits for in-flight requests.
pub(crate) const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

pub(crate) async fn run<H: Handler>(
    listener: UnixListener,
    handler: Arc<H>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    run_shared(listener, handler, limits, slots, shutdown).await;
}

/// Like [`run`], with the connection limit shared with other accept loops
/// (several event loops serving duplicates of one listening socket).
pub(crate) async fn run_shared<H: Handler>(
    listener: UnixListener,
    handler: Arc<H>,
    limits: Limits,
    slots: Arc<Semaphore>,
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
                Ok((stream, _)) => match Arc::clone(&slots).try_acquire_owned() {
                    Ok(permit) => {
                        let handler = Arc::clone(&handler);
                        let limits = limits.clone();
                        let stop = stop_rx.clone();
                        connections.spawn(async move {
                            serve(stream, handler, &limits, stop).await;
                            drop(permit);
                        });
                    }
                    Err(_) => refuse_busy(&stream),
                },
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

fn refuse_busy(stream: &UnixStream) {
    let reply = Response::fail(
        "",
        ErrorCode::TooManyConnections,
        "The daemon is at its connection limit; try again shortly.",
    );
    if let Ok(mut line) = serde_json::to_vec(&reply) {
        line.push(b'\n');
        // A fresh socket's buffer takes one short line without blocking.
        let _ = stream.try_write(&line);
    }
}

async fn serve<H: Handler>(
    stream: UnixStream,
    handler: Arc<H>,
    limits: &Limits,
    mut stop: watch::Receiver<bool>,
) {
    let peer = match stream.peer_cred() {
        Ok(cred) => Peer {
            uid: Uid(cred.uid()),
            pid: cred.pid(),
        },
        Err(e) => {
            logging::warn(&format!("cannot read peer credentials: {e}"));
            return;
        }
    };
    let mut conn = Connection::new(
        stream,
        limits.max_request_bytes,
        Duration::from_secs(limits.idle_timeout_secs),
    );
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
                handler.handle(peer.clone(), line).await
            }
            Ok(Some(Frame::TooLong)) => Response::fail(
                "",
                ErrorCode::RequestTooLarge,
                format!(
                    "The request line exceeds {} bytes.",
                    limits.max_request_bytes
                ),
            ),
            Ok(None) | Err(ReadError::Idle | ReadError::Io) => return,
        };
        if conn.send(&reply).await.is_err() {
            return;
        }
    }
}
