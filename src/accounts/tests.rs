use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use super::*;

/// An accounts directory in a temp dir.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(resellers: &str) -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("resellers"), resellers).unwrap();
        Files { dir }
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// As WHM does: a new file renamed over the old one.
    fn replace_resellers(&self, text: &str) {
        std::fs::write(self.at("resellers.tmp"), text).unwrap();
        std::fs::rename(self.at("resellers.tmp"), self.at("resellers")).unwrap();
    }
}

/// What a lookup said about a user, comparable across the routes.
#[derive(Debug, PartialEq, Eq, Clone)]
enum Seen {
    Absent,
    Found { acls: String, suspended: bool },
    Error,
}

fn seen(r: Result<Option<Account>, String>) -> Seen {
    match r {
        Ok(None) => Seen::Absent,
        Ok(Some(a)) => Seen::Found {
            acls: match a.holdings {
                Holdings::All => "all".to_owned(),
                Holdings::Some(set) => set.into_iter().collect::<Vec<_>>().join(","),
            },
            suspended: a.suspended,
        },
        Err(_) => Seen::Error,
    }
}

fn found(acls: &str, suspended: bool) -> Seen {
    Seen::Found {
        acls: acls.to_owned(),
        suspended,
    }
}

fn by_lookup(a: &Accounts, name: &str) -> Seen {
    seen(a.lookup(name).map(|l| match l {
        Lookup::Found(a) => Some(a),
        Lookup::NotWhmUser => None,
    }))
}

fn by_account(a: &Accounts, name: &str) -> Seen {
    seen(a.account(name).map(|o| o.map(|a| Account::clone(&a))))
}

impl Accounts {
    /// As if the view was last confirmed `ago` (negative: in the future).
    fn confirmed_ago(&self, ago: Duration, future: bool) {
        let ago = i64::try_from(ago.as_nanos()).unwrap();
        let at = if future {
            self.now() + ago
        } else {
            self.now() - ago
        };
        self.confirmed.store(at, Ordering::Release);
    }

    fn unwatched(dir: &Path) -> Accounts {
        Accounts::with_watch(dir, Err("no inotify in this test".to_owned()))
    }
}

/// Polls `f` until it returns `want`, for at most a second.
fn within_a_second(what: &str, want: &Seen, f: impl Fn() -> Seen) {
    let start = Instant::now();
    loop {
        let got = f();
        if &got == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{what}: still {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

type Step = (&'static str, fn(&Files), Seen);

/// Changes to the files, in order, each with what `bob` then is.
fn steps() -> Vec<Step> {
    fn touch(f: &Files, rel: &str) {
        std::fs::write(f.at(rel), "").unwrap();
    }
    vec![
        ("the starting files", |_| {}, found("list-accts", false)),
        (
            "resellers rewritten in place",
            |f| std::fs::write(f.at("resellers"), "bob:list-accts,create-acct\n").unwrap(),
            found("create-acct,list-accts", false),
        ),
        (
            "resellers replaced by a rename",
            |f| f.replace_resellers("bob:list-zones\n"),
            found("list-zones", false),
        ),
        (
            "suspended/ created later, empty",
            |f| std::fs::create_dir(f.at("suspended")).unwrap(),
            found("list-zones", false),
        ),
        (
            "suspended/bob a file",
            |f| touch(f, "suspended/bob"),
            found("list-zones", true),
        ),
        (
            "suspended/bob removed",
            |f| std::fs::remove_file(f.at("suspended/bob")).unwrap(),
            found("list-zones", false),
        ),
        (
            "suspended/bob a directory",
            |f| std::fs::create_dir(f.at("suspended/bob")).unwrap(),
            found("list-zones", true),
        ),
        (
            "suspended/bob renamed away",
            |f| std::fs::rename(f.at("suspended/bob"), f.at("suspended/bob.old")).unwrap(),
            found("list-zones", false),
        ),
        (
            "suspended/bob a dangling symlink",
            |f| std::os::unix::fs::symlink("/nonexistent/x", f.at("suspended/bob")).unwrap(),
            found("list-zones", true),
        ),
        (
            "suspended/ renamed away",
            |f| std::fs::rename(f.at("suspended"), f.at("suspended.gone")).unwrap(),
            found("list-zones", false),
        ),
        (
            "a change in the renamed-away directory",
            |f| std::fs::remove_file(f.at("suspended.gone/bob")).unwrap(),
            found("list-zones", false),
        ),
        (
            "a new suspended/ holding bob renamed in",
            |f| {
                std::fs::create_dir(f.at("new")).unwrap();
                touch(f, "new/bob");
                std::fs::rename(f.at("new"), f.at("suspended")).unwrap();
            },
            found("list-zones", true),
        ),
        (
            "suspended/bob removed from the new directory",
            |f| std::fs::remove_file(f.at("suspended/bob")).unwrap(),
            found("list-zones", false),
        ),
        (
            "suspended/ removed",
            |f| std::fs::remove_dir_all(f.at("suspended")).unwrap(),
            found("list-zones", false),
        ),
        (
            "suspended is a file",
            |f| touch(f, "suspended"),
            Seen::Error,
        ),
        (
            "suspended is a file no more",
            |f| std::fs::remove_file(f.at("suspended")).unwrap(),
            found("list-zones", false),
        ),
        (
            "resellers removed",
            |f| std::fs::remove_file(f.at("resellers")).unwrap(),
            Seen::Absent,
        ),
        (
            "resellers created",
            |f| std::fs::write(f.at("resellers"), "bob:all\n").unwrap(),
            found("all", false),
        ),
        (
            "resellers is a directory",
            |f| {
                std::fs::remove_file(f.at("resellers")).unwrap();
                std::fs::create_dir(f.at("resellers")).unwrap();
            },
            Seen::Error,
        ),
        (
            "resellers is a file again",
            |f| {
                std::fs::remove_dir(f.at("resellers")).unwrap();
                f.replace_resellers("bob:list-accts\n");
            },
            found("list-accts", false),
        ),
    ]
}

#[test]
fn lookup_sees_every_change_on_the_next_call() {
    let f = Files::new("bob:list-accts\n");
    let a = Accounts::new(f.dir.path());
    for (what, change, want) in steps() {
        change(&f);
        assert_eq!(by_lookup(&a, "bob"), want, "{what}");
        assert_eq!(by_lookup(&a, "root"), found("all", false), "{what}");
    }
}

#[test]
fn account_confirms_a_view_older_than_100_ms_itself() {
    let f = Files::new("bob:list-accts\n");
    let a = Accounts::new(f.dir.path());
    let mut before = by_account(&a, "bob");
    for (what, change, want) in steps() {
        change(&f);
        // A recent confirmation is trusted: the watch is not read.
        a.confirmed_ago(Duration::from_secs(3600), true);
        assert_eq!(by_account(&a, "bob"), before, "{what}: trusted");
        a.confirmed_ago(CONFIRM_EVERY + Duration::from_millis(1), false);
        assert_eq!(by_account(&a, "bob"), want, "{what}");
        before = want;
    }
}

#[test]
fn the_watcher_thread_publishes_each_change() {
    let f = Files::new("bob:list-accts\n");
    let a = Arc::new(Accounts::new(f.dir.path()));
    a.start_watching();
    for (what, change, want) in steps() {
        // Confirmed "in the future": only the thread can show the change.
        a.confirmed_ago(Duration::from_secs(3600), true);
        change(&f);
        within_a_second(what, &want, || by_account(&a, "bob"));
    }
}

#[test]
fn the_watcher_thread_ends_with_its_accounts() {
    let f = Files::new("bob:list-accts\n");
    let a = Arc::new(Accounts::new(f.dir.path()));
    a.start_watching();
    a.start_watching();
    let fds = a.fds.clone().unwrap();
    drop(a);
    let start = Instant::now();
    // The thread holds the only other reference to the descriptors.
    while Arc::strong_count(&fds) > 1 {
        assert!(start.elapsed() < Duration::from_secs(1), "still running");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn root_reseller_and_others() {
    let f = Files::new("# comment\nbob:list-accts,,create-acct\nalice:all\n");
    std::fs::create_dir(f.at("suspended")).unwrap();
    std::fs::write(f.at("suspended/alice"), "").unwrap();
    std::fs::write(f.at("suspended/root"), "").unwrap();
    for a in [
        Accounts::new(f.dir.path()),
        Accounts::unwatched(f.dir.path()),
    ] {
        for (name, want) in [
            ("root", found("all", false)),
            ("bob", found("create-acct,list-accts", false)),
            ("alice", found("all", true)),
            ("carol", Seen::Absent),
            ("../etc", Seen::Absent),
            ("", Seen::Absent),
        ] {
            assert_eq!(by_lookup(&a, name), want, "{name}");
            assert_eq!(by_account(&a, name), want, "{name}");
        }
        assert_eq!(a.reseller_names().unwrap(), ["alice", "bob"]);
    }
}

#[test]
fn unreadable_files_fail_closed_but_root_does_not_depend_on_them() {
    for (what, make, bob, carol) in [
        (
            "resellers is a directory",
            (|f: &Files| {
                std::fs::remove_file(f.at("resellers")).unwrap();
                std::fs::create_dir(f.at("resellers")).unwrap();
            }) as fn(&Files),
            Seen::Error,
            Seen::Error,
        ),
        (
            "resellers is not UTF-8",
            |f| std::fs::write(f.at("resellers"), b"bob:all\n\xff\n").unwrap(),
            Seen::Error,
            Seen::Error,
        ),
        (
            "suspended is a file",
            |f| std::fs::write(f.at("suspended"), "").unwrap(),
            Seen::Error,
            Seen::Absent,
        ),
    ] {
        let f = Files::new("bob:all\n");
        make(&f);
        for a in [
            Accounts::new(f.dir.path()),
            Accounts::unwatched(f.dir.path()),
        ] {
            assert_eq!(by_lookup(&a, "bob"), bob, "{what}");
            assert_eq!(by_account(&a, "bob"), bob, "{what}");
            assert_eq!(by_lookup(&a, "carol"), carol, "{what}");
            assert_eq!(by_account(&a, "root"), found("all", false), "{what}");
        }
        let a = Accounts::new(f.dir.path());
        let e = a.lookup("bob").unwrap_err();
        assert!(
            e.starts_with("cannot read ") && !e.contains("bob:"),
            "{what}: {e}"
        );
    }
}

#[test]
fn a_symlinked_resellers_file_is_followed() {
    let f = Files::new("");
    std::fs::create_dir(f.at("elsewhere")).unwrap();
    std::fs::write(f.at("elsewhere/resellers"), "bob:list-accts\n").unwrap();
    std::fs::remove_file(f.at("resellers")).unwrap();
    std::os::unix::fs::symlink(f.at("elsewhere/resellers"), f.at("resellers")).unwrap();
    let a = Accounts::new(f.dir.path());
    assert_eq!(by_lookup(&a, "bob"), found("list-accts", false));
    std::fs::write(f.at("elsewhere/resellers"), "bob:list-zones\n").unwrap();
    assert_eq!(by_lookup(&a, "bob"), found("list-zones", false), "in place");
    std::fs::write(f.at("elsewhere/new"), "bob:all\n").unwrap();
    std::fs::rename(f.at("elsewhere/new"), f.at("elsewhere/resellers")).unwrap();
    assert_eq!(by_lookup(&a, "bob"), found("all", false), "renamed over");
    std::fs::write(f.at("elsewhere/resellers"), "bob:x\n").unwrap();
    assert_eq!(
        by_lookup(&a, "bob"),
        found("x", false),
        "the new file in place"
    );
}

#[test]
fn other_files_in_the_directory_cause_no_reread() {
    let f = Files::new("bob:all\n");
    let a = Accounts::new(f.dir.path());
    let Source::Events(watches) = &*lock(&a.source) else {
        unreachable!("inotify works here")
    };
    let fds = a.fds.as_ref().unwrap();
    std::fs::write(f.at("resellers.tmp"), "x").unwrap();
    std::fs::write(f.at("passwd"), "x").unwrap();
    assert_eq!(watches.drain(&fds.inotify), Drained::Quiet);
    std::fs::rename(f.at("resellers.tmp"), f.at("resellers")).unwrap();
    assert_eq!(watches.drain(&fds.inotify), Drained::Changed);
    assert_eq!(watches.drain(&fds.inotify), Drained::Quiet);
}

#[test]
fn a_lost_watch_falls_back_to_stamps_for_good() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("accounts");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("resellers"), "bob:all\n").unwrap();
    let a = Arc::new(Accounts::new(&dir));
    a.start_watching();
    let fds = a.fds.clone().unwrap();
    assert_eq!(by_account(&a, "bob"), found("all", false));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(by_lookup(&a, "bob"), Seen::Absent);
    assert!(matches!(&*lock(&a.source), Source::Stamps(_)));
    std::fs::create_dir_all(dir.join("suspended")).unwrap();
    std::fs::write(dir.join("resellers"), "bob:list-accts\n").unwrap();
    std::fs::write(dir.join("suspended/bob"), "").unwrap();
    assert_eq!(by_account(&a, "bob"), found("list-accts", true));
    assert_eq!(by_lookup(&a, "bob"), found("list-accts", true));
    // The watcher thread has ended.
    let start = Instant::now();
    while Arc::strong_count(&fds) > 2 {
        assert!(start.elapsed() < Duration::from_secs(1), "still running");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Rewrites `path` in place (same inode) and sets its mtime to `mtime`.
fn rewrite_in_place(path: &std::path::Path, text: &str, mtime: SystemTime) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    file.set_modified(mtime).unwrap();
}

#[test]
fn same_size_rewrite_in_one_tick_is_seen() {
    let f = Files::new("");
    let a = Accounts::new(f.dir.path());
    let tick = SystemTime::now();
    // In place (same inode), same size, same mtime: only the watch can
    // notice.
    let write = |text: &str| rewrite_in_place(&f.at("resellers"), text, tick);
    write("bob:list-accts\n");
    assert_eq!(by_lookup(&a, "bob"), found("list-accts", false));
    write("bob:list-zones\n");
    assert_eq!(by_lookup(&a, "bob"), found("list-zones", false));
}

#[test]
fn without_inotify_an_unsettled_file_is_reread_at_most_once_per_second() {
    let f = Files::new("");
    let a = Accounts::unwatched(f.dir.path());
    let future = SystemTime::now() + Duration::from_secs(86_400);
    let write = |text: &str| rewrite_in_place(&f.at("resellers"), text, future);
    write("bob:list-accts\n");
    assert_eq!(by_account(&a, "bob"), found("list-accts", false));
    // Same stamp, other text: not re-read within the second...
    write("bob:list-zones\n");
    assert_eq!(by_account(&a, "bob"), found("list-accts", false));
    // ...and re-read once it has passed.
    if let Source::Stamps(cache) = &mut *lock(&a.source) {
        cache.read_at = cache.read_at.map(|t| t - stamps::REREAD_EVERY);
    }
    assert_eq!(by_lookup(&a, "bob"), found("list-zones", false));
}

#[test]
fn without_inotify_suspension_is_checked_on_each_lookup() {
    let f = Files::new("bob:all\n");
    let a = Accounts::unwatched(f.dir.path());
    assert_eq!(by_account(&a, "bob"), found("all", false));
    std::fs::create_dir(f.at("suspended")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/x", f.at("suspended/bob")).unwrap();
    assert_eq!(by_account(&a, "bob"), found("all", true));
}

#[test]
fn settled_means_older_than_the_window() {
    let at = |secs: i64| stamps::Stamp {
        ino: 1,
        size: 1,
        mtime: secs,
        mtime_nsec: 0,
    };
    let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000);
    assert!(stamps::settled(at(998), now));
    assert!(!stamps::settled(at(999), now));
    assert!(!stamps::settled(at(1_001), now));
}

#[test]
fn login_name_of_root() {
    assert_eq!(login_name(Uid::ROOT).as_deref(), Some("root"));
}

use crate::test_alloc as counting;

#[test]
fn account_allocates_nothing_on_a_hit_nor_on_a_quiet_confirmation() {
    let f = Files::new("bob:list-accts\nann:all\n");
    std::fs::create_dir(f.at("suspended")).unwrap();
    std::fs::write(f.at("suspended/ann"), "").unwrap();
    let a = Accounts::new(f.dir.path());
    let before = counting::allocations();
    drop(std::hint::black_box(Box::new(1)));
    assert_eq!(counting::allocations() - before, 1, "the counter counts");
    for name in ["bob", "ann", "root", "carol"] {
        let _ = a.account(name);
        let before = counting::allocations();
        for _ in 0..1_000 {
            assert!(a.account(name).is_ok());
        }
        assert_eq!(counting::allocations() - before, 0, "{name}: a hit");
        let before = counting::allocations();
        for _ in 0..100 {
            a.confirmed_ago(CONFIRM_EVERY * 2, false);
            assert!(a.account(name).is_ok());
        }
        assert_eq!(counting::allocations() - before, 0, "{name}: confirmed");
    }
}

#[test]
fn resellers_lines() {
    for (line, want) in [
        (
            "bob:list-accts,create-acct",
            Some(("bob", "create-acct,list-accts")),
        ),
        (
            "  bob : list-accts , ,create-acct  ",
            Some(("bob", "create-acct,list-accts")),
        ),
        ("bob:list-accts,all", Some(("bob", "all"))),
        ("bob", Some(("bob", ""))),
        ("bob:", Some(("bob", ""))),
        ("# bob:all", None),
        ("../etc:all", None),
        (":all", None),
        ("bob smith:all", None),
    ] {
        let parsed = view::parse_resellers(line);
        let got = parsed.iter().next().map(|(user, holdings)| {
            let acls = match holdings {
                Holdings::All => "all".to_owned(),
                Holdings::Some(set) => set.iter().cloned().collect::<Vec<_>>().join(","),
            };
            (user.clone(), acls)
        });
        let want = want.map(|(u, a)| (u.to_owned(), a.to_owned()));
        assert_eq!(got, want, "{line:?}");
    }
}
