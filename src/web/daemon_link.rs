//! A few persistent, pipelined connections to one daemon socket.
//!
//! Connecting per request costs 20-70x a round trip, so each link keeps up
//! to `slots` connections open and writes requests onto the one with the
//! fewest in flight, without waiting for earlier replies (the daemon
//! answers in order, one line per request). A connection is opened when
//! first needed and closed after sitting idle for half the daemon's idle
//! timeout, before the daemon would close it under us. A request that was
//! never written (the connection was closing) is retried once on a fresh
//! connection; one that was written and lost its connection is not (it may
//! have taken effect).

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apitokend_proto::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use zeroize::{Zeroize, Zeroizing};

/// Longest reply line accepted (a long `api_token_list`).
const MAX_REPLY: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// The daemon's socket did not accept a connection.
    Unavailable,
    /// The request was written but the connection broke before the reply.
    Lost,
    /// No reply within the link's timeout.
    Timeout,
    /// The reply was not a response line.
    BadReply,
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinkError::Unavailable => "the daemon is not reachable",
            LinkError::Lost => "the connection to the daemon broke",
            LinkError::Timeout => "the daemon did not answer in time",
            LinkError::BadReply => "the daemon sent an unreadable reply",
        })
    }
}

/// Why a job came back without a reply.
enum Failed {
    /// Never written: safe to retry.
    NotSent,
    Written,
    Unavailable,
}

struct Job {
    line: Zeroizing<Vec<u8>>,
    reply: oneshot::Sender<Result<Vec<u8>, Failed>>,
}

struct Handle {
    tx: mpsc::UnboundedSender<Job>,
    in_flight: Arc<AtomicUsize>,
}

#[derive(Debug)]
pub struct Link {
    path: PathBuf,
    slots: Vec<Mutex<Option<HandleBox>>>,
    timeout: Duration,
    idle: Duration,
}

/// `Handle` behind a newtype so `Link` can derive `Debug`.
struct HandleBox(Handle);

impl std::fmt::Debug for HandleBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("in_flight", &self.0.in_flight.load(Ordering::Relaxed))
            .finish()
    }
}

impl Link {
    /// `daemon_idle`: the daemon's `limits.idle_timeout_secs`.
    pub fn new(path: PathBuf, slots: usize, timeout: Duration, daemon_idle: Duration) -> Link {
        Link {
            path,
            slots: (0..slots.max(1)).map(|_| Mutex::new(None)).collect(),
            timeout,
            idle: daemon_idle / 2,
        }
    }

    /// Sends `request` (a `proto::Request` or the front's relay form),
    /// waits for its reply.
    pub async fn call<T: serde::Serialize>(&self, request: &T) -> Result<Response, LinkError> {
        let mut line =
            Zeroizing::new(serde_json::to_vec(request).map_err(|_| LinkError::BadReply)?);
        line.push(b'\n');
        let deadline = tokio::time::Instant::now() + self.timeout;
        for attempt in 0..2 {
            let (reply_tx, reply_rx) = oneshot::channel();
            let job = Job {
                line: line.clone(),
                reply: reply_tx,
            };
            self.submit(job);
            let outcome = match tokio::time::timeout_at(deadline, reply_rx).await {
                Err(_) => return Err(LinkError::Timeout),
                // The connection task ended with the job unsent.
                Ok(Err(_)) => Err(Failed::NotSent),
                Ok(Ok(r)) => r,
            };
            match outcome {
                Ok(bytes) => {
                    return serde_json::from_slice(&bytes).map_err(|_| LinkError::BadReply);
                }
                Err(Failed::NotSent) if attempt == 0 => continue,
                Err(Failed::NotSent | Failed::Written) => return Err(LinkError::Lost),
                Err(Failed::Unavailable) => return Err(LinkError::Unavailable),
            }
        }
        Err(LinkError::Lost)
    }

    fn submit(&self, job: Job) {
        let slot = self.pick();
        let mut guard = self.slots[slot].lock().unwrap_or_else(|p| p.into_inner());
        let job = match guard.as_ref() {
            Some(HandleBox(h)) => {
                h.in_flight.fetch_add(1, Ordering::Relaxed);
                match h.tx.send(job) {
                    Ok(()) => return,
                    Err(mpsc::error::SendError(job)) => {
                        h.in_flight.fetch_sub(1, Ordering::Relaxed);
                        job
                    }
                }
            }
            None => job,
        };
        // No live connection in this slot: start one.
        let (tx, rx) = mpsc::unbounded_channel();
        let in_flight = Arc::new(AtomicUsize::new(1));
        let _ = tx.send(job);
        tokio::spawn(run(self.path.clone(), rx, in_flight.clone(), self.idle));
        *guard = Some(HandleBox(Handle { tx, in_flight }));
    }

    /// The slot with the fewest requests in flight (an empty slot counts 0).
    fn pick(&self) -> usize {
        let mut best = (usize::MAX, 0);
        for (i, slot) in self.slots.iter().enumerate() {
            let load = match slot.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                Some(HandleBox(h)) if !h.tx.is_closed() => h.in_flight.load(Ordering::Relaxed),
                _ => 0,
            };
            if load < best.0 {
                best = (load, i);
                if load == 0 {
                    break;
                }
            }
        }
        best.1
    }
}

/// One connection: writes jobs as they come, hands replies back in order.
async fn run(
    path: PathBuf,
    mut rx: mpsc::UnboundedReceiver<Job>,
    in_flight: Arc<AtomicUsize>,
    idle: Duration,
) {
    let stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(_) => {
            rx.close();
            while let Ok(job) = rx.try_recv() {
                let _ = job.reply.send(Err(Failed::Unavailable));
            }
            return;
        }
    };
    let (mut reader, mut writer) = stream.into_split();
    let mut waiting: VecDeque<oneshot::Sender<Result<Vec<u8>, Failed>>> = VecDeque::new();
    let mut out: Vec<u8> = Vec::new();
    let mut inbuf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            job = rx.recv() => {
                let Some(job) = job else { break };
                let batch = waiting.len();
                out.extend_from_slice(&job.line);
                waiting.push_back(job.reply);
                while let Ok(job) = rx.try_recv() {
                    out.extend_from_slice(&job.line);
                    waiting.push_back(job.reply);
                }
                let written = writer.write_all(&out).await;
                out.zeroize();
                out.clear();
                if written.is_err() {
                    // The daemon closed first (its idle timeout, a restart):
                    // this batch never reached it.
                    for reply in waiting.drain(batch..) {
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                        let _ = reply.send(Err(Failed::NotSent));
                    }
                    break;
                }
            }
            read = reader.read(&mut chunk), if !waiting.is_empty() => {
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        inbuf.extend_from_slice(&chunk[..n]);
                        if deliver(&mut inbuf, &mut waiting, &in_flight).is_err() {
                            break;
                        }
                    }
                }
            }
            () = tokio::time::sleep(idle), if waiting.is_empty() => break,
        }
    }
    // Closing: whatever is in flight was written; whatever is queued was not.
    rx.close();
    for reply in waiting.drain(..) {
        in_flight.fetch_sub(1, Ordering::Relaxed);
        let _ = reply.send(Err(Failed::Written));
    }
    while let Ok(job) = rx.try_recv() {
        in_flight.fetch_sub(1, Ordering::Relaxed);
        let _ = job.reply.send(Err(Failed::NotSent));
    }
}

/// Hands every complete line in `inbuf` to the oldest waiter.
fn deliver(
    inbuf: &mut Vec<u8>,
    waiting: &mut VecDeque<oneshot::Sender<Result<Vec<u8>, Failed>>>,
    in_flight: &AtomicUsize,
) -> io::Result<()> {
    let mut start = 0;
    while let Some(pos) = inbuf[start..].iter().position(|&b| b == b'\n') {
        let line = inbuf[start..start + pos].to_vec();
        start += pos + 1;
        let Some(reply) = waiting.pop_front() else {
            return Err(io::Error::other("a reply nobody asked for"));
        };
        in_flight.fetch_sub(1, Ordering::Relaxed);
        let _ = reply.send(Ok(line));
    }
    inbuf.drain(..start);
    if inbuf.len() > MAX_REPLY {
        return Err(io::Error::other("reply too long"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use apitokend_proto::Request;
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::UnixListener;

    /// An echo daemon: replies `{"metadata": {"command": <command>, …}}`,
    /// closing each connection after `per_conn` requests.
    async fn fake_daemon(listener: UnixListener, per_conn: usize, accepted: Arc<AtomicUsize>) {
        loop {
            let (s, _) = listener.accept().await.unwrap();
            accepted.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut lines = BufReader::new(r).lines();
                for _ in 0..per_conn {
                    let Ok(Some(line)) = lines.next_line().await else {
                        return;
                    };
                    let req: Request = serde_json::from_str(&line).unwrap();
                    let resp = Response::ok(&req.command, None);
                    let mut out = serde_json::to_vec(&resp).unwrap();
                    out.push(b'\n');
                    w.write_all(&out).await.unwrap();
                }
            });
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelined_calls_get_their_own_replies_and_connections_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let accepted = Arc::new(AtomicUsize::new(0));
        tokio::spawn(fake_daemon(
            UnixListener::bind(&path).unwrap(),
            usize::MAX,
            accepted.clone(),
        ));
        let link = Arc::new(Link::new(
            path,
            2,
            Duration::from_secs(5),
            Duration::from_secs(60),
        ));
        let mut tasks = Vec::new();
        for i in 0..200 {
            let link = link.clone();
            tasks.push(tokio::spawn(async move {
                let r = link.call(&Request::new(format!("c{i}"))).await.unwrap();
                assert_eq!(r.metadata.command, format!("c{i}"));
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(accepted.load(Ordering::Relaxed) <= 2);
    }

    #[tokio::test]
    async fn a_closed_connection_is_replaced_and_a_missing_daemon_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let link = Link::new(
            path.clone(),
            1,
            Duration::from_secs(5),
            Duration::from_secs(60),
        );
        assert_eq!(
            link.call(&Request::new("x")).await.unwrap_err(),
            LinkError::Unavailable
        );
        let accepted = Arc::new(AtomicUsize::new(0));
        // The daemon closes after each reply (as at its idle timeout).
        tokio::spawn(fake_daemon(
            UnixListener::bind(&path).unwrap(),
            1,
            accepted.clone(),
        ));
        for i in 0..5 {
            // The write onto the closed connection fails, so the call is
            // retried on a new one.
            let r = link.call(&Request::new(format!("c{i}"))).await.unwrap();
            assert_eq!(r.metadata.command, format!("c{i}"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepted.load(Ordering::Relaxed), 5);
    }

    #[tokio::test]
    async fn a_silent_daemon_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (s, _) = listener.accept().await.unwrap();
                held.push(s);
            }
        });
        let link = Link::new(path, 1, Duration::from_millis(200), Duration::from_secs(60));
        assert_eq!(
            link.call(&Request::new("x")).await.unwrap_err(),
            LinkError::Timeout
        );
    }
}
