//! The authorization matrix: every role × command × target owner, with real
//! uids over real sockets. The expected table is data below; every cell is
//! driven through the real `apitoken` CLI running as that role's uid.
// check() panics on a bad table letter outside a #[test] fn, which
// clippy.toml's allow-panic-in-tests does not cover.
#![allow(clippy::panic)]

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use common::verify::verify_cli_args;
use common::{Daemon, TestUser, create, ensure_group, reply_of, run_with_stdin, test_user, token};
use serde_json::{Value, json};

/// The control-socket columns: token commands against each target owner
/// ("self" sends no `user`), then root-only commands.
const TARGETS: [&str; 4] = ["self", "root", "resa", "resb"];
const TOKEN_COMMANDS: [&str; 6] = [
    "api_token_create",
    "api_token_list",
    "api_token_update",
    "api_token_revoke",
    "api_token_revoke_all",
    "api_token_get_details",
];
const ROOT_ONLY: [&str; 6] = [
    "account_rename",
    "account_remove",
    "lockout_list",
    "lockout_clear",
    "import_cpanel_tokens",
    "import_accesshash",
];

/// One row per role: for each token command, one letter per target
/// (self, root, resa, resb), then one letter per root-only command.
/// `A` = allowed (the request succeeds), `D` = refused with not_authorized.
const MATRIX: &[(&str, &str)] = &[
    //             create list update revoke all  details | root-only
    ("root", /*  */ "AAAA AAAA AAAA AAAA AAAA AAAA   AAAAAA"),
    ("resa", /*  */ "ADAD ADAD ADAD ADAD ADAD ADAD   DDDDDD"),
    ("resb", /*  */ "ADDA ADDA ADDA ADDA ADDA ADDA   DDDDDD"),
    (
        "nomanage",
        /**/ "DDDD DDDD DDDD DDDD DDDD DDDD   DDDDDD",
    ),
    ("plain", /* */ "DDDD DDDD DDDD DDDD DDDD DDDD   DDDDDD"),
    (
        "vmember",
        /**/ "DDDD DDDD DDDD DDDD DDDD DDDD   DDDDDD",
    ),
];

/// The verify socket (mode 0660, group `apitokvgrp`): `A` = the verify is
/// answered, `X` = the connection itself is refused by file permissions.
const VERIFY_MATRIX: &[(&str, char)] = &[
    ("root", 'A'),
    ("resa", 'X'),
    ("resb", 'X'),
    ("nomanage", 'X'),
    ("plain", 'X'),
    ("vmember", 'A'),
    ("vnonmember", 'X'),
];

const VERIFY_GROUP: &str = "apitokvgrp";

/// A role: `None` is root; otherwise a uid and the gid to run with.
struct Role {
    user: Option<TestUser>,
    gid: u32,
}

impl Role {
    fn command(&self, d: &Daemon) -> Command {
        let mut c = d.cli();
        c.arg("--verify-socket").arg(&d.verify_socket);
        if let Some(u) = &self.user {
            c.uid(u.uid).gid(self.gid);
        }
        c
    }
}

fn roles() -> Vec<(&'static str, Role)> {
    let vgid = ensure_group(VERIFY_GROUP);
    let user = |name: &str| {
        let u = test_user(name);
        let gid = u.gid;
        Role { user: Some(u), gid }
    };
    let vmember = test_user("apitokvmem");
    vec![
        ("root", Role { user: None, gid: 0 }),
        ("resa", user("apitokresa")),
        ("resb", user("apitokresb")),
        ("nomanage", user("apitoknoman")),
        ("plain", user("apitokplain")),
        (
            "vmember",
            Role {
                user: Some(vmember),
                gid: vgid,
            },
        ),
        ("vnonmember", user("apitokvnon")),
    ]
}

fn owner_name<'a>(target: &str, role: &str, names: &'a [(&str, String)]) -> &'a str {
    let key = if target == "self" { role } else { target };
    names
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("root", |(_, v)| v.as_str())
}

/// Creates a fixture token as root; `None` when the owner is not a WHM
/// user (a refused cell never reaches it anyway).
fn fixture(d: &Daemon, owner: &str, name: String) -> Option<String> {
    let r = d.call(
        apitokend_proto::Request::new("api_token_create")
            .arg("token_name", name)
            .user(Some(owner.to_owned())),
    );
    r.data.and_then(|v| v["token"].as_str().map(str::to_owned))
}

/// Runs one cell; returns the reply.
fn run_cell(d: &Daemon, role: &Role, command: &str, target: &str, owner: &str, n: usize) -> Value {
    let mut c = role.command(d);
    c.args(["--json", "call", command]);
    if target != "self" {
        c.args(["--user", owner]);
    }
    let mut stdin = String::new();
    match command {
        "api_token_create" => {
            c.arg(format!("token_name=c{n}"));
        }
        "api_token_update" => {
            fixture(d, owner, format!("u{n}"));
            c.args([format!("token_name=u{n}"), "expires_at=0".to_owned()]);
        }
        "api_token_revoke" => {
            fixture(d, owner, format!("r{n}"));
            c.arg(format!("token_name=r{n}"));
        }
        "api_token_get_details" => {
            let t = fixture(d, owner, format!("g{n}"));
            stdin = format!(
                "{}\n",
                t.as_deref().unwrap_or("NOTOKENNOTOKENNOTOKENNOTOKEN0000")
            );
            c.args(["--stdin-arg", "token"]);
        }
        "account_rename" => {
            c.args([format!("user=zzold{n}"), format!("new_user=zznew{n}")]);
        }
        "account_remove" => {
            c.arg(format!("user=zzgone{n}"));
        }
        "lockout_clear" => {
            c.arg("all=1");
        }
        "import_cpanel_tokens" => {
            c.args(["user=root", "dry_run=1"]);
        }
        "import_accesshash" => {
            let digest = format!("{n:0128x}");
            c.args(["user=root".to_owned(), format!("digest={digest}")]);
        }
        _ => {}
    }
    reply_of(&run_with_stdin(&mut c, &stdin), command)
}

#[test]
fn every_cell_of_the_authorization_matrix() {
    let roles = roles();
    let names: Vec<(&str, String)> = roles
        .iter()
        .map(|(k, r)| {
            (
                *k,
                r.user
                    .as_ref()
                    .map_or("root".to_owned(), |u| u.name.clone()),
            )
        })
        .collect();
    let resellers = format!(
        "{}:list-accts,create-acct,manage-api-tokens\n{}:all\n{}:list-accts\n",
        owner_name("resa", "", &names),
        owner_name("resb", "", &names),
        owner_name("nomanage", "", &names),
    );
    let d = Daemon::builder()
        .resellers(&resellers)
        .config(&format!("verify_socket_group = \"{VERIFY_GROUP}\"\n"))
        .start();

    let mut checked = 0;
    let mut n = 0;
    for (role_name, expected) in MATRIX {
        let role = &roles.iter().find(|(k, _)| k == role_name).unwrap().1;
        let mut letters = expected.chars().filter(|c| !c.is_whitespace());
        for command in TOKEN_COMMANDS {
            for target in TARGETS {
                let want = letters.next().unwrap();
                n += 1;
                let owner = owner_name(target, role_name, &names);
                let reply = run_cell(&d, role, command, target, owner, n);
                check(role_name, command, target, want, &reply);
                checked += 1;
            }
        }
        for command in ROOT_ONLY {
            let want = letters.next().unwrap();
            n += 1;
            let reply = run_cell(&d, role, command, "self", "root", n);
            check(role_name, command, "-", want, &reply);
            checked += 1;
        }
        assert!(
            letters.next().is_none(),
            "row {role_name} has too many cells"
        );
    }
    assert_eq!(checked, MATRIX.len() * 30);

    // A reseller holding only some privileges cannot grant others.
    let resa = &roles[1].1;
    let mut c = resa.command(&d);
    c.args([
        "--json",
        "call",
        "api_token_create",
        "token_name=esc",
        "acl=passwd",
    ]);
    let reply: Value = reply_of(&c.output().unwrap(), "api_token_create acl=passwd");
    assert_eq!(reply["metadata"]["error"], "invalid_acl");

    // The verify socket: file permissions decide who may even connect.
    let token = token(&create(&d, None, json!({"token_name": "v"})));
    for (role_name, want) in VERIFY_MATRIX {
        let role = &roles.iter().find(|(k, _)| k == role_name).unwrap().1;
        let mut c = role.command(&d);
        c.args(verify_cli_args("root", "10.0.0.1", "listaccts"));
        let out = run_with_stdin(&mut c, &format!("{token}\n"));
        let code = out.status.code();
        match want {
            'A' => assert_eq!(
                code,
                Some(0),
                "{role_name}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            _ => {
                assert_eq!(
                    code,
                    Some(3),
                    "{role_name} must not reach the verify socket"
                );
                assert!(String::from_utf8_lossy(&out.stderr).contains("ermission denied"));
            }
        }
    }
}

fn check(role: &str, command: &str, target: &str, want: char, reply: &Value) {
    let cell = format!("{role} {command} {target}");
    match want {
        'A' => assert_eq!(
            reply["metadata"]["result"], 1,
            "{cell} should be allowed: {reply}"
        ),
        'D' => {
            assert_eq!(
                reply["metadata"]["result"], 0,
                "{cell} should be refused: {reply}"
            );
            assert_eq!(
                reply["metadata"]["error"], "not_authorized",
                "{cell}: {reply}"
            );
        }
        other => panic!("bad table letter {other}"),
    }
}
