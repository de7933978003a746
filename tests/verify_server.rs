//! The verify socket's server (a thread per connection): framing, the line
//! cap, request-line deadlines and the drain on shutdown, over the real
//! socket. Connection limits under load are in `load.rs`.
// The connection helper unwraps outside #[test] fns, which clippy.toml's
// allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{Daemon, create, token, wait_until};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

fn line(token: &str) -> String {
    format!(
        "{}\n",
        json!({"command": "verify", "args": {"user": "root", "token": token, "ip": "10.0.0.1", "function": "listaccts"}})
    )
}

struct Conn {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Conn {
    fn open(d: &Daemon) -> Conn {
        let writer = UnixStream::connect(&d.verify_socket).unwrap();
        writer
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        Conn { writer, reader }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// The next reply's error code, `ok` for an accepted verify.
    fn code(&mut self) -> String {
        let mut reply = String::new();
        assert!(self.reader.read_line(&mut reply).unwrap() > 0, "closed");
        let v: Value = serde_json::from_str(&reply).unwrap();
        v["metadata"]["error"].as_str().unwrap_or("ok").to_owned()
    }

    /// True once the daemon closed its end (EOF before `within`).
    fn closed_within(&mut self, within: Duration) -> bool {
        self.writer.set_read_timeout(Some(within)).unwrap();
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).is_ok()
    }
}

#[test]
fn framing_and_the_line_cap() {
    let d = Daemon::builder()
        .config("[limits]\nmax_request_bytes = 2048\n")
        .start();
    let t = token(&create(&d, None, json!({"token_name": "t"})));
    let ok = line(&t);
    let long = format!(
        "{{\"command\":\"verify\",\"x\":\"{}\"}}\n",
        "y".repeat(5000)
    );
    let mut c = Conn::open(&d);
    // (bytes written at once, the codes of the replies, in order)
    let cases: Vec<(Vec<u8>, Vec<&str>)> = vec![
        (ok.clone().into_bytes(), vec!["ok"]),
        (format!("{ok}{ok}{ok}").into_bytes(), vec!["ok", "ok", "ok"]),
        (b"\n   \r\n".to_vec(), vec![]),
        (
            format!("{{nope\n{ok}").into_bytes(),
            vec!["invalid_json", "ok"],
        ),
        (long.clone().into_bytes(), vec!["request_too_large"]),
        (
            format!("{long}{ok}").into_bytes(),
            vec!["request_too_large", "ok"],
        ),
        (
            b"{\"command\":\"api_token_list\"}\n".to_vec(),
            vec!["unknown_command"],
        ),
    ];
    for (bytes, codes) in &cases {
        c.send(bytes);
        for code in codes {
            assert_eq!(
                c.code(),
                *code,
                "{}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
            );
        }
    }
    // A line split across writes, byte by byte for its first part.
    let (head, tail) = ok.split_at(40);
    for b in head.bytes() {
        c.send(&[b]);
    }
    c.send(tail.as_bytes());
    assert_eq!(c.code(), "ok");
    // An over-long line sent in pieces is refused once, as soon as it
    // passes the cap, before its end arrives.
    c.send(&[b'{'; 1500]);
    c.send(&[b'{'; 1500]);
    assert_eq!(c.code(), "request_too_large");
    c.send(&[b'{'; 3000]);
    c.send(format!("\n{ok}").as_bytes());
    assert_eq!(c.code(), "ok");
}

#[test]
fn request_lines_have_a_deadline() {
    let d = Daemon::builder()
        .config("[limits]\nidle_timeout_secs = 1\n")
        .start();
    let t = token(&create(&d, None, json!({"token_name": "t"})));
    let ok = line(&t);
    // Silence after a reply: closed after the idle time.
    let mut quiet = Conn::open(&d);
    quiet.send(ok.as_bytes());
    assert_eq!(quiet.code(), "ok");
    let since = Instant::now();
    assert!(quiet.closed_within(Duration::from_secs(10)));
    assert!(since.elapsed() >= Duration::from_millis(900));
    // A line trickling in (a byte every 200 ms) gains no time: the
    // deadline runs from the connection's start (then from each reply).
    let mut slow = Conn::open(&d);
    let since = Instant::now();
    let mut cut = false;
    for b in ok.bytes().take(30) {
        if slow.writer.write_all(&[b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(cut || slow.closed_within(Duration::from_secs(1)));
    assert!(
        since.elapsed() < Duration::from_secs(4),
        "{:?}",
        since.elapsed()
    );
    // Busy connections are unaffected meanwhile.
    let mut busy = Conn::open(&d);
    for _ in 0..3 {
        busy.send(ok.as_bytes());
        assert_eq!(busy.code(), "ok");
    }
}

#[test]
fn shutdown_answers_what_arrived_and_does_not_wait_for_idlers() {
    let mut d = Daemon::start();
    let t = token(&create(&d, None, json!({"token_name": "t"})));
    let ok = line(&t);
    let mut warm = Conn::open(&d);
    warm.send(ok.as_bytes());
    assert_eq!(warm.code(), "ok");
    let _idle = Conn::open(&d);
    let mut half = Conn::open(&d);
    half.send(&ok.as_bytes()[..20]);
    // Already in the socket when the signal comes: answered, then closed.
    warm.send(format!("{ok}{ok}").as_bytes());
    let since = Instant::now();
    d.signal(Signal::SIGTERM);
    assert_eq!(warm.code(), "ok");
    assert_eq!(warm.code(), "ok");
    assert!(warm.closed_within(Duration::from_secs(5)));
    assert!(half.closed_within(Duration::from_secs(5)));
    assert_eq!(d.terminate_wait(), Some(0));
    assert!(
        since.elapsed() < Duration::from_secs(5),
        "{:?}",
        since.elapsed()
    );
}

/// Threads serving one connection each (named `apitokend-conn`).
fn conn_threads(d: &Daemon) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", d.pid()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "apitokend-conn")
        .count()
}

/// How long a quiet connection may take to leave its thread (20 ms in
/// the daemon; the rest is margin for a loaded machine).
const PARKED_WITHIN: Duration = Duration::from_secs(5);

#[test]
fn quiet_connections_hold_no_thread_and_are_still_served() {
    let d = Daemon::start();
    let t = token(&create(&d, None, json!({"token_name": "t"})));
    let ok = line(&t);
    let mut conns: Vec<Conn> = (0..200).map(|_| Conn::open(&d)).collect();
    for c in &mut conns {
        c.send(ok.as_bytes());
        assert_eq!(c.code(), "ok");
    }
    // Quiet now: their threads end, the connections stay open.
    wait_until(
        PARKED_WITHIN,
        || conn_threads(&d) == 0,
        || {
            format!(
                "{} connection threads for 200 quiet connections",
                conn_threads(&d)
            )
        },
    );
    // Each is still served, in any order, pipelined or not.
    for c in conns.iter_mut().rev() {
        c.send(format!("{ok}{ok}").as_bytes());
        assert_eq!(c.code(), "ok");
        assert_eq!(c.code(), "ok");
    }
    // A first use (Argon2: the general path) on a quiet connection.
    let fresh = token(&create(&d, None, json!({"token_name": "fresh"})));
    let c = &mut conns[7];
    c.send(line(&fresh).as_bytes());
    assert_eq!(c.code(), "ok");
    // A quiet connection turning busy is answered all along.
    let c = &mut conns[9];
    let mut had_a_thread = false;
    for i in 0..300 {
        c.send(ok.as_bytes());
        assert_eq!(c.code(), "ok");
        // Busy again, it gets its thread back (which also shows the count
        // above is not vacuous: threads do carry that name).
        had_a_thread |= i >= 20 && conn_threads(&d) >= 1;
    }
    assert!(had_a_thread, "a busy connection is served by a thread");
    // Half a line on a quiet connection, then the rest.
    let c = &mut conns[11];
    c.send(&ok.as_bytes()[..30]);
    std::thread::sleep(Duration::from_millis(50));
    c.send(&ok.as_bytes()[30..]);
    assert_eq!(c.code(), "ok");
}

#[test]
fn a_quiet_connection_that_sends_more_than_it_reads_loses_nothing() {
    let d = Daemon::start();
    let t = token(&create(&d, None, json!({"token_name": "t"})));
    let ok = line(&t);
    let mut c = Conn::open(&d);
    c.send(ok.as_bytes());
    assert_eq!(c.code(), "ok");
    wait_until(
        PARKED_WITHIN,
        || conn_threads(&d) == 0,
        || "the quiet connection keeps its thread".to_owned(),
    );
    // More replies than a socket buffer holds, none read until all sent:
    // the parking loop cannot write them all and hands the connection
    // back to a thread, which finishes them in order.
    let n = 4000;
    let writer = c.writer.try_clone().unwrap();
    let lines = ok.repeat(n);
    let sender = std::thread::spawn(move || {
        let mut w = writer;
        w.write_all(lines.as_bytes()).unwrap();
    });
    // Not a timing assertion: let the replies fill the socket first.
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..n {
        assert_eq!(c.code(), "ok", "reply {i}");
    }
    sender.join().unwrap();
}
