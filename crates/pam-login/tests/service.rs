//! `authenticate` under real libpam: temporary /etc/pam.d services built
//! from stock modules (pam_permit, pam_deny, pam_exec reading the password
//! the conversation handed over). Needs root (it writes /etc/pam.d).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use pam_login::{Outcome, authenticate};

/// A temporary /etc/pam.d service, removed on drop.
struct Service {
    name: String,
    path: PathBuf,
}

impl Service {
    fn new(text: &str) -> Service {
        assert!(
            nix_is_root(),
            "these tests write /etc/pam.d and must run as root (CI does)"
        );
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "apitokend-pamlogin-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = PathBuf::from("/etc/pam.d").join(&name);
        std::fs::write(&path, text).unwrap();
        Service { name, path }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn nix_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

const ACCOUNT_OK: &str = "account required pam_permit.so\n";

#[test]
fn permit_deny_and_a_broken_stack() {
    let permit = Service::new(&format!("auth required pam_permit.so\n{ACCOUNT_OK}"));
    assert_eq!(
        authenticate(&permit.name, "root", b"x", Some("192.0.2.1")),
        Outcome::Accepted
    );
    let deny = Service::new(&format!("auth required pam_deny.so\n{ACCOUNT_OK}"));
    assert!(matches!(
        authenticate(&deny.name, "root", b"x", None),
        Outcome::Refused(_)
    ));
    let account_deny = Service::new("auth required pam_permit.so\naccount required pam_deny.so\n");
    assert!(matches!(
        authenticate(&account_deny.name, "root", b"x", None),
        Outcome::Refused(_)
    ));
    let broken = Service::new(&format!(
        "auth required /nonexistent/pam_nothing.so\n{ACCOUNT_OK}"
    ));
    let got = authenticate(&broken.name, "root", b"x", None);
    assert!(
        matches!(got, Outcome::Unavailable(_) | Outcome::Refused(_)),
        "{got:?}"
    );
    assert_ne!(got, Outcome::Accepted);
}

#[test]
fn the_conversation_hands_over_the_password_and_rhost() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("check.sh");
    // pam_exec expose_authtok writes the password (NUL-terminated) to stdin.
    std::fs::write(
        &script,
        "#!/bin/sh\nIFS= read -r pw\n[ \"$pw\" = 'c0rrect horse' ] && [ \"$PAM_RHOST\" = '203.0.113.9' ]\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let svc = Service::new(&format!(
        // As Debian's common-auth: pam_exec's failure is a system error,
        // so it skips over pam_deny only on success.
        "auth [success=1 default=ignore] pam_exec.so quiet expose_authtok {}\n\
         auth requisite pam_deny.so\nauth required pam_permit.so\n{ACCOUNT_OK}",
        script.display()
    ));
    assert_eq!(
        authenticate(&svc.name, "root", b"c0rrect horse", Some("203.0.113.9")),
        Outcome::Accepted
    );
    let got = authenticate(&svc.name, "root", b"wrong", Some("203.0.113.9"));
    assert!(matches!(got, Outcome::Refused(_)), "{got:?}");
    assert!(matches!(
        authenticate(&svc.name, "root", b"c0rrect horse", Some("198.51.100.1")),
        Outcome::Refused(_)
    ));
}

#[test]
fn values_pam_cannot_carry_are_refused_first() {
    let permit = Service::new(&format!("auth required pam_permit.so\n{ACCOUNT_OK}"));
    for (user, pw) in [
        ("root", &b"a\0b"[..]),
        ("", &b"x"[..]),
        ("ro\0ot", &b"x"[..]),
        ("root", &[b'a'; 513][..]),
    ] {
        assert!(
            matches!(
                authenticate(&permit.name, user, pw, None),
                Outcome::Refused(_)
            ),
            "{user:?}"
        );
    }
    assert!(matches!(
        authenticate("../passwd", "root", b"x", None),
        Outcome::Unavailable(_)
    ));
}
