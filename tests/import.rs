//! Moving in from cPanel, end to end: a generated cPanel token store is
//! imported through the real `apitoken import-cpanel` into a real daemon,
//! and every imported token is checked on the verify socket with its
//! original plaintext: at once, after its Argon2id upgrade and after a
//! restart. Also: re-runs, dry runs, batches, access hashes, and the
//! cPanel account hook fed cPanel's documented input.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::cpanel::{CpanelStore, cpanel_token, sha512_hex};
use common::{Daemon, create, error_code, req, run_with_stdin, test_user};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;
const UPGRADED: &str = "now has its Argon2id verifier";

fn run(cmd: &mut std::process::Command) -> Output {
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `apitoken --json import-cpanel --from DIR ARGS…`: exit code and report.
fn import_json(d: &Daemon, from: &Path, args: &[&str]) -> (i32, Value) {
    let out = run(d
        .cli()
        .args(["--json", "import-cpanel", "--from"])
        .arg(from)
        .args(args));
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not a report ({e}): {} / {}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

/// The report of one user.
fn user<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user"] == name)
        .unwrap_or_else(|| panic!("no report for {name}: {report}"))
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

/// The reason given for the invalid record `name`.
fn reason<'a>(u: &'a Value, name: &str) -> &'a str {
    u["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not reported invalid: {u}"))["reason"]
        .as_str()
        .unwrap()
}

/// Verifiers as the store holds them, by `owner\0name` (mdb_dump reads
/// the live environment read-only).
fn verifiers(d: &Daemon) -> BTreeMap<(String, String), String> {
    // Debian's lmdb-utils cannot open the bundled LMDB's lock file (see
    // crash.rs): dump a copy of the data file. Every write this test waits
    // for has committed (and synced) before it was logged.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(d.state.join("data.mdb"), copy.path().join("data.mdb")).unwrap();
    let out = run(std::process::Command::new("mdb_dump")
        .args(["-p", "-s", "records"])
        .arg(copy.path()));
    assert!(out.status.success(), "mdb_dump: {out:?}");
    stdout(&out)
        .lines()
        .filter_map(|l| l.strip_prefix(' '))
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let rec: Value = serde_json::from_str(&l.replace("\\\\", "\\")).unwrap();
            (
                (
                    rec["owner"].as_str().unwrap().to_owned(),
                    rec["name"].as_str().unwrap().to_owned(),
                ),
                rec["verifier"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn ok_as(d: &Daemon, owner: &str, token: &str, ip: &str, function: &str) -> Value {
    let r = d.verify(owner, token, ip, function);
    assert!(r.is_ok(), "{owner} {function} from {ip}: {:?}", r.metadata);
    r.data.unwrap()
}

fn refused_as(d: &Daemon, owner: &str, token: &str, ip: &str, function: &str) -> String {
    let r = d.verify(owner, token, ip, function);
    error_code(&r).to_owned()
}

/// The tokens of the main scenario and what each must do on the verify
/// socket; checked right after the import, after the upgrade and after a
/// restart.
struct Imported {
    full: String,
    restricted: String,
    expired: String,
    ip_bound: String,
    string_expiry: String,
    twin_first: String,
    reseller: String,
    unused: String,
}

fn check_imported(d: &Daemon, t: &Imported) {
    let any = "203.0.113.5";
    let data = ok_as(d, "root", &t.full, any, "createacct");
    assert_eq!(data["token_name"], "full");
    assert_eq!(data["acls"], json!(["all"]));
    ok_as(d, "root", &t.restricted, any, "listaccts");
    assert_eq!(
        refused_as(d, "root", &t.restricted, any, "createacct"),
        "acl_denied"
    );
    assert_eq!(
        refused_as(d, "root", &t.expired, any, "listaccts"),
        "expired"
    );
    ok_as(d, "root", &t.ip_bound, "192.0.2.77", "listaccts");
    ok_as(d, "root", &t.ip_bound, "::ffff:192.0.2.78", "listaccts");
    assert_eq!(
        refused_as(d, "root", &t.ip_bound, "198.51.100.1", "listaccts"),
        "ip_not_allowed"
    );
    ok_as(d, "root", &t.string_expiry, any, "listaccts");
    assert_eq!(
        ok_as(d, "root", &t.twin_first, any, "listaccts")["token_name"],
        "twin"
    );
    // A reseller token keeps its list, intersected with what res holds now.
    let data = ok_as(d, "res", &t.reseller, any, "listaccts");
    assert_eq!(data["acls"], json!(["list-accts"]));
    assert_eq!(
        refused_as(d, "res", &t.reseller, any, "passwd"),
        "acl_denied"
    );
    // Tokens belong to their owner only; a wrong token is still wrong.
    assert_eq!(
        refused_as(d, "res", &t.full, any, "listaccts"),
        "invalid_token"
    );
    assert_eq!(
        refused_as(d, "root", &cpanel_token(), any, "listaccts"),
        "invalid_token"
    );
}

#[test]
fn a_cpanel_store_imports_and_every_token_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let accounting = dir.path().join("accounting.log");
    let mut d = Daemon::builder()
        .resellers("res:list-accts,create-acct,manage-api-tokens\n")
        .config(&format!("accounting_log = {accounting:?}\n"))
        .start();
    d.set_now(NOW);
    // A token made in apitokend before the move, whose name cPanel also has.
    create(&d, None, json!({"token_name": "clash"}));

    let mut store = CpanelStore::new(&dir.path().join("api_tokens_v2"));
    let t = Imported {
        // `acls` and `whitelist_ips` absent: full access from anywhere.
        full: store.add("root", CpanelStore::record("full", 1_500_000_000)),
        restricted: store.add(
            "root",
            json!({"name": "restricted", "create_time": 1_500_000_001,
                   "acls": ["list-accts", "acct-summary"]}),
        ),
        // cPanel keeps expired tokens: so do we.
        expired: store.add(
            "root",
            json!({"name": "expired", "create_time": 1_500_000_002, "expires_at": NOW - 10}),
        ),
        ip_bound: store.add(
            "root",
            json!({"name": "ip-bound", "create_time": 1_500_000_003,
                   "whitelist_ips": ["192.0.2.0/24", "2001:db8::1"]}),
        ),
        string_expiry: store.add(
            "root",
            json!({"name": "string-expiry", "create_time": "1500000004",
                   "expires_at": (NOW + 1000).to_string()}),
        ),
        twin_first: store.add("root", CpanelStore::record("twin", 1_500_000_005)),
        reseller: store.add(
            "res",
            json!({"name": "deploy", "create_time": 1_500_000_007,
                   "acls": ["list-accts", "passwd"]}),
        ),
        unused: store.add("res", CpanelStore::record("unused", 1_500_000_008)),
    };
    let twin_second = store.add("root", CpanelStore::record("twin", 1_500_000_006));
    let clashing = store.add("root", CpanelStore::record("clash", 1_500_000_009));
    let bad_acl = store.add(
        "root",
        json!({"name": "bad-acl", "create_time": 1, "acls": ["software-foo"]}),
    );
    store.add("root", json!({"name": "bad name", "create_time": 1}));
    store.add(
        "root",
        json!({"name": "bad-ip", "create_time": 1, "whitelist_ips": ["10.0.0.300"]}),
    );
    store.add_raw("root", "not-a-digest", CpanelStore::record("bad-key", 1));
    store.add("carol", CpanelStore::record("orphan", 1));
    store.add("carol", CpanelStore::record("orphan2", 1));
    store.write();
    std::fs::write(store.root.join("whostmgr/notes.txt"), "not a token file").unwrap();

    let (code, report) = import_json(&d, &store.root, &[]);
    assert_eq!(code, 1, "invalid records make the exit status 1: {report}");
    assert_eq!(report["dry_run"], false);
    let root = user(&report, "root");
    assert_eq!(
        names(&root["imported"]),
        [
            "expired",
            "full",
            "ip-bound",
            "restricted",
            "string-expiry",
            "twin"
        ]
    );
    assert!(names(&root["skipped"]).is_empty());
    assert!(reason(root, "clash").contains("already has a different API token named “clash”"));
    assert!(reason(root, "twin").contains("same name"));
    assert!(reason(root, "bad-acl").contains("“software-foo”"));
    assert!(reason(root, "bad-acl").contains("acls_file"));
    assert!(reason(root, "bad name").contains("invalid name"));
    assert!(reason(root, "bad-ip").contains("10.0.0.300"));
    assert!(reason(root, "bad-key").contains("SHA-512"));
    let res = user(&report, "res");
    assert_eq!(names(&res["imported"]), ["deploy", "unused"]);
    let carol = user(&report, "carol");
    assert!(carol["error"].as_str().unwrap().contains("not a WHM user"));
    assert_eq!(carol["invalid"].as_array().unwrap().len(), 2);
    assert!(reason(carol, "orphan").contains("not a WHM user"));
    assert_eq!(report["ignored"], json!(["notes.txt"]));
    assert_eq!(report["totals"]["imported"], 8);
    assert_eq!(report["totals"]["invalid"], 8);
    // No reason quotes a digest.
    let text = report.to_string();
    for token in [&t.full, &twin_second, &clashing, &bad_acl] {
        assert!(!text.contains(&sha512_hex(token)[..32]));
    }

    // Records keep their name, creation time, expiry, privileges, addresses.
    let list = d.call(req("api_token_list"));
    let tokens = &list.data.unwrap()["tokens"];
    assert_eq!(tokens["full"]["create_time"], 1_500_000_000);
    assert_eq!(tokens["full"]["has_full_access"], 1);
    assert_eq!(tokens["expired"]["expires_at"], NOW - 10);
    assert_eq!(tokens["expired"]["expired"], 1);
    assert_eq!(tokens["string-expiry"]["create_time"], 1_500_000_004);
    assert_eq!(tokens["string-expiry"]["expires_at"], NOW + 1000);
    assert_eq!(tokens["restricted"]["acls"]["list-accts"], 1);
    assert_eq!(tokens["restricted"]["acls"]["create-acct"], 0);
    assert_eq!(
        tokens["ip-bound"]["whitelist_ips"],
        json!(["192.0.2.0/24", "2001:0db8:0000:0000:0000:0000:0000:0001"])
    );
    assert_eq!(tokens["twin"]["create_time"], 1_500_000_005);
    // The natively made token was not touched.
    assert!(tokens["clash"]["create_time"].as_i64().unwrap() >= NOW);

    // At rest: every imported token starts on the interim verifier.
    let before = verifiers(&d);
    for name in ["full", "restricted", "expired", "twin"] {
        assert!(
            before[&("root".into(), name.into())].starts_with("$apitokend-import-hmac-sha256$"),
            "{name}"
        );
    }
    assert!(before[&("root".into(), "clash".into())].starts_with("$argon2id$"));

    // The same plaintexts work at once; each first use queues the upgrade.
    check_imported(&d, &t);
    d.wait_for_stderr(UPGRADED, 7);
    let after = verifiers(&d);
    for name in [
        "full",
        "restricted",
        "expired",
        "ip-bound",
        "string-expiry",
        "twin",
    ] {
        assert!(
            after[&("root".into(), name.into())].starts_with("$argon2id$v=19$"),
            "{name} not upgraded"
        );
    }
    assert!(after[&("res".into(), "deploy".into())].starts_with("$argon2id$"));
    assert!(
        after[&("res".into(), "unused".into())].starts_with("$apitokend-import-hmac-sha256$"),
        "a token nobody used keeps its interim verifier"
    );
    // Still working from the cache after the upgrade, and from the store
    // (Argon2id now) after a restart.
    check_imported(&d, &t);
    d.restart();
    d.set_now(NOW);
    check_imported(&d, &t);
    ok_as(&d, "res", &t.unused, "203.0.113.5", "listaccts");
    d.wait_for_stderr(UPGRADED, 8);
    // The expiry given as a string is a real expiry.
    d.set_now(NOW + 1000);
    assert_eq!(
        refused_as(&d, "root", &t.string_expiry, "203.0.113.5", "listaccts"),
        "expired"
    );
    // get_details finds an imported token by its plaintext too.
    let r = d.call(
        req("api_token_get_details")
            .arg("token", t.full.as_str())
            .user(Some("root".into())),
    );
    assert_eq!(r.data.unwrap()["name"], "full");

    // One audit line and one CREATEAPITOKEN line per imported token.
    let log = d.stop_and_read_log();
    let accounted = std::fs::read_to_string(&accounting).unwrap();
    for (owner, name) in [
        ("root", "full"),
        ("root", "restricted"),
        ("root", "expired"),
        ("root", "ip-bound"),
        ("root", "string-expiry"),
        ("root", "twin"),
        ("res", "deploy"),
        ("res", "unused"),
    ] {
        let tail = format!(" user={owner} token_name={name} reason=\"token imported\"");
        assert_eq!(
            log.lines()
                .filter(
                    |l| l.contains("command=import_cpanel_tokens result=ok peer_uid=0 ")
                        && l.ends_with(&tail)
                )
                .count(),
            1,
            "no audit line for {owner}:{name}"
        );
        assert_eq!(
            accounted
                .lines()
                .filter(|l| l.ends_with(&format!(
                    ":CREATEAPITOKEN:root:{owner}:not-applicable:{name}"
                )))
                .count(),
            1,
            "{owner}:{name} in {accounted}"
        );
    }
    assert_eq!(accounted.lines().count(), 9, "{accounted}\n{log}"); // 8 + clash's create
    assert!(log.contains("command=import_cpanel_tokens result=refused error=unknown_user"));
    for token in [&t.full, &t.reseller, &twin_second] {
        assert!(!log.contains(token.as_str()));
        assert!(!log.contains(&sha512_hex(token)[..32]));
    }
}

#[test]
fn re_runs_skip_what_is_there_and_dry_runs_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let accounting = dir.path().join("accounting.log");
    let mut d = Daemon::builder()
        .config(&format!("accounting_log = {accounting:?}\n"))
        .start();
    let mut store = CpanelStore::new(&dir.path().join("store"));
    let tokens: Vec<String> = (0..3)
        .map(|i| {
            store.add(
                "root",
                CpanelStore::record(&format!("t{i}"), 1_600_000_000 + i),
            )
        })
        .collect();
    store.write();

    let (code, dry) = import_json(&d, &store.root, &["--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(names(&user(&dry, "root")["imported"]), ["t0", "t1", "t2"]);
    let listed = d.call(req("api_token_list")).data.unwrap();
    assert_eq!(listed["tokens"], json!({}), "a dry run wrote tokens");
    assert_eq!(
        error_code(&d.verify("root", &tokens[0], "127.0.0.1", "listaccts")),
        "invalid_token"
    );
    // The human form says it is a dry run.
    let out = run(d
        .cli()
        .args(["import-cpanel", "--dry-run", "--from"])
        .arg(&store.root));
    assert!(stdout(&out).contains("Dry run: nothing was written"));
    assert!(stdout(&out).contains("Total: 3 imported"));

    let (code, first) = import_json(&d, &store.root, &[]);
    assert_eq!(code, 0);
    assert_eq!(first["totals"]["imported"], 3);
    // Renamed in apitokend since: still the same token, still skipped.
    let r = d.call(
        req("api_token_update")
            .arg("token_name", "t1")
            .arg("new_name", "renamed"),
    );
    assert!(r.is_ok(), "{:?}", r.metadata);
    let (code, again) = import_json(&d, &store.root, &[]);
    assert_eq!(code, 0, "{again}");
    let root = user(&again, "root");
    assert!(names(&root["imported"]).is_empty());
    assert_eq!(names(&root["skipped"]), ["t0", "t1", "t2"]);
    assert_eq!(again["totals"]["skipped"], 3);
    // --user limits the import; a named user without a file is reported.
    let (code, only) = import_json(&d, &store.root, &["--user", "nobody"]);
    assert_eq!(code, 1);
    assert!(
        user(&only, "nobody")["error"]
            .as_str()
            .unwrap()
            .contains("no token file")
    );
    assert!(only["users"].as_array().unwrap().len() == 1);

    let log = d.stop_and_read_log();
    assert_eq!(log.matches("reason=\"token imported\"").count(), 3);
    let accounted = std::fs::read_to_string(&accounting).unwrap();
    assert_eq!(
        accounted.matches(":CREATEAPITOKEN:").count(),
        3,
        "{accounted}"
    );
}

#[test]
fn big_files_go_in_batches_under_max_request_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::builder()
        .config("[limits]\nmax_request_bytes = 4096\n")
        .start();
    let mut store = CpanelStore::new(&dir.path().join("store"));
    let tokens: Vec<String> = (0..300)
        .map(|i| {
            store.add(
                "root",
                json!({"name": format!("bulk-{i:03}"), "create_time": 1_600_000_000 + i,
                       "acls": ["list-accts"], "whitelist_ips": ["10.0.0.0/8"]}),
            )
        })
        .collect();
    // One record alone is longer than the daemon takes in a line.
    let ips: Vec<String> = (0..100)
        .map(|i| format!("2001:0db8:0000:0000:0000:0000:0000:{i:04x}"))
        .collect();
    store.add(
        "root",
        json!({"name": "huge", "create_time": 1, "whitelist_ips": ips}),
    );
    store.write();
    assert!(std::fs::metadata(store.file("root")).unwrap().len() > 60_000);
    let (code, report) = import_json(&d, &store.root, &[]);
    assert_eq!(code, 1);
    let root = user(&report, "root");
    assert_eq!(root["imported"].as_array().unwrap().len(), 300);
    assert!(reason(root, "huge").contains("max_request_bytes"));
    for i in [0, 149, 299] {
        ok_as(&d, "root", &tokens[i], "10.1.2.3", "listaccts");
    }
}

/// An access hash as cPanel writes `.accesshash`: lines of lowercase
/// letters and digits.
fn access_hash() -> String {
    let raw = format!("{}{}{}", cpanel_token(), cpanel_token(), cpanel_token()).to_lowercase();
    raw.as_bytes()
        .chunks(30)
        .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
        .collect()
}

#[test]
fn access_hashes_become_full_access_tokens() {
    let u = test_user("apitokacch");
    let d = Daemon::builder()
        .resellers(&format!("{}:list-accts,manage-api-tokens\n", u.name))
        .start();
    d.set_now(NOW);
    // The user's home from the passwd database.
    let home = nix::unistd::User::from_name(&u.name).unwrap().unwrap().dir;
    let made_home = !home.exists();
    std::fs::create_dir_all(&home).unwrap();
    let file = home.join(".accesshash");
    let hash = access_hash();
    std::fs::write(&file, &hash).unwrap();
    std::os::unix::fs::chown(&file, Some(u.uid), Some(u.gid)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let plain: String = hash.split_whitespace().collect();
    assert!(plain.len() > 32, "an access hash is longer than a token");

    let out = run(d.cli().args(["import-accesshash", "--user", &u.name]));
    assert!(out.status.success(), "{out:?}");
    let name = format!("accesshash-{NOW}");
    assert!(
        stdout(&out).contains(&format!("\"{name}\"")),
        "{}",
        stdout(&out)
    );
    let data = ok_as(&d, &u.name, &plain, "198.51.100.20", "listaccts");
    assert_eq!(data["token_name"], name.as_str());
    assert_eq!(data["acls"], json!(["list-accts", "manage-api-tokens"]));
    // Whitespace is part of the file, not of the credential.
    assert_eq!(
        refused_as(&d, &u.name, &hash, "198.51.100.20", "listaccts"),
        "invalid_token"
    );
    let rec = &verifiers(&d)[&(u.name.clone(), name.clone())];
    assert!(
        rec.starts_with("$argon2id$"),
        "an access hash gets Argon2id at once"
    );

    // Again: nothing to do. A new hash at the same second: a suffix.
    let out = run(d
        .cli()
        .args(["--json", "import-accesshash", "--user", &u.name]));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["data"]["imported"], 0);
    assert_eq!(reply["data"]["name"], name.as_str());
    let second = access_hash();
    std::fs::write(&file, &second).unwrap();
    let out = run(d
        .cli()
        .args(["--json", "import-accesshash", "--user", &u.name]));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    let suffixed = reply["data"]["name"].as_str().unwrap().to_owned();
    assert!(
        suffixed.starts_with(&format!("{name}-")) && suffixed.len() == name.len() + 5,
        "{suffixed}"
    );
    let second_plain: String = second.split_whitespace().collect();
    ok_as(&d, &u.name, &second_plain, "198.51.100.20", "listaccts");

    // --file for root; a user's .accesshash that is a symlink is refused.
    let root_file = tempfile::NamedTempFile::new().unwrap();
    let root_hash = access_hash();
    std::fs::write(root_file.path(), &root_hash).unwrap();
    let out = run(d
        .cli()
        .args(["import-accesshash", "--user", "root", "--file"])
        .arg(root_file.path()));
    assert!(out.status.success(), "{out:?}");
    let root_plain: String = root_hash.split_whitespace().collect();
    ok_as(&d, "root", &root_plain, "127.0.0.1", "createacct");
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(root_file.path(), &file).unwrap();
    let out = run(d.cli().args(["import-accesshash", "--user", &u.name]));
    assert_eq!(out.status.code(), Some(1));
    // An unknown WHM user is refused by the daemon.
    let out = run(d
        .cli()
        .args(["import-accesshash", "--user", "nosuchwhm", "--file"])
        .arg(root_file.path()));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a WHM user"));

    std::fs::remove_file(&file).unwrap();
    if made_home {
        std::fs::remove_dir_all(&home).unwrap();
    }
}

/// cPanel's standardized-hook input for a Whostmgr Accounts event.
fn hook_input(event: &str, data: Value) -> String {
    json!({
        "context": {"category": "Whostmgr", "event": event, "stage": "post", "point": "main"},
        "data": data,
        "hook": {"exectype": "script", "hook": "/usr/libexec/apitokend/cpanel-account-hook",
                 "stage": "post", "escalateprivs": 0, "weight": 100, "id": "x"},
    })
    .to_string()
}

fn hook(d: &Daemon, input: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = d.cli();
    c.arg("cpanel-hook").envs(env.iter().copied());
    let out = run_with_stdin(&mut c, input);
    (
        out.status.code().unwrap(),
        stdout(&out),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_account_hook_moves_and_revokes_tokens() {
    let d = Daemon::builder()
        .resellers("hold:all\nhnew:all\nhother:all\n")
        .start();
    let a = create(&d, Some("hold"), json!({"token_name": "a"}));
    create(&d, Some("hold"), json!({"token_name": "b"}));
    let token = a["token"].as_str().unwrap();

    // A modify that is not a rename changes nothing.
    let (code, out, _) = hook(
        &d,
        &hook_input("Accounts::Modify", json!({"user": "hold", "BWLIMIT": 100})),
        &[],
    );
    assert_eq!(
        (code, out.starts_with("1 apitokend: nothing to do")),
        (0, true),
        "{out}"
    );
    // A rename moves the tokens; they verify under the new name.
    let (code, out, _) = hook(
        &d,
        &hook_input(
            "Accounts::Modify",
            json!({"user": "hold", "newuser": "hnew", "domain": "example.com"}),
        ),
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "1 apitokend: moved 2 API token(s) from “hold” to “hnew”\n"
    );
    ok_as(&d, "hnew", token, "127.0.0.1", "listaccts");
    assert_eq!(
        refused_as(&d, "hold", token, "127.0.0.1", "listaccts"),
        "invalid_token"
    );

    // A rename onto names the target already has: refused, nothing moved.
    create(&d, Some("hother"), json!({"token_name": "a"}));
    let (code, out, err) = hook(
        &d,
        &hook_input(
            "Accounts::Modify",
            json!({"user": "hnew", "newuser": "hother"}),
        ),
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        out.starts_with("0 apitokend: the API tokens of “hnew” were not moved to “hother”"),
        "{out}"
    );
    assert!(
        out.contains("apitoken call account_rename user=hnew new_user=hother"),
        "{out}"
    );
    assert!(err.contains("were not moved"), "{err}");
    ok_as(&d, "hnew", token, "127.0.0.1", "listaccts");

    // Removal revokes them.
    let (code, out, _) = hook(
        &d,
        &hook_input("Accounts::Remove", json!({"user": "hnew", "killdns": 1})),
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(out, "1 apitokend: revoked 2 API token(s) of “hnew”\n");
    assert_eq!(
        refused_as(&d, "hnew", token, "127.0.0.1", "listaccts"),
        "invalid_token"
    );

    // Wrong registrations and bad input are failures, not silence.
    for input in [
        hook_input("Accounts::Create", json!({"user": "x"})),
        hook_input("Accounts::Remove", json!({})),
        "not json".to_owned(),
    ] {
        let (code, out, err) = hook(&d, &input, &[]);
        assert_eq!(code, 1, "{input}");
        assert!(out.starts_with("0 apitokend: "), "{out}");
        assert!(!err.is_empty());
    }
}

#[test]
fn a_hook_that_cannot_reach_the_daemon_says_so_everywhere() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("log.sock");
    let syslog = std::os::unix::net::UnixDatagram::bind(&log_path).unwrap();
    syslog
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut c = std::process::Command::new(common::CLI);
    c.arg("--socket")
        .arg(dir.path().join("absent.sock"))
        .arg("cpanel-hook")
        .env("APITOKEN_SYSLOG_SOCKET", &log_path);
    let out = run_with_stdin(
        &mut c,
        &hook_input("Accounts::Remove", json!({"user": "gone"})),
    );
    drop(d);
    assert_eq!(out.status.code(), Some(1));
    let reply = stdout(&out);
    assert!(
        reply.starts_with("0 apitokend: the API tokens of “gone” were not revoked: apitokend at "),
        "{reply}"
    );
    assert!(
        reply.contains("apitoken call account_remove user=gone"),
        "{reply}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("were not revoked"));
    let mut buf = vec![0u8; 4096];
    let n = syslog.recv(&mut buf).unwrap();
    let line = String::from_utf8_lossy(&buf[..n]);
    // <83>: LOG_AUTHPRIV (10 << 3) | LOG_ERR (3).
    assert!(line.starts_with("<83>"), "{line}");
    assert!(
        line.contains("cPanel account hook failed") && line.contains("“gone”"),
        "{line}"
    );
}

/// A stand-in for cPanel's manage_hooks: logs its arguments, keeps a
/// registry (one `event hook` line per registration) and lists it.
fn fake_manage_hooks(dir: &Path) -> std::path::PathBuf {
    let script = dir.join("manage_hooks");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
reg={reg}
echo "$*" >> {log}
case "$1" in
  add) echo "$8 $3" >> "$reg" ;;
  delete) grep -qxF "$8 $3" "$reg" 2>/dev/null || {{ echo "no such hook" >&2; exit 1; }}
          grep -vxF "$8 $3" "$reg" > "$reg.new"; mv "$reg.new" "$reg" ;;
  list) cat "$reg" 2>/dev/null || true ;;
  *) exit 2 ;;
esac
"#,
            reg = dir.join("registry").display(),
            log = dir.join("calls").display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn cpanel_hooks_register_through_manage_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let hook_program = dir.path().join("cpanel-account-hook");
    std::fs::write(&hook_program, "#!/bin/sh\n").unwrap();
    let hooks = |args: &[&str], tool: &Path| {
        let out = run(std::process::Command::new(common::CLI)
            .arg("cpanel-hooks")
            .args(args)
            .arg("--hook")
            .arg(&hook_program)
            .env("APITOKEN_MANAGE_HOOKS", tool));
        (
            out.status.code().unwrap(),
            stdout(&out),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Not a cPanel server: said clearly, nothing done.
    let (code, _, err) = hooks(&["install"], &dir.path().join("no-manage-hooks"));
    assert_eq!(code, 1);
    assert!(
        err.contains("is not at") && err.contains("nothing was registered"),
        "{err}"
    );

    let tool = fake_manage_hooks(dir.path());
    let (code, out, _) = hooks(&["status"], &tool);
    assert_eq!(code, 1);
    assert!(out.starts_with("not registered"), "{out}");
    let (code, out, err) = hooks(&["install"], &tool);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Accounts::Remove") && out.contains("Accounts::Modify"));
    let hp = hook_program.display().to_string();
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    for event in ["Accounts::Remove", "Accounts::Modify"] {
        let add =
            format!("add script {hp} --manual --category Whostmgr --event {event} --stage post");
        assert!(calls.lines().any(|l| l == add), "{calls}");
    }
    let (code, out, _) = hooks(&["status"], &tool);
    assert_eq!(code, 0);
    assert!(out.starts_with("registered"), "{out}");
    // Installing twice registers once.
    let (code, _, _) = hooks(&["install"], &tool);
    assert_eq!(code, 0);
    let registry = std::fs::read_to_string(dir.path().join("registry")).unwrap();
    assert_eq!(registry.lines().count(), 2, "{registry}");
    let (code, out, _) = hooks(&["uninstall"], &tool);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = hooks(&["status"], &tool);
    assert_eq!(
        (code, out.starts_with("not registered")),
        (1, true),
        "{out}"
    );
    // A hook program that does not exist is not registered.
    let out = run(std::process::Command::new(common::CLI)
        .args(["cpanel-hooks", "install", "--hook", "/nonexistent/hook"])
        .env("APITOKEN_MANAGE_HOOKS", &tool));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
