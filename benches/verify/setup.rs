//! Scenario directories, token seeding through the library, the daemon
//! process (start-up time, RSS, shutdown) and LMDB space accounting.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use apitokend::clock::SystemClock;
use apitokend::config::{Argon2Config, Config};
use apitokend::state::State;
use apitokend::store::{BatchOutcome, TokenRecord};
use apitokend::tokens::{Hasher, Token};

pub const DAEMON: &str = env!("CARGO_BIN_EXE_apitokend");

/// Argon2 parameters for bulk-seeded tokens: the PHC string carries them,
/// so the daemon's first verify of such a token is cheap.
pub const CHEAP_ARGON2: Argon2Config = Argon2Config {
    m_cost: 8,
    t_cost: 1,
    p_cost: 1,
};

/// Failures are still counted per address (their cost is measured), but
/// the wrong-token runs never reach the lockout.
const LOCKOUT_NEVER: u32 = u32::MAX;

/// A plaintext token (32 characters of `0-9A-Z`).
pub type Plain = [u8; 32];

pub fn token_str(t: &Plain) -> &str {
    std::str::from_utf8(t).unwrap()
}

/// One daemon's world: config, state (LMDB + pepper), accounts, sockets, log.
pub struct Scenario {
    pub state: PathBuf,
    pub verify_socket: PathBuf,
    /// Used by the storm bench only.
    #[allow(dead_code)]
    pub control_socket: PathBuf,
    config: PathBuf,
    log: PathBuf,
    /// The daemon's own state type, opened on the scenario's config.
    shared: State,
}

impl Scenario {
    /// Creates `parent/name` with a `resellers` file and an opened store.
    pub fn create(parent: &Path, name: &str, resellers: &str) -> Scenario {
        let root = parent.join(name);
        let accounts = root.join("accounts");
        std::fs::create_dir_all(accounts.join("suspended")).unwrap();
        std::fs::create_dir_all(accounts.join("users")).unwrap();
        std::fs::write(accounts.join("resellers"), resellers).unwrap();
        let state = root.join("state");
        let verify_socket = root.join("verify.sock");
        let control = root.join("control.sock");
        let config = root.join("apitokend.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = {state:?}\naccounts_dir = {accounts:?}\n\
                 control_socket = {control:?}\nverify_socket = {verify_socket:?}\n\
                 log = \"stderr\"\n\n[limits]\nmax_connections = 2048\n\n\
                 [lockout]\nmax_failures = {LOCKOUT_NEVER}\nwindow_secs = 300\n\
                 cooldown_secs = 900\n"
            ),
        )
        .unwrap();
        let shared = State::open(
            &Config::load(&config).unwrap(),
            std::sync::Arc::new(SystemClock),
        )
        .unwrap();
        Scenario {
            state,
            verify_socket,
            control_socket: control,
            config,
            log: root.join("daemon.stderr"),
            shared,
        }
    }

    /// Stores `n` fresh tokens; token `i` gets `(owner, name) = naming(i)`.
    /// Records are built on every core (Argon2 dominates) and inserted in
    /// transactions of up to 10k; returns the plaintext tokens in order.
    pub fn seed(
        &self,
        n: usize,
        argon2: &Argon2Config,
        naming: &(dyn Fn(usize) -> (String, String) + Sync),
    ) -> Vec<Plain> {
        let threads = std::thread::available_parallelism().map_or(1, |c| c.get());
        let batch = (n / (threads * 4)).clamp(1, 10_000);
        let batches = n.div_ceil(batch);
        let next = AtomicUsize::new(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let create_time = i64::try_from(now).unwrap();
        let mut plain = vec![[0u8; 32]; n];
        let (tx, rx) = sync_channel::<(usize, Vec<TokenRecord>, Vec<Plain>)>(threads * 2);
        std::thread::scope(|s| {
            for _ in 0..threads {
                let tx = tx.clone();
                let next = &next;
                let pepper = self.shared.pepper();
                s.spawn(move || {
                    let hasher = Hasher::new(argon2).unwrap();
                    loop {
                        let b = next.fetch_add(1, Ordering::Relaxed);
                        if b >= batches {
                            return;
                        }
                        let start = b * batch;
                        let end = n.min(start + batch);
                        let mut records = Vec::with_capacity(end - start);
                        let mut tokens = Vec::with_capacity(end - start);
                        for i in start..end {
                            let token = Token::generate().unwrap();
                            let digest = token.digest();
                            let (owner, name) = naming(i);
                            records.push(TokenRecord {
                                owner,
                                name,
                                create_time,
                                expires_at: None,
                                acls: None,
                                whitelist_ips: vec![],
                                index: pepper.index(&digest),
                                verifier: hasher.hash(&digest).unwrap(),
                                generation: 0,
                            });
                            tokens.push(<Plain>::try_from(token.expose().as_bytes()).unwrap());
                        }
                        tx.send((start, records, tokens)).unwrap();
                    }
                });
            }
            drop(tx);
            for (start, records, tokens) in rx {
                let outcome = self.shared.store().insert_batch(records).unwrap();
                assert!(
                    matches!(outcome, BatchOutcome::Inserted { .. }),
                    "{outcome:?}"
                );
                plain[start..start + tokens.len()].copy_from_slice(&tokens);
            }
        });
        plain
    }

    /// Starts the daemon; start-up time is spawn → first accepted connect
    /// on the verify socket (polled every millisecond).
    pub fn spawn(&self) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let t0 = Instant::now();
        // Another build of the daemon (e.g. before a change) may be measured.
        let daemon = std::env::var_os("APITOKEND_BENCH_DAEMON").unwrap_or_else(|| DAEMON.into());
        let mut child = Command::new(daemon)
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = t0 + Duration::from_secs(60);
        loop {
            if UnixStream::connect(&self.verify_socket).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "apitokend exited early ({status}): {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "apitokend did not start in 60 s");
            std::thread::sleep(Duration::from_millis(1));
        }
        let start = t0.elapsed();
        Daemon {
            pid: child.id(),
            child: Some(child),
            start,
            spawned: t0,
        }
    }
}

/// A running daemon; SIGKILLed on drop if `stop` was not called.
pub struct Daemon {
    pub pid: u32,
    pub start: Duration,
    pub spawned: Instant,
    child: Option<Child>,
}

/// Memory of a process, from /proc/<pid>/status (KiB).
#[derive(Debug, Default, Clone, Copy)]
pub struct Mem {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub anon_kib: u64,
    pub file_kib: u64,
    pub threads: u64,
}

/// A process's CPU time so far (`cpu_ns`) and the context switches of
/// each of its live threads, by thread id.
#[derive(Debug, Default, Clone)]
pub struct Sample {
    pub cpu_ns: u64,
    tasks: Vec<(u32, u64)>,
}

/// CPU time and context switches between two samples.
#[derive(Debug, Default, Clone, Copy)]
pub struct Used {
    pub cpu_ns: u64,
    pub switches: u64,
}

impl Sample {
    /// What the process used since `before`. Switches are summed over the
    /// threads alive now (a thread born since counts from zero): take the
    /// sample while the connections measured are still open.
    pub fn since(&self, before: &Sample) -> Used {
        let switches = self
            .tasks
            .iter()
            .map(|&(tid, n)| {
                let was = before.tasks.iter().find(|t| t.0 == tid).map_or(0, |t| t.1);
                n.saturating_sub(was)
            })
            .sum();
        Used {
            cpu_ns: self.cpu_ns.saturating_sub(before.cpu_ns),
            switches,
        }
    }
}

impl std::ops::AddAssign for Used {
    fn add_assign(&mut self, rhs: Used) {
        self.cpu_ns += rhs.cpu_ns;
        self.switches += rhs.switches;
    }
}

/// utime, stime, cutime and cstime (fields 14-17 of /proc/<pid>/stat) in
/// USER_HZ ticks; `pid` may be `self`. Fields are counted by position:
/// some before them (tpgid) may be -1.
pub fn stat_ticks(pid: &str) -> [u64; 4] {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // after_name[0] is field 3 (state).
    std::array::from_fn(|i| {
        after_name
            .get(11 + i)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

/// utime + stime of a whole process in nanoseconds: unlike per-thread
/// figures it keeps the time of threads that have exited (a
/// thread-per-connection server's). USER_HZ is 100 on Linux.
pub fn cpu_ns(pid: u32) -> u64 {
    let [utime, stime, ..] = stat_ticks(&pid.to_string());
    (utime + stime) * 10_000_000
}

/// A process's CPU time (`cpu_ns`) and the voluntary and involuntary
/// context switches of each live thread (/proc/<pid>/task/*/status).
pub fn sample(pid: u32) -> Sample {
    let mut total = Sample {
        cpu_ns: cpu_ns(pid),
        tasks: Vec::new(),
    };
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return total;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        if let Ok(status) = std::fs::read_to_string(task.path().join("status")) {
            let n = status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
                .sum::<u64>();
            total.tasks.push((tid, n));
        }
    }
    total
}

impl Daemon {
    pub fn sample(&self) -> Sample {
        sample(self.pid)
    }

    pub fn mem(&self) -> Mem {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        Mem {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
            anon_kib: field("RssAnon:"),
            file_kib: field("RssFile:"),
            threads: field("Threads:"),
        }
    }

    /// SIGTERM, then wait (SIGKILL after 20 s); returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().ok().and_then(|s| s.code());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Space used by one LMDB database (as `mdb_stat -a` shows it).
#[derive(Debug, Default, Clone)]
pub struct DbStat {
    pub name: String,
    pub entries: u64,
    pub pages: u64,
    pub depth: u16,
}

/// data.mdb: file size, pages in use (last page + 1) and per-database stats,
/// read from the newer of LMDB's two meta pages.
#[derive(Debug, Default, Clone)]
pub struct StoreStat {
    pub file_bytes: u64,
    pub page_size: u64,
    pub used_pages: u64,
    pub dbs: Vec<DbStat>,
}

impl StoreStat {
    pub fn used_bytes(&self) -> u64 {
        self.used_pages * self.page_size
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// An `MDB_db` (48 bytes): pad, flags, depth, branch, leaf, overflow pages,
/// entries, root.
fn db_stat(name: &str, b: &[u8]) -> DbStat {
    DbStat {
        name: name.to_owned(),
        depth: le16(b, 6),
        pages: le64(b, 8) + le64(b, 16) + le64(b, 24),
        entries: le64(b, 32),
    }
}

/// Parses LMDB's on-disk layout (64-bit little-endian builds): page header
/// 16 bytes; `MDB_meta` = magic, version, address, mapsize, dbs[FREE, MAIN],
/// last_pg, txnid. Named databases are F_SUBDATA nodes of MAIN's root leaf.
pub fn store_stat(state: &Path) -> StoreStat {
    let path = state.join("data.mdb");
    let data = std::fs::read(&path).unwrap();
    const HDR: usize = 16;
    const MAGIC: u32 = 0xBEEF_C0DE;
    let meta_at = |off: usize| -> Option<(u64, usize)> {
        let m = data.get(off + HDR..off + HDR + 136)?;
        (le32(m, 0) == MAGIC).then(|| (le64(m, 128), off + HDR))
    };
    let Some((_, first)) = meta_at(0) else {
        return StoreStat {
            file_bytes: data.len() as u64,
            ..StoreStat::default()
        };
    };
    let page_size = u64::from(le32(&data, first + 24));
    let psize = usize::try_from(page_size).unwrap();
    let meta = match meta_at(psize) {
        Some((txn2, second)) if txn2 > le64(&data, first + 128) => second,
        _ => first,
    };
    let used_pages = le64(&data, meta + 120) + 1;
    let mut dbs = vec![db_stat("(free)", &data[meta + 24..meta + 72])];
    let main = db_stat("(main)", &data[meta + 72..meta + 120]);
    let main_root = usize::try_from(le64(&data, meta + 112)).unwrap();
    // MAIN holds only the named databases: one leaf page (depth 1).
    if main.depth == 1
        && let Some(page) = data.get(main_root * psize..(main_root + 1) * psize)
    {
        let lower = usize::from(le16(page, 12));
        for slot in 0..(lower.saturating_sub(HDR) / 2) {
            let node = usize::from(le16(page, HDR + 2 * slot));
            let flags = le16(page, node + 4);
            let ksize = usize::from(le16(page, node + 6));
            let key = &page[node + 8..node + 8 + ksize];
            if flags & 0x02 != 0 {
                let v = node + 8 + ksize;
                dbs.push(db_stat(&String::from_utf8_lossy(key), &page[v..v + 48]));
            }
        }
    }
    StoreStat {
        file_bytes: data.len() as u64,
        page_size,
        used_pages,
        dbs,
    }
}
