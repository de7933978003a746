//! The raw Unix-socket echo baseline: every request line answered with the
//! daemon's real reply bytes, by a separate process (this bench binary
//! re-executed) so that its CPU time is read from /proc like the daemon's
//! and every round trip crosses processes as a verify does.
//!
//! Several servers are candidates (`Candidate`); a short calibration in
//! the run keeps the fastest per client count. None spins: a server that
//! busy-polls would buy latency with CPU and flatter the CPU comparison.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use crate::load::{cpu_socket, cpus, pin_to};

/// Set in the re-executed binary: the server to run (`Server::name`).
const ENV_VARIANT: &str = "APITOKEND_BENCH_ECHO";
/// The socket path (per-CPU servers add `.cpuN`, one per CPU).
const ENV_SOCKET: &str = "APITOKEND_BENCH_ECHO_SOCKET";
/// A file holding the reply bytes (one line, newline included).
const ENV_REPLY: &str = "APITOKEND_BENCH_ECHO_REPLY";

/// Bytes one read may take: many requests' worth.
const BUF: usize = 4096;

/// How an echo server process serves its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// A blocking thread per connection: read into a fixed buffer, count
    /// the newlines, `write_all` that many replies.
    Threads,
    /// One epoll loop, non-blocking sockets, level-triggered.
    Epoll,
    /// `Threads` behind one socket per CPU, each connection's thread
    /// pinned to its socket's CPU.
    ThreadsPerCpu,
    /// One pinned epoll loop per CPU, each on its own socket.
    EpollPerCpu,
}

impl Server {
    pub const ALL: [Server; 4] = [
        Server::Threads,
        Server::Epoll,
        Server::ThreadsPerCpu,
        Server::EpollPerCpu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Server::Threads => "threads",
            Server::Epoll => "epoll",
            Server::ThreadsPerCpu => "threads_per_cpu",
            Server::EpollPerCpu => "epoll_per_cpu",
        }
    }

    fn parse(s: &str) -> Option<Server> {
        Server::ALL.into_iter().find(|v| v.name() == s)
    }

    /// Whether it listens on one socket per CPU (`cpu_socket`).
    pub fn per_cpu(self) -> bool {
        matches!(self, Server::ThreadsPerCpu | Server::EpollPerCpu)
    }
}

/// An echo server and where the clients run: a candidate baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub server: Server,
    /// Client `c` pinned to the CPU of the server socket it uses (client
    /// and server thread share a core: no cross-CPU wake-up). The clients
    /// of verify are not pinned, so these only show a placement ceiling.
    pub pinned_clients: bool,
}

impl Candidate {
    /// The fair candidates (clients placed as verify's are), then the
    /// pinned-pair ones.
    pub const ALL: [Candidate; 6] = [
        Candidate::fair(Server::Threads),
        Candidate::fair(Server::Epoll),
        Candidate::fair(Server::ThreadsPerCpu),
        Candidate::fair(Server::EpollPerCpu),
        Candidate::pairs(Server::ThreadsPerCpu),
        Candidate::pairs(Server::EpollPerCpu),
    ];

    const fn fair(server: Server) -> Candidate {
        Candidate {
            server,
            pinned_clients: false,
        }
    }

    const fn pairs(server: Server) -> Candidate {
        Candidate {
            server,
            pinned_clients: true,
        }
    }

    pub fn name(self) -> String {
        if self.pinned_clients {
            format!("{}_pinned_pairs", self.server.name())
        } else {
            self.server.name().to_owned()
        }
    }
}

/// In the re-executed bench binary: serve and never return. A no-op in
/// the bench itself.
pub fn serve_if_asked() {
    let Ok(variant) = std::env::var(ENV_VARIANT) else {
        return;
    };
    // Never outlive the bench, whatever happens to it.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).unwrap();
    let server = Server::parse(&variant).unwrap_or_else(|| panic!("unknown echo {variant}"));
    let socket = PathBuf::from(std::env::var_os(ENV_SOCKET).unwrap());
    let reply: &'static [u8] =
        Vec::leak(std::fs::read(std::env::var_os(ENV_REPLY).unwrap()).unwrap());
    match server {
        Server::Threads => accept_threads(UnixListener::bind(&socket).unwrap(), reply),
        Server::Epoll => epoll_loop(UnixListener::bind(&socket).unwrap(), reply),
        Server::ThreadsPerCpu | Server::EpollPerCpu => {
            let listeners: Vec<(usize, UnixListener)> = cpus()
                .into_iter()
                .map(|c| (c, UnixListener::bind(cpu_socket(&socket, c)).unwrap()))
                .collect();
            std::thread::scope(|s| {
                for (cpu, l) in listeners {
                    s.spawn(move || {
                        // Threads this one spawns inherit the pinning.
                        pin_to(cpu);
                        if server == Server::ThreadsPerCpu {
                            accept_threads(l, reply);
                        } else {
                            epoll_loop(l, reply);
                        }
                    });
                }
            });
        }
    }
    std::process::exit(0);
}

fn accept_threads(listener: UnixListener, reply: &'static [u8]) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || serve_blocking(stream, reply));
    }
}

fn newlines(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

fn serve_blocking(mut s: UnixStream, reply: &[u8]) {
    let mut buf = [0u8; BUF];
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for _ in 0..newlines(&buf[..n]) {
            if s.write_all(reply).is_err() {
                return;
            }
        }
    }
}

/// One connection of the epoll loop: replies owed, and how much of the
/// first one is already written.
struct Conn {
    stream: UnixStream,
    owed: usize,
    written: usize,
    want_out: bool,
}

const LISTENER: u64 = u64::MAX;

fn epoll_loop(listener: UnixListener, reply: &'static [u8]) {
    listener.set_nonblocking(true).unwrap();
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).unwrap();
    ep.add(&listener, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))
        .unwrap();
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = vec![EpollEvent::empty(); 64];
    let mut buf = [0u8; BUF];
    loop {
        let n = match ep.wait(&mut events, EpollTimeout::NONE) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => panic!("epoll_wait: {e}"),
        };
        for ev in &events[..n] {
            let key = ev.data();
            if key == LISTENER {
                while let Ok((stream, _)) = listener.accept() {
                    stream.set_nonblocking(true).unwrap();
                    let slot = conns.iter().position(Option::is_none).unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    ep.add(&stream, EpollEvent::new(EpollFlags::EPOLLIN, slot as u64))
                        .unwrap();
                    conns[slot] = Some(Conn {
                        stream,
                        owed: 0,
                        written: 0,
                        want_out: false,
                    });
                }
                continue;
            }
            let slot = usize::try_from(key).unwrap();
            let Some(c) = conns[slot].as_mut() else {
                continue;
            };
            if !serve_ready(&ep, c, &mut buf, reply, slot) {
                let _ = ep.delete(&c.stream);
                conns[slot] = None;
            }
        }
    }
}

/// Reads once (level-triggered: more data is reported again), then
/// writes what is owed until the socket is full. False: close it.
fn serve_ready(ep: &Epoll, c: &mut Conn, buf: &mut [u8], reply: &[u8], slot: usize) -> bool {
    match c.stream.read(buf) {
        Ok(0) => return false,
        Ok(n) => c.owed += newlines(&buf[..n]),
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Err(_) => return false,
    }
    while c.owed > 0 {
        match c.stream.write(&reply[c.written..]) {
            Ok(n) => {
                c.written += n;
                if c.written == reply.len() {
                    c.written = 0;
                    c.owed -= 1;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => return false,
        }
    }
    let want_out = c.owed > 0;
    if want_out != c.want_out {
        let flags = if want_out {
            EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT
        } else {
            EpollFlags::EPOLLIN
        };
        ep.modify(&c.stream, &mut EpollEvent::new(flags, slot as u64))
            .unwrap();
        c.want_out = want_out;
    }
    true
}

/// A running echo server process; killed on drop.
pub struct EchoProc {
    pub server: Server,
    pub socket: PathBuf,
    pub pid: u32,
    child: Child,
}

impl EchoProc {
    /// Starts `server` on `dir/echo-<server>.sock` answering `reply`;
    /// returns once every socket it serves accepts a connection.
    pub fn start(server: Server, dir: &Path, reply: &[u8]) -> EchoProc {
        let socket = dir.join(format!("echo-{}.sock", server.name()));
        let reply_file = dir.join("echo-reply");
        std::fs::write(&reply_file, reply).unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .env(ENV_VARIANT, server.name())
            .env(ENV_SOCKET, &socket)
            .env(ENV_REPLY, &reply_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut echo = EchoProc {
            server,
            socket,
            pid: child.id(),
            child,
        };
        let paths: Vec<PathBuf> = if server.per_cpu() {
            cpus()
                .into_iter()
                .map(|c| cpu_socket(&echo.socket, c))
                .collect()
        } else {
            vec![echo.socket.clone()]
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        for p in paths {
            while UnixStream::connect(&p).is_err() {
                if let Some(status) = echo.child.try_wait().unwrap() {
                    panic!("echo server {} exited early ({status})", server.name());
                }
                assert!(Instant::now() < deadline, "echo server did not start");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        echo
    }
}

impl Drop for EchoProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
        for c in cpus() {
            let _ = std::fs::remove_file(cpu_socket(&self.socket, c));
        }
    }
}
