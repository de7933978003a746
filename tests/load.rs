//! Load and slow clients: 1,000 concurrent verify connections while 500
//! idle connections each hold half a line. Past the connection limit a
//! client gets a clear `too_many_connections` reply (never a hang), idle
//! connections are closed after `idle_timeout_secs`, and the daemon serves
//! normally afterwards. (Latency under this load is measured by
//! `cargo bench --bench verify`, not here.)
// raise_fd_limit unwraps outside a #[test] fn, which clippy.toml's
// allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::{Daemon, create, req, token};
use serde_json::json;

const ACTIVE: usize = 1000;
const IDLE: usize = 500;
const LIMIT: usize = 1000;

fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    assert!(
        hard >= 4096,
        "this test needs an open-file hard limit of 4096, have {hard}"
    );
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Served,
    Refused,
}

#[test]
fn thousand_clients_and_five_hundred_half_lines() {
    raise_fd_limit();
    let mut d = Daemon::builder()
        .config(&format!(
            "[limits]\nmax_connections = {LIMIT}\nidle_timeout_secs = 2\n[lockout]\nmax_failures = 0\n"
        ))
        .start();
    let token = token(&create(&d, None, json!({"token_name": "load"})));
    let line = format!(
        "{}\n",
        json!({"command": "verify", "args": {"user": "root", "token": token, "ip": "10.0.0.1", "function": "listaccts"}})
    );

    // 500 slow clients: half a request line each, then silence.
    let idle: Vec<UnixStream> = (0..IDLE)
        .map(|_| {
            let mut s = UnixStream::connect(&d.verify_socket).unwrap();
            s.write_all(&line.as_bytes()[..line.len() / 2]).unwrap();
            s
        })
        .collect();
    let idle_since = Instant::now();

    // 1,000 clients at once, each sending several requests; each holds its
    // connection until every client had its first reply, so the limit is
    // reached however fast the daemon serves.
    let barrier = Barrier::new(ACTIVE);
    let first_replies = Barrier::new(ACTIVE);
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..ACTIVE)
            .map(|_| {
                let (barrier, first_replies) = (&barrier, &first_replies);
                let (line, path) = (&line, &d.verify_socket);
                std::thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn_scoped(s, move || {
                        let mut stream = UnixStream::connect(path).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_secs(30)))
                            .unwrap();
                        barrier.wait();
                        let mut reader = BufReader::new(stream.try_clone().unwrap());
                        let mut outcome = Outcome::Served;
                        for round in 0..5 {
                            // A refused client may already be closed: a failed
                            // write is fine, the reply is waiting to be read.
                            let _ = stream.write_all(line.as_bytes());
                            let mut reply = String::new();
                            let n = reader
                                .read_line(&mut reply)
                                .expect("the daemon must answer, not hang");
                            assert!(n > 0, "connection closed without a reply");
                            if round == 0 {
                                first_replies.wait();
                            }
                            if reply.contains("\"too_many_connections\"") {
                                outcome = Outcome::Refused;
                                break;
                            }
                            assert!(reply.contains("\"result\":1"), "{reply}");
                        }
                        outcome
                    })
                    .unwrap()
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let served = outcomes.iter().filter(|o| **o == Outcome::Served).count();
    let refused = outcomes.len() - served;
    eprintln!("{served} served, {refused} refused with too_many_connections");
    assert_eq!(served + refused, ACTIVE);
    assert!(
        refused > 0,
        "500 idle + 1000 active must pass the limit of {LIMIT}"
    );
    assert!(served >= LIMIT - IDLE - 50, "too few served: {served}");

    // Idle connections are closed by the daemon after idle_timeout_secs.
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = Vec::new();
        assert_eq!(s.read_to_end(&mut buf).unwrap(), 0);
    }
    let waited = idle_since.elapsed();
    assert!(
        waited >= Duration::from_secs(2),
        "closed before the idle timeout: {waited:?}"
    );

    // And the daemon is fine.
    assert!(d.verify("root", &token, "10.0.0.1", "listaccts").is_ok());
    assert!(d.call(req("api_token_list")).is_ok());
    assert!(!d.stop_and_read_log().contains("panicked"));
}
