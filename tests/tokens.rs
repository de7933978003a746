//! The WHM api_token_* contract, driven over the real control socket as root.

mod common;

use common::{Daemon, assert_error, create, error_code, is_token, req, token_names, with_args};
use serde_json::{Value, json};

#[test]
fn create_returns_token_once_and_normalised_record() {
    let mut d = Daemon::start();
    let data = create(
        &d,
        None,
        json!({
            "token_name": "deploy",
            "acl-2": "list-accts", "acl-1": "create-acct", "acl": "list-accts",
            "whitelist_ip": ["fc00:abcd::f", "10.0.0.2", "10.0.0.1/32", "192.168.7.9/16", "10.0.0.2"],
        }),
    );
    let token = data["token"].as_str().unwrap();
    assert!(is_token(token), "{token}");
    assert_eq!(data["name"], "deploy");
    assert_eq!(data["acls"], json!(["create-acct", "list-accts"]));
    assert_eq!(
        data["whitelist_ips"],
        json!([
            "10.0.0.1",
            "10.0.0.2",
            "192.168.0.0/16",
            "fc00:abcd:0000:0000:0000:0000:0000:000f"
        ])
    );
    assert_eq!(data["expires_at"], Value::Null);
    assert_eq!(data["has_full_access"], 0);
    assert!(data["create_time"].as_i64().unwrap() > 1_600_000_000);

    // The token is never shown again, and never stored in the clear.
    let list = d.call(req("api_token_list"));
    assert!(!serde_json::to_string(&list).unwrap().contains(token));
    let store_bytes = std::fs::read(d.state.join("data.mdb")).unwrap();
    assert!(
        !store_bytes
            .windows(token.len())
            .any(|w| w == token.as_bytes())
    );
    assert!(!d.stop_and_read_log().contains(token));
}

#[test]
fn full_access_forms_and_absent_fields() {
    let d = Daemon::start();
    let a = create(&d, None, json!({"token_name": "a"}));
    assert_eq!(a["has_full_access"], 1);
    assert!(a.get("acls").is_none() && a.get("whitelist_ips").is_none());
    let b = create(
        &d,
        None,
        json!({"token_name": "b", "acl": "all", "whitelist_ip": ["1.2.3.4", "any"]}),
    );
    assert_eq!(b["has_full_access"], 1);
    assert!(b.get("whitelist_ips").is_none(), "any clears the list");
    assert_ne!(a["token"], b["token"]);
}

#[test]
fn names_are_checked_and_unique_per_owner() {
    let d = Daemon::builder().resellers("res:all\n").start();
    for bad in ["", "has space", "dot.s", &"x".repeat(51), "ünï"] {
        let r = d.call(with_args("api_token_create", json!({"token_name": bad})));
        assert_eq!(error_code(&r), "invalid_name", "{bad:?}");
        assert!(
            r.metadata
                .reason
                .starts_with("The system failed to create the API token: ")
        );
    }
    create(&d, None, json!({"token_name": &"x".repeat(50)}));
    create(&d, None, json!({"token_name": "same"}));
    let r = d.call(with_args("api_token_create", json!({"token_name": "same"})));
    assert_eq!(error_code(&r), "name_exists");
    // Another owner may use the same name.
    create(&d, Some("res"), json!({"token_name": "same"}));
}

#[test]
fn acls_must_be_known_and_held_and_all_bad_ones_are_named() {
    let d = Daemon::builder()
        .resellers("res:list-accts,manage-api-tokens\n")
        .start();
    let r = d.call(
        with_args(
            "api_token_create",
            json!({"token_name": "t", "acl": ["bogus-one", "list-accts", "passwd", "nope2"]}),
        )
        .user(Some("res".into())),
    );
    assert_eq!(error_code(&r), "invalid_acl");
    for name in ["bogus-one", "nope2", "passwd"] {
        assert!(r.metadata.reason.contains(name), "{}", r.metadata.reason);
    }
    assert!(!r.metadata.reason.contains("“list-accts”"));
    for (owner, acl, label) in [
        (
            Some("res"),
            json!("all"),
            "a privilege this reseller does not hold",
        ),
        (None, json!([]), "an empty list"),
    ] {
        let r = d.call(
            with_args("api_token_create", json!({"token_name": "t", "acl": acl}))
                .user(owner.map(str::to_owned)),
        );
        assert_error(&r, "invalid_acl", label);
    }
    let ok = create(
        &d,
        Some("res"),
        json!({"token_name": "t", "acl": ["list-accts"]}),
    );
    assert_eq!(ok["acls"], json!(["list-accts"]));
}

#[test]
fn expiry_rules_with_injected_clock() {
    let d = Daemon::builder()
        .config("expiry_warning_days = 2\n")
        .start();
    let now = 2_000_000_000;
    d.set_now(now);
    for (v, code) in [
        (json!(now), "invalid_expiry"),
        (json!(now - 1), "invalid_expiry"),
        (json!("soon"), "invalid_expiry"),
        (json!(-4), "invalid_expiry"),
        (json!(true), "bad_request"),
    ] {
        let r = d.call(with_args(
            "api_token_create",
            json!({"token_name": "e", "expires_at": v}),
        ));
        assert_eq!(error_code(&r), code, "{v}");
    }
    let never = create(&d, None, json!({"token_name": "never", "expires_at": "0"}));
    assert_eq!(never["expires_at"], Value::Null);
    let empty = create(&d, None, json!({"token_name": "empty", "expires_at": ""}));
    assert_eq!(empty["expires_at"], Value::Null);
    let soon = create(
        &d,
        None,
        json!({"token_name": "soon", "expires_at": now + 3600}),
    );
    assert_eq!(soon["expires_at"], now + 3600);
    let later = create(
        &d,
        None,
        json!({"token_name": "later", "expires_at": (now + 10 * 86400).to_string()}),
    );
    assert_eq!(later["expires_at"], now + 10 * 86400);

    let tokens = d.tokens(None);
    assert_eq!(tokens["soon"]["expires_soon"], 1);
    assert_eq!(tokens["soon"]["expired"], 0);
    assert_eq!(tokens["later"]["expires_soon"], 0);
    assert_eq!(tokens["never"]["expires_soon"], 0);

    // Move time past the expiry: still listed, marked expired; details treat it as not found.
    d.set_now(now + 7200);
    let tokens = d.tokens(None);
    assert_eq!(tokens["soon"]["expired"], 1);
    assert_eq!(tokens["soon"]["expires_soon"], 0);
    let details = d.call(with_args(
        "api_token_get_details",
        json!({"token": soon["token"]}),
    ));
    assert!(details.is_ok() && details.data.is_none());
    let details = d.call(with_args(
        "api_token_get_details",
        json!({"token": later["token"]}),
    ));
    assert_eq!(details.data.unwrap()["name"], "later");

    // update: expires_at=0 removes the expiry; a past one is refused.
    let r = d.call(with_args(
        "api_token_update",
        json!({"token_name": "soon", "expires_at": now}),
    ));
    assert_eq!(error_code(&r), "invalid_expiry");
    let r = d.call(with_args(
        "api_token_update",
        json!({"token_name": "soon", "expires_at": 0}),
    ));
    assert_eq!(r.data.unwrap()["expires_at"], Value::Null);
}

#[test]
fn whitelist_rules() {
    let d = Daemon::start();
    let r = d.call(with_args(
        "api_token_create",
        json!({"token_name": "t", "whitelist_ip": ["1.2.3.4", ""]}),
    ));
    assert_eq!(error_code(&r), "invalid_ip");
    let r = d.call(with_args(
        "api_token_create",
        json!({"token_name": "t", "whitelist_ip-1": "300.0.0.1", "whitelist_ip-2": "zz::1::2"}),
    ));
    assert_eq!(error_code(&r), "invalid_ip");
    assert!(r.metadata.reason.contains("300.0.0.1") && r.metadata.reason.contains("zz::1::2"));
    let many: Vec<String> = (0..101)
        .map(|i| format!("10.1.{}.{}", i / 200, i % 200))
        .collect();
    let r = d.call(with_args(
        "api_token_create",
        json!({"token_name": "t", "whitelist_ip": many}),
    ));
    assert_eq!(error_code(&r), "invalid_ip");
    let hundred: Vec<String> = (0..100).map(|i| format!("10.1.0.{i}")).collect();
    let ok = create(
        &d,
        None,
        json!({"token_name": "t", "whitelist_ip": hundred}),
    );
    assert_eq!(ok["whitelist_ips"].as_array().unwrap().len(), 100);
    let v6 = create(
        &d,
        None,
        json!({"token_name": "v6", "whitelist_ip": ["2001:db8::/32", "::ffff:192.0.2.1", "2001:DB8::1"]}),
    );
    assert_eq!(
        v6["whitelist_ips"],
        json!([
            "192.0.2.1",
            "2001:0db8:0000:0000:0000:0000:0000:0000/32",
            "2001:0db8:0000:0000:0000:0000:0000:0001"
        ])
    );
    assert_eq!(d.tokens(None)["v6"]["whitelist_ips"], v6["whitelist_ips"]);
    let full = create(&d, None, json!({"token_name": "open"}));
    assert!(full.get("whitelist_ips").is_none());
    assert_eq!(d.tokens(None)["open"]["whitelist_ips"], Value::Null);
    let cleared = d.call(with_args(
        "api_token_update",
        json!({"token_name": "v6", "whitelist_ip": "any"}),
    ));
    assert!(cleared.data.unwrap().get("whitelist_ips").is_none());
}

#[test]
fn list_shape_and_acl_map() {
    let d = Daemon::builder()
        .resellers("res:list-accts,create-acct,manage-api-tokens\n")
        .start();
    create(
        &d,
        None,
        json!({"token_name": "restricted", "acl": ["passwd", "list-accts"]}),
    );
    create(&d, None, json!({"token_name": "full"}));
    let listed = d.tokens(None);
    let tokens = listed.as_object().unwrap();
    assert_eq!(tokens.len(), 2);
    let r = &tokens["restricted"];
    for key in [
        "name",
        "create_time",
        "expires_at",
        "whitelist_ips",
        "acls",
        "has_full_access",
        "expired",
        "expires_soon",
        "last_used_at",
        "last_used_ip",
    ] {
        assert!(r.get(key).is_some(), "missing {key}");
    }
    let acls = r["acls"].as_object().unwrap();
    assert_eq!(acls["passwd"], 1);
    assert_eq!(acls["list-accts"], 1);
    assert_eq!(acls["kill-acct"], 0);
    assert_eq!(acls["all"], 0);
    assert_eq!(acls.values().filter(|v| **v == 1).count(), 2);
    let full = tokens["full"]["acls"].as_object().unwrap();
    assert!(full.values().all(|v| *v == 1));
    assert_eq!(tokens["full"]["has_full_access"], 1);
    assert_eq!(tokens["full"]["last_used_at"], Value::Null);

    // A reseller's full-access token shows what that reseller holds.
    create(&d, Some("res"), json!({"token_name": "rt"}));
    let listed = d.tokens(Some("res"));
    let acls = listed["rt"]["acls"].as_object().unwrap();
    assert_eq!(acls["list-accts"], 1);
    assert_eq!(acls["passwd"], 0);
    assert_eq!(listed.as_object().unwrap().len(), 1);
}

#[test]
fn update_rules() {
    let d = Daemon::start();
    create(
        &d,
        None,
        json!({"token_name": "one", "acl": ["list-accts"], "whitelist_ip": "10.0.0.1"}),
    );
    create(&d, None, json!({"token_name": "two"}));
    for (args, code) in [
        (json!({"token_name": "one"}), "nothing_to_change"),
        (json!({"new_name": "x"}), "bad_request"),
        (json!({"token_name": "ghost", "new_name": "x"}), "not_found"),
        (
            json!({"token_name": "one", "new_name": "two"}),
            "name_exists",
        ),
        (
            json!({"token_name": "one", "new_name": "bad name"}),
            "invalid_name",
        ),
        (json!({"token_name": "one", "acl": ["nope"]}), "invalid_acl"),
    ] {
        let label = args.to_string();
        assert_error(&d.call(with_args("api_token_update", args)), code, &label);
    }

    // Only what is given changes.
    let r = d.call(with_args(
        "api_token_update",
        json!({"token_name": "one", "new_name": "uno"}),
    ));
    let data = r.data.unwrap();
    assert_eq!(data["name"], "uno");
    assert_eq!(data["acls"], json!(["list-accts"]));
    assert_eq!(data["whitelist_ips"], json!(["10.0.0.1"]));
    assert!(data.get("token").is_none());
    let r = d.call(with_args(
        "api_token_update",
        json!({"token_name": "uno", "acl-1": "create-acct", "acl-2": "kill-acct"}),
    ));
    let data = r.data.unwrap();
    assert_eq!(data["acls"], json!(["create-acct", "kill-acct"]));
    assert_eq!(data["whitelist_ips"], json!(["10.0.0.1"]));
    let r = d.call(with_args(
        "api_token_update",
        json!({"token_name": "uno", "acl": "all"}),
    ));
    let data = r.data.unwrap();
    assert_eq!(data["has_full_access"], 1);
    assert!(data.get("acls").is_none());
    assert_eq!(token_names(&d.tokens(None)), ["two", "uno"]);
}

#[test]
fn revoke_rules() {
    let d = Daemon::start();
    for n in ["a", "b", "c"] {
        create(&d, None, json!({"token_name": n}));
    }
    let r = d.call(with_args("api_token_revoke", json!({})));
    assert_eq!(error_code(&r), "bad_request");
    let r = d.call(with_args(
        "api_token_revoke",
        json!({"token_name-1": "a", "token_name-2": "ghost"}),
    ));
    assert!(r.is_ok());
    let data = r.data.unwrap();
    assert_eq!(data["revoked"], json!(["a"]));
    assert_eq!(data["not_found"], json!(["ghost"]));
    let r = d.call(with_args("api_token_revoke", json!({"token_name": "a"})));
    assert!(r.is_ok(), "revoking a missing name is not an error");
    let r = d.call(req("api_token_revoke_all"));
    assert_eq!(r.data.unwrap()["revoked"], 2);
    assert!(d.tokens(None).as_object().unwrap().is_empty());
}

#[test]
fn get_details_finds_only_own_live_tokens() {
    let d = Daemon::builder().resellers("res:all\n").start();
    let mine = create(
        &d,
        None,
        json!({"token_name": "mine", "acl": ["list-accts"], "whitelist_ip": "10.9.9.9"}),
    );
    let theirs = create(&d, Some("res"), json!({"token_name": "theirs"}));
    let r = d.call(with_args(
        "api_token_get_details",
        json!({"token": mine["token"]}),
    ));
    let data = r.data.unwrap();
    assert_eq!(data["name"], "mine");
    assert_eq!(data["acls"], json!(["list-accts"]));
    assert!(data.get("token").is_none());
    // Root looks among root's tokens: the reseller's is not found there.
    let r = d.call(with_args(
        "api_token_get_details",
        json!({"token": theirs["token"]}),
    ));
    assert!(r.is_ok() && r.data.is_none());
    let r = d.call(
        with_args("api_token_get_details", json!({"token": theirs["token"]}))
            .user(Some("res".into())),
    );
    assert_eq!(r.data.unwrap()["name"], "theirs");
    let r = d.call(with_args(
        "api_token_get_details",
        json!({"token": "WRONGWRONGWRONGWRONGWRONGWRONG12"}),
    ));
    assert!(r.is_ok() && r.data.is_none());
    for args in [json!({}), json!({"token": 5})] {
        let label = args.to_string();
        let r = d.call(with_args("api_token_get_details", args));
        assert_error(&r, "bad_request", &label);
    }
}

#[test]
fn suspended_and_unknown_owners() {
    let d = Daemon::builder().resellers("res:all\n").start();
    create(&d, Some("res"), json!({"token_name": "before"}));
    d.suspend("res", true);
    let r =
        d.call(with_args("api_token_create", json!({"token_name": "t"})).user(Some("res".into())));
    assert_eq!(error_code(&r), "suspended");
    // Root can still see and revoke a suspended reseller's tokens.
    assert!(d.tokens(Some("res")).get("before").is_some());
    d.suspend("res", false);
    create(&d, Some("res"), json!({"token_name": "after"}));
    for (owner, code) in [("nobody-here", "unknown_user"), ("../etc", "invalid_user")] {
        let r = d.call(
            with_args("api_token_create", json!({"token_name": "t"})).user(Some(owner.into())),
        );
        assert_error(&r, code, owner);
    }
}

#[test]
fn account_remove_and_rename() {
    let d = Daemon::builder().resellers("old:all\nother:all\n").start();
    let t = create(
        &d,
        Some("old"),
        json!({"token_name": "keep", "acl": "list-accts"}),
    );
    create(&d, Some("old"), json!({"token_name": "second"}));
    create(&d, Some("other"), json!({"token_name": "keep"}));

    // cPanel renames the account, then tells us.
    d.write_resellers("new:all\nother:all\n");
    let r = d.call(with_args(
        "account_rename",
        json!({"user": "old", "new_user": "other"}),
    ));
    assert_eq!(error_code(&r), "name_exists");
    let r = d.call(with_args(
        "account_rename",
        json!({"user": "old", "new_user": "new"}),
    ));
    assert_eq!(r.data.unwrap()["moved"], 2);
    let r = d.call(
        with_args("api_token_get_details", json!({"token": t["token"]})).user(Some("new".into())),
    );
    assert_eq!(
        r.data.unwrap()["name"],
        "keep",
        "the token keeps working under the new name"
    );
    assert_eq!(d.tokens(Some("new")).as_object().unwrap().len(), 2);

    let r = d.call(with_args("account_remove", json!({"user": "new"})));
    assert_eq!(r.data.unwrap()["revoked"], 2);
    let r = d.call(
        with_args("api_token_get_details", json!({"token": t["token"]})).user(Some("new".into())),
    );
    assert!(r.data.is_none());
    assert_eq!(d.tokens(Some("other")).as_object().unwrap().len(), 1);
    for args in [json!({"user": "root"}), json!({})] {
        let label = args.to_string();
        let r = d.call(with_args("account_remove", args));
        assert_error(&r, "bad_request", &label);
    }
}
