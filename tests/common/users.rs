//! Real system users and groups for the peer-credential tests: requests are
//! sent by processes running under these uids and gids.
//!
//! Every name starts with `apitok` (never `apitokend`, the packages'
//! prefix): the README lists them and `tests/remove-test-users.sh`
//! removes them. They are kept between runs, since runs share them.

use std::process::Command;
use std::time::Duration;

/// A real system user for peer-credential tests.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Looks up, or (as root) creates, a system user with no home and no shell.
pub fn test_user(name: &str) -> TestUser {
    assert!(
        nix::unistd::geteuid().is_root(),
        "peer-credential tests create system users and must run as root (CI does)"
    );
    let lookup = || nix::unistd::User::from_name(name).unwrap();
    if lookup().is_none() {
        // Parallel tests may race on /etc/passwd's lock: retry.
        for _ in 0..50 {
            let out = Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--user-group",
                    "--shell",
                    "/usr/sbin/nologin",
                    name,
                ])
                .output()
                .unwrap();
            if out.status.success() || lookup().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let u = lookup().unwrap_or_else(|| panic!("cannot create test user {name}"));
    TestUser {
        name: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
    }
}

/// Looks up, or (as root) creates, a system group; returns its gid.
pub fn ensure_group(name: &str) -> u32 {
    for _ in 0..50 {
        if let Some(g) = nix::unistd::Group::from_name(name).unwrap() {
            return g.gid.as_raw();
        }
        let _ = Command::new("groupadd").args(["--system", name]).output();
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("cannot create group {name}");
}
