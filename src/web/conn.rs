//! Accepting and serving connections: the connection limits, the TLS
//! handshake timeout, hyper's HTTP/1.1 parser with the header caps and
//! header timeout, and a keep-alive watchdog.
//!
//! Past `max_connections` (or `max_connections_per_ip`) a connection is
//! still answered, by a small overflow pool that says 503 and closes; past
//! that pool too it is closed at once. A TLS client that never finishes its
//! handshake holds one slot until `tls_handshake_timeout_secs`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use super::client_ip::{Peer, canonical};
use super::router;
use super::state::Front;

/// Which listener a connection arrived on; decides the routes it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Https,
    /// Plain HTTP on loopback (behind nginx): the API and the gate.
    Http,
    /// The Unix auth socket: the gate only.
    AuthSocket,
}

impl Listener {
    pub fn name(self) -> &'static str {
        match self {
            Listener::Https => "https",
            Listener::Http => "http",
            Listener::AuthSocket => "auth-socket",
        }
    }
}

/// Connections answered with 503 past the limit, at most.
const OVERFLOW: usize = 64;
/// How long an overflow connection may take to say anything.
const OVERFLOW_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection slots, overall and per address.
#[derive(Debug)]
pub struct Limits {
    slots: Arc<Semaphore>,
    overflow: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    max_per_ip: usize,
}

/// A held slot; released on drop.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    ip: Option<IpAddr>,
    limits: Arc<Limits>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            let mut map = self.limits.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = map.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}

#[must_use]
#[derive(Debug)]
pub enum Admission {
    Serve(Slot),
    /// Over a limit: answer 503 and close.
    Refuse(OwnedSemaphorePermit),
    /// Over the overflow pool too: close at once.
    Drop,
}

impl Limits {
    pub fn new(max: usize, max_per_ip: usize) -> Arc<Limits> {
        Arc::new(Limits {
            slots: Arc::new(Semaphore::new(max)),
            overflow: Arc::new(Semaphore::new(OVERFLOW)),
            per_ip: Mutex::new(HashMap::new()),
            max_per_ip,
        })
    }

    pub fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Admission {
        let refuse = || match self.overflow.clone().try_acquire_owned() {
            Ok(p) => Admission::Refuse(p),
            Err(_) => Admission::Drop,
        };
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            return refuse();
        };
        if let Some(ip) = ip {
            let mut map = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            let n = map.entry(ip).or_insert(0);
            if *n >= self.max_per_ip {
                drop(map);
                return refuse();
            }
            *n += 1;
        }
        Admission::Serve(Slot {
            _permit: permit,
            ip,
            limits: self.clone(),
        })
    }
}

/// Last traffic and requests in flight on one connection.
#[derive(Debug)]
pub struct Activity {
    base: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        })
    }

    fn touch(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        if self.last_ms.load(Ordering::Relaxed) != ms {
            self.last_ms.store(ms, Ordering::Relaxed);
        }
    }

    /// Marks a request in flight until the guard drops.
    pub fn busy(self: &Arc<Self>) -> BusyGuard {
        self.busy.fetch_add(1, Ordering::Relaxed);
        BusyGuard(self.clone())
    }
}

#[derive(Debug)]
pub struct BusyGuard(Arc<Activity>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Returns once the connection has been idle (no request in flight, no
/// byte moved) for `idle`.
async fn watchdog(activity: &Activity, idle: Duration) {
    loop {
        let last = activity.last_ms.load(Ordering::Relaxed);
        let deadline = activity.base + Duration::from_millis(last) + idle;
        tokio::time::sleep_until(deadline.into()).await;
        if activity.busy.load(Ordering::Relaxed) > 0 {
            tokio::time::sleep(idle).await;
            continue;
        }
        if activity.last_ms.load(Ordering::Relaxed) == last {
            return;
        }
    }
}

/// An I/O stream that records when bytes move.
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the router knows about the connection a request came on.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub listener: Listener,
    pub peer: Peer,
    /// Over the limit: every request gets 503.
    pub refuse: bool,
    pub activity: Arc<Activity>,
}

/// Returns once the front is stopping.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: stopping as well.
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves HTTP/1.1 on `io` until it closes, goes idle, or the front stops.
async fn serve<T>(io: T, info: ConnInfo, front: Arc<Front>, mut stop: watch::Receiver<bool>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let web = &front.web;
    let io = Watched {
        inner: io,
        activity: info.activity.clone(),
    };
    let activity = info.activity.clone();
    // Between requests and within a head hyper's header timeout applies,
    // within a body the request timeout; this catches what neither does,
    // a client that stopped reading its reply, and never fires first.
    let idle = if info.refuse {
        OVERFLOW_TIMEOUT
    } else {
        web.header_timeout() + web.request_timeout()
    };
    let header_timeout = if info.refuse {
        OVERFLOW_TIMEOUT
    } else {
        web.header_timeout()
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(web.max_header_bytes.max(8192))
        .max_header_size(web.max_header_bytes)
        .max_headers(web.max_headers)
        .keep_alive(!info.refuse);
    let service_front = front.clone();
    let service = service_fn(move |req| {
        let front = service_front.clone();
        let info = info.clone();
        async move { Ok::<_, Infallible>(router::handle(req, &info, &front).await) }
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = watchdog(&activity, idle) => {}
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

/// The accept loop of one TCP listener (`tls`: the HTTPS listeners).
pub async fn accept_tcp(
    listener: TcpListener,
    kind: Listener,
    tls: Option<TlsAcceptor>,
    front: Arc<Front>,
    stop: watch::Receiver<bool>,
) {
    let mut stopping = stop.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stopped(&mut stopping) => return,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and the like: back off instead of spinning.
                crate::logging::warn(&format!("accept on {}: {e}", kind.name()));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let ip = canonical(addr.ip());
        let (slot, refuse) = match front.limits.admit(Some(ip)) {
            Admission::Serve(slot) => (Some(slot), None),
            Admission::Refuse(permit) => (None, Some(permit)),
            Admission::Drop => continue,
        };
        let info = ConnInfo {
            listener: kind,
            peer: Peer::Tcp(ip),
            refuse: refuse.is_some(),
            activity: Activity::new(),
        };
        let front = front.clone();
        let stop = stop.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _held = (slot, refuse);
            let handshake = if info.refuse {
                OVERFLOW_TIMEOUT
            } else {
                front.web.tls_handshake_timeout()
            };
            match tls {
                None => serve(stream, info, front, stop).await,
                Some(acceptor) => {
                    // Failed or too slow: nothing was read, nothing to say.
                    if let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(handshake, acceptor.accept(stream)).await
                    {
                        serve(tls_stream, info, front, stop).await;
                    }
                }
            }
        });
    }
}

/// The accept loop of the Unix auth socket.
pub async fn accept_unix(listener: UnixListener, front: Arc<Front>, stop: watch::Receiver<bool>) {
    let mut stopping = stop.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stopped(&mut stopping) => return,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                crate::logging::warn(&format!("accept on the auth socket: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (slot, refuse) = match front.limits.admit(None) {
            Admission::Serve(slot) => (Some(slot), None),
            Admission::Refuse(permit) => (None, Some(permit)),
            Admission::Drop => continue,
        };
        let info = ConnInfo {
            listener: Listener::AuthSocket,
            peer: Peer::Local,
            refuse: refuse.is_some(),
            activity: Activity::new(),
        };
        let front = front.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _held = (slot, refuse);
            serve(stream, info, front, stop).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_overall_and_per_address() {
        let limits = Limits::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let s1 = limits.admit(Some(a));
        let s2 = limits.admit(Some(a));
        assert!(matches!(s1, Admission::Serve(_)) && matches!(s2, Admission::Serve(_)));
        // A third from the same address is over its share.
        assert!(matches!(limits.admit(Some(a)), Admission::Refuse(_)));
        let s3 = limits.admit(Some(b));
        assert!(matches!(s3, Admission::Serve(_)));
        // All three slots are taken.
        assert!(matches!(limits.admit(None), Admission::Refuse(_)));
        drop(s1);
        let s4 = limits.admit(Some(a));
        assert!(matches!(s4, Admission::Serve(_)));
        // The overflow pool itself is bounded.
        let held: Vec<_> = (0..OVERFLOW).map(|_| limits.admit(Some(b))).collect();
        assert!(held.iter().all(|h| matches!(h, Admission::Refuse(_))));
        assert!(matches!(limits.admit(Some(b)), Admission::Drop));
        drop(held);
        drop((s2, s3, s4));
        assert!(limits.per_ip.lock().expect("lock").is_empty());
    }
}
