//! Crash safety: 20 rounds of SIGKILL at a random moment while 8 clients
//! create, update and revoke tokens. After every restart, every change the
//! daemon acknowledged is there (created tokens verify, revoked ones do
//! not, updates hold) and `mdb_stat` accepts the store.
// The client loop and the store checks unwrap and panic outside #[test]
// fns, which clippy.toml's allow-*-in-tests does not cover.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apitokend_proto::Request;
use apitokend_proto::client::Client;
use common::{Daemon, error_code, token};
use serde_json::Value;

const CLIENTS: usize = 8;
const ROUNDS: usize = 20;

/// What the daemon acknowledged about one token name.
#[derive(Clone, Debug, PartialEq)]
enum Known {
    /// Created (token text) with this ACL (None = full access).
    Live {
        token: String,
        acl: Option<String>,
    },
    Revoked {
        token: String,
    },
    /// A request was in flight when the daemon died: either outcome is fine,
    /// but the name is never touched again.
    Uncertain,
}

/// A tiny deterministic generator (seed printed for reproduction).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn client_loop(
    socket: std::path::PathBuf,
    id: usize,
    seed: u64,
    round: usize,
    model: Arc<Mutex<BTreeMap<String, Known>>>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng(seed ^ (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let Ok(mut c) = Client::connect(&socket, Duration::from_secs(10)) else {
        return;
    };
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let live: Vec<(String, Known)> = model
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, v)| k.starts_with(&format!("k{id}-")) && matches!(v, Known::Live { .. }))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let choice = rng.below(10);
        let (name, request) = if live.is_empty() || choice < 5 {
            let name = format!("k{id}-r{round}-{n}");
            let r = Request::new("api_token_create").arg("token_name", name.as_str());
            (name, r)
        } else if choice < 8 {
            let (name, _) = &live[rng.below(live.len() as u64) as usize];
            let acl = ["list-accts", "create-acct", "all"][rng.below(3) as usize];
            let r = Request::new("api_token_update")
                .arg("token_name", name.as_str())
                .arg("acl", acl);
            (name.clone(), r)
        } else {
            let (name, _) = &live[rng.below(live.len() as u64) as usize];
            (
                name.clone(),
                Request::new("api_token_revoke").arg("token_name", name.as_str()),
            )
        };
        let previous = model.lock().unwrap().get(&name).cloned();
        // Until the reply arrives, the outcome is unknown.
        model.lock().unwrap().insert(name.clone(), Known::Uncertain);
        let Ok(reply) = c.call(&request) else {
            return;
        };
        assert!(reply.is_ok(), "{:?}", reply.metadata);
        let data = reply.data.unwrap_or(Value::Null);
        let now_known = match (request.command.as_str(), previous) {
            ("api_token_create", _) => Known::Live {
                token: token(&data),
                acl: None,
            },
            ("api_token_update", Some(Known::Live { token, .. })) => Known::Live {
                token,
                acl: data["acls"]
                    .as_array()
                    .map(|a| a[0].as_str().unwrap().to_owned()),
            },
            ("api_token_revoke", Some(Known::Live { token, .. })) => Known::Revoked { token },
            (cmd, prev) => panic!("unexpected {cmd} after {prev:?}"),
        };
        model.lock().unwrap().insert(name, now_known);
    }
}

/// Runs `mdb_stat -a` on the store as the crash left it. Debian's
/// lmdb-utils (0.9.24) read our data format but not the bundled LMDB's
/// lock-file version, so the check runs on a copy of `data.mdb` taken while
/// the daemon is dead. Also checks that records and index agree.
fn mdb_stat_after_crash(d: &Daemon) {
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(d.state.join("data.mdb"), copy.path().join("data.mdb")).unwrap();
    let out = Command::new("mdb_stat")
        .arg("-a")
        .arg(copy.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mdb_stat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries = |db: &str| -> u64 {
        let section = text.split(&format!("Status of {db}\n")).nth(1).unwrap();
        section
            .lines()
            .find_map(|l| l.trim().strip_prefix("Entries: "))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        entries("records"),
        entries("index"),
        "records and index disagree:\n{text}"
    );
}

fn check_store(d: &Daemon, model: &BTreeMap<String, Known>) -> usize {
    let listed = d.tokens(None);
    let mut acked = 0;
    for (name, known) in model {
        match known {
            Known::Live { token, acl } => {
                acked += 1;
                let entry = &listed[name];
                assert!(!entry.is_null(), "acknowledged token {name} lost");
                let held: Vec<&str> = entry["acls"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .filter(|(_, v)| **v == 1)
                    .map(|(k, _)| k.as_str())
                    .collect();
                match acl.as_deref() {
                    None | Some("all") => assert_eq!(entry["has_full_access"], 1, "{name}"),
                    Some(a) => assert_eq!(held, vec![a], "{name}: acknowledged update lost"),
                }
                let r = d.verify("root", token, "10.0.0.1", "listaccts");
                let may_list = matches!(acl.as_deref(), None | Some("all") | Some("list-accts"));
                assert_eq!(r.is_ok(), may_list, "{name}: {:?}", r.metadata);
            }
            Known::Revoked { token } => {
                acked += 1;
                assert!(listed[name].is_null(), "acknowledged revoke of {name} lost");
                assert_eq!(
                    error_code(&d.verify("root", token, "10.0.0.1", "listaccts")),
                    "invalid_token"
                );
            }
            Known::Uncertain => {}
        }
    }
    acked
}

#[test]
fn sigkill_during_concurrent_writes_loses_no_acknowledged_change() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let mut d = Daemon::builder()
        .config("[lockout]\nmax_failures = 0\n")
        .start();
    let model = Arc::new(Mutex::new(BTreeMap::new()));
    let mut total_acked = 0;
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let (socket, model, stop) =
                    (d.socket.clone(), Arc::clone(&model), Arc::clone(&stop));
                std::thread::spawn(move || client_loop(socket, id, seed, round, model, stop))
            })
            .collect();
        // A random moment: the daemon is killed mid-traffic.
        std::thread::sleep(Duration::from_millis(30 + rng.below(250)));
        d.kill9();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        mdb_stat_after_crash(&d);
        d.restart();
        total_acked = check_store(&d, &model.lock().unwrap());
    }
    eprintln!("{ROUNDS} rounds, {total_acked} acknowledged changes, none lost");
    assert!(
        total_acked > 100,
        "too little traffic to prove anything: {total_acked}"
    );
}
