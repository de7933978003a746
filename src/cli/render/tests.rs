use super::*;
use crate::cli::args::Cli;
use apitokend_proto::ErrorCode;
use chrono::FixedOffset;
use clap::Parser;
use serde_json::json;

fn show(argv: &[&str], reply: Response) -> Printed {
    let cli = Cli::try_parse_from(std::iter::once("apitoken").chain(argv.iter().copied())).unwrap();
    let term = crate::cli::term::Term {
        color: false,
        width: None,
    };
    human(
        &cli.command,
        &reply,
        &FixedOffset::east_opt(0).unwrap(),
        &term,
    )
}

fn ok(data: Value) -> Response {
    Response::ok("x", Some(data))
}

#[test]
fn create_output() {
    let p = show(
        &["create", "ci"],
        ok(
            json!({"name": "ci", "token": "UWU28DCA23NKY76CN17MDPKM3O7EFQY8",
                      "create_time": 1, "expires_at": 1_900_000_000,
                      "acls": ["list-accts", "ssl"], "whitelist_ips": ["10.0.0.1", "10.0.0.2"],
                      "has_full_access": 0}),
        ),
    );
    assert_eq!(
        p.stdout.as_str(),
        "\
Token \"ci\" created. Copy it now: it is shown only once.
Token:   UWU28DCA23NKY76CN17MDPKM3O7EFQY8
Expires: 2030-03-17 17:46:40
IPs:     10.0.0.1, 10.0.0.2
ACLs:    list-accts, ssl
"
    );
    assert_eq!(p.code, 0);
    let p = show(
        &["create", "ci"],
        ok(
            json!({"name": "ci", "token": "T", "create_time": 1, "expires_at": null,
                      "has_full_access": 1}),
        ),
    );
    assert!(
        p.stdout
            .ends_with("Expires: never\nIPs:     any\nACLs:    all (full access)\n")
    );
}

#[test]
fn warnings_go_to_stderr() {
    let reply = ok(json!({"name": "t", "token": "T", "create_time": 1, "expires_at": null}))
        .with_warnings(vec!["whitelist_ip “1.2.3.4/0” has host bits set".into()]);
    let p = show(&["create", "t"], reply);
    assert_eq!(p.code, EXIT_OK);
    assert_eq!(
        p.stderr,
        "warning: whitelist_ip “1.2.3.4/0” has host bits set\n"
    );
}

#[test]
fn refusals() {
    let p = show(
        &["create", "ci"],
        Response::fail(
            "api_token_create",
            ErrorCode::NameExists,
            "The name exists.",
        ),
    );
    assert_eq!(
        (p.code, p.stderr.as_str()),
        (1, "error: The name exists. (name_exists)\n")
    );
    assert!(p.stdout.is_empty());
    let p = show(
        &[
            "verify",
            "--user",
            "u",
            "--ip",
            "1.2.3.4",
            "--function",
            "f",
        ],
        Response::fail("verify", ErrorCode::AclDenied, "Not allowed."),
    );
    assert_eq!(
        (p.code, p.stderr.as_str()),
        (1, "refused: acl_denied: Not allowed.\n")
    );
}

#[test]
fn details_not_found_and_found() {
    let p = show(&["details"], Response::ok("api_token_get_details", None));
    assert_eq!(p.code, 1);
    assert!(p.stderr.starts_with("No such token"));
    let p = show(
        &["details"],
        ok(json!({"name": "n", "create_time": 0, "acls": ["ssl"]})),
    );
    assert_eq!(p.code, 0);
    assert!(
        p.stdout
            .starts_with("Name:    n\nCreated: 1970-01-01 00:00:00\n")
    );
}

#[test]
fn update_revoke_verify() {
    let p = show(
        &["update", "a", "--new-name", "b"],
        ok(json!({"name": "b", "create_time": 0})),
    );
    assert!(p.stdout.starts_with("Token \"a\" updated.\nName:    b\n"));
    let p = show(
        &["revoke", "a", "b", "c"],
        ok(json!({"revoked": ["a", "b"], "not_found": ["c"]})),
    );
    assert_eq!(p.stdout.as_str(), "Revoked: a, b\n");
    assert_eq!(
        (p.code, p.stderr.as_str()),
        (
            1,
            "apitoken: no API token named “c” (check the name with: apitoken list)\n"
        )
    );
    let p = show(
        &["revoke", "c", "--ignore-not-found"],
        ok(json!({"revoked": [], "not_found": ["c"]})),
    );
    assert_eq!((p.code, p.stdout.as_str(), p.stderr.as_str()), (0, "", ""));
    let p = show(&["revoke", "--all", "--yes"], ok(json!({"revoked": 3})));
    assert_eq!(p.stdout.as_str(), "Revoked 3 token(s).\n");
    let p = show(
        &[
            "verify",
            "--user",
            "bob",
            "--ip",
            "1.2.3.4",
            "--function",
            "listaccts",
        ],
        ok(json!({"user": "bob", "token_name": "ci", "acls": ["list-accts", "ssl"]})),
    );
    assert_eq!(
        p.stdout.as_str(),
        "accepted: token ci of bob, privileges: list-accts, ssl\n"
    );
}

#[test]
fn json_keeps_the_reply_and_result() {
    let cli = Cli::try_parse_from(["apitoken", "--json", "list"]).unwrap();
    let reply = Response::fail("api_token_list", ErrorCode::NotAuthorized, "no");
    let p = json(&cli.command, &reply);
    assert_eq!(p.code, 1);
    let back: Response = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(back, reply);
    let cli = Cli::try_parse_from(["apitoken", "details", "--json"]).unwrap();
    let p = json(&cli.command, &Response::ok("api_token_get_details", None));
    assert_eq!(p.code, 1);
}
