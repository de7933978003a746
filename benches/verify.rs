//! `cargo bench --bench verify`: the verify socket measured against the
//! issue's targets, in one run, on the real daemon binary.
//!
//! (a) a raw Unix-socket echo server answering with the daemon's real reply
//! bytes, in a process of its own (this binary re-executed, `echo`): the
//! baseline every ratio is quoted against, the fastest of several servers
//! by a short calibration in the run, per client count; (b) cached verify
//! with 1 and 8 persistent clients; (c) wrong (well-formed, never stored)
//! tokens; (d) cached-verify latency while 500 first-use verifies (default
//! Argon2 parameters) run; (e) 1k and N (default 1M) stored tokens across
//! 10k owners: start-up time, cached p50/p99 over a sample, RSS, store
//! bytes per token; (f) cached latency under 1,000 connected clients and
//! 500 half-line idlers.
//!
//! Tokens are seeded through the library before each daemon starts (bulk
//! tokens with cheap Argon2 parameters: the PHC string carries them).
//! Figures that are compared (echo / cached / wrong, 1k / N) are measured
//! in interleaved slices (rounds) so drift hits them alike; the echo
//! ratios are the median of the per-round ratios (merged figures beside
//! them). Each run also reports the server's CPU time per request (utime +
//! stime from /proc, the echo's as the daemon's) and the daemon's context
//! switches, and the run ends with the CPU other processes used meanwhile
//! (`host_other_cpu_pct`: figures from a busy machine are not comparable).
//! The table goes to stdout, then, last, one JSON line with every figure.
//! Progress goes to stderr.
//!
//! Knobs: `APITOKEND_BENCH_SECS` (seconds per measured run, default 3),
//! `APITOKEND_BENCH_TOKENS` (size of the large scenario, default 1000000).
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "verify/echo.rs"]
mod echo;
#[path = "verify/load.rs"]
mod load;
#[path = "verify/setup.rs"]
mod setup;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use apitokend::config::Argon2Config;
use apitokend::tokens::Token;
use serde_json::Value;

use echo::{Candidate, EchoProc, Server};
use load::{Conn, Dest, Expect, Run};
use setup::{CHEAP_ARGON2, Plain, Scenario, Used, token_str};

/// Tokens of root verified in (b), (c) and during the storm.
const HOT_TOKENS: usize = 64;
/// First-use verifies in (d), and the clients sending them.
const STORM_TOKENS: usize = 500;
const STORM_CLIENTS: usize = 32;
/// Owners of the scale scenarios, and the tokens sampled from each.
const OWNERS: usize = 10_000;
const SAMPLE: usize = 10_000;
const SMALL_TOKENS: usize = 1_000;

/// Phase (f): connected clients, the threads driving them, how often each
/// sends a verify, and idle connections holding half a line.
const LOADED_BUSY: usize = 1000;
const LOADED_THREADS: usize = 20;
const LOADED_INTERVAL: Duration = Duration::from_millis(100);
const LOADED_IDLE: usize = 500;

/// The bench opens ~1,600 sockets at once: raise the open-file limit.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    match std::env::var(key) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{key}: cannot parse {v:?}")),
        Err(_) => default,
    }
}

fn owner(i: usize) -> String {
    format!("owner{i:05}")
}

/// Owners of an `n`-token scenario.
fn owners_for(n: usize) -> usize {
    n.clamp(1, OWNERS)
}

/// Token `i` of an `n`-token scenario: owner `i mod owners`, name `t<i / owners>`.
fn naming(n: usize) -> impl Fn(usize) -> (String, String) + Sync {
    let owners = owners_for(n);
    move |i| (owner(i % owners), format!("t{}", i / owners))
}

/// xorshift64*: enough to shuffle a sample.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).unwrap();
        Rng(u64::from_le_bytes(b) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        usize::try_from(r % (n as u64)).unwrap()
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

fn progress(msg: &str) {
    eprintln!("verify bench: {msg}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------- report

enum Val {
    Num(f64, usize, &'static str),
    Text(String),
}

struct Goal {
    key: &'static str,
    at_least: bool,
    limit: f64,
}

#[derive(Default)]
struct Report {
    rows: Vec<(String, Val)>,
    sections: Vec<(usize, String)>,
    goals: Vec<Goal>,
}

impl Report {
    fn section(&mut self, title: &str) {
        self.sections.push((self.rows.len(), title.to_owned()));
    }

    fn num(&mut self, key: &str, v: f64, decimals: usize, unit: &'static str) {
        self.rows
            .push((key.to_owned(), Val::Num(v, decimals, unit)));
    }

    fn text(&mut self, key: &str, v: &str) {
        self.rows.push((key.to_owned(), Val::Text(v.to_owned())));
    }

    /// The usual figures of a run under `prefix`.
    fn run(&mut self, prefix: &str, r: &Run) {
        self.num(&format!("{prefix}_rps"), r.rps(), 0, "/s");
        self.num(&format!("{prefix}_p50_us"), r.pct_us(0.50), 1, "us");
        self.num(&format!("{prefix}_p99_us"), r.pct_us(0.99), 1, "us");
        self.num(&format!("{prefix}_p999_us"), r.pct_us(0.999), 1, "us");
        self.num(&format!("{prefix}_max_us"), r.max_us(), 0, "us");
    }

    fn goal(&mut self, key: &'static str, at_least: bool, limit: f64) {
        self.goals.push(Goal {
            key,
            at_least,
            limit,
        });
    }

    fn value(&self, key: &str) -> Option<f64> {
        self.rows.iter().find_map(|(k, v)| match v {
            Val::Num(x, ..) if k == key => Some(*x),
            _ => None,
        })
    }

    fn met(&self, g: &Goal) -> bool {
        self.value(g.key).is_some_and(|v| {
            if g.at_least {
                v >= g.limit
            } else {
                v <= g.limit
            }
        })
    }

    fn print(&self) {
        let mut out = String::new();
        let w = self
            .rows
            .iter()
            .map(|(k, _)| k.len())
            .max()
            .unwrap_or(0)
            .max(30);
        let _ = writeln!(
            out,
            "{:<kw$} {:>16}  {:>12}  met",
            "figure",
            "value",
            "target",
            kw = w + 2
        );
        let rule = "-".repeat(w + 40);
        let _ = writeln!(out, "{rule}");
        for (i, row) in self.rows.iter().enumerate() {
            for (_, title) in self.sections.iter().filter(|(at, _)| *at == i) {
                let _ = writeln!(out, "{title}");
            }
            let (key, val) = row;
            let shown = match val {
                Val::Num(v, d, unit) => format!("{v:.d$} {unit}", d = *d),
                Val::Text(t) => t.clone(),
            };
            let (target, met) = match self.goals.iter().find(|g| g.key == key) {
                Some(g) => (
                    format!("{} {}", if g.at_least { ">=" } else { "<=" }, g.limit),
                    if self.met(g) { "yes" } else { "NO" },
                ),
                None => (String::new(), ""),
            };
            let _ = writeln!(out, "  {key:<w$} {shown:>16}  {target:>12}  {met}");
        }
        let met = self.goals.iter().filter(|g| self.met(g)).count();
        let _ = writeln!(out, "{rule}");
        let _ = writeln!(out, "targets met: {met} of {}", self.goals.len());
        print!("{out}");
    }

    fn json(&self) -> String {
        let mut map = serde_json::Map::new();
        for (key, val) in &self.rows {
            let v = match val {
                Val::Num(x, 0, _) if x.is_finite() && x.abs() < 9e15 => {
                    Value::from(x.round() as i64)
                }
                Val::Num(x, d, _) => {
                    let scale = 10f64.powi(i32::try_from(*d).unwrap());
                    serde_json::Number::from_f64((x * scale).round() / scale)
                        .map_or(Value::Null, Value::Number)
                }
                Val::Text(t) => Value::String(t.clone()),
            };
            map.insert(key.clone(), v);
        }
        let mut targets = serde_json::Map::new();
        for g in &self.goals {
            targets.insert(g.key.to_owned(), Value::Bool(self.met(g)));
        }
        let all = self.goals.iter().all(|g| self.met(g));
        map.insert("targets_met".into(), Value::Object(targets));
        map.insert("all_targets_met".into(), Value::Bool(all));
        Value::Object(map).to_string()
    }
}

// ---------------------------------------------------------------- machine

fn machine() -> (String, usize, String) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    (model, nproc, kernel)
}

/// CPU ticks (USER_HZ) of the whole machine (busy, steal) and of this
/// process with its waited-for children (the daemons).
#[derive(Clone, Copy, Default)]
struct HostTicks {
    busy: u64,
    steal: u64,
    ours: u64,
}

fn host_ticks() -> HostTicks {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let at = |i: usize| cpu.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    let busy = at(0) + at(1) + at(2) + at(5) + at(6);
    // This process's utime, stime, cutime and cstime.
    let ours = setup::stat_ticks("self").iter().sum();
    HostTicks {
        busy,
        steal: at(7),
        ours,
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------- phases

/// Measured runs are cut into this many slices (rounds), interleaved
/// across the compared targets, so drift (CPU placement, host noise) hits
/// all alike; ratios are taken per round and their median reported.
const SLICES: u32 = 6;
/// Rounds of the echo calibration, and its slice (a part of a run's time).
const CALIB_ROUNDS: u32 = 3;
const CALIB_PARTS: u32 = 12;

/// Something to measure: where its clients connect, the requests to cycle
/// and the reply to expect, and the process whose CPU the requests cost
/// (the daemon or the echo server).
#[derive(Clone)]
struct Target<'a> {
    dest: Dest<'a>,
    reqs: &'a [Vec<u8>],
    expect: Expect,
    pid: Option<u32>,
}

/// One round of one target.
#[derive(Clone, Copy, Debug)]
struct Slice {
    rps: f64,
    p99_us: f64,
    cpu_us: f64,
}

/// A closed-loop run (its slices merged), the server's CPU time and context
/// switches per request over it, and each slice's figures.
struct Measured {
    run: Run,
    cpu_us: f64,
    switches: f64,
    slices: Vec<Slice>,
}

/// Runs every target with `clients` clients for `rounds` interleaved
/// slices of `slice` each (after one unmeasured warm-up slice each).
fn interleaved(
    targets: &[Target<'_>],
    clients: usize,
    rounds: u32,
    slice: Duration,
) -> Vec<Measured> {
    for t in targets {
        let _ = load::closed_loop_to(t.dest, clients, t.reqs, t.expect, slice, || ());
    }
    let mut parts: Vec<(Vec<Run>, Vec<Slice>, Used)> = targets
        .iter()
        .map(|_| (Vec::new(), Vec::new(), Used::default()))
        .collect();
    for _ in 0..rounds {
        for (t, (runs, slices, used)) in targets.iter().zip(parts.iter_mut()) {
            let before = t.pid.map(setup::sample);
            let (run, after) =
                load::closed_loop_to(t.dest, clients, t.reqs, t.expect, slice, || {
                    t.pid.map(setup::sample)
                });
            let mut cpu_us = f64::NAN;
            if let (Some(before), Some(after)) = (before, after) {
                let delta = after.since(&before);
                *used += delta;
                cpu_us = delta.cpu_ns as f64 / 1e3 / run.requests.max(1) as f64;
            }
            slices.push(Slice {
                rps: run.rps(),
                p99_us: run.pct_us(0.99),
                cpu_us,
            });
            runs.push(run);
        }
    }
    parts
        .into_iter()
        .map(|(runs, slices, used)| {
            let run = Run::merge(runs);
            let n = run.requests.max(1) as f64;
            Measured {
                cpu_us: used.cpu_ns as f64 / 1e3 / n,
                switches: used.switches as f64 / n,
                run,
                slices,
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The median over rounds of `f(a's slice) / f(b's slice)`.
fn median_ratio(a: &Measured, b: &Measured, f: impl Fn(&Slice) -> f64) -> f64 {
    median(
        a.slices
            .iter()
            .zip(&b.slices)
            .map(|(x, y)| f(x) / f(y))
            .collect(),
    )
}

/// The echo servers of a run, one process per `Server`.
struct Echos(Vec<EchoProc>);

impl Echos {
    fn proc(&self, server: Server) -> &EchoProc {
        self.0.iter().find(|e| e.server == server).unwrap()
    }

    fn target<'a>(&'a self, c: Candidate, reqs: &'a [Vec<u8>]) -> Target<'a> {
        let e = self.proc(c.server);
        Target {
            dest: match (c.server.per_cpu(), c.pinned_clients) {
                (false, _) => Dest::Any(&e.socket),
                (true, false) => Dest::Spread(&e.socket),
                (true, true) => Dest::Pinned(&e.socket),
            },
            reqs,
            expect: Expect::Ok,
            pid: Some(e.pid),
        }
    }

    /// Measures every candidate with `clients` clients in short
    /// interleaved rounds; returns each one's throughput, in
    /// `Candidate::ALL` order.
    fn calibrate(&self, reqs: &[Vec<u8>], clients: usize, dur: Duration) -> Vec<f64> {
        let targets: Vec<Target<'_>> = Candidate::ALL
            .iter()
            .map(|&c| self.target(c, reqs))
            .collect();
        interleaved(&targets, clients, CALIB_ROUNDS, dur / CALIB_PARTS)
            .iter()
            .map(|m| m.run.rps())
            .collect()
    }
}

/// The fastest candidate by `rps` among those `pinned_clients` or not.
fn fastest(rps: &[f64], pinned_clients: bool) -> Candidate {
    Candidate::ALL
        .iter()
        .zip(rps)
        .filter(|(c, _)| c.pinned_clients == pinned_clients)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(c, _)| *c)
        .unwrap()
}

impl Report {
    fn measured(&mut self, prefix: &str, m: &Measured) {
        self.run(prefix, &m.run);
        self.num(&format!("{prefix}_daemon_cpu_us"), m.cpu_us, 2, "us/req");
        self.num(&format!("{prefix}_daemon_switches"), m.switches, 2, "/req");
    }
}

/// The echo figures of one client count: the calibration, the baseline
/// (the fastest candidate whose clients run as verify's do) and the
/// pinned-pair ceiling, both measured alongside the daemon.
struct EchoRun {
    calib: Vec<f64>,
    base: Candidate,
    m: Measured,
    pairs: Candidate,
    pairs_m: Measured,
}

impl Report {
    /// The cached-vs-echo comparison at one client count: each ratio as
    /// the median of per-round ratios (the target) and over the merged
    /// slices; then against the pinned-pair ceiling.
    fn versus_echo(&mut self, clients: usize, echo: &EchoRun, cached: &Measured) {
        let c = format!("{clients}c");
        let e = &echo.m;
        let rps = median_ratio(cached, e, |s| s.rps);
        self.num(&format!("cached_vs_echo_{c}"), rps, 3, "x");
        let merged = cached.run.rps() / e.run.rps();
        self.num(&format!("cached_vs_echo_{c}_merged"), merged, 3, "x");
        let p99 = median_ratio(cached, e, |s| s.p99_us);
        self.num(&format!("p99_{c}_ratio"), p99, 3, "x");
        let merged = cached.run.pct_us(0.99) / e.run.pct_us(0.99);
        self.num(&format!("p99_{c}_ratio_merged"), merged, 3, "x");
        let cpu = median_ratio(cached, e, |s| s.cpu_us);
        self.num(&format!("cpu_ratio_{c}"), cpu, 3, "x");
        let merged = cached.cpu_us / e.cpu_us;
        self.num(&format!("cpu_ratio_{c}_merged"), merged, 3, "x");
        let pairs = median_ratio(cached, &echo.pairs_m, |s| s.rps);
        self.num(&format!("cached_vs_pinned_pairs_{c}"), pairs, 3, "x");
    }

    fn echo(&mut self, clients: usize, e: &EchoRun) {
        let c = format!("{clients}c");
        for (cand, rps) in Candidate::ALL.iter().zip(&e.calib) {
            self.num(
                &format!("echo_calib_{c}_{}_rps", cand.name()),
                *rps,
                0,
                "/s",
            );
        }
        self.text(&format!("echo_{c}_server"), &e.base.name());
        self.run(&format!("echo_{c}"), &e.m.run);
        self.num(&format!("echo_{c}_cpu_us"), e.m.cpu_us, 2, "us/req");
        self.text(&format!("pinned_pairs_{c}_server"), &e.pairs.name());
        let p = format!("pinned_pairs_{c}");
        self.num(&format!("{p}_rps"), e.pairs_m.run.rps(), 0, "/s");
        self.num(&format!("{p}_p50_us"), e.pairs_m.run.pct_us(0.5), 1, "us");
        self.num(&format!("{p}_p99_us"), e.pairs_m.run.pct_us(0.99), 1, "us");
        self.num(&format!("{p}_cpu_us"), e.pairs_m.cpu_us, 2, "us/req");
    }
}

/// (a) to (d) on one daemon whose store holds root's hot and storm tokens.
fn hot_path(rep: &mut Report, tmp: &Path, dur: Duration) {
    let sc = Scenario::create(tmp, "main", "");
    progress(&format!(
        "seeding {HOT_TOKENS} hot tokens and {STORM_TOKENS} storm tokens (default Argon2)"
    ));
    let t = Instant::now();
    let hot = sc.seed(HOT_TOKENS, &CHEAP_ARGON2, &|i| {
        ("root".into(), format!("bench{i:02}"))
    });
    let storm_tokens = sc.seed(STORM_TOKENS, &Argon2Config::default(), &|i| {
        ("root".into(), format!("storm{i:03}"))
    });
    progress(&format!("seeded in {:.1} s", t.elapsed().as_secs_f64()));

    let daemon = sc.spawn();
    let sock = sc.verify_socket.as_path();
    let wrong: Vec<Vec<u8>> = (0..4096)
        .map(|_| load::verify_request("root", Token::generate().unwrap().expose()))
        .collect();
    Expect::InvalidToken.check(Conn::connect(sock).call(&wrong[0]));
    let ready = daemon.spawned.elapsed();
    let cached: Vec<Vec<u8>> = hot
        .iter()
        .map(|t| load::verify_request("root", token_str(t)))
        .collect();
    load::each_once(sock, &cached, Expect::Ok);
    let reply = Conn::connect(sock).call(&cached[0]).to_vec();
    let cached_t = Target {
        dest: Dest::Any(sock),
        reqs: &cached,
        expect: Expect::Ok,
        pid: Some(daemon.pid),
    };
    let wrong_t = Target {
        dest: Dest::Any(sock),
        reqs: &wrong,
        expect: Expect::InvalidToken,
        pid: Some(daemon.pid),
    };
    let slice = dur / SLICES;

    let echos = Echos(
        Server::ALL
            .iter()
            .map(|&v| EchoProc::start(v, tmp, &reply))
            .collect(),
    );
    progress("(a) echo calibration: every candidate with 1 and 8 clients");
    let mut echo_runs = Vec::new();
    let mut cached_runs = Vec::new();
    let mut wrong1 = None;
    for clients in [1, 8] {
        let calib = echos.calibrate(&cached, clients, dur);
        let (base, pairs) = (fastest(&calib, false), fastest(&calib, true));
        progress(&format!(
            "(a)-(c) {clients} client(s): echo ({}, and {}), cached{} verify, interleaved",
            base.name(),
            pairs.name(),
            if clients == 1 { " and wrong-token" } else { "" }
        ));
        let mut targets = vec![
            echos.target(base, &cached),
            echos.target(pairs, &cached),
            cached_t.clone(),
        ];
        if clients == 1 {
            targets.push(wrong_t.clone());
        }
        let mut m = interleaved(&targets, clients, SLICES, slice).into_iter();
        let mut next = || m.next().unwrap();
        echo_runs.push(EchoRun {
            calib,
            base,
            m: next(),
            pairs,
            pairs_m: next(),
        });
        cached_runs.push(next());
        if clients == 1 {
            wrong1 = Some(next());
        }
    }
    drop(echos);
    let (echo8, echo1) = (echo_runs.pop().unwrap(), echo_runs.pop().unwrap());
    let (c8, c1) = (cached_runs.pop().unwrap(), cached_runs.pop().unwrap());
    let w1 = wrong1.unwrap();

    progress(&format!(
        "(f) cached verify (1 client) with {LOADED_BUSY} connected clients and {LOADED_IDLE} half-line idlers"
    ));
    let (loaded_run, background) = load::loaded(
        sock,
        LOADED_BUSY,
        LOADED_THREADS,
        LOADED_INTERVAL,
        LOADED_IDLE,
        &cached,
        dur,
    );

    progress(&format!(
        "(d) {STORM_TOKENS} first-use verifies from {STORM_CLIENTS} clients"
    ));
    let storm_reqs: Vec<Vec<u8>> = storm_tokens
        .iter()
        .map(|t| load::verify_request("root", token_str(t)))
        .collect();
    let before = daemon.sample();
    let st = load::storm(sock, STORM_CLIENTS, &storm_reqs, &cached);
    let storm_cpu = daemon.sample().since(&before);
    let mem = daemon.mem();
    let start = daemon.start;
    let code = daemon.stop();
    assert_eq!(code, Some(0), "the daemon did not stop cleanly");

    rep.section("(a) raw Unix-socket echo (own process, same sizes): fastest candidate");
    rep.num("request_bytes", cached[0].len() as f64, 0, "B");
    rep.num("reply_bytes", reply.len() as f64, 0, "B");
    rep.echo(1, &echo1);
    rep.echo(8, &echo8);
    rep.section(&format!(
        "(b) cached verify, persistent clients; ratios: median of {SLICES} rounds (and merged)"
    ));
    rep.measured("cached_1c", &c1);
    rep.measured("cached_8c", &c8);
    rep.versus_echo(1, &echo1, &c1);
    rep.versus_echo(8, &echo8, &c8);
    rep.goal("cached_vs_echo_1c", true, 0.7);
    rep.goal("cached_vs_echo_8c", true, 0.7);
    rep.goal("p99_8c_ratio", false, 1.5);
    rep.goal("cpu_ratio_1c", false, 2.0);
    rep.goal("cpu_ratio_8c", false, 2.0);
    rep.section("(c) wrong-token verify, 1 client");
    rep.measured("wrong_1c", &w1);
    rep.num(
        "wrong_cost_ratio",
        w1.run.pct_us(0.5) / c1.run.pct_us(0.5),
        3,
        "x",
    );
    rep.num("wrong_cpu_ratio", w1.cpu_us / c1.cpu_us, 3, "x");
    rep.num("wrong_rps_ratio", w1.run.rps() / c1.run.rps(), 3, "x");
    rep.goal("wrong_cost_ratio", false, 1.2);
    rep.section("(d) cached verify (1 client) during the first-use (Argon2) storm");
    rep.num("storm_tokens", STORM_TOKENS as f64, 0, "");
    rep.num("storm_clients", STORM_CLIENTS as f64, 0, "");
    rep.num("storm_secs", st.elapsed.as_secs_f64(), 2, "s");
    rep.num("storm_first_use_rps", st.first_use.rps(), 1, "/s");
    rep.num(
        "storm_first_use_p50_ms",
        st.first_use.pct_us(0.5) / 1e3,
        1,
        "ms",
    );
    rep.num(
        "storm_first_use_max_ms",
        st.first_use.max_us() / 1e3,
        1,
        "ms",
    );
    rep.num(
        "storm_daemon_cpu_secs",
        storm_cpu.cpu_ns as f64 / 1e9,
        2,
        "s",
    );
    rep.num("storm_cached_requests", st.cached.requests as f64, 0, "");
    rep.num("storm_cached_p50_us", st.cached.pct_us(0.5), 1, "us");
    rep.num("storm_cached_p99_us", st.cached.pct_us(0.99), 1, "us");
    rep.num("storm_cached_p999_us", st.cached.pct_us(0.999), 1, "us");
    rep.num("storm_cached_max_us", st.cached.max_us(), 0, "us");
    rep.goal("storm_cached_p99_us", false, 1000.0);
    rep.section("(f) cached verify (1 client) under connection load");
    rep.num("loaded_busy_connections", LOADED_BUSY as f64, 0, "");
    rep.num("loaded_idle_connections", LOADED_IDLE as f64, 0, "");
    rep.num(
        "loaded_background_rps",
        background as f64 / (dur + LOADED_INTERVAL * 3).as_secs_f64(),
        0,
        "/s",
    );
    rep.run("loaded_1c", &loaded_run);
    rep.num(
        "loaded_p99_ratio",
        loaded_run.pct_us(0.99) / c1.run.pct_us(0.99),
        3,
        "x",
    );
    rep.goal("loaded_p99_ratio", false, 2.0);
    rep.section("daemon of (a)-(d), after the storm");
    rep.num("main_start_ms", ms(start), 1, "ms");
    rep.num("main_first_reply_ms", ms(ready), 1, "ms");
    rep.num("main_rss_mib", mib(mem.rss_kib), 1, "MiB");
    rep.num("main_peak_rss_mib", mib(mem.hwm_kib), 1, "MiB");
    rep.num("main_threads", mem.threads as f64, 0, "");
}

/// One scale scenario's daemon, started and warmed.
struct ScaleRun<'a> {
    prefix: &'static str,
    n: usize,
    daemon: setup::Daemon,
    socket: &'a Path,
    reqs: Vec<Vec<u8>>,
    ready: Duration,
    /// Memory right after the first reply, before any token was read.
    mem_start: setup::Mem,
    first_use: Duration,
    stat: setup::StoreStat,
}

/// Starts the daemon on `sc` (`tokens` across min(n, 10k) owners) and
/// verifies a random sample of up to 10k of its tokens once.
fn scale_start<'a>(
    prefix: &'static str,
    sc: &'a Scenario,
    tokens: &[Plain],
    rng: &mut Rng,
) -> ScaleRun<'a> {
    let n = tokens.len();
    let owners = owners_for(n);
    let stat = setup::store_stat(&sc.state);
    for db in stat
        .dbs
        .iter()
        .filter(|d| d.name == "records" || d.name == "index")
    {
        assert_eq!(db.entries, n as u64, "{} entries in {prefix}", db.name);
    }
    let daemon = sc.spawn();
    let socket = sc.verify_socket.as_path();
    let wrong = load::verify_request(&owner(0), Token::generate().unwrap().expose());
    Expect::InvalidToken.check(Conn::connect(socket).call(&wrong));
    let ready = daemon.spawned.elapsed();
    let mem_start = daemon.mem();
    let mut picks: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut picks);
    picks.truncate(SAMPLE);
    let reqs: Vec<Vec<u8>> = picks
        .iter()
        .map(|&i| load::verify_request(&owner(i % owners), token_str(&tokens[i])))
        .collect();
    progress(&format!(
        "(e) {prefix}: {n} tokens, start-up {:.1} ms, warming {} sampled tokens",
        ms(daemon.start),
        reqs.len()
    ));
    let first_use = load::each_once(socket, &reqs, Expect::Ok);
    ScaleRun {
        prefix,
        n,
        daemon,
        socket,
        reqs,
        ready,
        mem_start,
        first_use,
        stat,
    }
}

/// Reports one scale scenario and stops its daemon; returns its p50.
fn scale_report(rep: &mut Report, s: ScaleRun<'_>, m: &Measured) -> f64 {
    let prefix = s.prefix;
    let mem = s.daemon.mem();
    let start = s.daemon.start;
    assert_eq!(s.daemon.stop(), Some(0), "the daemon did not stop cleanly");
    rep.section(&format!(
        "(e) {} tokens across {} owners (1 client, {} sampled tokens)",
        s.n,
        owners_for(s.n),
        s.reqs.len()
    ));
    rep.num(&format!("{prefix}_tokens"), s.n as f64, 0, "");
    rep.num(&format!("{prefix}_start_ms"), ms(start), 1, "ms");
    rep.num(&format!("{prefix}_first_reply_ms"), ms(s.ready), 1, "ms");
    rep.num(
        &format!("{prefix}_first_use_us"),
        s.first_use.as_secs_f64() * 1e6 / s.reqs.len() as f64,
        1,
        "us",
    );
    rep.measured(prefix, m);
    rep.num(
        &format!("{prefix}_rss_start_mib"),
        mib(s.mem_start.rss_kib),
        1,
        "MiB",
    );
    rep.num(&format!("{prefix}_rss_mib"), mib(mem.rss_kib), 1, "MiB");
    rep.num(
        &format!("{prefix}_rss_anon_mib"),
        mib(mem.anon_kib),
        1,
        "MiB",
    );
    rep.num(
        &format!("{prefix}_rss_file_mib"),
        mib(mem.file_kib),
        1,
        "MiB",
    );
    rep.num(
        &format!("{prefix}_peak_rss_mib"),
        mib(mem.hwm_kib),
        1,
        "MiB",
    );
    rep.num(&format!("{prefix}_threads"), mem.threads as f64, 0, "");
    rep.num(
        &format!("{prefix}_store_file_mib"),
        s.stat.file_bytes as f64 / 1048576.0,
        1,
        "MiB",
    );
    rep.num(
        &format!("{prefix}_store_used_mib"),
        s.stat.used_bytes() as f64 / 1048576.0,
        1,
        "MiB",
    );
    rep.num(
        &format!("{prefix}_bytes_per_token"),
        s.stat.file_bytes as f64 / s.n as f64,
        0,
        "B",
    );
    for db in s
        .stat
        .dbs
        .iter()
        .filter(|d| d.name == "records" || d.name == "index")
    {
        let key = format!("{prefix}_db_{}", db.name);
        rep.num(&format!("{key}_pages"), db.pages as f64, 0, "");
        rep.num(&format!("{key}_depth"), f64::from(db.depth), 0, "");
    }
    m.run.pct_us(0.5)
}

fn main() {
    // The re-executed binary serving as the echo baseline stops here.
    echo::serve_if_asked();
    let secs: f64 = env_or("APITOKEND_BENCH_SECS", 3.0);
    let big_n: usize = env_or("APITOKEND_BENCH_TOKENS", 1_000_000);
    assert!(secs > 0.0 && big_n > 0, "knobs must be positive");
    let dur = Duration::from_secs_f64(secs);
    let wall = Instant::now();
    let (model, nproc, kernel) = machine();
    println!(
        "apitokend verify benchmark: {model}, nproc {nproc}, Linux {kernel}\n\
         daemon {}; {secs} s per run; large scenario {big_n} tokens",
        setup::DAEMON
    );
    let host0 = host_ticks();
    let load0 = loadavg();
    let mut rep = Report::default();
    rep.text("machine_cpu", &model);
    rep.num("machine_nproc", nproc as f64, 0, "");
    rep.num("run_secs", secs, 1, "s");

    let tmp = tempfile::Builder::new()
        .prefix("apitokend-bench.")
        .tempdir()
        .unwrap();

    raise_fd_limit();
    hot_path(&mut rep, tmp.path(), dur);

    let resellers: String = (0..OWNERS).map(|i| format!("{}:all\n", owner(i))).collect();
    let mut rng = Rng::new();
    let small = Scenario::create(tmp.path(), "scale-1k", &resellers);
    let small_tokens = small.seed(SMALL_TOKENS, &CHEAP_ARGON2, &naming(SMALL_TOKENS));
    let big = Scenario::create(tmp.path(), "scale-big", &resellers);
    progress(&format!(
        "seeding {big_n} tokens across {} owners",
        owners_for(big_n)
    ));
    let t = Instant::now();
    let big_tokens = big.seed(big_n, &CHEAP_ARGON2, &naming(big_n));
    progress(&format!("seeded in {:.1} s", t.elapsed().as_secs_f64()));
    let s1k = scale_start("s1k", &small, &small_tokens, &mut rng);
    let sbig = scale_start("big", &big, &big_tokens, &mut rng);
    drop((small_tokens, big_tokens));
    progress("(e) 1 client on each, interleaved");
    let targets = [&s1k, &sbig].map(|s| Target {
        dest: Dest::Any(s.socket),
        reqs: &s.reqs,
        expect: Expect::Ok,
        pid: Some(s.daemon.pid),
    });
    let mut m = interleaved(&targets, 1, SLICES, dur / SLICES).into_iter();
    let (m1k, mbig) = (m.next().unwrap(), m.next().unwrap());
    let p50_small = scale_report(&mut rep, s1k, &m1k);
    let p50_big = scale_report(&mut rep, sbig, &mbig);
    rep.section("(e) scale");
    rep.num("scale_p50_ratio", p50_big / p50_small, 3, "x");
    rep.goal("scale_p50_ratio", false, 1.3);
    rep.goal("big_bytes_per_token", false, 1024.0);
    rep.goal("big_start_ms", false, 1000.0);
    rep.goal("big_rss_mib", false, 64.0);
    let host1 = host_ticks();
    let wall = wall.elapsed().as_secs_f64();
    // USER_HZ is 100: ticks available on all CPUs over the run.
    let ticks = wall * nproc as f64 * 100.0;
    let other =
        host1.busy.saturating_sub(host0.busy) as f64 - host1.ours.saturating_sub(host0.ours) as f64;
    rep.section("run");
    rep.num("bench_wall_secs", wall, 1, "s");
    rep.text("loadavg_start", &load0);
    rep.text("loadavg_end", &loadavg());
    // Busy CPU of other processes while this ran: measurements with much
    // of it (or steal) are not comparable.
    rep.num(
        "host_other_cpu_pct",
        (100.0 * other / ticks).max(0.0),
        1,
        "%",
    );
    rep.num(
        "host_steal_pct",
        100.0 * host1.steal.saturating_sub(host0.steal) as f64 / ticks,
        1,
        "%",
    );

    rep.print();
    println!("{}", rep.json());
}
