//! The shipped systemd units, checked with `systemd-analyze` (which works
//! offline, without systemd running).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's `systemd/` folder.
pub fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd")
}

/// `systemd-analyze security --offline`: the unit's overall exposure is at
/// most 1.5.
pub fn assert_exposure_at_most_1_5(unit: &str) {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=15"])
        .arg(units_dir().join(unit))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exposure above 1.5:\n{text}");
    let prefix = format!("Overall exposure level for {unit}: ");
    let level: f64 = text
        .lines()
        .find_map(|l| l.split(prefix.as_str()).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(level <= 1.5, "{unit}: {level}");
}

/// `systemd-analyze verify` of `unit` with its `ExecStart` binary
/// (`shipped`) pointed at `binary` (verify needs it to exist), beside the
/// socket units; `also` are the units named on the command line besides
/// `unit`. It must pass without a word on stderr.
pub fn assert_verifies(unit: &str, shipped: &str, binary: &str, also: &[&str]) {
    let root = units_dir();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root.join(unit)).unwrap();
    std::fs::write(dir.path().join(unit), text.replace(shipped, binary)).unwrap();
    for s in ["apitokend.socket", "apitokend-verify.socket"] {
        std::fs::copy(root.join(s), dir.path().join(s)).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path().join(unit))
        .args(also.iter().map(|u| dir.path().join(u)))
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
