//! `cargo bench --bench import`: moving a cPanel token store of 100,000
//! tokens across 1,000 users into apitokend, on the real binaries.
//!
//! A cPanel store is generated (`whostmgr/<user>.json`, the record shapes
//! cPanel writes: full access, restricted, address lists, expiry as a
//! number and as a string, expired), then the release daemon is started
//! (default Argon2 parameters) and timed through the real CLI:
//! (a) `apitoken import-cpanel --dry-run`, (b) the import, (c) the same
//! import again (everything skipped). Then (d) the first verify of 1,000
//! imported tokens (the interim verifier; each queues its Argon2id
//! upgrade) and the time until those upgrades are stored.
//!
//! Baselines, measured in the same run: (e) the fastest honest way to put
//! the same records into the store: `Store::insert_batch` through the
//! library, one transaction per user, no socket, no parsing, no
//! validation; (f) Argon2id at the default parameters, the cost an import
//! that hashed every token at once would pay (measured per hash on one
//! core, extrapolated to every core of this machine).
//!
//! The table goes to stdout, then, last, one JSON line with every figure,
//! with the host's load average before and after (the machine is shared).
//! Knobs: `APITOKEND_BENCH_IMPORT_TOKENS` (default 100000) and
//! `APITOKEND_BENCH_IMPORT_USERS` (default 1000).
#![allow(clippy::unwrap_used, clippy::panic)]

// The tests' generator of cPanel stores; not every helper is used here.
#[allow(dead_code)]
#[path = "../tests/common/cpanel.rs"]
mod cpanel;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apitokend::clock::SystemClock;
use apitokend::config::{Argon2Config, Config};
use apitokend::state::State;
use apitokend::store::TokenRecord;
use apitokend::tokens::{Digest, Hasher, Token};
use apitokend_proto::Request;
use apitokend_proto::client::Client;
use cpanel::CpanelStore;
use serde_json::{Value, json};

const DAEMON: &str = env!("CARGO_BIN_EXE_apitokend");
const CLI: &str = env!("CARGO_BIN_EXE_apitoken");
const SAMPLE: usize = 1_000;
const ARGON2_SAMPLE: usize = 40;
const UPGRADED: &str = "now has its Argon2id verifier";
const NOW: i64 = 1_800_000_000;

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key).map_or(default, |v| v.replace('_', "").parse().unwrap())
}

fn owner(i: usize) -> String {
    format!("owner{i:04}")
}

/// Record `i` of a user, cycling through the shapes cPanel writes.
fn record(i: usize) -> Value {
    let name = format!("token-{i:05}");
    let created = 1_600_000_000 + i64::try_from(i).unwrap();
    match i % 5 {
        0 => json!({"name": name, "create_time": created, "expires_at": null}),
        1 => json!({"name": name, "create_time": created, "expires_at": null,
                    "acls": ["list-accts", "acct-summary", "create-acct"]}),
        2 => json!({"name": name, "create_time": created,
                    "whitelist_ips": ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]}),
        3 => json!({"name": name, "create_time": created, "expires_at": (NOW * 2).to_string()}),
        _ => json!({"name": name, "create_time": created, "expires_at": created + 86_400}),
    }
}

/// User time + system time of a process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .unwrap()
        .unwrap_or(100);
    ticks / f64::from(i32::try_from(hz).unwrap())
}

fn children_cpu_secs() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
    t(u.user_time()) + t(u.system_time())
}

struct Daemon {
    child: Child,
    control: PathBuf,
    verify: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(root: &Path, users: usize) -> Daemon {
        let accounts = root.join("accounts");
        std::fs::create_dir_all(accounts.join("suspended")).unwrap();
        let resellers: String = (0..users).map(|u| format!("{}:all\n", owner(u))).collect();
        std::fs::write(accounts.join("resellers"), resellers).unwrap();
        let (control, verify) = (root.join("control.sock"), root.join("verify.sock"));
        let config = root.join("apitokend.toml");
        let state = root.join("state");
        std::fs::write(
            &config,
            format!(
                "state_dir = {state:?}\naccounts_dir = {accounts:?}\n\
                 control_socket = {control:?}\nverify_socket = {verify:?}\nlog = \"stderr\"\n"
            ),
        )
        .unwrap();
        let log = root.join("daemon.stderr");
        let child = Command::new(DAEMON)
            .arg("--config")
            .arg(&config)
            .stderr(std::fs::File::create(&log).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&control).is_err()
            || std::os::unix::net::UnixStream::connect(&verify).is_err()
        {
            assert!(Instant::now() < deadline, "the daemon did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Daemon {
            child,
            control,
            verify,
            log,
        }
    }

    fn log_count(&self, text: &str) -> usize {
        let mut s = String::new();
        std::fs::File::open(&self.log)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        s.matches(text).count()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `apitoken --json import-cpanel …`; wall seconds, CLI CPU seconds,
/// daemon CPU seconds and the report.
fn import(d: &Daemon, from: &Path, extra: &[&str]) -> (f64, f64, f64, Value) {
    let (cli_before, daemon_before) = (children_cpu_secs(), cpu_secs(d.child.id()));
    let start = Instant::now();
    let out = Command::new(CLI)
        .arg("--socket")
        .arg(&d.control)
        .args(["--json", "import-cpanel", "--from"])
        .arg(from)
        .args(extra)
        .output()
        .unwrap();
    let wall = start.elapsed().as_secs_f64();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (
        wall,
        children_cpu_secs() - cli_before,
        cpu_secs(d.child.id()) - daemon_before,
        report,
    )
}

/// The 1-minute load average: figures from a busy host are not comparable.
fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// (e): the same records straight into a fresh store through the library.
fn library_baseline(root: &Path, store: &CpanelStore, users: usize) -> f64 {
    let state_dir = root.join("baseline-state");
    let config_path = root.join("baseline.toml");
    std::fs::write(
        &config_path,
        format!(
            "state_dir = {state_dir:?}\naccounts_dir = {:?}\n",
            root.join("accounts")
        ),
    )
    .unwrap();
    let state = State::open(
        &Config::load(&config_path).unwrap(),
        std::sync::Arc::new(SystemClock),
    )
    .unwrap();
    // Parsing and hashing are not part of the baseline: records first.
    let mut per_user: Vec<Vec<TokenRecord>> = Vec::with_capacity(users);
    for u in 0..users {
        let user = owner(u);
        let text = std::fs::read(store.file(&user)).unwrap();
        let v: Value = serde_json::from_slice(&text).unwrap();
        let recs = v["tokens"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(hex, r)| {
                let digest = Digest::from_hex(hex).unwrap();
                TokenRecord {
                    owner: user.clone(),
                    name: r["name"].as_str().unwrap().to_owned(),
                    create_time: 0,
                    expires_at: None,
                    acls: None,
                    whitelist_ips: Vec::new(),
                    index: state.pepper().index(&digest),
                    verifier: state.pepper().interim_verifier(&digest),
                    generation: 0,
                }
            })
            .collect();
        per_user.push(recs);
    }
    let start = Instant::now();
    for recs in per_user {
        state.store().insert_batch(recs).unwrap();
    }
    start.elapsed().as_secs_f64()
}

/// (f): milliseconds per Argon2id hash at the default parameters.
fn argon2_ms() -> f64 {
    let hasher = Hasher::new(&Argon2Config::default()).unwrap();
    let digest = Token::generate().unwrap().digest();
    let _ = hasher.hash(&digest).unwrap();
    let start = Instant::now();
    for _ in 0..ARGON2_SAMPLE {
        let _ = hasher.hash(&digest).unwrap();
    }
    start.elapsed().as_secs_f64() * 1000.0 / ARGON2_SAMPLE as f64
}

fn main() {
    let n = env_or("APITOKEND_BENCH_IMPORT_TOKENS", 100_000);
    let users = env_or("APITOKEND_BENCH_IMPORT_USERS", 1_000);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let dir = tempfile::tempdir().unwrap();
    eprintln!("generating a cPanel store: {n} tokens, {users} users");
    let mut store = CpanelStore::new(&dir.path().join("api_tokens_v2"));
    let mut candidates: Vec<(String, String)> = Vec::new();
    for i in 0..n {
        let user = owner(i % users);
        let token = store.add(&user, record(i / users));
        // Full-access and restricted ones verify from anywhere.
        if (i / users) % 5 < 2 {
            candidates.push((user, token));
        }
    }
    let stride = (candidates.len() / SAMPLE).max(1);
    let sample: Vec<(String, String)> = candidates
        .into_iter()
        .step_by(stride)
        .take(SAMPLE)
        .collect();
    store.write();
    let store_bytes: u64 = std::fs::read_dir(store.root.join("whostmgr"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();

    let load_before = loadavg();
    eprintln!("starting the daemon");
    let d = Daemon::start(dir.path(), users);
    eprintln!("(a) dry run");
    let (dry_wall, dry_cli, dry_daemon, dry) = import(&d, &store.root, &["--dry-run"]);
    assert_eq!(dry["totals"]["imported"], n, "{}", dry["totals"]);
    eprintln!("(b) import");
    let (wall, cli_cpu, daemon_cpu, report) = import(&d, &store.root, &[]);
    assert_eq!(report["totals"]["imported"], n, "{}", report["totals"]);
    assert_eq!(report["totals"]["invalid"], 0);
    eprintln!("(c) import again");
    let (again_wall, _, _, again) = import(&d, &store.root, &[]);
    assert_eq!(again["totals"]["skipped"], n);

    eprintln!("(d) first verifies of {} imported tokens", sample.len());
    let upgraded_before = d.log_count(UPGRADED);
    let mut client = Client::connect(&d.verify, Duration::from_secs(30)).unwrap();
    let mut lat = Vec::with_capacity(sample.len());
    let upgrades_start = Instant::now();
    for (user, token) in &sample {
        let req = Request::new("verify")
            .arg("user", user.as_str())
            .arg("token", token.as_str())
            .arg("ip", "203.0.113.9")
            .arg("function", "listaccts");
        let t = Instant::now();
        let r = client.call(&req).unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        assert!(r.is_ok(), "{user}: {:?}", r.metadata);
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while d.log_count(UPGRADED) < upgraded_before + sample.len() {
        assert!(Instant::now() < deadline, "upgrades did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    let upgrades_secs = upgrades_start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    drop(d);

    eprintln!("(e) library baseline, (f) Argon2id");
    let baseline = library_baseline(dir.path(), &store, users);
    let argon_ms = argon2_ms();
    let argon_all_secs = argon_ms * n as f64 / 1000.0 / cores as f64;

    let load_after = loadavg();
    let rate = n as f64 / wall;
    let rows: Vec<(String, String)> = vec![
        (
            "cPanel store".into(),
            format!(
                "{n} tokens, {users} users, {:.1} MiB",
                store_bytes as f64 / 1048576.0
            ),
        ),
        (
            "(a) dry run".into(),
            format!("{dry_wall:.2} s (CLI CPU {dry_cli:.2} s, daemon CPU {dry_daemon:.2} s)"),
        ),
        (
            "(b) import".into(),
            format!(
                "{wall:.2} s = {rate:.0} tokens/s (CLI CPU {cli_cpu:.2} s, daemon CPU {daemon_cpu:.2} s); target ≤ 120 s: {}",
                if wall <= 120.0 { "met" } else { "NOT met" }
            ),
        ),
        (
            "(c) import again (all skipped)".into(),
            format!("{again_wall:.2} s"),
        ),
        (
            "(d) first verify of an imported token".into(),
            format!(
                "p50 {:.1} µs, p99 {:.1} µs ({} tokens)",
                percentile(&lat, 0.5),
                percentile(&lat, 0.99),
                lat.len()
            ),
        ),
        (
            "(d) their Argon2id upgrades stored".into(),
            format!(
                "{upgrades_secs:.2} s = {:.1} ms each",
                upgrades_secs * 1000.0 / sample.len() as f64
            ),
        ),
        (
            "(e) baseline: insert_batch per user".into(),
            format!(
                "{baseline:.2} s ({:.2} × the import's time is the store's share)",
                baseline / wall
            ),
        ),
        (
            "(f) Argon2id at import (default m=19456,t=2,p=1)".into(),
            format!("{argon_ms:.1} ms/hash → {argon_all_secs:.0} s for {n} on {cores} cores"),
        ),
    ];
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in &rows {
        println!("{k:<width$}  {v}");
    }
    println!(
        "{}",
        json!({
            "bench": "import",
            "tokens": n, "users": users, "cores": cores,
            "cpanel_store_bytes": store_bytes,
            "dry_run_secs": dry_wall,
            "import_secs": wall, "import_tokens_per_sec": rate,
            "import_cli_cpu_secs": cli_cpu, "import_daemon_cpu_secs": daemon_cpu,
            "reimport_secs": again_wall,
            "first_verify_p50_us": percentile(&lat, 0.5),
            "first_verify_p99_us": percentile(&lat, 0.99),
            "upgrades": sample.len(), "upgrades_secs": upgrades_secs,
            "baseline_insert_batch_secs": baseline,
            "argon2_ms_per_hash": argon_ms,
            "argon2_all_tokens_secs": argon_all_secs,
            "target_secs": 120, "met": wall <= 120.0,
            "host_load_before": load_before, "host_load_after": load_after,
        })
    );
}
