//! Peer-credential authorization with real uids: requests are sent by the
//! real `apitoken` CLI running as other system users.

mod common;

use common::{Daemon, TestUser, create, error_code, reply_of, run_with_stdin, test_user, token};
use serde_json::json;

struct Users {
    res_a: TestUser,
    res_b: TestUser,
    no_manage: TestUser,
    plain: TestUser,
}

fn setup() -> (Daemon, Users) {
    let users = Users {
        res_a: test_user("apitokresa"),
        res_b: test_user("apitokresb"),
        no_manage: test_user("apitoknoman"),
        plain: test_user("apitokplain"),
    };
    let resellers = format!(
        "{}:list-accts,create-acct,manage-api-tokens\n{}:all\n{}:list-accts\n",
        users.res_a.name, users.res_b.name, users.no_manage.name
    );
    let d = Daemon::builder().resellers(&resellers).start();
    (d, users)
}

#[test]
fn reseller_sees_and_touches_only_its_own_tokens() {
    let (d, u) = setup();
    let a = &u.res_a;
    let root_token = create(
        &d,
        None,
        json!({"token_name": "rootonly", "acl": "list-accts"}),
    );

    // Empty list: root's token is invisible.
    let r = d.call_as(a, "api_token_list", &[], None);
    assert!(r.is_ok(), "{r:?}");
    assert!(r.data.unwrap()["tokens"].as_object().unwrap().is_empty());

    // Naming root (or anyone else) is refused.
    for cmd in ["api_token_list", "api_token_revoke_all"] {
        let r = d.call_as(a, cmd, &[], Some("root"));
        assert_eq!(error_code(&r), "not_authorized", "{cmd}");
    }
    let r = d.call_as(
        a,
        "api_token_revoke",
        &[("token_name", "rootonly")],
        Some("root"),
    );
    assert_eq!(error_code(&r), "not_authorized");
    let r = d.call_as(
        a,
        "api_token_create",
        &[("token_name", "sneaky")],
        Some(&u.res_b.name),
    );
    assert_eq!(error_code(&r), "not_authorized");

    // Acting on its own namespace cannot reach root's token either.
    let r = d.call_as(a, "api_token_revoke", &[("token_name", "rootonly")], None);
    assert_eq!(r.data.unwrap()["not_found"], json!(["rootonly"]));
    let r = d.call_as(
        a,
        "api_token_update",
        &[("token_name", "rootonly"), ("new_name", "mine")],
        None,
    );
    assert_eq!(error_code(&r), "not_found");
    let r = d.call_as(a, "api_token_revoke_all", &[], None);
    assert_eq!(r.data.unwrap()["revoked"], 0);
    assert!(
        d.tokens(None).get("rootonly").is_some(),
        "root's token untouched"
    );

    // get_details with root's token, sent by the reseller: not found.
    let mut cmd = d.cli_as(a);
    cmd.args(["--json", "details"]);
    let out = run_with_stdin(&mut cmd, &format!("{}\n", token(&root_token)));
    let reply: serde_json::Value = reply_of(&out, "details");
    assert!(
        reply.get("data").is_none() || reply["data"].is_null(),
        "{reply}"
    );

    // Account events are root's alone.
    let r = d.call_as(a, "account_remove", &[("user", "root")], None);
    assert_eq!(error_code(&r), "not_authorized");
}

#[test]
fn reseller_may_grant_only_what_it_holds() {
    let (d, u) = setup();
    let a = &u.res_a;
    let r = d.call_as(
        a,
        "api_token_create",
        &[
            ("token_name", "t"),
            ("acl", "list-accts"),
            ("acl", "passwd"),
            ("acl", "all"),
        ],
        None,
    );
    assert_eq!(error_code(&r), "invalid_acl");
    assert!(r.metadata.reason.contains("passwd") && r.metadata.reason.contains("all"));
    let r = d.call_as(
        a,
        "api_token_create",
        &[
            ("token_name", "t"),
            ("acl", "list-accts"),
            ("acl", "create-acct"),
        ],
        None,
    );
    assert!(r.is_ok(), "{r:?}");
    let data = r.data.unwrap();
    assert_eq!(data["acls"], json!(["create-acct", "list-accts"]));
    // It is the reseller's token: root sees it under the reseller.
    assert!(d.tokens(Some(&a.name)).get("t").is_some());
    // Its list shows only the privileges it can see.
    let r = d.call_as(a, "api_token_list", &[], None);
    let acls = r.data.unwrap()["tokens"]["t"]["acls"]
        .as_object()
        .unwrap()
        .clone();
    let keys: Vec<&String> = acls.keys().collect();
    assert_eq!(keys, vec!["create-acct", "list-accts", "manage-api-tokens"]);
    // Update cannot escalate either.
    let r = d.call_as(
        a,
        "api_token_update",
        &[("token_name", "t"), ("acl", "kill-acct")],
        None,
    );
    assert_eq!(error_code(&r), "invalid_acl");
    // Another reseller does not see it.
    let r = d.call_as(&u.res_b, "api_token_list", &[], None);
    assert!(r.data.unwrap()["tokens"].as_object().unwrap().is_empty());
}

#[test]
fn non_resellers_and_resellers_without_manage_rights_are_refused() {
    let (d, u) = setup();
    for user in [&u.plain, &u.no_manage] {
        for cmd in ["api_token_list", "api_token_create", "api_token_revoke_all"] {
            let r = d.call_as(user, cmd, &[("token_name", "x")], None);
            assert_eq!(error_code(&r), "not_authorized", "{} {cmd}", user.name);
        }
    }
    // The CLI exits 1 on a refusal.
    let out = d.cli_as(&u.plain).arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn reseller_changes_in_account_files_apply_at_once() {
    let (d, u) = setup();
    let a = &u.res_a;
    assert!(
        d.call_as(a, "api_token_create", &[("token_name", "t")], None)
            .is_ok()
    );
    d.suspend(&a.name, true);
    let r = d.call_as(a, "api_token_list", &[], None);
    assert_eq!(error_code(&r), "suspended");
    d.suspend(&a.name, false);
    assert!(d.call_as(a, "api_token_list", &[], None).is_ok());
    // No longer a reseller: refused.
    d.write_resellers(&format!("{}:all\n", u.res_b.name));
    let r = d.call_as(a, "api_token_list", &[], None);
    assert_eq!(error_code(&r), "not_authorized");
}
