use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cfg(max: u32) -> LockoutConfig {
    LockoutConfig {
        max_failures: max,
        window_secs: 60,
        cooldown_secs: 100,
        ..LockoutConfig::default()
    }
}

#[test]
fn locks_after_max_failures_within_window() {
    let l = Lockout::new(cfg(3));
    let a = ip("192.0.2.1");
    assert_eq!(l.record_failure(a, 1000), Recorded::Counted);
    assert_eq!(l.record_failure(a, 1010), Recorded::Counted);
    assert_eq!(l.locked_until(a, 1010), None);
    assert_eq!(
        l.record_failure(a, 1020),
        Recorded::LockedNow {
            until: 1120,
            failures: 3
        }
    );
    assert_eq!(l.locked_until(a, 1119), Some(1120));
    assert_eq!(l.locked_until(a, 1120), None, "cooldown over");
    assert_eq!(
        l.locked_until(ip("192.0.2.2"), 1020),
        None,
        "others unaffected"
    );
    // After the cooldown the count starts again.
    assert_eq!(l.record_failure(a, 1130), Recorded::Counted);
    assert_eq!(l.locked_until(a, 1130), None);
}

#[test]
fn window_expiry_resets_the_count() {
    let l = Lockout::new(cfg(3));
    let a = ip("2001:db8::1");
    let _ = l.record_failure(a, 0);
    let _ = l.record_failure(a, 30);
    assert_eq!(
        l.record_failure(a, 60),
        Recorded::Counted,
        "window restarted at 60"
    );
    let _ = l.record_failure(a, 61);
    assert!(matches!(
        l.record_failure(a, 62),
        Recorded::LockedNow { .. }
    ));
}

#[test]
fn list_clear_and_disable() {
    let l = Lockout::new(cfg(1));
    let (a, b) = (ip("10.0.0.2"), ip("10.0.0.1"));
    let _ = l.record_failure(a, 5);
    let _ = l.record_failure(b, 5);
    let listed: Vec<IpNet> = l.list(5).into_iter().map(|x| x.net).collect();
    assert_eq!(listed, vec![IpNet::from(b), IpNet::from(a)]);
    assert_eq!(l.clear(Some(&[a, ip("10.9.9.9")]), 5), vec![IpNet::from(a)]);
    assert_eq!(l.locked_until(a, 5), None);
    assert_eq!(l.clear(None, 5), vec![IpNet::from(b)]);
    assert!(l.list(5).is_empty());
    l.set_config(cfg(0));
    for t in 0..100 {
        assert_eq!(l.record_failure(a, t), Recorded::Counted);
    }
    assert_eq!(l.locked_until(a, 100), None);
}

/// One failure from each of `n` networks (a /64 each: addresses
/// inside one /64 are one caller).
fn flood(l: &Lockout, n: u32, now: i64) {
    for i in 0..n {
        let addr = IpAddr::from(std::net::Ipv6Addr::from((u128::from(i) + 1) << 64));
        let _ = l.record_failure(addr, now);
    }
}

#[test]
fn ipv6_counts_per_prefix_and_ipv4_per_address() {
    let l = Lockout::new(cfg(3));
    for i in 0..3 {
        let _ = l.record_failure(ip(&format!("2001:db8::{}", 100 + i)), 0);
        let _ = l.record_failure(ip(&format!("192.0.2.{i}")), 0);
    }
    assert_eq!(l.locked_until(ip("2001:db8::ffff:1"), 1), Some(100));
    assert_eq!(l.locked_until(ip("2001:db8:0:1::1"), 1), None);
    assert_eq!(l.locked_until(ip("192.0.2.9"), 1), None);
    let listed: Vec<String> = l.list(1).iter().map(|x| x.net.to_string()).collect();
    assert_eq!(listed, vec!["2001:db8::/64"]);
    // Per address again with a /128 prefix.
    let exact = Lockout::new(LockoutConfig {
        ipv6_prefix: 128,
        ..cfg(3)
    });
    for i in 0..3 {
        let _ = exact.record_failure(ip(&format!("2001:db8::{}", 100 + i)), 0);
    }
    assert_eq!(exact.locked_until(ip("2001:db8::100"), 1), None);
}

#[test]
fn a_full_table_counts_nothing_new_and_says_so_once_a_minute() {
    let l = Lockout::new(LockoutConfig {
        max_tracked: 10,
        ..cfg(1)
    });
    flood(&l, 10, 0);
    let newcomer = ip("203.0.113.1");
    assert_eq!(
        l.record_failure(newcomer, 1),
        Recorded::NotTracked {
            audit: true,
            tracked: 10
        }
    );
    assert_eq!(
        l.record_failure(newcomer, 30),
        Recorded::NotTracked {
            audit: false,
            tracked: 10
        }
    );
    assert!(matches!(
        l.record_failure(newcomer, 61),
        Recorded::NotTracked { audit: true, .. }
    ));
    assert_eq!(l.locked_until(newcomer, 61), None);
    // Once the locks end there is room again.
    assert!(matches!(
        l.record_failure(newcomer, 100),
        Recorded::LockedNow { .. }
    ));
    // Clearing makes room at once.
    let l2 = Lockout::new(LockoutConfig {
        max_tracked: 10,
        ..cfg(1)
    });
    flood(&l2, 10, 0);
    let _ = l2.clear(
        Some(&[IpAddr::from(std::net::Ipv6Addr::from(1u128 << 64))]),
        1,
    );
    assert!(matches!(
        l2.record_failure(newcomer, 1),
        Recorded::LockedNow { .. }
    ));
}

#[test]
fn a_flood_of_single_failures_is_bounded_and_keeps_lockouts() {
    let l = Lockout::new(cfg(3));
    let victim = ip("192.0.2.99");
    for t in 0..3 {
        let _ = l.record_failure(victim, t);
    }
    flood(&l, MAX_TRACKED as u32 + 5000, 10);
    assert!(l.tracked() <= MAX_TRACKED);
    assert_eq!(l.locked_until(victim, 10), Some(102));
}

/// The review's flood at the real table size: every flooding prefix
/// (a /64 of its own) gets locked, and the table fills with locks.
#[test]
fn a_flood_of_locked_prefixes_never_evicts_a_live_lock() {
    let l = Lockout::new(cfg(1));
    let victim = ip("198.51.100.7");
    assert!(matches!(
        l.record_failure(victim, 0),
        Recorded::LockedNow { until: 100, .. }
    ));
    flood(&l, MAX_TRACKED as u32 + 5000, 10);
    assert!(l.tracked() <= MAX_TRACKED);
    assert_eq!(
        l.locked_until(victim, 10),
        Some(100),
        "the lock was evicted"
    );
}

#[test]
fn a_flood_of_lockouts_is_bounded_too() {
    let l = Lockout::new(cfg(1));
    flood(&l, MAX_TRACKED as u32 + 5000, 10);
    assert!(l.tracked() <= MAX_TRACKED);
}
