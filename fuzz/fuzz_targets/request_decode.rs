//! Request decoding as the daemon does it: bytes → `LineFramer` → lines →
//! `proto::Request` and, above all, `Control::handle_line` on the daemon's
//! real `State` (LMDB store in a temp dir, account files, shipped ACL and
//! function tables) for root, resellers and unprivileged peers.
//!
//! Input: the first byte picks the peer, the rest is the byte stream of one
//! connection. Invariants: no panic; every line fits the cap and has no
//! newline; a line that decodes as a `Request` survives a serde round trip;
//! every reply has `result` 0 or 1, `version` 1, a known error code exactly
//! when it failed, never `internal`, and serializes to one line that parses
//! back to the same reply.
#![no_main]

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use apitokend::authz::{Peer, Uid};
use apitokend::clock::SystemClock;
use apitokend::config::{Argon2Config, Config, LogTarget};
use apitokend::control::Control;
use apitokend::logging;
use apitokend::state::State;
use apitokend_proto::framing::{Frame, LineFramer};
use apitokend_proto::{ErrorCode, Request, Response};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// A small cap (libFuzzer's inputs stay under 4096 bytes) so the fuzzer
/// reaches the over-long path.
const MAX_LINE: usize = 512;

/// Owners that can hold tokens here (root and the resellers below).
const OWNERS: [&str; 4] = ["root", "daemon", "bin", "sys"];

/// Resellers by the login names of Debian's fixed system uids 1, 2 and 3:
/// one that may manage tokens, one that may not, one suspended. Missing
/// users only turn those peers into unprivileged callers.
const RESELLERS: &str = "daemon:manage-api-tokens,list-accts,create-acct,passwd\n\
                         bin:list-accts\n\
                         sys:all\n";

struct Fixture {
    control: Control,
    peers: Vec<Peer>,
    _dir: tempfile::TempDir,
}

fn tmp_base() -> std::path::PathBuf {
    // tmpfs if there is one: LMDB's synchronous commits cost no disk flush.
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

/// Binds a datagram "syslog" socket and discards what arrives, so audit
/// lines take the daemon's real path without flooding the fuzzer's stderr.
fn quiet_logging(dir: &std::path::Path) {
    let path = dir.join("log.sock");
    let sock = UnixDatagram::bind(&path).expect("bind the log socket");
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while sock.recv(&mut buf).is_ok() {}
    });
    logging::init(LogTarget::Syslog, &path);
}

const DIR_PREFIX: &str = "apitokend-fuzz-";

/// Removes the state dirs of earlier fuzz processes that are gone (a static
/// is never dropped, so each process leaves its dir behind).
fn sweep_stale(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, _)) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split_once('-'))
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let base = tmp_base();
    sweep_stale(&base);
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
        .tempdir_in(&base)
        .expect("temp dir");
    quiet_logging(dir.path());
    let accounts = dir.path().join("accounts");
    std::fs::create_dir_all(accounts.join("suspended")).expect("accounts dir");
    std::fs::create_dir_all(accounts.join("users")).expect("accounts dir");
    std::fs::write(accounts.join("resellers"), RESELLERS).expect("resellers");
    std::fs::write(accounts.join("suspended").join("sys"), "").expect("suspended");
    let config = Config {
        state_dir: dir.path().join("state"),
        accounts_dir: accounts,
        argon2: Argon2Config {
            m_cost: 8,
            t_cost: 1,
            p_cost: 1,
        },
        expiry_warning_days: 7,
        ..Config::default()
    };
    let state = State::open(&config, Arc::new(SystemClock)).expect("daemon state");
    let control = Control::new(Arc::new(state));
    let peers = [0, 1, 2, 3, 4_242_424]
        .into_iter()
        .map(|uid| Peer {
            uid: Uid(uid),
            pid: Some(4242),
        })
        .collect();
    Fixture {
        control,
        peers,
        _dir: dir,
    }
});

static RUNS: AtomicU64 = AtomicU64::new(0);

/// Keeps the store small: created tokens would otherwise pile up and make
/// every list slower. (Tokens renamed to other owners stay; they are few.)
fn prune(control: &Control) {
    if RUNS.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
        for owner in OWNERS {
            let line = format!(r#"{{"command":"api_token_revoke_all","user":"{owner}"}}"#);
            let reply = control.handle_line(&ROOT, line.as_bytes());
            assert!(reply.is_ok(), "revoke_all: {}", reply.metadata.reason);
        }
    }
}

const ROOT: Peer = Peer {
    uid: Uid(0),
    pid: None,
};

/// True when a JSON value holds a number that is not an integer.
fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        Value::Null | Value::Bool(_) | Value::String(_) => false,
    }
}

fn check_response(line: &[u8], response: &Response) {
    let m = &response.metadata;
    assert!(m.result <= 1, "result {}", m.result);
    assert_eq!(m.version, 1);
    match (m.result, m.error.as_deref()) {
        (1, None) => {}
        (0, Some(code)) => {
            let code = ErrorCode::parse(code).unwrap_or_else(|| panic!("unknown code {code}"));
            assert_ne!(
                code,
                ErrorCode::Internal,
                "internal error for {:?}: {}",
                String::from_utf8_lossy(line),
                m.reason
            );
        }
        (r, e) => panic!("result {r} with error {e:?}"),
    }
    let text = serde_json::to_string(response).expect("serialize the reply");
    assert!(!text.contains('\n'), "reply spans lines: {text}");
    let back: Response = serde_json::from_str(&text).expect("reply parses back");
    assert_eq!(&back, response);
}

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    let Some((&pick, stream)) = data.split_first() else {
        return;
    };
    let peer = &fixture.peers[usize::from(pick) % fixture.peers.len()];
    let mut framer = LineFramer::new(MAX_LINE);
    let mut frames = Vec::new();
    // Two pushes: framing must not depend on how the stream is chunked.
    let cut = usize::from(pick) % (stream.len() + 1);
    framer.push(&stream[..cut], &mut frames);
    framer.push(&stream[cut..], &mut frames);
    assert!(framer.pending() <= MAX_LINE);
    let mut whole = Vec::new();
    LineFramer::new(MAX_LINE).push(stream, &mut whole);
    assert_eq!(frames, whole, "framing depends on chunking");
    for frame in frames {
        let Frame::Line(line) = frame else {
            continue;
        };
        assert!(line.len() <= MAX_LINE && !line.contains(&b'\n'));
        if let Ok(request) = serde_json::from_slice::<Request>(&line) {
            let text = serde_json::to_vec(&request).expect("serialize the request");
            let back: Request = serde_json::from_slice(&text).expect("request parses back");
            if request.args.values().any(has_float) {
                // serde_json's default float parsing is not correctly
                // rounded (that is its `float_roundtrip` feature), so a
                // long number may come back one ULP off. The daemon takes
                // integers only. Regression: corpus/regress-float-roundtrip.
                assert_eq!(back.command, request.command);
                assert_eq!(back.user, request.user);
                assert!(back.args.keys().eq(request.args.keys()));
            } else {
                assert_eq!(back, request, "request round trip");
            }
        }
        let response = fixture.control.handle_line(peer, &line);
        check_response(&line, &response);
        prune(&fixture.control);
    }
});
