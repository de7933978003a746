//! Load generation: a minimal blocking NDJSON client, closed-loop runs with
//! per-request latencies (where clients connect and run: `Dest`), the
//! first-use storm and the connection-load phase.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

/// One verify request line, pre-serialized.
pub fn verify_request(user: &str, token: &str) -> Vec<u8> {
    format!(
        "{{\"command\":\"verify\",\"args\":{{\"user\":\"{user}\",\"token\":\"{token}\",\
         \"ip\":\"10.0.0.1\",\"function\":\"listaccts\"}}}}\n"
    )
    .into_bytes()
}

/// What every reply of a run must contain, so a broken daemon cannot
/// produce a good figure.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    Ok,
    InvalidToken,
}

impl Expect {
    fn needle(self) -> &'static [u8] {
        match self {
            Expect::Ok => b"\"result\":1",
            Expect::InvalidToken => b"\"invalid_token\"",
        }
    }

    pub fn check(self, reply: &[u8]) {
        let needle = self.needle();
        assert!(
            reply.windows(needle.len()).any(|w| w == needle),
            "unexpected reply (wanted {}): {}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(reply)
        );
    }
}

/// A persistent connection: one write and (usually) one read per request.
pub struct Conn {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    line: Vec<u8>,
}

impl Conn {
    pub fn connect(path: &Path) -> Conn {
        let writer = UnixStream::connect(path).unwrap();
        let reader = BufReader::with_capacity(4096, writer.try_clone().unwrap());
        Conn {
            writer,
            reader,
            line: Vec::with_capacity(512),
        }
    }

    pub fn call(&mut self, request: &[u8]) -> &[u8] {
        self.writer.write_all(request).unwrap();
        self.line.clear();
        let n = self.reader.read_until(b'\n', &mut self.line).unwrap();
        assert!(n > 0, "the server closed the connection");
        &self.line
    }
}

/// Requests answered, wall time and sorted per-request latencies.
#[derive(Debug, Default)]
pub struct Run {
    pub requests: u64,
    pub elapsed: Duration,
    lat_ns: Vec<u64>,
}

impl Run {
    fn from_parts(parts: Vec<(Vec<u64>, Instant, Instant)>) -> Run {
        let start = parts.iter().map(|p| p.1).min().unwrap();
        let end = parts.iter().map(|p| p.2).max().unwrap();
        let mut lat_ns: Vec<u64> = parts.into_iter().flat_map(|p| p.0).collect();
        lat_ns.sort_unstable();
        Run {
            requests: lat_ns.len() as u64,
            elapsed: end - start,
            lat_ns,
        }
    }

    /// Slices of one measurement as a single run.
    pub fn merge(runs: Vec<Run>) -> Run {
        let mut all = Run::default();
        for r in runs {
            all.requests += r.requests;
            all.elapsed += r.elapsed;
            all.lat_ns.extend(r.lat_ns);
        }
        all.lat_ns.sort_unstable();
        all
    }

    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile in microseconds (nearest rank).
    pub fn pct_us(&self, q: f64) -> f64 {
        if self.lat_ns.is_empty() {
            return f64::NAN;
        }
        let rank = (q * self.lat_ns.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.lat_ns.len()) - 1;
        self.lat_ns[i] as f64 / 1e3
    }

    pub fn max_us(&self) -> f64 {
        self.lat_ns.last().map_or(f64::NAN, |&v| v as f64 / 1e3)
    }
}

/// The CPUs this process may run on (the bench's main thread is never
/// pinned, so its children see the same set).
pub fn cpus() -> Vec<usize> {
    let set = sched_getaffinity(Pid::from_raw(0)).unwrap();
    (0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

/// Pins the calling thread to `cpu`.
pub fn pin_to(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu).unwrap();
    sched_setaffinity(Pid::from_raw(0), &set).unwrap();
}

/// The socket of a per-CPU server whose threads run on `cpu`.
pub fn cpu_socket(base: &Path, cpu: usize) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".cpu{cpu}"));
    PathBuf::from(s)
}

/// Where the clients of a run connect.
#[derive(Clone, Copy, Debug)]
pub enum Dest<'a> {
    /// Every client to this socket, wherever the scheduler runs it.
    Any(&'a Path),
    /// Client `c` to the per-CPU socket (`cpu_socket`) of the
    /// `c mod n`-th of the n CPUs, wherever the scheduler runs it.
    Spread(&'a Path),
    /// As `Spread`, with client `c` pinned to that CPU.
    Pinned(&'a Path),
}

impl Dest<'_> {
    /// Pins the calling client thread if asked, and connects it.
    fn connect(self, client: usize) -> Conn {
        let per_cpu = |base: &Path| {
            let cpus = cpus();
            let cpu = cpus[client % cpus.len()];
            (cpu, cpu_socket(base, cpu))
        };
        match self {
            Dest::Any(p) => Conn::connect(p),
            Dest::Spread(base) => Conn::connect(&per_cpu(base).1),
            Dest::Pinned(base) => {
                let (cpu, path) = per_cpu(base);
                pin_to(cpu);
                Conn::connect(&path)
            }
        }
    }
}

/// `closed_loop_to` with every client on `socket`.
pub fn closed_loop(
    socket: &Path,
    clients: usize,
    requests: &[Vec<u8>],
    expect: Expect,
    duration: Duration,
) -> Run {
    closed_loop_to(
        Dest::Any(socket),
        clients,
        requests,
        expect,
        duration,
        || (),
    )
    .0
}

/// Sends `requests` (cycled, each client from its own offset) back to back
/// on `clients` persistent connections for `duration`; calls `at_end` once
/// every client is done and before any closes its connection (a server's
/// per-connection threads are still alive to be counted).
pub fn closed_loop_to<T>(
    dest: Dest<'_>,
    clients: usize,
    requests: &[Vec<u8>],
    expect: Expect,
    duration: Duration,
    at_end: impl FnOnce() -> T,
) -> (Run, T) {
    let start = Barrier::new(clients);
    // A client that fails still meets the others at both barriers, and
    // only then re-raises its panic.
    let (end, release) = (Barrier::new(clients + 1), Barrier::new(clients + 1));
    let (parts, t) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (start, end, release) = (&start, &end, &release);
                s.spawn(move || {
                    let mut conn = catch_unwind(AssertUnwindSafe(|| dest.connect(c)));
                    start.wait();
                    let part = match &mut conn {
                        Ok(conn) => catch_unwind(AssertUnwindSafe(|| {
                            drive(
                                conn,
                                requests,
                                c * requests.len() / clients,
                                expect,
                                duration,
                            )
                        })),
                        Err(_) => Ok((Vec::new(), Instant::now(), Instant::now())),
                    };
                    end.wait();
                    release.wait();
                    let conn = conn.unwrap_or_else(|e| resume_unwind(e));
                    drop(conn);
                    part.unwrap_or_else(|e| resume_unwind(e))
                })
            })
            .collect();
        end.wait();
        let t = at_end();
        release.wait();
        let parts = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>();
        (parts, t)
    });
    (Run::from_parts(parts), t)
}

/// One client's closed loop from request `i` on: latencies, start, end.
fn drive(
    conn: &mut Conn,
    requests: &[Vec<u8>],
    mut i: usize,
    expect: Expect,
    duration: Duration,
) -> (Vec<u64>, Instant, Instant) {
    let mut lat = Vec::with_capacity(1 << 16);
    let start = Instant::now();
    let deadline = start + duration;
    loop {
        let req = &requests[i % requests.len()];
        i += 1;
        let t0 = Instant::now();
        let reply = conn.call(req);
        let t1 = Instant::now();
        expect.check(reply);
        lat.push(u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX));
        if t1 >= deadline {
            return (lat, start, t1);
        }
    }
}

/// Sends each request once, in order, on one connection (warm-up).
pub fn each_once(socket: &Path, requests: &[Vec<u8>], expect: Expect) -> Duration {
    let mut conn = Conn::connect(socket);
    let t0 = Instant::now();
    for r in requests {
        expect.check(conn.call(r));
    }
    t0.elapsed()
}

/// The first-use storm and the cached latency seen meanwhile.
#[derive(Debug)]
pub struct Storm {
    pub elapsed: Duration,
    pub first_use: Run,
    pub cached: Run,
}

/// `threads` clients verify every `first_use` request once (each costs
/// Argon2 in the daemon) while one more client verifies `cached` requests
/// back to back until the storm is over.
pub fn storm(socket: &Path, threads: usize, first_use: &[Vec<u8>], cached: &[Vec<u8>]) -> Storm {
    let barrier = Barrier::new(threads + 2);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (barrier, done) = (&barrier, &done);
        let measurer = s.spawn(move || {
            let mut conn = Conn::connect(socket);
            let mut lat = Vec::with_capacity(1 << 16);
            let mut i = 0;
            barrier.wait();
            let start = Instant::now();
            loop {
                let t0 = Instant::now();
                let reply = conn.call(&cached[i % cached.len()]);
                let t1 = Instant::now();
                i += 1;
                Expect::Ok.check(reply);
                lat.push(u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX));
                if done.load(Ordering::Relaxed) {
                    return (lat, start, t1);
                }
            }
        });
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut conn = Conn::connect(socket);
                    let mut lat = Vec::new();
                    barrier.wait();
                    let start = Instant::now();
                    for req in first_use.iter().skip(t).step_by(threads) {
                        let t0 = Instant::now();
                        let reply = conn.call(req);
                        let t1 = Instant::now();
                        Expect::Ok.check(reply);
                        lat.push(u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX));
                    }
                    (lat, start, Instant::now())
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let parts: Vec<_> = workers.into_iter().map(|h| h.join().unwrap()).collect();
        let elapsed = start.elapsed();
        done.store(true, Ordering::Relaxed);
        let cached = Run::from_parts(vec![measurer.join().unwrap()]);
        Storm {
            elapsed,
            first_use: Run::from_parts(parts),
            cached,
        }
    })
}

/// Background load for the "loaded" phase: `busy` connected clients (on
/// `threads` threads, each connection sending one cached verify every
/// `interval`) and `idle` connections that sent half a line, while one more
/// client measures cached-verify latency back to back for `duration`.
pub fn loaded(
    socket: &Path,
    busy: usize,
    threads: usize,
    interval: Duration,
    idle: usize,
    cached: &[Vec<u8>],
    duration: Duration,
) -> (Run, u64) {
    let half = &cached[0][..cached[0].len() / 2];
    let idlers: Vec<UnixStream> = (0..idle)
        .map(|_| {
            let mut s = UnixStream::connect(socket).unwrap();
            s.write_all(half).unwrap();
            s
        })
        .collect();
    let done = AtomicBool::new(false);
    let per_thread = busy.div_ceil(threads);
    let (run, background) = std::thread::scope(|s| {
        let done = &done;
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut conns: Vec<Conn> =
                        (0..per_thread).map(|_| Conn::connect(socket)).collect();
                    let mut sent = 0u64;
                    let mut i = t;
                    while !done.load(Ordering::Relaxed) {
                        let round = Instant::now();
                        for c in &mut conns {
                            Expect::Ok.check(c.call(&cached[i % cached.len()]));
                            i += 1;
                            sent += 1;
                        }
                        if let Some(rest) = interval.checked_sub(round.elapsed()) {
                            std::thread::sleep(rest);
                        }
                    }
                    sent
                })
            })
            .collect();
        // Let every busy connection be established and active first.
        std::thread::sleep(interval * 3);
        let run = closed_loop(socket, 1, cached, Expect::Ok, duration);
        done.store(true, Ordering::Relaxed);
        let background: u64 = workers.into_iter().map(|h| h.join().unwrap()).sum();
        (run, background)
    });
    drop(idlers);
    (run, background)
}
