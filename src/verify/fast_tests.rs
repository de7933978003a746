//! The fast path against a real store and account files: it answers a
//! cached verify with the same bytes as the general path, allocating
//! nothing, and leaves what it must to the general path.

use std::sync::Arc;

use super::{Answer, Verifier};
use crate::accounts::Uid;
use crate::authz::Peer;
use crate::clock::SystemClock;
use crate::config::{Argon2Config, Config};
use crate::state::State;
use crate::store::TokenRecord;
use crate::test_alloc::allocations;
use crate::tokens::Token;

const ROOT: Peer = Peer {
    uid: Uid(0),
    pid: None,
};

struct Fixture {
    _dir: tempfile::TempDir,
    state: Arc<State>,
    verifier: Verifier,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let accounts = dir.path().join("accounts");
    std::fs::create_dir_all(accounts.join("suspended")).unwrap();
    std::fs::write(accounts.join("resellers"), "res:list-accts,create-acct\n").unwrap();
    let config = Config {
        state_dir: dir.path().join("state"),
        accounts_dir: accounts,
        argon2: Argon2Config {
            m_cost: 8,
            t_cost: 1,
            p_cost: 1,
        },
        ..Config::default()
    };
    let state = Arc::new(State::open(&config, Arc::new(SystemClock)).unwrap());
    let verifier = Verifier::new(Arc::clone(&state));
    Fixture {
        _dir: dir,
        state,
        verifier,
    }
}

/// Stores a token for `owner` and returns it.
fn token(f: &Fixture, owner: &str, name: &str, acls: Option<&[&str]>, ips: &[&str]) -> Token {
    let token = Token::generate().unwrap();
    let digest = token.digest();
    let record = TokenRecord {
        owner: owner.into(),
        name: name.into(),
        create_time: 0,
        expires_at: None,
        acls: acls.map(|l| l.iter().map(|a| (*a).to_owned()).collect()),
        whitelist_ips: ips.iter().map(|i| (*i).to_owned()).collect(),
        index: f.state.pepper().index(&digest),
        verifier: f.state.hasher().hash(&digest).unwrap(),
        generation: 0,
    };
    f.state.store().insert(record, 100).unwrap();
    token
}

fn line(user: &str, token: &Token, ip: &str, function: &str) -> Vec<u8> {
    format!(
        "{{\"command\":\"verify\",\"args\":{{\"user\":\"{user}\",\"token\":\"{}\",\
         \"ip\":\"{ip}\",\"function\":\"{function}\"}}}}",
        token.expose()
    )
    .into_bytes()
}

/// The general path's reply line, through the daemon's runtime.
fn general(f: &Fixture, line: &[u8]) -> Vec<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let response = rt.block_on(f.verifier.handle_line(&ROOT, line));
    crate::reply::Reply::from(response).into_line().unwrap()
}

#[test]
fn a_cached_verify_allocates_nothing_and_matches_the_general_path() {
    let f = fixture();
    let root = token(&f, "root", "full", None, &[]);
    let res = token(&f, "res", "lim", Some(&["list-accts"]), &["10.0.0.0/8"]);
    let cases = [
        line("root", &root, "192.0.2.1", "reboot"),
        line("res", &res, "10.1.2.3", "listaccts"),
    ];
    for case in &cases {
        let mut out = Vec::with_capacity(512);
        // Not yet checked in this process: the general path (Argon2).
        assert_eq!(f.verifier.answer_now(&ROOT, case, &mut out), Answer::Slow);
        assert!(out.is_empty());
        let first = general(&f, case);
        assert!(String::from_utf8_lossy(&first).contains("\"result\":1"));
        // Cached now: the same bytes from the fast path, and from then on
        // not one allocation.
        assert_eq!(
            f.verifier.answer_now(&ROOT, case, &mut out),
            Answer::Written
        );
        assert_eq!(out, first);
        let before = allocations();
        for _ in 0..1000 {
            out.clear();
            assert_eq!(
                f.verifier.answer_now(&ROOT, case, &mut out),
                Answer::Written
            );
        }
        assert_eq!(
            allocations() - before,
            0,
            "{}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(out, first);
    }
}

#[test]
fn what_the_fast_path_leaves_to_the_general_one() {
    let f = fixture();
    let root = token(&f, "root", "full", None, &[]);
    let cached = line("root", &root, "10.0.0.1", "listaccts");
    let _ = general(&f, &cached);
    let mut out = Vec::new();
    assert_eq!(
        f.verifier.answer_now(&ROOT, &cached, &mut out),
        Answer::Written
    );
    let text = String::from_utf8(cached).unwrap();
    for (label, other) in [
        ("an escape", text.replace("listaccts", "\\u006cistaccts")),
        (
            "an extra field",
            text.replace("{\"user\"", "{\"x\":1,\"user\""),
        ),
        (
            "a top-level user",
            text.replacen('{', "{\"user\":\"root\",", 1),
        ),
        (
            "another command",
            text.replace("\"verify\"", "\"api_token_list\""),
        ),
        ("a number for a string", text.replace("\"10.0.0.1\"", "10")),
        ("a bad address", text.replace("10.0.0.1", "10.0.0.1/8")),
        (
            "a bad function name",
            text.replace("listaccts", "list accts"),
        ),
        (
            "a missing argument",
            text.replace(",\"function\":\"listaccts\"", ""),
        ),
        ("bad JSON", text.replace("}}", "}")),
    ] {
        out.clear();
        assert_eq!(
            f.verifier.answer_now(&ROOT, other.as_bytes(), &mut out),
            Answer::Slow,
            "{label}"
        );
        assert!(out.is_empty(), "{label}");
    }
}
