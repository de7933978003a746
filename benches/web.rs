//! `cargo bench --bench web`: the HTTPS front measured against its
//! targets, in one run, on the real release binaries.
//!
//! Anchors and subjects, each with 1 and 8 keep-alive clients, measured in
//! interleaved slices so drift hits them alike:
//! - nginx answering `return 204;` over loopback keep-alive HTTP (the
//!   anchor for HTTP on this machine; `worker_processes auto`);
//! - the verify socket itself (the baseline of the gate's latency target);
//! - the auth gate (`GET /auth`) over the loopback HTTP listener and over
//!   its Unix socket;
//! - HTTPS `api_token_list` (relayed to the daemon with the token).
//!
//! Then TLS full handshakes per second (2 clients, resumption off), and the
//! gate's 1-client latency while 1,000 idle keep-alive connections are
//! open, against the same figure unloaded. A table goes to stdout, then,
//! last, one JSON line with every figure. `APITOKEND_BENCH_SECS` (default
//! 3) sets the seconds per measured figure. Needs root (the front switches
//! to `nobody`) and nginx (`apt-get install nginx`).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::Value;

const DAEMON: &str = env!("CARGO_BIN_EXE_apitokend");
const WEB: &str = env!("CARGO_BIN_EXE_apitokend-web");
const SLICES: u32 = 4;
const IDLE_CONNECTIONS: usize = 1000;

fn progress(msg: &str) {
    eprintln!("[bench web] {msg}");
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(65_536), hard.min(65_536));
    }
}

// ---------------------------------------------------------------- clients

/// Requests answered, wall time and sorted per-request latencies.
#[derive(Debug, Default)]
struct Run {
    requests: u64,
    elapsed: Duration,
    lat_ns: Vec<u64>,
}

impl Run {
    /// Slices of one measurement as a single run.
    fn merge(runs: Vec<Run>) -> Run {
        let mut all = Run::default();
        for r in runs {
            all.requests += r.requests;
            all.elapsed += r.elapsed;
            all.lat_ns.extend(r.lat_ns);
        }
        all.lat_ns.sort_unstable();
        all
    }

    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile in microseconds (nearest rank).
    fn pct_us(&self, q: f64) -> f64 {
        if self.lat_ns.is_empty() {
            return f64::NAN;
        }
        let rank = (q * self.lat_ns.len() as f64).ceil() as usize;
        self.lat_ns[rank.clamp(1, self.lat_ns.len()) - 1] as f64 / 1e3
    }
}

/// One verify request line, pre-serialized (as the gate sends it).
fn verify_request(user: &str, token: &str) -> Vec<u8> {
    format!(
        "{{\"command\":\"verify\",\"args\":{{\"user\":\"{user}\",\"token\":\"{token}\",\
         \"ip\":\"10.0.0.1\",\"function\":\"listaccts\"}}}}\n"
    )
    .into_bytes()
}

/// A persistent verify-socket connection: one line out, one line back.
struct Ndjson {
    stream: UnixStream,
    buf: Vec<u8>,
}

/// A keep-alive HTTP/1.1 connection over any stream: one write and reads
/// until the whole response (headers plus Content-Length body) is in.
struct Http<S> {
    stream: S,
    buf: Vec<u8>,
}

impl<S: Read + Write> Http<S> {
    fn new(stream: S) -> Http<S> {
        Http {
            stream,
            buf: Vec::with_capacity(8192),
        }
    }

    /// Sends `req`, returns the status code (the body is read and dropped).
    fn call(&mut self, req: &[u8]) -> u16 {
        self.stream.write_all(req).unwrap();
        self.buf.clear();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end]).unwrap();
                let status: u16 = head[9..12].parse().unwrap();
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                let total = end + 4 + len;
                while self.buf.len() < total {
                    let n = self.stream.read(&mut chunk).unwrap();
                    assert!(n > 0, "closed mid-body");
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                return status;
            }
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Where a client connects.
#[derive(Clone)]
enum Endpoint {
    Tcp(SocketAddr),
    Unix(PathBuf),
    Tls(SocketAddr, Arc<rustls::ClientConfig>),
    /// The daemon's verify socket (NDJSON, not HTTP).
    Verify(PathBuf),
}

trait Caller {
    fn call(&mut self, req: &[u8]) -> u16;
}

impl<S: Read + Write> Caller for Http<S> {
    fn call(&mut self, req: &[u8]) -> u16 {
        Http::call(self, req)
    }
}

impl Caller for Ndjson {
    fn call(&mut self, req: &[u8]) -> u16 {
        self.stream.write_all(req).unwrap();
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        while !self.buf.ends_with(b"\n") {
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the daemon closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
        if find(&self.buf, b"\"result\":1").is_some() {
            200
        } else {
            500
        }
    }
}

fn tls_stream(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

impl Endpoint {
    fn connect(&self) -> Box<dyn Caller> {
        match self {
            Endpoint::Tcp(a) => {
                let s = TcpStream::connect(a).unwrap();
                s.set_nodelay(true).unwrap();
                Box::new(Http::new(s))
            }
            Endpoint::Unix(p) => Box::new(Http::new(UnixStream::connect(p).unwrap())),
            Endpoint::Tls(a, c) => Box::new(Http::new(tls_stream(*a, c))),
            Endpoint::Verify(p) => Box::new(Ndjson {
                stream: UnixStream::connect(p).unwrap(),
                buf: Vec::with_capacity(512),
            }),
        }
    }
}

/// `clients` persistent clients send `req` back to back for `dur`; every
/// reply must have status `want`.
fn closed_loop(ep: &Endpoint, req: &[u8], want: u16, clients: usize, dur: Duration) -> Run {
    let barrier = Barrier::new(clients);
    let parts: Vec<(Vec<u64>, Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut conn = ep.connect();
                    let mut lat = Vec::with_capacity(1 << 16);
                    barrier.wait();
                    let start = Instant::now();
                    let deadline = start + dur;
                    loop {
                        let t0 = Instant::now();
                        let status = conn.call(req);
                        let t1 = Instant::now();
                        assert_eq!(status, want, "unexpected status");
                        lat.push(u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX));
                        if t1 >= deadline {
                            return (lat, start, t1);
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    runs_from(parts)
}

fn runs_from(parts: Vec<(Vec<u64>, Instant, Instant)>) -> Run {
    // Requests add up; the wall time is first start to last end.
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

/// The targets of one comparison, measured in interleaved slices.
struct Subject<'a> {
    key: &'static str,
    ep: &'a Endpoint,
    req: &'a [u8],
    want: u16,
}

fn interleaved(subjects: &[Subject<'_>], clients: usize, dur: Duration) -> Vec<Run> {
    let slice = dur / SLICES;
    for s in subjects {
        let _ = closed_loop(s.ep, s.req, s.want, clients, slice / 4);
    }
    let mut all: Vec<Vec<Run>> = subjects.iter().map(|_| Vec::new()).collect();
    for _ in 0..SLICES {
        for (s, runs) in subjects.iter().zip(all.iter_mut()) {
            runs.push(closed_loop(s.ep, s.req, s.want, clients, slice));
        }
    }
    all.into_iter().map(Run::merge).collect()
}

// ---------------------------------------------------------------- report

#[derive(Default)]
struct Report {
    rows: Vec<(String, f64, usize, &'static str)>,
    texts: Vec<(String, String)>,
    goals: Vec<(&'static str, bool, f64)>,
}

impl Report {
    fn num(&mut self, key: &str, v: f64, decimals: usize, unit: &'static str) {
        self.rows.push((key.to_owned(), v, decimals, unit));
    }

    fn run(&mut self, prefix: &str, r: &Run) {
        self.num(&format!("{prefix}_rps"), r.rps(), 0, "/s");
        self.num(&format!("{prefix}_p50_us"), r.pct_us(0.50), 1, "us");
        self.num(&format!("{prefix}_p99_us"), r.pct_us(0.99), 1, "us");
    }

    fn value(&self, key: &str) -> f64 {
        self.rows
            .iter()
            .find(|r| r.0 == key)
            .map_or(f64::NAN, |r| r.1)
    }

    fn met(&self, (key, at_least, limit): (&str, bool, f64)) -> bool {
        let v = self.value(key);
        if at_least { v >= limit } else { v <= limit }
    }

    fn print(&self) {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<36} {:>14}  {:>10}  met",
            "figure", "value", "target"
        );
        let _ = writeln!(out, "{}", "-".repeat(70));
        for (k, v) in &self.texts {
            let _ = writeln!(out, "  {k:<34} {v}");
        }
        for (key, v, d, unit) in &self.rows {
            let shown = format!("{v:.d$} {unit}", d = *d);
            let (target, met) = match self.goals.iter().find(|g| g.0 == key) {
                Some(g) => (
                    format!("{} {}", if g.1 { ">=" } else { "<=" }, g.2),
                    if self.met(*g) { "yes" } else { "NO" },
                ),
                None => (String::new(), ""),
            };
            let _ = writeln!(out, "  {key:<34} {shown:>14}  {target:>10}  {met}");
        }
        let met = self.goals.iter().filter(|g| self.met(**g)).count();
        let _ = writeln!(out, "{}", "-".repeat(70));
        let _ = writeln!(out, "targets met: {met} of {}", self.goals.len());
        print!("{out}");
    }

    fn json(&self) -> String {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.texts {
            map.insert(k.clone(), Value::String(v.clone()));
        }
        for (key, v, d, _) in &self.rows {
            let scale = 10f64.powi(i32::try_from(*d).unwrap());
            let n = serde_json::Number::from_f64((v * scale).round() / scale)
                .map_or(Value::Null, Value::Number);
            map.insert(key.clone(), n);
        }
        let mut targets = serde_json::Map::new();
        for g in &self.goals {
            targets.insert(g.0.to_owned(), Value::Bool(self.met(*g)));
        }
        map.insert(
            "all_targets_met".into(),
            Value::Bool(self.goals.iter().all(|g| self.met(*g))),
        );
        map.insert("targets_met".into(), Value::Object(targets));
        Value::Object(map).to_string()
    }
}

// ---------------------------------------------------------------- set-up

/// A child stopped with SIGTERM and waited for on drop.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct Setup {
    _daemon: Stopped,
    _front: Stopped,
    _nginx: Stopped,
    verify_socket: PathBuf,
    auth_socket: PathBuf,
    https: SocketAddr,
    http: SocketAddr,
    nginx: SocketAddr,
    token: String,
    cert: PathBuf,
}

fn nobody() -> (String, String) {
    let u = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let g = nix::unistd::Group::from_gid(u.gid).unwrap().unwrap();
    (u.name, g.name)
}

fn setup(dir: &Path) -> Setup {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (user, group) = nobody();
    let accounts = dir.join("accounts");
    std::fs::create_dir_all(accounts.join("suspended")).unwrap();
    std::fs::write(accounts.join("resellers"), "").unwrap();
    let control = dir.join("control.sock");
    let verify_socket = dir.join("verify.sock");
    let auth_socket = dir.join("auth.sock");
    let config = dir.join("apitokend.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {state:?}\naccounts_dir = {accounts:?}\ncontrol_socket = {control:?}\n\
             verify_socket = {verify_socket:?}\nverify_socket_group = \"{group}\"\nlog = \"stderr\"\n\
             [limits]\nmax_connections = 4096\nidle_timeout_secs = 600\n\
             [lockout]\nmax_failures = 0\n\
             [web]\nuser = \"{user}\"\nstate_dir = {web:?}\nlisten = [\"127.0.0.1:0\"]\n\
             http_listen = [\"127.0.0.1:0\"]\nauth_socket = {auth_socket:?}\n\
             max_connections = 4096\nmax_connections_per_ip = 4096\nheader_timeout_secs = 600\n",
            state = dir.join("state"),
            web = dir.join("web"),
        ),
    )
    .unwrap();
    let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
    let daemon = Stopped(
        Command::new(DAEMON)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log("daemon.stderr"))
            .spawn()
            .unwrap(),
    );
    wait_for("apitokend", || {
        UnixStream::connect(&verify_socket).is_ok() && UnixStream::connect(&control).is_ok()
    });
    let front = Stopped(
        Command::new(WEB)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log("web.stderr"))
            .spawn()
            .unwrap(),
    );
    let web_log = dir.join("web.stderr");
    wait_for("apitokend-web", || {
        std::fs::read_to_string(&web_log)
            .unwrap_or_default()
            .contains("listening on")
    });
    let text = std::fs::read_to_string(&web_log).unwrap();
    let line = text.lines().find(|l| l.contains("listening on")).unwrap();
    let addr = |scheme: &str| -> SocketAddr {
        line.split([' ', ','])
            .find_map(|w| w.strip_prefix(scheme))
            .unwrap()
            .parse()
            .unwrap()
    };
    let (https, http) = (addr("https://"), addr("http://"));
    // A full-access token of root, through the control socket.
    let mut client =
        apitokend_proto::client::Client::connect(&control, Duration::from_secs(10)).unwrap();
    let reply = client
        .call(&apitokend_proto::Request::new("api_token_create").arg("token_name", "bench"))
        .unwrap();
    let token = reply.data.unwrap()["token"].as_str().unwrap().to_owned();
    // nginx: the HTTP anchor.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ng = dir.join("nginx");
    std::fs::create_dir_all(ng.join("logs")).unwrap();
    let conf = ng.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nuser root;\nworker_processes auto;\nerror_log {d}/logs/error.log;\n\
             pid {d}/nginx.pid;\nevents {{ worker_connections 4096; }}\n\
             http {{ access_log off; keepalive_requests 100000000; keepalive_timeout 600s;\n\
             server {{ listen 127.0.0.1:{port}; location / {{ return 204; }} }} }}\n",
            d = ng.display()
        ),
    )
    .unwrap();
    let nginx = Stopped(
        Command::new("nginx")
            .args(["-p", ng.to_str().unwrap(), "-c", conf.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (apt-get install nginx)"),
    );
    let nginx_addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for("nginx", || TcpStream::connect(nginx_addr).is_ok());
    Setup {
        _daemon: daemon,
        _front: front,
        _nginx: nginx,
        verify_socket,
        auth_socket,
        https,
        http,
        nginx: nginx_addr,
        token,
        cert: dir.join("web/self-signed.crt"),
    }
}

fn tls_config(cert: &Path, resume: bool) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(config)
}

/// Full handshakes per second: `clients` threads connect, handshake and
/// close, with resumption off.
fn handshakes(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    clients: usize,
    dur: Duration,
) -> f64 {
    let counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(move || {
                    let deadline = Instant::now() + dur;
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let mut tls = tls_stream(addr, config);
                        tls.conn.complete_io(&mut tls.sock).unwrap();
                        assert!(!tls.conn.is_handshaking());
                        tls.conn.send_close_notify();
                        let _ = tls.conn.complete_io(&mut tls.sock);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    counts.iter().sum::<u64>() as f64 / dur.as_secs_f64()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {nproc} vCPUs, Linux {}", kernel.trim())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    // `cargo bench` passes --bench; a bare `cargo test --benches` run only
    // checks that this compiles and starts.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "the web benchmark runs as root (the front switches to nobody)"
    );
    raise_fd_limit();
    let dur = Duration::from_secs(env_or("APITOKEND_BENCH_SECS", 3));
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let mut rep = Report::default();
    rep.texts.push(("machine".into(), machine()));
    // Figures from a busy machine are not comparable: say how busy it was.
    rep.texts.push(("loadavg_at_start".into(), loadavg()));

    let gate_req = format!(
        "GET /auth HTTP/1.1\r\nHost: localhost\r\nAuthorization: whm root:{}\r\n\
         X-Original-URI: /json-api/listaccts?api.version=1\r\nX-Real-IP: 10.0.0.1\r\n\r\n",
        s.token
    )
    .into_bytes();
    let list_req = format!(
        "GET /json-api/api_token_list?api.version=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: whm root:{}\r\n\r\n",
        s.token
    )
    .into_bytes();
    let nginx_req = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
    let verify_req = verify_request("root", &s.token);
    let nginx = Endpoint::Tcp(s.nginx);
    let gate_http = Endpoint::Tcp(s.http);
    let gate_unix = Endpoint::Unix(s.auth_socket.clone());
    let verify = Endpoint::Verify(s.verify_socket.clone());
    let https = Endpoint::Tls(s.https, tls_config(&s.cert, true));
    // Warm the token into the daemon's verified cache.
    let _ = closed_loop(&gate_http, &gate_req, 204, 1, Duration::from_millis(200));
    let _ = closed_loop(&https, &list_req, 200, 1, Duration::from_millis(200));

    for clients in [1usize, 8] {
        progress(&format!(
            "{clients} client(s): nginx 204, verify socket, gate over HTTP and Unix socket, HTTPS api_token_list"
        ));
        let subjects = [
            Subject {
                key: "nginx_204",
                ep: &nginx,
                req: &nginx_req,
                want: 204,
            },
            Subject {
                key: "verify_socket",
                ep: &verify,
                req: &verify_req,
                want: 200,
            },
            Subject {
                key: "gate_http",
                ep: &gate_http,
                req: &gate_req,
                want: 204,
            },
            Subject {
                key: "gate_unix",
                ep: &gate_unix,
                req: &gate_req,
                want: 204,
            },
            Subject {
                key: "https_api_token_list",
                ep: &https,
                req: &list_req,
                want: 200,
            },
        ];
        let runs = interleaved(&subjects, clients, dur);
        for (subject, run) in subjects.iter().zip(&runs) {
            rep.run(&format!("{}_{clients}c", subject.key), run);
        }
    }
    progress("TLS full handshakes, 2 clients, no resumption");
    let hs = handshakes(s.https, &tls_config(&s.cert, false), 2, dur);
    rep.num("tls_full_handshakes_per_s", hs, 0, "/s");

    progress("gate p99 unloaded, then with 1,000 idle keep-alive connections");
    let subjects = [Subject {
        key: "gate_http",
        ep: &gate_http,
        req: &gate_req,
        want: 204,
    }];
    let unloaded = interleaved(&subjects, 1, dur).remove(0);
    let idle: Vec<Http<TcpStream>> = (0..IDLE_CONNECTIONS)
        .map(|_| {
            let s = TcpStream::connect(s.http).unwrap();
            let mut h = Http::new(s);
            assert_eq!(h.call(&gate_req), 204);
            h
        })
        .collect();
    let loaded = interleaved(&subjects, 1, dur).remove(0);
    drop(idle);
    rep.run("gate_http_1c_unloaded", &unloaded);
    rep.run("gate_http_1c_1000_idle", &loaded);

    // Targets.
    let ratio = rep.value("gate_http_8c_rps") / rep.value("nginx_204_8c_rps");
    rep.num("gate_http_8c_vs_nginx", ratio, 2, "x");
    let ratio_unix = rep.value("gate_unix_8c_rps") / rep.value("nginx_204_8c_rps");
    rep.num("gate_unix_8c_vs_nginx", ratio_unix, 2, "x");
    let over = rep.value("gate_http_1c_p50_us") - rep.value("verify_socket_1c_p50_us");
    rep.num("gate_http_1c_p50_over_verify_us", over, 1, "us");
    let over_unix = rep.value("gate_unix_1c_p50_us") - rep.value("verify_socket_1c_p50_us");
    rep.num("gate_unix_1c_p50_over_verify_us", over_unix, 1, "us");
    let p99 =
        rep.value("gate_http_1c_1000_idle_p99_us") / rep.value("gate_http_1c_unloaded_p99_us");
    rep.num("gate_p99_idle_vs_unloaded", p99, 2, "x");
    rep.goals = vec![
        ("gate_http_8c_vs_nginx", true, 0.5),
        ("gate_unix_8c_vs_nginx", true, 0.5),
        ("gate_http_1c_p50_over_verify_us", false, 30.0),
        ("gate_unix_1c_p50_over_verify_us", false, 30.0),
        ("gate_p99_idle_vs_unloaded", false, 2.0),
    ];
    rep.texts.push(("loadavg_at_end".into(), loadavg()));
    rep.print();
    println!("{}", rep.json());
}
