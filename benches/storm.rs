//! `cargo bench --bench storm`: the adversarial review's Argon2 storm on
//! the control socket (issue 13, finding 1), measured on the real release
//! daemon.
//!
//! One reseller (a real system user: the bench runs as root and creates
//! `apitokstorm`) opens `APITOKEND_STORM_CONNS` (default 400) control
//! connections and loops `api_token_get_details` with its own token
//! (shipped Argon2 parameters, 19 MiB each) for `APITOKEND_BENCH_SECS`
//! (default 10) seconds. Meanwhile one client verifies cached tokens back
//! to back on the verify socket and root lists its tokens once every
//! 100 ms, as a cPanel hook would. Reported: the daemon's RSS before, peak
//! (VmHWM) and after, its most threads, connections served and refused,
//! get_details answered, cached-verify latency during the storm against
//! the same measure without it, root's latency; and the peak RSS of one
//! `api_token_list` of an owner at `limits.max_tokens_per_user` (10,000)
//! tokens, measured first, on the fresh daemon. A table, then one JSON
//! line. `APITOKEND_BENCH_DAEMON` measures
//! another build (e.g. the daemon before the fix).
#![allow(clippy::unwrap_used, clippy::panic)]

#[allow(dead_code)]
#[path = "verify/load.rs"]
mod load;
#[allow(dead_code)]
#[path = "verify/setup.rs"]
mod setup;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use apitokend::config::Argon2Config;
use load::{Expect, Run};
use serde_json::{Value, json};
use setup::{CHEAP_ARGON2, token_str};

const RESELLER: &str = "apitokstorm";
const LIST_OWNER: &str = "lister";
const LIST_TOKENS: usize = 10_000;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{key}: cannot parse {v:?}"))
        })
        .unwrap_or(default)
}

fn progress(msg: &str) {
    eprintln!("storm bench: {msg}");
}

/// The bench's reseller, created (as a system user) if need be.
fn reseller() -> (u32, u32) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the storm bench connects as a reseller's uid: run it as root"
    );
    let lookup = || nix::unistd::User::from_name(RESELLER).unwrap();
    if lookup().is_none() {
        let out = Command::new("useradd")
            .args(["--system", "--no-create-home", "--user-group"])
            .args(["--shell", "/usr/sbin/nologin", RESELLER])
            .output()
            .unwrap();
        assert!(out.status.success() || lookup().is_some(), "useradd failed");
    }
    let u = lookup().unwrap();
    (u.uid.as_raw(), u.gid.as_raw())
}

/// Gives the calling thread (only) another uid and gid, as the tests do:
/// the libc wrappers would switch every thread of the process.
#[allow(unsafe_code)]
fn become_on_this_thread(uid: u32, gid: u32) {
    // SAFETY: setgroups(0, NULL), setresgid and setresuid take integers
    // (and a null pointer with a zero length, which the kernel does not
    // read); they touch no memory of this process.
    let rc = unsafe {
        [
            libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>()),
            libc::syscall(libc::SYS_setresgid, gid, gid, gid),
            libc::syscall(libc::SYS_setresuid, uid, uid, uid),
        ]
    };
    assert_eq!(rc, [0, 0, 0], "{}", std::io::Error::last_os_error());
}

fn line(v: &Value) -> Vec<u8> {
    let mut l = serde_json::to_vec(v).unwrap();
    l.push(b'\n');
    l
}

/// One request on a fresh control connection; the reply and its latency.
fn call_once(socket: &Path, request: &[u8]) -> (Value, Duration) {
    let t0 = Instant::now();
    let mut s = UnixStream::connect(socket).unwrap();
    s.write_all(request).unwrap();
    let mut reply = String::new();
    BufReader::new(&s).read_line(&mut reply).unwrap();
    (serde_json::from_str(&reply).unwrap(), t0.elapsed())
}

struct StormFigures {
    conns: usize,
    served: u64,
    refused: u64,
    details: u64,
    secs: f64,
    max_threads: u64,
    rss_before: u64,
    peak: u64,
    rss_after: u64,
    cached: Run,
    root_ms: Vec<f64>,
}

fn storm(
    d: &setup::Daemon,
    sc: &setup::Scenario,
    theirs: &str,
    cached: &[Vec<u8>],
) -> StormFigures {
    let (uid, gid) = reseller();
    let conns: usize = env_or("APITOKEND_STORM_CONNS", 400);
    let secs: f64 = env_or("APITOKEND_BENCH_SECS", 10.0);
    let details = line(&json!({"command": "api_token_get_details", "args": {"token": theirs}}));
    let list = line(&json!({"command": "api_token_list"}));
    let stop = AtomicBool::new(false);
    let (served, refused, answered) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let rss_before = d.mem().rss_kib;
    // VmHWM from here on (5 resets the peak).
    std::fs::write(format!("/proc/{}/clear_refs", d.pid), "5").unwrap();
    let mut max_threads = 0;
    let mut root_ms = Vec::new();
    let dur = Duration::from_secs_f64(secs);
    let t0 = Instant::now();
    let cached_run = std::thread::scope(|s| {
        for _ in 0..conns {
            let (stop, served, refused, answered, details) =
                (&stop, &served, &refused, &answered, &details);
            let socket = &sc.control_socket;
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn_scoped(s, move || {
                    become_on_this_thread(uid, gid);
                    let mut c = UnixStream::connect(socket).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                    let mut reader = BufReader::new(c.try_clone().unwrap());
                    let mut first = true;
                    let mut reply = String::new();
                    while !stop.load(Ordering::Relaxed) {
                        let _ = c.write_all(details);
                        reply.clear();
                        if reader.read_line(&mut reply).unwrap_or(0) == 0 {
                            return;
                        }
                        if reply.contains("\"too_many_connections\"") {
                            refused.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        assert!(reply.contains("\"result\":1"), "{reply}");
                        if first {
                            served.fetch_add(1, Ordering::Relaxed);
                            first = false;
                        }
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .unwrap();
        }
        let measurer = s.spawn(|| load::closed_loop(&sc.verify_socket, 1, cached, Expect::Ok, dur));
        while t0.elapsed() < dur {
            max_threads = max_threads.max(d.mem().threads);
            let (reply, took) = call_once(&sc.control_socket, &list);
            assert_eq!(reply["metadata"]["result"], 1, "root refused: {reply}");
            root_ms.push(took.as_secs_f64() * 1e3);
            std::thread::sleep(Duration::from_millis(100));
        }
        let run = measurer.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        run
    });
    let mem = d.mem();
    root_ms.sort_by(f64::total_cmp);
    StormFigures {
        conns,
        served: served.into_inner(),
        refused: refused.into_inner(),
        details: answered.into_inner(),
        secs: t0.elapsed().as_secs_f64(),
        max_threads,
        rss_before,
        peak: mem.hwm_kib,
        rss_after: mem.rss_kib,
        cached: cached_run,
        root_ms,
    }
}

/// A figure: key, value, unit and, for a goal, (at least?, limit).
type Row = (&'static str, f64, &'static str, Option<(bool, f64)>);

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let (model, nproc) = (
        std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_default(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    reseller();
    let tmp = tempfile::Builder::new()
        .prefix("apitokend-storm.")
        .tempdir()
        .unwrap();
    let sc = setup::Scenario::create(
        tmp.path(),
        "storm",
        &format!("{RESELLER}:all\n{LIST_OWNER}:all\n"),
    );
    progress("seeding 64 hot tokens, the reseller's token and 10,000 tokens to list");
    let hot = sc.seed(64, &CHEAP_ARGON2, &|i| {
        ("root".into(), format!("hot{i:02}"))
    });
    let theirs = sc.seed(1, &Argon2Config::default(), &|_| {
        (RESELLER.into(), "storm".into())
    });
    let _listed = sc.seed(LIST_TOKENS, &CHEAP_ARGON2, &|i| {
        (LIST_OWNER.into(), format!("t{i:04}"))
    });
    let d = sc.spawn();
    let cached: Vec<Vec<u8>> = hot
        .iter()
        .map(|t| load::verify_request("root", token_str(t)))
        .collect();
    load::each_once(&sc.verify_socket, &cached, Expect::Ok);
    progress("one list at the per-owner cap (before the storm)");
    let rss_list_before = d.mem().rss_kib;
    std::fs::write(format!("/proc/{}/clear_refs", d.pid), "5").unwrap();
    let request = line(&json!({"command": "api_token_list", "user": LIST_OWNER}));
    let (reply, list_took) = call_once(&sc.control_socket, &request);
    let listed = reply["data"]["tokens"].as_object().map_or(0, |t| t.len());
    assert_eq!(listed, LIST_TOKENS, "{}", reply["metadata"]);
    let reply_bytes = serde_json::to_vec(&reply).unwrap().len();
    let list_peak = d.mem().hwm_kib;
    let secs: f64 = env_or("APITOKEND_BENCH_SECS", 10.0);
    progress("cached verify without the storm");
    let quiet = load::closed_loop(
        &sc.verify_socket,
        1,
        &cached,
        Expect::Ok,
        Duration::from_secs_f64(secs.min(3.0)),
    );
    progress("the storm");
    let st = storm(&d, &sc, token_str(&theirs[0]), &cached);
    assert_eq!(d.stop(), Some(0), "the daemon did not stop cleanly");

    let pct = |v: &[f64], q: f64| {
        v.get(((q * v.len() as f64).ceil() as usize).clamp(1, v.len().max(1)) - 1)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let rows: Vec<Row> = vec![
        ("storm_connections", st.conns as f64, "", None),
        ("storm_connections_served", st.served as f64, "", None),
        ("storm_connections_refused", st.refused as f64, "", None),
        ("storm_secs", st.secs, "s", None),
        (
            "storm_get_details_per_sec",
            st.details as f64 / st.secs,
            "/s",
            None,
        ),
        ("storm_rss_before_mib", mib(st.rss_before), "MiB", None),
        (
            "storm_peak_rss_mib",
            mib(st.peak),
            "MiB",
            Some((false, 200.0)),
        ),
        ("storm_rss_after_mib", mib(st.rss_after), "MiB", None),
        ("storm_max_threads", st.max_threads as f64, "", None),
        ("quiet_cached_p50_us", quiet.pct_us(0.5), "us", None),
        ("quiet_cached_p99_us", quiet.pct_us(0.99), "us", None),
        ("storm_cached_requests", st.cached.requests as f64, "", None),
        ("storm_cached_p50_us", st.cached.pct_us(0.5), "us", None),
        (
            "storm_cached_p99_us",
            st.cached.pct_us(0.99),
            "us",
            Some((false, 1000.0)),
        ),
        ("storm_cached_p999_us", st.cached.pct_us(0.999), "us", None),
        ("storm_cached_max_us", st.cached.max_us(), "us", None),
        ("storm_root_list_p50_ms", pct(&st.root_ms, 0.5), "ms", None),
        ("storm_root_list_max_ms", pct(&st.root_ms, 1.0), "ms", None),
        ("list_tokens", listed as f64, "", None),
        (
            "list_reply_mib",
            reply_bytes as f64 / 1048576.0,
            "MiB",
            None,
        ),
        ("list_ms", list_took.as_secs_f64() * 1e3, "ms", None),
        ("list_rss_before_mib", mib(rss_list_before), "MiB", None),
        ("list_peak_rss_mib", mib(list_peak), "MiB", None),
    ];
    println!("apitokend storm benchmark: {model}, nproc {nproc}; {secs} s storm");
    println!("{:<30} {:>14}  {:>10}  met", "figure", "value", "target");
    println!("{}", "-".repeat(64));
    let mut json = serde_json::Map::new();
    let mut all = true;
    for (key, value, unit, goal) in &rows {
        let (target, met) = match goal {
            Some((at_least, limit)) => {
                let ok = if *at_least {
                    *value >= *limit
                } else {
                    *value <= *limit
                };
                all &= ok;
                (
                    format!("{} {limit}", if *at_least { ">=" } else { "<=" }),
                    if ok { "yes" } else { "NO" },
                )
            }
            None => (String::new(), ""),
        };
        println!(
            "  {key:<28} {:>14}  {target:>10}  {met}",
            format!("{value:.1} {unit}")
        );
        json.insert(
            (*key).to_owned(),
            serde_json::Number::from_f64((value * 10.0).round() / 10.0)
                .map_or(Value::Null, Value::Number),
        );
    }
    json.insert("all_targets_met".into(), Value::Bool(all));
    println!("{}", Value::Object(json));
}
