//! The HTTPS front end to end: the real daemon and the real
//! `apitokend-web` (started as root, so it switches to its test account)
//! on ephemeral loopback ports, driven by real clients: cPanel's three
//! example scripts (curl, Perl HTTP::Tiny, PHP curl), curl, raw sockets,
//! and a real nginx in front of the auth gate.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::web::{Reply, Upstream, Web, curl, parse_response, raw_exchange, write_file};
use serde_json::{Value, json};

const DENIED: &str = r#"{"cpanelresult":{"apiversion":"2","error":"Access denied","data":{"reason":"Access denied","result":"0"},"type":"text"}}"#;

fn auth(user: &str, token: &str) -> String {
    format!("Authorization: whm {user}:{token}")
}

/// curl over HTTPS trusting the front's self-signed certificate.
fn https(w: &Web, path: &str, extra: &[&str]) -> Reply {
    let cert = w.cert();
    let url = w.https_url(path);
    let mut args = vec!["--cacert", common::path_str(&cert)];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

fn assert_denied(r: &Reply, what: &str) {
    assert_eq!(r.status, 403, "{what}: {r:?}");
    assert_eq!(r.body, DENIED, "{what}");
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; charset=\"utf-8\""),
        "{what}"
    );
    assert!(r.header("www-authenticate").is_none(), "{what}");
}

fn metadata_result(r: &Reply) -> i64 {
    r.json()["metadata"]["result"].as_i64().unwrap()
}

#[test]
fn cpanel_example_scripts_run_unchanged_but_for_user_token_and_address() {
    let upstream = Upstream::start();
    let w = Web::builder()
        .web(&format!("upstream = \"http://{}\"", upstream.addr))
        .start();
    let token = w.token(None, "scripts", &[]);
    let address = format!("127.0.0.1:{}", w.https.port());
    let dir = w.daemon.dir.path();

    // curl, as in the guide; the self-signed certificate is trusted through
    // curl's CA bundle variable, so the command line stays the guide's.
    let cmd = format!(
        "curl -H'Authorization: whm root:{token}' 'https://{address}/json-api/applist?api.version=1'"
    );
    let out = Command::new("sh")
        .args(["-c", &cmd])
        .env("CURL_CA_BUNDLE", w.cert())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["metadata"]["result"], 1, "{v}");
    let apps: Vec<&str> = v["data"]["app"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for f in ["applist", "listaccts", "api_token_create", "createacct"] {
        assert!(apps.contains(&f), "{f} missing from {apps:?}");
    }
    let mut sorted = apps.clone();
    sorted.sort_unstable();
    assert_eq!(apps, sorted);

    let expected = "[+] Current cPanel users on the system:\n\troot\n\troot-customer\n";
    // Perl, HTTP::Tiny + JSON, verbatim from the guide.
    let perl = include_str!("cpanel-examples/listaccts.pl")
        .replace("'MYAPITOKEN'", &format!("'{token}'"))
        .replace("127.0.0.1:2087", &address);
    let script = write_file(dir, "listaccts.pl", &perl);
    let out = Command::new("perl").arg(&script).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        expected,
        "perl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // PHP with the curl extension, verbatim (its `<?` open tag needs
    // short_open_tag, which Debian's php.ini turns off).
    let php = include_str!("cpanel-examples/listaccts.php")
        .replace("\"MYAPITOKEN\"", &format!("\"{token}\""))
        .replace("127.0.0.1:2087", &address);
    let script = write_file(dir, "listaccts.php", &php);
    let out = Command::new("php")
        .args(["-d", "short_open_tag=On"])
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        expected,
        "php: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both reached the upstream as root's token, without the credential.
    let seen = upstream.requests();
    assert_eq!(seen.len(), 2);
    for headers in seen {
        let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("x-apitoken-user").as_deref(), Some("root"));
        assert_eq!(get("x-apitoken-name").as_deref(), Some("scripts"));
        assert_eq!(get("x-apitoken-acls").as_deref(), Some("all"));
        assert_eq!(get("x-real-ip").as_deref(), Some("127.0.0.1"));
        assert!(get("authorization").is_none());
    }
}

#[test]
fn token_functions_over_https_act_as_the_tokens_owner() {
    let w = Web::builder()
        .resellers("res1:manage-api-tokens,list-accts,acct-summary\n")
        .start();
    let root = w.token(None, "admin", &["manage-api-tokens"]);
    let res = w.token(Some("res1"), "restok", &[]);
    let h = auth("root", &root);

    // create: form POST with WHM's -N keys, from a cpsess path.
    let r = https(
        &w,
        "/cpsess0123456789/json-api/api_token_create",
        &[
            "-H",
            &h,
            "--data",
            "api.version=1&token_name=deploy&acl-1=list-accts&acl-2=acct-summary&whitelist_ip=192.0.2.0/24",
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["metadata"]["result"], 1, "{v}");
    assert_eq!(v["data"]["acls"], json!(["acct-summary", "list-accts"]));
    assert_eq!(v["data"]["whitelist_ips"], json!(["192.0.2.0/24"]));
    let created = v["data"]["token"].as_str().unwrap().to_owned();
    // The new token verifies on the verify socket.
    let ok = w.daemon.verify("root", &created, "192.0.2.9", "listaccts");
    assert!(ok.is_ok(), "{ok:?}");

    // update: a JSON body.
    let r = https(
        &w,
        "/json-api/api_token_update?api.version=1",
        &[
            "-H",
            &h,
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"token_name": "deploy", "new_name": "deploy2", "whitelist_ip": ["any"]}"#,
        ],
    );
    assert_eq!(metadata_result(&r), 1, "{r:?}");
    assert_eq!(r.json()["data"]["name"], "deploy2");

    // list: GET; root's tokens only.
    let r = https(&w, "/json-api/api_token_list?api.version=1", &["-H", &h]);
    let tokens = r.json()["data"]["tokens"].clone();
    let mut names: Vec<&String> = tokens.as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["admin", "deploy2"]);

    // get_details with the plaintext in the query.
    let r = https(
        &w,
        &format!("/json-api/api_token_get_details?api.version=1&token={created}"),
        &["-H", &h],
    );
    assert_eq!(r.json()["data"]["name"], "deploy2", "{r:?}");

    // A reseller's token sees and changes only the reseller's tokens.
    let hr = auth("res1", &res);
    let r = https(&w, "/json-api/api_token_list?api.version=1", &["-H", &hr]);
    let list = r.json();
    let names: Vec<&String> = list["data"]["tokens"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["restok"], "{list}");
    let r = https(
        &w,
        "/json-api/api_token_revoke?api.version=1&token_name=deploy2",
        &["-H", &hr],
    );
    assert_eq!(metadata_result(&r), 1);
    assert!(
        w.daemon
            .verify("root", &created, "192.0.2.9", "listaccts")
            .is_ok()
    );
    // ... and may grant only what the reseller holds.
    let r = https(
        &w,
        "/json-api/api_token_create?api.version=1&token_name=x&acl=all",
        &["-H", &hr],
    );
    assert_eq!(r.status, 200);
    assert_eq!(metadata_result(&r), 0, "{r:?}");
    assert!(
        r.json()["metadata"]["reason"]
            .as_str()
            .unwrap()
            .contains("all")
    );

    // revoke by root.
    let r = https(
        &w,
        "/json-api/api_token_revoke?api.version=1&token_name=deploy2",
        &["-H", &h],
    );
    assert_eq!(metadata_result(&r), 1);
    assert!(
        !w.daemon
            .verify("root", &created, "192.0.2.9", "listaccts")
            .is_ok()
    );

    // A token without manage-api-tokens: WHM's envelope, result 0, HTTP
    // 200, naming the missing privilege.
    let weak = w.token(None, "weak", &["list-accts"]);
    let r = https(
        &w,
        "/json-api/api_token_list?api.version=1",
        &["-H", &auth("root", &weak)],
    );
    assert_eq!(r.status, 200);
    assert_eq!(metadata_result(&r), 0);
    let reason = r.json()["metadata"]["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("manage-api-tokens"), "{reason}");

    // The access log never holds a token; the details token is redacted.
    let mut w = w;
    let log = w.stop_and_read_log();
    for secret in [&root, &res, &created, &weak] {
        assert!(!log.contains(secret.as_str()), "token in the front's log");
    }
    assert!(log.contains("token=REDACTED"), "{log}");
    assert!(log.contains("access: listener=https"), "{log}");
}

#[test]
fn every_authentication_failure_is_cpsrvds_403_and_the_audit_says_which() {
    let w = Web::builder()
        .resellers("res1:manage-api-tokens\n")
        .top("[lockout]\nmax_failures = 3\nwindow_secs = 300\ncooldown_secs = 900")
        .start();
    let good = w.token(None, "good", &[]);
    let far = {
        let d = common::create(
            &w.daemon,
            None,
            json!({"token_name": "far", "whitelist_ip": "192.0.2.1"}),
        );
        d["token"].as_str().unwrap().to_owned()
    };
    let soon = {
        let t = chrono_now() + 3600;
        let d = common::create(
            &w.daemon,
            None,
            json!({"token_name": "soon", "expires_at": t}),
        );
        d["token"].as_str().unwrap().to_owned()
    };
    let res = w.token(Some("res1"), "r", &[]);
    let path = "/json-api/api_token_list?api.version=1";
    let ok = https(&w, path, &["-H", &auth("root", &good)]);
    assert_eq!(metadata_result(&ok), 1, "{ok:?}");
    let scheme = format!("Authorization: Basic {good}");
    let wrong_case = format!("Authorization: WhM root:{good}");
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("no header", vec![]),
        ("another scheme", vec!["-H".into(), scheme]),
        (
            "empty user",
            vec!["-H".into(), format!("Authorization: whm :{good}")],
        ),
        (
            "empty token",
            vec!["-H".into(), "Authorization: whm root:".into()],
        ),
        (
            "no colon",
            vec!["-H".into(), format!("Authorization: whm root{good}")],
        ),
        ("address not allowed", vec!["-H".into(), auth("root", &far)]),
    ];
    for (what, args) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_denied(&https(&w, path, &args), what);
    }
    // The scheme in any letter case works.
    assert_eq!(metadata_result(&https(&w, path, &["-H", &wrong_case])), 1);
    // Expired, through the daemon's injected clock.
    w.daemon.set_now(chrono_now() + 7200);
    assert_denied(&https(&w, path, &["-H", &auth("root", &soon)]), "expired");
    w.daemon.set_now(chrono_now());
    // Suspended owner.
    w.daemon.suspend("res1", true);
    common::until_account_change_seen("the suspension", || {
        https(&w, path, &["-H", &auth("res1", &res)]).status == 403
    });
    assert_denied(&https(&w, path, &["-H", &auth("res1", &res)]), "suspended");
    w.daemon.suspend("res1", false);
    // Wrong tokens count towards the lockout: 3 failures lock 127.0.0.1
    // out, after which even the good token is refused.
    let wrong = "0".repeat(32);
    for _ in 0..3 {
        assert_denied(
            &https(&w, path, &["-H", &auth("root", &wrong)]),
            "wrong token",
        );
    }
    assert_denied(
        &https(&w, path, &["-H", &auth("root", &good)]),
        "locked out",
    );
    let mut d = w;
    let log = d.daemon.stop_and_read_log();
    for code in [
        "error=ip_not_allowed",
        "error=expired",
        "error=suspended",
        "error=invalid_token",
        "error=locked_out",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("command=api_token_list") && l.contains(code)),
            "no audit line with {code}: {log}"
        );
    }
    assert!(log.contains("command=lockout"), "{log}");
    assert!(!log.contains(&good) && !log.contains(&wrong));
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn api_versions_and_unknown_functions_get_whms_unknown_app_reply() {
    let w = Web::start();
    let token = w.token(None, "v", &[]);
    let h = auth("root", &token);
    let cases = [
        (
            "/json-api/api_token_list?api.version=2",
            "api_token_list",
            "2",
        ),
        ("/json-api/api_token_list", "api_token_list", "0"),
        ("/json-api/listaccts?api.version=1", "listaccts", "1"),
        (
            "/json-api/no_such_function?api.version=1",
            "no_such_function",
            "1",
        ),
    ];
    for (path, function, version) in cases {
        let r = https(&w, path, &["-H", &h]);
        assert_eq!(r.status, 200, "{path}");
        let v = r.json();
        assert_eq!(v["metadata"]["result"], 0, "{path}");
        assert_eq!(
            v["metadata"]["reason"],
            format!(
                "Unknown app (“{function}”) requested for this version ({version}) of the API."
            ),
            "{path}"
        );
    }
    // Unauthenticated, the same paths are only ever 403.
    assert_denied(
        &https(&w, "/json-api/no_such_function?api.version=1", &[]),
        "unknown fn",
    );
    assert_denied(
        &https(
            &w,
            "/json-api/listaccts?api.version=1",
            &["-H", &auth("root", &"A".repeat(32))],
        ),
        "bad token",
    );
    let r = https(&w, "/xml-api/applist", &["-H", &h]);
    assert_eq!(r.status, 404);
}

#[test]
fn the_gate_answers_nginx_on_its_unix_socket_and_loopback_listener() {
    let w = Web::builder().resellers("res1:list-accts\n").start();
    let token = {
        let d = common::create(
            &w.daemon,
            None,
            json!({"token_name": "gate", "acl": ["list-accts", "acct-summary"], "whitelist_ip": "203.0.113.7"}),
        );
        d["token"].as_str().unwrap().to_owned()
    };
    let h = auth("root", &token);
    let sock = common::path_str(&w.auth_socket).to_owned();
    let gate = |extra: &[&str]| {
        let mut args = vec!["--unix-socket", sock.as_str()];
        args.extend_from_slice(extra);
        args.push("http://localhost/auth");
        curl(&args)
    };
    let uri = "X-Original-URI: /cpsess0000000001/json-api/listaccts?api.version=1";
    let real_ip = "X-Real-IP: 203.0.113.7";
    let r = gate(&["-H", &h, "-H", uri, "-H", real_ip]);
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("x-apitoken-user"), Some("root"));
    assert_eq!(r.header("x-apitoken-name"), Some("gate"));
    assert_eq!(r.header("x-apitoken-acls"), Some("acct-summary,list-accts"));
    // 401 without credentials; 403 for everything else.
    assert_eq!(gate(&["-H", uri, "-H", real_ip]).status, 401);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "other address",
            vec!["-H", &h, "-H", uri, "-H", "X-Real-IP: 198.51.100.1"],
        ),
        ("no X-Real-IP", vec!["-H", &h, "-H", uri]),
        (
            "not an API path",
            vec!["-H", &h, "-H", "X-Original-URI: /index.html", "-H", real_ip],
        ),
        ("no X-Original-URI", vec!["-H", &h, "-H", real_ip]),
        (
            "privilege missing",
            vec![
                "-H",
                &h,
                "-H",
                "X-Original-URI: /json-api/createacct",
                "-H",
                real_ip,
            ],
        ),
        (
            "malformed",
            vec!["-H", "Authorization: whm root", "-H", uri, "-H", real_ip],
        ),
    ];
    for (what, args) in cases {
        assert_eq!(gate(&args).status, 403, "{what}");
    }
    // On the loopback listener X-Real-IP is not trusted (no trusted_proxies):
    // the peer 127.0.0.1 is the client, outside the token's list.
    let url = w.http_url("/auth");
    let r = curl(&["-H", &h, "-H", uri, "-H", real_ip, &url]);
    assert_eq!(r.status, 403, "{r:?}");
    // The HTTPS listener has no gate.
    assert_eq!(https(&w, "/auth", &["-H", &h, "-H", uri]).status, 404);
    // The socket: mode 0660.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&w.auth_socket)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660);
}

#[test]
fn the_loopback_listener_trusts_x_real_ip_only_from_trusted_proxies() {
    let w = Web::builder()
        .web("trusted_proxies = [\"127.0.0.1\"]")
        .start();
    let token = {
        let d = common::create(
            &w.daemon,
            None,
            json!({"token_name": "t", "acl": ["list-accts"], "whitelist_ip": "203.0.113.7"}),
        );
        d["token"].as_str().unwrap().to_owned()
    };
    let h = auth("root", &token);
    let uri = "X-Original-URI: /json-api/listaccts";
    let url = w.http_url("/auth");
    assert_eq!(
        curl(&["-H", &h, "-H", uri, "-H", "X-Real-IP: 203.0.113.7", &url]).status,
        204
    );
    assert_eq!(curl(&["-H", &h, "-H", uri, &url]).status, 403);
}

#[test]
fn forwarded_calls_carry_the_identity_and_never_the_clients_credentials() {
    let upstream = Upstream::start();
    let w = Web::builder()
        .web(&format!("upstream = \"http://{}\"", upstream.addr))
        .start();
    let lister = w.token(None, "lister", &["list-accts"]);
    let other = w.token(None, "other", &["acct-summary"]);
    let r = https(
        &w,
        "/json-api/listaccts?api.version=1&search=x",
        &[
            "-H",
            &auth("root", &lister),
            "-H",
            "X-Apitoken-User: evil",
            "-H",
            "X-Apitoken-Acls: all",
            "-H",
            "X-Real-IP: 10.9.9.9",
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let seen = r.json()["seen"].clone();
    assert_eq!(seen["x-apitoken-user"], "root");
    assert_eq!(seen["x-apitoken-name"], "lister");
    assert_eq!(seen["x-apitoken-acls"], "list-accts");
    assert_eq!(seen["x-real-ip"], "127.0.0.1");
    assert_eq!(seen["authorization"], Value::Null);
    assert_eq!(
        seen["request"],
        "GET /json-api/listaccts?api.version=1&search=x HTTP/1.1"
    );
    let headers = &upstream.requests()[0];
    assert_eq!(
        headers
            .iter()
            .filter(|(k, _)| k == "x-apitoken-user")
            .count(),
        1
    );
    // A token without the function's privilege never reaches the upstream.
    let r = https(
        &w,
        "/json-api/listaccts?api.version=1",
        &["-H", &auth("root", &other)],
    );
    assert_eq!(r.status, 200);
    assert_eq!(metadata_result(&r), 0);
    assert!(
        r.json()["metadata"]["reason"]
            .as_str()
            .unwrap()
            .contains("list-accts")
    );
    assert_denied(
        &https(&w, "/json-api/listaccts?api.version=1", &[]),
        "no credentials",
    );
    // A POST body is forwarded as sent.
    let r = https(
        &w,
        "/json-api/listaccts?api.version=1",
        &["-H", &auth("root", &lister), "--data", "a=1&b=2"],
    );
    assert_eq!(r.json()["seen"]["body"], "a=1&b=2");
    assert_eq!(upstream.hits.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// nginx in front, configured with the shipped auth_request example.
#[test]
fn nginx_with_the_shipped_example_passes_only_good_tokens_to_the_backend() {
    let upstream = Upstream::start();
    let w = Web::start();
    let good = w.token(None, "nginx", &["list-accts"]);
    let dir = w.daemon.dir.path().join("nginx");
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let port = common::web::free_port();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/etc/nginx/apitokend-auth.conf"
    ))
    .unwrap()
    .replace(
        "/run/apitokend-web/auth.sock",
        common::path_str(&w.auth_socket),
    )
    .replace("127.0.0.1:8080", &upstream.addr.to_string())
    .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port};"))
    .lines()
    .filter(|l| !l.trim_start().starts_with("ssl_"))
    .collect::<Vec<_>>()
    .join("\n");
    let conf = format!(
        "daemon off;\nuser root;\nerror_log {dir}/logs/error.log;\npid {dir}/nginx.pid;\n\
         events {{ worker_connections 64; }}\nhttp {{\naccess_log off;\n{example}\n}}\n",
        dir = dir.display()
    );
    let conf_path = write_file(&dir, "nginx.conf", &conf);
    let nginx = Command::new("nginx")
        .args([
            "-p",
            common::path_str(&dir),
            "-c",
            common::path_str(&conf_path),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nginx (apt-get install nginx)");
    let nginx = common::web::Stopped(nginx);
    let url = format!("http://127.0.0.1:{port}/json-api/listaccts?api.version=1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start: {conf}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = curl(&["-H", &auth("root", &good), &url]);
    let bad = curl(&["-H", &auth("root", &"Z".repeat(32)), &url]);
    let none = curl(&[&url]);
    drop(nginx);
    assert_eq!(r.status, 200, "{r:?}");
    let seen = r.json()["seen"].clone();
    assert_eq!(seen["x-apitoken-user"], "root");
    assert_eq!(seen["x-apitoken-name"], "nginx");
    assert_eq!(seen["x-apitoken-acls"], "list-accts");
    assert_eq!(seen["authorization"], Value::Null);
    assert_eq!(bad.status, 403);
    assert_eq!(none.status, 401);
    assert_eq!(upstream.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn the_front_runs_as_its_account_with_no_way_back_and_a_private_key() {
    let w = Web::start();
    let status = std::fs::read_to_string(format!("/proc/{}/status", w.pid())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
    };
    let uid = w.user.uid.to_string();
    assert_eq!(field("Uid:"), [uid.as_str(); 4]);
    assert_eq!(field("NoNewPrivs:"), ["1"]);
    assert_eq!(field("CapEff:"), ["0000000000000000"]);
    assert_eq!(field("CapPrm:"), ["0000000000000000"]);
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = |p: &std::path::Path| std::fs::metadata(p).unwrap();
    assert_eq!(meta(&w.state_dir).permissions().mode() & 0o777, 0o700);
    assert_eq!(meta(&w.state_dir).uid(), w.user.uid);
    let key = w.state_dir.join("self-signed.key");
    assert_eq!(meta(&key).permissions().mode() & 0o777, 0o600);
    assert_eq!(meta(&key).uid(), w.user.uid);
    // The certificate names localhost, 127.0.0.1 and ::1.
    let cert = std::fs::read_to_string(w.cert()).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    let r = curl(&[
        "--cacert",
        common::path_str(&w.cert()),
        &format!("https://localhost:{}/json-api/applist", w.https.port()),
    ]);
    assert_eq!(r.status, 403);
}

#[test]
fn sighup_reloads_the_certificate_files() {
    let w0 = Web::start();
    // Two certificates made with the same library the front uses.
    let make = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec![name.to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let dir = w0.daemon.dir.path().to_owned();
    drop(w0);
    let (c1, k1) = make("one.test");
    let (c2, k2) = make("two.test");
    let tls = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tls.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cert = write_file(tls.path(), "c.pem", &c1);
    let key = write_file(tls.path(), "k.pem", &k1);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _ = dir;
    let w = Web::builder()
        .web(&format!("tls_cert = {:?}\ntls_key = {:?}", cert, key))
        .start();
    let ca1 = write_file(tls.path(), "ca1.pem", &c1);
    let ca2 = write_file(tls.path(), "ca2.pem", &c2);
    let url = w.https_url("/json-api/applist");
    let trusts = |ca: &std::path::Path| {
        Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "--cacert",
                common::path_str(ca),
                &url,
            ])
            .status()
            .unwrap()
            .success()
    };
    assert!(trusts(&ca1) && !trusts(&ca2));
    std::fs::write(&cert, &c2).unwrap();
    std::fs::write(&key, &k2).unwrap();
    w.signal(nix::sys::signal::Signal::SIGHUP);
    w.wait_for_log("certificate reloaded", 1);
    assert!(trusts(&ca2) && !trusts(&ca1));
    // A broken pair keeps the running certificate.
    std::fs::write(&key, "not a key").unwrap();
    w.signal(nix::sys::signal::Signal::SIGHUP);
    w.wait_for_log("kept the previous certificate", 1);
    assert!(trusts(&ca2));
}

/// Bad HTTP gets a clear 4xx and the front keeps serving.
#[test]
fn caps_on_headers_uri_and_body_answer_4xx_and_malformed_http_400() {
    let w = Web::builder()
        .web(
            "max_header_bytes = 4096\nmax_headers = 16\nmax_uri_bytes = 512\nmax_body_bytes = 2048",
        )
        .start();
    let addr = w.http.unwrap();
    let token = w.token(None, "caps", &[]);
    let status = |raw: Vec<u8>| {
        let out = raw_exchange(addr, &raw, Duration::from_secs(10));
        parse_response(&out).status
    };
    let req = |head: &str| format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes();
    let many_headers: String = (0..20).map(|i| format!("X-H{i}: v\r\n")).collect();
    let big_header = format!("X-Big: {}\r\n", "a".repeat(5000));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "too many headers",
            format!("GET /json-api/applist HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
            431,
        ),
        (
            "headers too large",
            format!("GET /json-api/applist HTTP/1.1\r\nHost: x\r\n{big_header}\r\n").into_bytes(),
            431,
        ),
        (
            "URI too long",
            req(&format!("GET /json-api/applist?x={} HTTP/1.1", "a".repeat(600))),
            414,
        ),
        (
            "declared body too large",
            b"POST /json-api/api_token_list HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\
              Content-Type: application/x-www-form-urlencoded\r\n\r\n"
                .to_vec(),
            413,
        ),
        (
            "chunked body too large",
            {
                let chunk = "a".repeat(1500);
                format!(
                    "POST /json-api/api_token_list HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
                     Content-Type: application/x-www-form-urlencoded\r\n\r\n\
                     5dc\r\n{chunk}\r\n5dc\r\n{chunk}\r\n0\r\n\r\n"
                )
                .into_bytes()
            },
            413,
        ),
        ("garbage", b"\x16\x03\x01 hello\r\n\r\n".to_vec(), 400),
        ("bad request line", b"GET\r\n\r\n".to_vec(), 400),
        ("bad header", b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n".to_vec(), 400),
        ("bad percent-escape", req("GET /json-api/api_token_list?a=%zz HTTP/1.1"), 400),
        (
            "bad JSON body",
            format!(
                "POST /json-api/api_token_list HTTP/1.1\r\nHost: x\r\nAuthorization: whm root:{token}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1\r\nConnection: close\r\n\r\n{{"
            )
            .into_bytes(),
            400,
        ),
        (
            "unsupported body type",
            b"POST /json-api/api_token_list HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\
              Content-Length: 1\r\nConnection: close\r\n\r\nx"
                .to_vec(),
            415,
        ),
        ("method", req("DELETE /json-api/api_token_list HTTP/1.1"), 405),
    ];
    for (what, raw, want) in cases {
        assert_eq!(status(raw), want, "{what}");
    }
    // Still serving, over both listeners.
    let r = curl(&[
        "-H",
        &auth("root", &token),
        &w.http_url("/json-api/api_token_list?api.version=1"),
    ]);
    assert_eq!(metadata_result(&r), 1);
    let r = https(
        &w,
        "/json-api/api_token_list?api.version=1",
        &["-H", &auth("root", &token)],
    );
    assert_eq!(metadata_result(&r), 1);
}

/// How long until the server closes a connection that sent `bytes`.
fn closed_after(addr: std::net::SocketAddr, bytes: &[u8]) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let out = raw_exchange(addr, bytes, Duration::from_secs(20));
    (started.elapsed(), out)
}

#[test]
fn slow_and_silent_clients_are_cut_off_at_their_timeouts() {
    let w = Web::builder()
        .web("header_timeout_secs = 2\nrequest_timeout_secs = 1\ntls_handshake_timeout_secs = 1")
        .start();
    let addr = w.http.unwrap();
    // Headers that never end: closed at the header timeout.
    let (t, _) = closed_after(addr, b"GET /json-api/applist HTTP/1.1\r\nHost: x\r\n");
    assert!(
        t >= Duration::from_millis(1900) && t < Duration::from_secs(6),
        "{t:?}"
    );
    // A body that never comes: 408 at the request timeout.
    let (t, out) = closed_after(
        addr,
        b"POST /json-api/api_token_list HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\
          Content-Type: application/x-www-form-urlencoded\r\n\r\nabc",
    );
    assert_eq!(parse_response(&out).status, 408);
    assert!(
        t >= Duration::from_millis(900) && t < Duration::from_secs(5),
        "{t:?}"
    );
    // An idle keep-alive connection: closed at the header timeout.
    let (t, out) = closed_after(addr, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(parse_response(&out).status, 404);
    assert!(
        t >= Duration::from_millis(1900) && t < Duration::from_secs(6),
        "{t:?}"
    );
    // A TLS client that never sends its ClientHello: dropped at the
    // handshake timeout, with nothing said.
    let (t, out) = closed_after(w.https, b"");
    assert!(out.is_empty());
    assert!(
        t >= Duration::from_millis(900) && t < Duration::from_secs(5),
        "{t:?}"
    );
    // Half a ClientHello: the same.
    let (t, _) = closed_after(w.https, &[0x16, 0x03, 0x01, 0x00, 0xff, 0x01]);
    assert!(
        t >= Duration::from_millis(900) && t < Duration::from_secs(5),
        "{t:?}"
    );
}

#[test]
fn past_the_connection_limit_clients_get_503_and_stalled_handshakes_cost_one_slot() {
    let w = Web::builder()
        .web("max_connections = 4\nmax_connections_per_ip = 4\ntls_handshake_timeout_secs = 2")
        .start();
    let token = w.token(None, "limit", &[]);
    // Four TLS clients that never finish their handshake hold every slot.
    let stalled: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(w.https).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let r = curl(&[
        "-H",
        &auth("root", &token),
        &w.http_url("/json-api/api_token_list?api.version=1"),
    ]);
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.body.contains("too many connections"));
    // Once the handshake timeout frees them, the front serves again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = curl(&[
            "-H",
            &auth("root", &token),
            &w.http_url("/json-api/api_token_list?api.version=1"),
        ]);
        if r.status == 200 {
            assert_eq!(metadata_result(&r), 1);
            break;
        }
        assert!(Instant::now() < deadline, "never served again: {r:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(stalled);
}

#[test]
fn shipped_web_unit_is_hardened_and_verifies() {
    common::units::assert_exposure_at_most_1_5("apitokend-web.service");
    let unit =
        std::fs::read_to_string(common::units::units_dir().join("apitokend-web.service")).unwrap();
    for line in [
        "User=apitokend-web",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
    ] {
        assert!(unit.contains(line), "{line}");
    }
    common::units::assert_verifies(
        "apitokend-web.service",
        "/usr/sbin/apitokend-web",
        common::web::WEB,
        &[],
    );
}

#[test]
fn relayed_credentials_from_any_other_peer_are_refused_and_audited() {
    let w = Web::start();
    let token = w.token(None, "relay", &[]);
    // The test runs as root, not as the front's account.
    let line = json!({
        "command": "api_token_list",
        "args": {},
        "auth": {"token": {"user": "root", "token": token}, "ip": "203.0.113.7"}
    });
    let r = w.daemon.call_json(line);
    assert_eq!(common::error_code(&r), "not_authorized", "{r:?}");
    // Through the front the same token works.
    let ok = https(
        &w,
        "/json-api/api_token_list?api.version=1",
        &["-H", &auth("root", &token)],
    );
    assert_eq!(metadata_result(&ok), 1);
    let mut w = w;
    let log = w.daemon.stop_and_read_log();
    assert!(
        log.lines().any(|l| l.contains("command=api_token_list")
            && l.contains("error=not_authorized")
            && l.contains("peer_uid=0")),
        "{log}"
    );
    assert!(!log.contains(&token));
}
