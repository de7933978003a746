//! Unit tests of `import`.

use super::*;

fn check(record: Value) -> Result<Fields, String> {
    parse_record(&record, &Catalog::builtin())
}

#[test]
fn records_as_cpanel_writes_them() {
    let full =
        check(json!({"name": "ci", "create_time": 1_600_000_000, "expires_at": null})).unwrap();
    assert_eq!(
        full,
        Fields {
            name: "ci".into(),
            create_time: 1_600_000_000,
            expires_at: None,
            acls: None,
            whitelist_ips: Vec::new(),
        }
    );
    let r = check(json!({
        "name": "r", "create_time": "1600000000", "expires_at": "1700000000",
        "acls": ["list-accts", "create-acct", "list-accts"],
        "whitelist_ips": ["10.0.0.2", "10.0.0.1/32", "fc00::/7"],
    }))
    .unwrap();
    assert_eq!(r.create_time, 1_600_000_000);
    assert_eq!(r.expires_at, Some(1_700_000_000));
    assert_eq!(
        r.acls.as_deref(),
        Some(&["create-acct".into(), "list-accts".into()][..])
    );
    assert_eq!(
        r.whitelist_ips,
        [
            "10.0.0.1",
            "10.0.0.2",
            "fc00:0000:0000:0000:0000:0000:0000:0000/7"
        ]
    );
    // Expired (cPanel keeps them), all = full access, 0 = never,
    // absent lists = full access from anywhere.
    let e =
        check(json!({"name": "old", "create_time": 5, "expires_at": 6, "acls": ["all"]})).unwrap();
    assert_eq!((e.expires_at, e.acls), (Some(6), None));
    let z = check(json!({"name": "z", "create_time": 5, "expires_at": 0, "whitelist_ips": []}))
        .unwrap();
    assert_eq!((z.expires_at, z.whitelist_ips.len()), (None, 0));
}

#[test]
fn bad_records_say_which_field() {
    let cases = [
        (json!([1]), "not a JSON object"),
        (json!({"create_time": 1}), "no “name”"),
        (
            json!({"name": 7, "create_time": 1}),
            "“name” is not a string",
        ),
        (json!({"name": "a b", "create_time": 1}), "invalid name"),
        (json!({"name": "a"}), "no “create_time”"),
        (json!({"name": "a", "create_time": -1}), "“create_time”"),
        (
            json!({"name": "a", "create_time": 1, "expires_at": "soon"}),
            "“expires_at”",
        ),
        (
            json!({"name": "a", "create_time": 1, "expires_at": -3}),
            "“expires_at”",
        ),
        (
            json!({"name": "a", "create_time": 1, "expires_at": 1e20}),
            "“expires_at”",
        ),
        (
            json!({"name": "a", "create_time": 1, "acls": []}),
            "empty list",
        ),
        (
            json!({"name": "a", "create_time": 1, "acls": "all"}),
            "not a list",
        ),
        (
            json!({"name": "a", "create_time": 1, "acls": ["software-x"]}),
            "acls_file",
        ),
        (
            json!({"name": "a", "create_time": 1, "acls": [1]}),
            "not a string",
        ),
        (
            json!({"name": "a", "create_time": 1, "whitelist_ips": ["300.1.1.1"]}),
            "300.1.1.1",
        ),
        (
            json!({"name": "a", "create_time": 1, "whitelist_ips": [""]}),
            "",
        ),
    ];
    for (record, says) in cases {
        let why = check(record.clone()).unwrap_err();
        assert!(why.contains(says), "{record}: {why}");
    }
}

#[test]
fn dry_run_flag_forms() {
    let m = |v: Value| v.as_object().unwrap().clone();
    assert!(!dry_run(&m(json!({}))).unwrap());
    for yes in [json!(1), json!("1"), json!(true)] {
        assert!(dry_run(&m(json!({ "dry_run": yes }))).unwrap());
    }
    for no in [json!(0), json!("0"), json!(false)] {
        assert!(!dry_run(&m(json!({ "dry_run": no }))).unwrap());
    }
    assert!(dry_run(&m(json!({"dry_run": "yes"}))).is_err());
}
