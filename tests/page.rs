//! The Manage API Tokens page in a real browser: the real daemon, the real
//! `apitokend-web` (started as root, so it switches to its account as in
//! production) and headless Chromium over WebDriver. Log-in by one-time
//! link, by system password (a real account checked through PAM with the
//! shipped etc/pam.d/apitokend-web) and by API token; the table, search,
//! Generate, Edit, Revoke, Revoke All, expiry colours through the injected
//! clock, reseller isolation, CSRF and Origin refusals, idle expiry and
//! log-out. Screenshots of each state go to target/screenshots/.
//!
//! Needs root, chromium and chromium-driver (`.ci/run` installs them).
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::browser::Browser;
use common::{Daemon, create, test_user};
use serde_json::{Value, json};

const WEB: &str = env!("CARGO_BIN_EXE_apitokend-web");
/// The front's account in tests (also the verify socket's group).
const FRONT_USER: &str = "apitokwebfront";
/// Resellers of these tests: one logs in with its system password, one
/// with an API token.
const PW_RESELLER: &str = "apitokpagepw";
const TOKEN_RESELLER: &str = "apitokpagetk";
const PASSWORD: &str = "c0rrect-Horse battery";
/// A fixed "now" for the daemon: 2026-06-01 12:00:00 UTC.
const NOW: i64 = 1_780_315_200;
const DAY: i64 = 86_400;

fn shots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots")
}

/// A temporary copy of the shipped PAM service, removed on drop.
struct PamService {
    name: String,
}

impl PamService {
    fn install() -> PamService {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "apitokend-web-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/pam.d/apitokend-web");
        std::fs::copy(shipped, Path::new("/etc/pam.d").join(&name)).unwrap();
        PamService { name }
    }
}

impl Drop for PamService {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(Path::new("/etc/pam.d").join(&self.name));
    }
}

/// The daemon and the front on one configuration file.
struct Stack {
    daemon: Daemon,
    front: Child,
    origin: String,
    front_log: PathBuf,
    _web_dir: tempfile::TempDir,
    _pam: PamService,
}

impl Stack {
    fn start(resellers: &str, web_extra: &str) -> Stack {
        let _front_user = test_user(FRONT_USER);
        let pam = PamService::install();
        let web_dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            web_dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        // A fixed port (not :0): the daemon builds log-in links from it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let daemon = Daemon::builder()
            .resellers(resellers)
            .config(&format!(
                "verify_socket_group = \"{FRONT_USER}\"\nexpiry_warning_days = 7\n\
                 [web]\nuser = \"{FRONT_USER}\"\nstate_dir = \"{}\"\nlisten = [\"127.0.0.1:{port}\"]\n\
                 pam_service = \"{}\"\n{web_extra}",
                web_dir.path().join("state").display(),
                pam.name
            ))
            .start();
        daemon.set_now(NOW);
        let front_log = web_dir.path().join("front.stderr");
        let front = Command::new(WEB)
            .arg("--config")
            .arg(&daemon.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&front_log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let origin = loop {
            let text = std::fs::read_to_string(&front_log).unwrap_or_default();
            if let Some(at) = text.find("listening on https://") {
                let rest = &text[at + "listening on ".len()..];
                let end = rest.find([' ', ',', '\n']).unwrap_or(rest.len());
                break rest[..end].to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "apitokend-web did not start: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Stack {
            daemon,
            front,
            origin,
            front_log,
            _web_dir: web_dir,
            _pam: pam,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// `apitoken web-login [--user U]` as root: the printed link.
    fn web_login(&self, user: Option<&str>) -> String {
        let mut c = self.daemon.cli();
        c.arg("web-login");
        if let Some(u) = user {
            c.args(["--user", u]);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        // The link names the front's own listener.
        assert!(
            link.starts_with(&format!("{}/login?ticket=", self.origin)),
            "{link}"
        );
        link
    }

    /// A raw HTTPS request with curl: status and body.
    fn curl(&self, args: &[&str]) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-sk", "-o", "-", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl (apt-get install curl; .ci/run does)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    fn front_log(&self) -> String {
        std::fs::read_to_string(&self.front_log).unwrap_or_default()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.front.kill();
        let _ = self.front.wait();
    }
}

/// A system account with a password, for PAM.
fn password_user(name: &str) {
    let _ = test_user(name);
    let mut c = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .expect("chpasswd");
    std::io::Write::write_all(
        c.stdin.as_mut().unwrap(),
        format!("{name}:{PASSWORD}\n").as_bytes(),
    )
    .unwrap();
    assert!(c.wait().unwrap().success(), "chpasswd failed");
}

fn session_cookie(b: &Browser) -> String {
    let c = b
        .cookies()
        .into_iter()
        .find(|c| c["name"] == "apitokend_session")
        .expect("a session cookie");
    // The attributes the issue asks for.
    assert_eq!(c["httpOnly"], true, "{c}");
    assert_eq!(c["secure"], true, "{c}");
    assert_eq!(c["sameSite"], "Strict", "{c}");
    assert_eq!(c["path"], "/", "{c}");
    c["value"].as_str().unwrap().to_owned()
}

fn wait_table(b: &Browser) {
    b.wait_js(
        "the token table is loaded",
        "return !document.querySelector('#tokens').textContent.includes('Loading');",
    );
}

fn rows(b: &Browser) -> Vec<String> {
    b.js(
        "return Array.from(document.querySelectorAll('#tokens tr[data-name]')).map(r => r.dataset.name);",
        json!([]),
    )
    .as_array()
    .unwrap()
    .iter()
    .map(|v| v.as_str().unwrap().to_owned())
    .collect()
}

fn row_class(b: &Browser, name: &str) -> String {
    b.js(
        "const r = document.querySelector(`#tokens tr[data-name=\"${arguments[0]}\"]`); return r ? r.className : null;",
        json!([name]),
    )
    .as_str()
    .unwrap_or("<no row>")
    .to_owned()
}

fn login_by_ticket(s: &Stack, b: &Browser, user: Option<&str>) {
    let link = s.web_login(user);
    b.goto(&link);
    b.wait("#tokens-table");
    wait_table(b);
}

#[test]
fn root_by_ticket_generates_searches_edits_and_revokes() {
    let s = Stack::start("", "");
    let b = Browser::start(&shots());
    // Two tokens already there; one expires in 3 days (yellow), one has
    // expired (red) once the clock moves.
    create(
        &s.daemon,
        None,
        json!({"token_name": "deploy-bot", "expires_at": NOW + 3 * DAY}),
    );
    create(
        &s.daemon,
        None,
        json!({"token_name": "old_backup", "expires_at": NOW + 10 * DAY}),
    );
    let link = s.web_login(None);
    // The link works once.
    b.goto(&link);
    b.wait("#tokens-table");
    wait_table(&b);
    assert!(b.url().ends_with('/'), "{}", b.url());
    let _ = session_cookie(&b);
    assert_eq!(b.text_of("#who"), "root");
    b.goto(&link);
    b.wait("#login-error");
    assert_eq!(b.text_of("#login-error"), "The login is invalid.");
    login_by_ticket(&s, &b, None);
    let mut names = rows(&b);
    names.sort();
    assert_eq!(names, ["deploy-bot", "old_backup"]);
    assert_eq!(row_class(&b, "deploy-bot"), "expiring");
    assert_eq!(row_class(&b, "old_backup"), "");
    assert!(
        b.find("#tokens tr.expiring .notice-icon[aria-label='Expires soon']")
            .is_some()
    );
    b.screenshot("01-token-list");

    // Generate: the name is checked as you type; Generate needs a privilege.
    b.click_css("#generate-open");
    let submit = b.wait("#form-submit");
    b.fill("#token-name", "bad name!");
    assert!(b.text_of("#token-name-error").contains("only letters"));
    assert_eq!(b.property(&submit, "disabled"), true);
    b.fill("#token-name", "deploy-bot");
    assert!(b.text_of("#token-name-error").contains("already exists"));
    b.fill("#token-name", "ci_runner");
    assert_eq!(b.text_of("#token-name-error"), "");
    assert_eq!(b.property(&submit, "disabled"), false);
    // Defaults: expires one year from the server's today; all ticked.
    let date = b.property(&b.wait("#expires-date"), "value");
    assert_eq!(date, "2027-06-01");
    let ticked = b.js(
        "return Array.from(document.querySelectorAll('.acl-box')).every(x => x.checked);",
        json!([]),
    );
    assert_eq!(ticked, true);
    assert!(b.text_of("#privileges").contains("bypass any restrictions"));
    b.click_css("#acl-none");
    assert_eq!(b.property(&submit, "disabled"), true);
    assert!(b.text_of("#privileges-error").contains("at least one"));
    b.click_css("#acl-list-accts");
    b.click_css("#acl-manage-api-tokens");
    assert_eq!(b.property(&submit, "disabled"), false);
    b.fill("#token-ips", "192.0.2.0/24\n2001:db8::1");
    b.screenshot("02-generate-form");
    b.click(&submit);
    let token_box = b.wait("#generated:not([hidden]) #generated-token");
    let token = b.property(&token_box, "value").as_str().unwrap().to_owned();
    assert_eq!(token.len(), 32, "{token}");
    assert_eq!(b.text_of("#generated-name"), "ci_runner");
    assert!(b.text_of("#generated-expires").contains("2027"));
    b.screenshot("03-token-shown-once");
    // It verifies on the verify socket, from an allowed address only.
    let ok = s.daemon.verify("root", &token, "192.0.2.7", "listaccts");
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(ok.data.unwrap()["token_name"], "ci_runner");
    assert!(
        !s.daemon
            .verify("root", &token, "198.51.100.1", "listaccts")
            .is_ok()
    );
    assert!(
        !s.daemon
            .verify("root", &token, "192.0.2.7", "createacct")
            .is_ok()
    );
    b.click_css("#copy-token");
    b.wait("#toast:not([hidden])");
    b.click_css("#saved-token");
    b.wait_js(
        "the new token is listed",
        "return !!document.querySelector('#tokens tr[data-name=\"ci_runner\"]');",
    );
    // After "Yes, I saved my token" the token is nowhere in the page.
    assert!(!b.html().contains(&token));
    assert_eq!(b.property(&b.wait("#generated-token"), "value"), "");

    // Search filters as you type.
    let search = b.wait("#search");
    b.type_into(&search, "bot");
    assert_eq!(rows(&b), ["deploy-bot"]);
    b.screenshot("04-search");
    b.clear(&search);
    b.type_into(&search, "zzz");
    assert!(rows(&b).is_empty());
    assert!(b.text_of("#tokens").contains("No API tokens match"));
    b.clear(&search);
    b.js(
        "document.getElementById('search').dispatchEvent(new Event('input'));",
        json!([]),
    );
    assert_eq!(rows(&b).len(), 3);

    // Edit: rename, privileges, IPs, expiry; a daemon error lands next to
    // its field; Save shows a success message.
    b.click_css("#tokens tr[data-name='ci_runner'] button[aria-label='Edit ci_runner']");
    b.wait("#form-section:not([hidden])");
    assert_eq!(b.property(&b.wait("#token-name"), "value"), "ci_runner");
    assert_eq!(b.property(&b.wait("#acl-list-accts"), "checked"), true);
    assert_eq!(b.property(&b.wait("#acl-create-acct"), "checked"), false);
    b.fill("#token-ips", "not-an-address");
    b.click_css("#form-submit");
    b.wait_js(
        "the address error is next to the IPs field",
        "return document.getElementById('token-ips-error').textContent.length > 0;",
    );
    b.screenshot("05-edit-error");
    b.fill("#token-ips", "");
    b.fill("#token-name", "ci-runner-2");
    b.click_css("#acl-create-acct");
    b.click_css("#expires-never");
    b.click_css("#form-submit");
    b.wait_js(
        "the success message is shown",
        "const t = document.getElementById('toast'); return !t.hidden && t.textContent.includes('updated');",
    );
    b.wait_js(
        "the renamed token is listed",
        "return !!document.querySelector('#tokens tr[data-name=\"ci-runner-2\"]');",
    );
    b.screenshot("06-edit-saved");
    let v = s
        .daemon
        .verify("root", &token, "198.51.100.1", "createacct");
    assert!(v.is_ok(), "now any address and create-acct: {v:?}");
    let listed = s.daemon.call(common::req("api_token_list"));
    let entry = &listed.data.unwrap()["tokens"]["ci-runner-2"];
    assert_eq!(entry["expires_at"], Value::Null);

    // The clock moves 11 days: both old tokens have expired (red). The
    // session has not lived that long: log in again.
    s.daemon.set_now(NOW + 11 * DAY);
    b.click_css("#gear");
    b.click_css("#refresh-list");
    b.wait("#password-form");
    login_by_ticket(&s, &b, None);
    b.wait_js(
        "the expired rows are red",
        "return document.querySelectorAll('#tokens tr.expired').length === 2;",
    );
    assert!(
        b.find("#tokens tr.expired .notice-icon[aria-label='Expired']")
            .is_some()
    );
    b.screenshot("07-expired-rows");

    // Revoke one, with a confirmation (Cancel first changes nothing).
    b.click_css("button[aria-label='Revoke old_backup']");
    b.wait("#confirm[open]");
    b.screenshot("08-revoke-confirm");
    b.click_css("#confirm-cancel");
    assert_eq!(rows(&b).len(), 3);
    b.click_css("button[aria-label='Revoke old_backup']");
    b.click_css("#confirm-ok");
    b.wait_js(
        "old_backup is gone",
        "return !document.querySelector('#tokens tr[data-name=\"old_backup\"]');",
    );
    b.wait_js(
        "the revoke message is shown",
        "return document.getElementById('toast').textContent.includes('revoked');",
    );
    // Revoke All from the gear menu.
    b.click_css("#gear");
    b.click_css("#revoke-all");
    b.wait("#confirm[open]");
    assert!(b.text_of("#confirm-text").contains("all 2 API tokens"));
    b.click_css("#confirm-ok");
    b.wait_js(
        "the table is empty",
        "return document.querySelectorAll('#tokens tr[data-name]').length === 0;",
    );
    assert!(
        !s.daemon
            .verify("root", &token, "192.0.2.7", "listaccts")
            .is_ok()
    );
}

#[test]
fn password_and_token_log_ins_and_a_reseller_sees_only_its_own() {
    password_user(PW_RESELLER);
    let _ = test_user(TOKEN_RESELLER);
    let s = Stack::start(
        &format!(
            "{PW_RESELLER}:manage-api-tokens,list-accts\n\
             {TOKEN_RESELLER}:manage-api-tokens,list-accts,create-acct\n"
        ),
        "",
    );
    create(&s.daemon, None, json!({"token_name": "root-secret-token"}));
    create(&s.daemon, Some(PW_RESELLER), json!({"token_name": "mine"}));
    let b = Browser::start(&shots());
    // A wrong password: one message, whatever was wrong.
    b.goto(&s.url("/login"));
    b.fill("#login-user", PW_RESELLER);
    b.fill("#login-password", "wrong password");
    b.screenshot("10-login-form");
    b.submit("#password-form button[type=submit]");
    b.wait("#login-error");
    assert_eq!(b.text_of("#login-error"), "The login is invalid.");
    b.fill("#login-user", "nosuchuserapitok");
    b.fill("#login-password", PASSWORD);
    b.submit("#password-form button[type=submit]");
    assert_eq!(b.text_of("#login-error"), "The login is invalid.");
    b.screenshot("11-login-refused");
    // The right one, through PAM.
    b.fill("#login-user", PW_RESELLER);
    b.fill("#login-password", PASSWORD);
    b.submit("#password-form button[type=submit]");
    b.wait("#tokens-table");
    wait_table(&b);
    assert_eq!(b.text_of("#who"), PW_RESELLER);
    assert_eq!(rows(&b), ["mine"]);
    assert!(!b.body_text().contains("root-secret-token"));
    assert!(
        b.find("#owner").is_none(),
        "no user selector for a reseller"
    );
    // Only what the reseller holds can be granted.
    let offered: Vec<String> = b
        .js(
            "return Array.from(document.querySelectorAll('.acl-box')).map(x => x.value);",
            json!([]),
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(offered, ["list-accts", "manage-api-tokens"]);
    // Asking for root's tokens from the page's own functions is refused.
    let reply = b.js(
        "return (async () => {\
           const d = JSON.parse(document.getElementById('page-data').textContent);\
           const r = await fetch('/json-api/api_token_list', {method: 'POST', headers: {'X-CSRF-Token': d.csrf},\
             body: new URLSearchParams({'api.version': '1', user: 'root'})});\
           return await r.json();\
         })();",
        json!([]),
    );
    assert_eq!(reply["metadata"]["result"], 0, "{reply}");
    assert_eq!(reply["metadata"]["error"], "not_authorized", "{reply}");
    b.screenshot("12-reseller-page");
    // Log out ends the session in the daemon.
    let cookie = session_cookie(&b);
    b.click_css("#logout");
    b.wait("#password-form");
    let (code, _) = s.curl(&[
        "-H",
        &format!("Cookie: apitokend_session={cookie}"),
        &s.url("/"),
    ]);
    assert_eq!(code, 303, "the old session no longer opens the page");

    // By API token: it needs manage-api-tokens.
    let weak = create(
        &s.daemon,
        Some(TOKEN_RESELLER),
        json!({"token_name": "weak", "acl": ["list-accts"]}),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let strong = create(
        &s.daemon,
        Some(TOKEN_RESELLER),
        json!({"token_name": "admin", "acl": ["manage-api-tokens"]}),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (token, works) in [(&weak, false), (&strong, true)] {
        b.goto(&s.url("/login"));
        b.click_css("#token-login summary");
        b.fill("#token-user", TOKEN_RESELLER);
        b.fill("#token-secret", token);
        b.submit("#token-form button[type=submit]");
        if works {
            b.wait("#tokens-table");
            wait_table(&b);
            assert_eq!(b.text_of("#who"), TOKEN_RESELLER);
            let mut names = rows(&b);
            names.sort();
            assert_eq!(names, ["admin", "weak"]);
        } else {
            b.wait("#login-error");
            assert_eq!(b.text_of("#login-error"), "The login is invalid.");
        }
    }
    // Root picks a reseller with the user selector.
    login_by_ticket(&s, &b, None);
    b.wait("#owner");
    b.js(
        "const s = document.getElementById('owner'); s.value = arguments[0]; s.dispatchEvent(new Event('change'));",
        json!([PW_RESELLER]),
    );
    b.wait_js(
        "the reseller's tokens are shown",
        &format!("return location.search.includes('{PW_RESELLER}') && !!document.querySelector('#tokens tr[data-name=\"mine\"]');"),
    );
    assert_eq!(rows(&b), ["mine"]);
    b.screenshot("13-root-user-selector");
}

#[test]
fn csrf_origin_and_idle_expiry() {
    let s = Stack::start("", "session_idle_secs = 600\n");
    create(&s.daemon, None, json!({"token_name": "keep-me"}));
    let b = Browser::start(&shots());
    login_by_ticket(&s, &b, None);
    let cookie = session_cookie(&b);
    let csrf = b
        .js(
            "return JSON.parse(document.getElementById('page-data').textContent).csrf;",
            json!([]),
        )
        .as_str()
        .unwrap()
        .to_owned();
    let origin = format!("Origin: {}", s.origin);
    let cookie_h = format!("Cookie: apitokend_session={cookie}");
    let csrf_h = format!("X-CSRF-Token: {csrf}");
    let revoke = s.url("/json-api/api_token_revoke?api.version=1&token_name=keep-me");
    let wrong_csrf = format!("X-CSRF-Token: {}", "0".repeat(64));
    let cases: [(&str, Vec<&str>); 5] = [
        (
            "no CSRF token",
            vec!["-X", "POST", "-H", &cookie_h, "-H", &origin],
        ),
        (
            "wrong CSRF token",
            vec![
                "-X",
                "POST",
                "-H",
                &cookie_h,
                "-H",
                &origin,
                "-H",
                &wrong_csrf,
            ],
        ),
        (
            "no Origin",
            vec!["-X", "POST", "-H", &cookie_h, "-H", &csrf_h],
        ),
        (
            "Origin: null",
            vec![
                "-X",
                "POST",
                "-H",
                &cookie_h,
                "-H",
                &csrf_h,
                "-H",
                "Origin: null",
            ],
        ),
        (
            "another origin",
            vec![
                "-X",
                "POST",
                "-H",
                &cookie_h,
                "-H",
                &csrf_h,
                "-H",
                "Origin: https://evil.example",
            ],
        ),
    ];
    for (what, args) in cases {
        let mut args = args;
        args.push(&revoke);
        let (code, body) = s.curl(&args);
        assert_eq!(code, 403, "{what}: {body}");
    }
    // Log-in and log-out forms from elsewhere are refused too.
    let (code, _) = s.curl(&[
        "-X",
        "POST",
        "-H",
        "Origin: null",
        "-d",
        "method=ticket&ticket=x",
        &s.url("/login"),
    ]);
    assert_eq!(code, 403);
    let logout_body = format!("csrf={csrf}");
    let (code, _) = s.curl(&[
        "-X",
        "POST",
        "-H",
        &cookie_h,
        "-H",
        "Origin: null",
        "-d",
        &logout_body,
        &s.url("/logout"),
    ]);
    assert_eq!(code, 403);
    // Nothing changed: the token and the session are still there.
    let listed = s.daemon.call(common::req("api_token_list"));
    assert!(listed.data.unwrap()["tokens"].get("keep-me").is_some());
    // With both, the same request works.
    let (code, body) = s.curl(&[
        "-X", "POST", "-H", &cookie_h, "-H", &origin, "-H", &csrf_h, &revoke,
    ]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["metadata"]["result"],
        1
    );
    // Every reply is no-store with the page's policy.
    let out = Command::new("curl")
        .args([
            "-sk",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-H",
            &cookie_h,
            &s.url("/"),
        ])
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    for h in [
        "cache-control: no-store",
        "referrer-policy: same-origin",
        "frame-ancestors 'none'",
        "x-frame-options: deny",
    ] {
        assert!(headers.contains(h), "{h} missing: {headers}");
    }
    assert!(headers.contains("content-security-policy:") && !headers.contains("unsafe-inline"));

    // Idle expiry: 601 s without a request (the daemon's clock) ends it.
    s.daemon.set_now(NOW + 300);
    b.click_css("#gear");
    b.click_css("#refresh-list");
    b.wait("#toast:not([hidden])");
    s.daemon.set_now(NOW + 300 + 601);
    b.goto(&s.url("/"));
    b.wait("#password-form");
    assert!(b.url().ends_with("/login"), "{}", b.url());
    b.screenshot("14-session-expired");
    let (code, _) = s.curl(&["-H", &cookie_h, &s.url("/")]);
    assert_eq!(code, 303);
    assert!(
        !s.front_log().contains(&cookie),
        "the session id is never logged"
    );
}

#[test]
fn a_narrow_screen_still_shows_everything() {
    let s = Stack::start("", "");
    create(
        &s.daemon,
        None,
        json!({"token_name": "phone-view", "whitelist_ip": ["192.0.2.1"]}),
    );
    let b = Browser::start(&shots());
    b.set_size(390, 844);
    login_by_ticket(&s, &b, None);
    assert_eq!(rows(&b), ["phone-view"]);
    // The cells carry their column names; the gear menu stays reachable.
    assert!(b.find("#tokens td[data-label='IPs']").is_some());
    b.click_css("#gear");
    b.wait("#gear-menu:not([hidden]) #refresh-list");
    b.screenshot("15-narrow-screen");
    // Keyboard: Escape closes the menu and gives the focus back.
    let menu_item = b.wait("#refresh-list");
    b.type_into(&menu_item, "\u{E00C}");
    b.wait("#gear-menu[hidden]");
    let focused = b.js("return document.activeElement.id;", json!([]));
    assert_eq!(focused, "gear");
}
