//! A real browser for the page tests: Debian's headless Chromium driven
//! by its chromedriver over WebDriver (W3C), through a small blocking
//! HTTP/1.1 client of our own (std + serde_json). No driver or browser is
//! ever downloaded: both come from apt (`.ci/run` installs them), and a
//! test that cannot start them fails saying so.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a wait for something on the page lasts at most.
pub const WAIT: Duration = Duration::from_secs(15);

/// One chromedriver and one browser session, ended on drop.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

/// An element on the page.
#[derive(Clone, Debug)]
pub struct El(String);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request to the driver; the decoded JSON reply and its status.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("chromedriver at {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    // Read the head, then exactly Content-Length bytes (the driver may
    // keep the connection open).
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "chromedriver closed the connection mid-reply");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let lower = head.to_ascii_lowercase();
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let mut body = raw[head_end + 4..].to_vec();
    match length {
        Some(n) => {
            while body.len() < n {
                let got = s.read(&mut buf).unwrap();
                assert!(got > 0, "chromedriver closed the connection mid-reply");
                body.extend_from_slice(&buf[..got]);
            }
            body.truncate(n);
        }
        None => {
            let _ = s.read_to_end(&mut body);
        }
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let payload = if lower.contains("transfer-encoding: chunked") {
        dechunk(&text)
    } else {
        text
    };
    let value = serde_json::from_str(&payload).unwrap_or(Value::Null);
    (status, value)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile
    /// that accepts the front's self-signed certificate. `shots`: where
    /// screenshots go.
    pub fn start(shots: &Path) -> Browser {
        for (bin, pkg) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(bin).exists(),
                "the page tests need {bin}: apt-get install -y chromium chromium-driver \
                 (.ci/run does); they never download a browser"
            );
            let _ = pkg;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let (status, reply) = http(addr, "POST", "/session", Some(&caps));
        let session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| {
                panic!("chromedriver could not start Chromium (HTTP {status}): {reply}")
            })
            .to_owned();
        std::fs::create_dir_all(shots).unwrap();
        Browser {
            driver,
            addr,
            session,
            _profile: profile,
            shots: shots.to_owned(),
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let full = format!("/session/{}{path}", self.session);
        let (status, reply) = http(self.addr, method, &full, body.as_ref());
        assert!(
            status == 200,
            "WebDriver {method} {path} failed (HTTP {status}): {reply}"
        );
        reply["value"].clone()
    }

    /// Like `cmd`, `None` when the driver says the command failed.
    fn try_cmd(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        let full = format!("/session/{}{path}", self.session);
        let (status, reply) = http(self.addr, method, &full, body.as_ref());
        (status == 200).then(|| reply["value"].clone())
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub fn set_size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    pub fn find(&self, css: &str) -> Option<El> {
        let v = self.try_cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        v[ELEMENT].as_str().map(|id| El(id.to_owned()))
    }

    pub fn find_all(&self, css: &str) -> Vec<El> {
        self.cmd(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v[ELEMENT].as_str().map(|id| El(id.to_owned())))
                .collect()
        })
        .unwrap_or_default()
    }

    /// Waits for an element to exist (and returns it).
    pub fn wait(&self, css: &str) -> El {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no {css} on {} after {WAIT:?}; page text: {}",
                self.url(),
                self.body_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `js` (a function body returning a boolean) is true.
    pub fn wait_js(&self, what: &str, js: &str) {
        let deadline = Instant::now() + WAIT;
        while self.js(js, json!([])) != Value::Bool(true) {
            assert!(
                Instant::now() < deadline,
                "{what}: not so after {WAIT:?} on {}; page text: {}",
                self.url(),
                self.body_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn js(&self, body: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": body, "args": args})),
        )
    }

    pub fn click(&self, e: &El) {
        self.cmd("POST", &format!("/element/{}/click", e.0), Some(json!({})));
    }

    pub fn click_css(&self, css: &str) {
        let e = self.wait(css);
        self.click(&e);
    }

    /// Types `text` into `e` (WebDriver key codes allowed).
    pub fn type_into(&self, e: &El, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        );
    }

    pub fn clear(&self, e: &El) {
        self.cmd("POST", &format!("/element/{}/clear", e.0), Some(json!({})));
    }

    pub fn fill(&self, css: &str, text: &str) {
        let e = self.wait(css);
        self.clear(&e);
        self.type_into(&e, text);
    }

    pub fn text(&self, e: &El) -> String {
        self.cmd("GET", &format!("/element/{}/text", e.0), None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// The text of the element `css` once it exists (found again if the
    /// page was replaced under it).
    pub fn text_of(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let e = self.wait(css);
            if let Some(t) = self.try_cmd("GET", &format!("/element/{}/text", e.0), None) {
                return t.as_str().unwrap_or("").to_owned();
            }
            assert!(Instant::now() < deadline, "{css} kept going stale");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Submits by clicking `css` and waits for the next page to load.
    pub fn submit(&self, css: &str) {
        self.js("window.__apitok_old_page = true;", json!([]));
        self.click_css(css);
        self.wait_js(
            "the next page is loaded",
            "return !window.__apitok_old_page && document.readyState === 'complete';",
        );
    }

    pub fn property(&self, e: &El, name: &str) -> Value {
        self.cmd("GET", &format!("/element/{}/property/{name}", e.0), None)
    }

    pub fn body_text(&self) -> String {
        self.try_cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": "return document.body ? document.body.innerText : ''", "args": []})),
        )
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
    }

    pub fn html(&self) -> String {
        self.cmd("GET", "/source", None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub fn cookies(&self) -> Vec<Value> {
        self.cmd("GET", "/cookie", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Saves a PNG of the viewport as `<shots>/<name>.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64_decode(b64.as_str().unwrap_or(""));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).unwrap());
        }
    }
    out
}
