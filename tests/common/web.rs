//! Harness for the HTTPS front: a real daemon plus the real
//! `apitokend-web` on ephemeral loopback ports (started as root, so it
//! switches to a test account as in production), a test upstream that
//! echoes the identity headers it receives, and small HTTP clients.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Daemon, TestUser, test_user};

pub const WEB: &str = env!("CARGO_BIN_EXE_apitokend-web");

/// The account the front runs as in tests (a member of the verify group).
pub const WEB_USER: &str = "apitokwebfront";

/// A daemon and a front sharing one configuration file.
pub struct Web {
    pub daemon: Daemon,
    pub user: TestUser,
    pub https: SocketAddr,
    pub http: Option<SocketAddr>,
    pub auth_socket: PathBuf,
    pub state_dir: PathBuf,
    child: Option<Child>,
    stderr_log: PathBuf,
}

pub struct WebBuilder {
    resellers: String,
    web_extra: String,
    top_extra: String,
    http: bool,
}

impl WebBuilder {
    pub fn resellers(mut self, text: &str) -> Self {
        self.resellers = text.to_owned();
        self
    }

    /// More `[web]` keys.
    pub fn web(mut self, text: &str) -> Self {
        self.web_extra.push_str(text);
        self.web_extra.push('\n');
        self
    }

    /// More top-level daemon keys.
    pub fn top(mut self, text: &str) -> Self {
        self.top_extra.push_str(text);
        self.top_extra.push('\n');
        self
    }

    /// No loopback HTTP listener.
    pub fn without_http(mut self) -> Self {
        self.http = false;
        self
    }

    pub fn start(self) -> Web {
        let user = test_user(WEB_USER);
        let probe = tempfile::tempdir().unwrap();
        // Paths inside the daemon's temp dir are only known once it exists,
        // so the [web] section names them relative to a placeholder.
        let http = if self.http {
            "http_listen = [\"127.0.0.1:0\"]\n"
        } else {
            ""
        };
        let web_section = format!(
            "[web]\nuser = \"{WEB_USER}\"\nstate_dir = \"@DIR@/web\"\nlisten = [\"127.0.0.1:0\"]\n\
             {http}auth_socket = \"@DIR@/run/auth.sock\"\n{}",
            self.web_extra
        );
        drop(probe);
        let daemon = Daemon::builder()
            .resellers(&self.resellers)
            .config(&format!(
                "verify_socket_group = \"{WEB_USER}\"\n{}{web_section}",
                self.top_extra
            ))
            .start_with(|dir, text| text.replace("@DIR@", super::path_str(dir)));
        let dir = daemon.dir.path().to_owned();
        let stderr_log = dir.join("web.stderr");
        let mut w = Web {
            user,
            https: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: None,
            auth_socket: dir.join("run/auth.sock"),
            state_dir: dir.join("web"),
            child: None,
            stderr_log,
            daemon,
        };
        w.spawn();
        w
    }
}

impl Web {
    pub fn builder() -> WebBuilder {
        WebBuilder {
            resellers: String::new(),
            web_extra: String::new(),
            top_extra: String::new(),
            http: true,
        }
    }

    pub fn start() -> Web {
        Web::builder().start()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_log)
            .unwrap();
        let before = self.stderr().matches("listening on").count();
        let child = Command::new(WEB)
            .arg("--config")
            .arg(&self.daemon.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.stderr();
            if text.matches("listening on").count() > before {
                let line = text.lines().rfind(|l| l.contains("listening on")).unwrap();
                for word in line.split([' ', ',']) {
                    if let Some(a) = word.strip_prefix("https://") {
                        self.https = a.parse().unwrap();
                    } else if let Some(a) = word.strip_prefix("http://") {
                        self.http = Some(a.parse().unwrap());
                    }
                }
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("apitokend-web exited early ({status}): {text}");
            }
            assert!(
                Instant::now() < deadline,
                "apitokend-web did not start: {text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid()).unwrap());
        nix::sys::signal::kill(pid, sig).unwrap();
    }

    /// SIGTERM, wait, and everything the front logged.
    pub fn stop_and_read_log(&mut self) -> String {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let status = self.child.take().unwrap().wait().unwrap();
        assert!(status.success(), "apitokend-web exited with {status}");
        self.stderr()
    }

    /// Waits (bounded) until the front's log contains `text` `n` times.
    pub fn wait_for_log(&self, text: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.stderr().matches(text).count() < n {
            assert!(
                Instant::now() < deadline,
                "never saw {text:?} x{n} in: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn cert(&self) -> PathBuf {
        self.state_dir.join("self-signed.crt")
    }

    pub fn https_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.https)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http.expect("an HTTP listener"))
    }

    /// A token for `owner` (root when `None`) with `acls` (full access when empty).
    pub fn token(&self, owner: Option<&str>, name: &str, acls: &[&str]) -> String {
        let mut args = json!({ "token_name": name });
        if !acls.is_empty() {
            args["acl"] = json!(acls);
        }
        let data = super::create(&self.daemon, owner, args);
        data["token"].as_str().unwrap().to_owned()
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What curl saw.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// Runs curl with `args` (URL included) and parses status, headers, body.
pub fn curl(args: &[&str]) -> Reply {
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl (apt-get install curl)");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_response(&out.stdout)
}

/// Parses one raw HTTP/1.1 response (the last one, after any 100-continue).
pub fn parse_response(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).into_owned();
    let mut rest = text.as_str();
    loop {
        let (head, body) = rest
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no header end in {text:?}"));
        let mut lines = head.lines();
        let status_line = lines.next().unwrap();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        if status == 100 {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        return Reply {
            status,
            headers,
            body: body.to_owned(),
        };
    }
}

/// Sends raw bytes over plain TCP and reads until the server closes (or
/// `wait` passes); returns what came back.
pub fn raw_exchange(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Header names (lowercase) and values, in order.
pub type Headers = Vec<(String, String)>;

/// A test upstream: answers every request with JSON naming the identity
/// headers it received, shaped like WHM's `listaccts` so cPanel's example
/// scripts print something.
pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub log: Arc<std::sync::Mutex<Vec<Headers>>>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (h, l) = (hits.clone(), log.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (h, l) = (h.clone(), l.clone());
                std::thread::spawn(move || serve_upstream(stream, &h, &l));
            }
        });
        Upstream { addr, hits, log }
    }

    /// The headers of every request received so far.
    pub fn requests(&self) -> Vec<Headers> {
        self.log.lock().unwrap().clone()
    }
}

fn serve_upstream(stream: TcpStream, hits: &AtomicUsize, log: &std::sync::Mutex<Vec<Headers>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
                if k == "content-length" {
                    length = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        hits.fetch_add(1, Ordering::SeqCst);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let user = get("x-apitoken-user").unwrap_or_default();
        let reply = json!({
            "data": {"acct": [{"user": user.clone()}, {"user": format!("{user}-customer")}]},
            "metadata": {"command": "listaccts", "result": 1, "reason": "OK", "version": 1},
            "seen": {
                "request": request_line.trim_end(),
                "x-apitoken-user": get("x-apitoken-user"),
                "x-apitoken-name": get("x-apitoken-name"),
                "x-apitoken-acls": get("x-apitoken-acls"),
                "x-real-ip": get("x-real-ip"),
                "authorization": get("authorization"),
                "body": String::from_utf8_lossy(&body),
            }
        });
        log.lock().unwrap().push(headers);
        let body = reply.to_string();
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A free loopback port (for programs that need a fixed one, like nginx).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A child process stopped with SIGTERM (and waited for) when dropped,
/// so a failing assertion leaves no server behind (nginx's master stops
/// its workers on SIGTERM).
pub struct Stopped(pub Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.wait();
    }
}
