//! The HTML of the log-in page and of Manage API Tokens. Server-rendered
//! skeletons; the table, the forms' behaviour and the dialogs are the
//! embedded script's (`assets/page.js`), which reads the page's data from
//! a JSON data block (no inline script, so the CSP needs no
//! `unsafe-inline`).

use serde_json::{Value, json};

use super::html::{esc, json_block};

const GEAR: &str = r#"<svg aria-hidden="true" focusable="false" width="18" height="18" viewBox="0 0 24 24"><path fill="currentColor" d="M19.4 13a7.5 7.5 0 0 0 0-2l2.1-1.6-2-3.5-2.5 1a7.6 7.6 0 0 0-1.7-1L15 3h-4l-.4 2.9a7.6 7.6 0 0 0-1.7 1l-2.5-1-2 3.5L6.6 11a7.5 7.5 0 0 0 0 2l-2.1 1.6 2 3.5 2.5-1c.5.4 1.1.7 1.7 1L11 21h4l.4-2.9c.6-.3 1.2-.6 1.7-1l2.5 1 2-3.5zM13 15.5a3.5 3.5 0 1 1 0-7 3.5 3.5 0 0 1 0 7z"/></svg>"#;

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} - WHM</title>\n<link rel=\"stylesheet\" href=\"/static/page.css\">\n\
         <script src=\"/static/page.js\" defer></script>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        esc(title)
    )
}

/// The log-in page: password or API token; with a ticket, a form the
/// script sends at once (a link previewer that fetches the URL does not
/// use up the ticket).
pub(crate) fn login(error: Option<&str>, ticket: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |e| {
        format!(
            "<p class=\"alert error\" role=\"alert\" id=\"login-error\">{}</p>",
            esc(e)
        )
    });
    let body = match ticket {
        Some(t) => format!(
            "<main class=\"login\">\n<h1>WHM</h1>\n{error}\
             <form method=\"post\" action=\"/login\" id=\"ticket-form\" data-auto=\"1\">\n\
             <input type=\"hidden\" name=\"method\" value=\"ticket\">\n\
             <input type=\"hidden\" name=\"ticket\" value=\"{}\">\n\
             <p>You are logging in with a one-time link.</p>\n\
             <button type=\"submit\" class=\"primary\">Continue</button>\n</form>\n</main>",
            esc(t)
        ),
        None => format!(
            "<main class=\"login\">\n<h1>WHM</h1>\n<p class=\"lead\">Log in to manage your API tokens.</p>\n{error}\
             <form method=\"post\" action=\"/login\" id=\"password-form\">\n\
             <input type=\"hidden\" name=\"method\" value=\"password\">\n\
             <label for=\"login-user\">Username</label>\n\
             <input id=\"login-user\" name=\"user\" autocomplete=\"username\" required autofocus>\n\
             <label for=\"login-password\">Password</label>\n\
             <input id=\"login-password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\n\
             <button type=\"submit\" class=\"primary\">Log in</button>\n</form>\n\
             <details id=\"token-login\">\n<summary>Log in with an API token</summary>\n\
             <form method=\"post\" action=\"/login\" id=\"token-form\">\n\
             <input type=\"hidden\" name=\"method\" value=\"token\">\n\
             <label for=\"token-user\">Username</label>\n\
             <input id=\"token-user\" name=\"user\" autocomplete=\"username\" required>\n\
             <label for=\"token-secret\">API token (needs the manage-api-tokens privilege)</label>\n\
             <input id=\"token-secret\" name=\"token\" type=\"password\" autocomplete=\"off\" required>\n\
             <button type=\"submit\">Log in with token</button>\n</form>\n</details>\n</main>"
        ),
    };
    shell("Log in", &body)
}

/// A short page for a refusal.
pub(crate) fn problem(reason: &str) -> String {
    shell(
        "Manage API Tokens",
        &format!(
            "<main class=\"login\">\n<h1>Manage API Tokens</h1>\n\
             <p class=\"alert error\" role=\"alert\">{}</p>\n<p><a href=\"/\">Back</a></p>\n</main>",
            esc(reason)
        ),
    )
}

/// Why a privilege needs care (WHM's warnings).
fn warning(privilege: &str) -> Option<&'static str> {
    match privilege {
        "all" => Some(
            "Everything: a user with this token can perform every function you can (for root: all root functions).",
        ),
        "passwd" => Some(
            "Change Password: a user with this token can change account passwords and log in with a new password.",
        ),
        "create-user-session" | "manage-api-tokens" => {
            Some("A user with this token can bypass any restrictions that you set on the token.")
        }
        "cpanel-api" => {
            Some("A user with this token can call the cPanel API as any account you own.")
        }
        _ => None,
    }
}

fn privileges(list: &[Value]) -> String {
    let mut groups: Vec<(String, Vec<&Value>)> = Vec::new();
    for p in list {
        let cat = p["category"].as_str().unwrap_or("additional").to_owned();
        match groups.iter_mut().find(|(c, _)| *c == cat) {
            Some((_, v)) => v.push(p),
            None => groups.push((cat, vec![p])),
        }
    }
    let mut out = String::new();
    for (cat, items) in groups {
        out.push_str(&format!(
            "<fieldset class=\"group\"><legend>{}</legend>\n",
            esc(&title_case(&cat))
        ));
        for p in items {
            let name = p["name"].as_str().unwrap_or("");
            let id = format!("acl-{name}");
            let warn = warning(name).map_or_else(String::new, |w| {
                format!(
                    "<span class=\"warning\" id=\"{}-warning\"><span class=\"notice-icon\" aria-hidden=\"true\"></span>{}</span>",
                    esc(&id),
                    esc(w)
                )
            });
            let described = if warning(name).is_some() {
                format!(" aria-describedby=\"{}-warning\"", esc(&id))
            } else {
                String::new()
            };
            out.push_str(&format!(
                "<div class=\"acl\"><input type=\"checkbox\" class=\"acl-box\" id=\"{id}\" value=\"{n}\" checked{described}>\
                 <label for=\"{id}\">{n}</label>{warn}</div>\n",
                id = esc(&id),
                n = esc(name),
            ));
        }
        out.push_str("</fieldset>\n");
    }
    out
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Manage API Tokens, for the session described by `info`
/// (`session_info`'s data).
pub(crate) fn main(info: &Value) -> String {
    let user = info["user"].as_str().unwrap_or("");
    let owner = info["owner"].as_str().unwrap_or(user);
    let csrf = info["csrf"].as_str().unwrap_or("");
    let is_root = info["is_root"].as_bool().unwrap_or(false);
    let selector = if is_root {
        let options: String = info["users"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter_map(Value::as_str)
            .map(|u| {
                let sel = if u == owner { " selected" } else { "" };
                format!("<option value=\"{0}\"{sel}>{0}</option>", esc(u))
            })
            .collect();
        format!(
            "<form method=\"get\" action=\"/\" id=\"owner-form\" class=\"owner\">\
             <label for=\"owner\">Manage the API tokens of</label> \
             <select id=\"owner\" name=\"user\">{options}</select> \
             <button type=\"submit\" id=\"owner-show\">Show</button></form>"
        )
    } else {
        String::new()
    };
    let empty = Vec::new();
    let privs = info["privileges"].as_array().unwrap_or(&empty);
    let data = json!({
        "user": user,
        "owner": owner,
        "is_root": is_root,
        "csrf": csrf,
        "now": info["now"],
        "expiry_warning_secs": info["expiry_warning_secs"],
    });
    let body = format!(
        r##"<header class="top">
<div class="brand">WHM <span aria-hidden="true">»</span> Development <span aria-hidden="true">»</span> <strong>Manage API Tokens</strong></div>
<div class="who">Logged in as <strong id="who">{user_e}</strong>
<form method="post" action="/logout" class="inline" id="logout-form"><input type="hidden" name="csrf" value="{csrf_e}"><button type="submit" id="logout">Log out</button></form></div>
</header>
<div id="toast" class="toast" role="status" aria-live="polite" hidden></div>
<script type="application/json" id="page-data">{data}</script>
<main class="app">
<h1>Manage API Tokens</h1>
<p class="lead">Create, list, update and revoke API tokens{for_owner}. Use an API token to authenticate with WHM's remote API.</p>
{selector}
<section id="generated" class="panel success" hidden aria-labelledby="generated-title">
<h2 id="generated-title">Your API token was created</h2>
<dl class="facts"><dt>Name</dt><dd id="generated-name"></dd><dt>Expires</dt><dd id="generated-expires"></dd></dl>
<label for="generated-token">Token</label>
<div class="copyrow"><input id="generated-token" readonly autocomplete="off" spellcheck="false"><button type="button" id="copy-token">Copy</button></div>
<p class="alert warn" role="alert"><span class="notice-icon" aria-hidden="true"></span>Save this token in a safe place now. You cannot see it again after you leave this message or refresh the list.</p>
<button type="button" class="primary" id="saved-token">Yes, I saved my token</button>
</section>
<section id="form-section" class="panel" hidden aria-labelledby="form-title">
<h2 id="form-title">Generate API Token</h2>
<form id="token-form" novalidate>
<label for="token-name">Name</label>
<input id="token-name" maxlength="50" autocomplete="off" aria-describedby="token-name-help token-name-error" required>
<p class="help" id="token-name-help">Up to 50 characters: letters (a-z, A-Z), numbers (0-9), dashes (-) and underscores (_).</p>
<p class="field-error" id="token-name-error" aria-live="polite"></p>
<fieldset id="expiry-set"><legend>Should the API Token Expire?</legend>
<div><input type="radio" name="expires" id="expires-never" value="never"><label for="expires-never">The API Token will not expire.</label></div>
<div><input type="radio" name="expires" id="expires-date-choice" value="date" checked><label for="expires-date-choice">Specify an expiration date.</label></div>
<div id="expiry-date-row"><label for="expires-date">API Token Expiration Date</label>
<input type="date" id="expires-date" aria-describedby="expires-help expires-error">
<p class="help" id="expires-help">YYYY-MM-DD. The token expires at 11:59:59 PM server time on that day.</p></div>
<p class="field-error" id="expires-error" aria-live="polite"></p>
</fieldset>
<label for="token-ips">IPs</label>
<textarea id="token-ips" rows="3" aria-describedby="token-ips-help token-ips-error" spellcheck="false"></textarea>
<p class="help" id="token-ips-help">One IPv4 or IPv6 address or CIDR range per line (for example 10.5.3.33 or 10.5.3.0/24), at most 100. Leave blank to allow any address.</p>
<p class="field-error" id="token-ips-error" aria-live="polite"></p>
<fieldset id="privileges"><legend>Privileges</legend>
<p class="help">Only the privileges {owner_e} holds appear here. Deselect those the token should not have; it needs at least one.</p>
<div class="acl-tools"><button type="button" id="acl-all">Select all</button> <button type="button" id="acl-none">Deselect all</button></div>
{privs}
<p class="field-error" id="privileges-error" aria-live="polite"></p>
</fieldset>
<p class="field-error" id="form-error" role="alert"></p>
<div class="actions"><button type="submit" class="primary" id="form-submit" disabled>Generate</button> <button type="button" id="form-cancel">Cancel</button></div>
</form>
</section>
<section id="list-section" aria-labelledby="list-title">
<div class="list-head"><h2 id="list-title">API Tokens</h2><button type="button" class="primary" id="generate-open">Generate Token</button></div>
<div class="search"><label for="search">Search</label> <input type="search" id="search" autocomplete="off" aria-controls="tokens"></div>
<div class="table-wrap">
<table id="tokens-table">
<caption class="sr-only">API tokens of {owner_e}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">IPs</th><th scope="col">Last used</th>
<th scope="col" class="actions-col">Actions
<span class="gear-wrap"><button type="button" id="gear" aria-haspopup="true" aria-expanded="false" aria-controls="gear-menu" aria-label="List actions">{gear}</button>
<span id="gear-menu" class="menu" role="menu" hidden><button type="button" role="menuitem" id="refresh-list">Refresh List</button><button type="button" role="menuitem" id="revoke-all">Revoke All</button></span></span></th></tr></thead>
<tbody id="tokens"><tr><td colspan="6">Loading…</td></tr></tbody>
</table>
</div>
<p id="list-status" class="help" aria-live="polite"></p>
</section>
</main>
<dialog id="confirm" aria-labelledby="confirm-text">
<p id="confirm-text"></p>
<div class="actions"><button type="button" class="danger" id="confirm-ok">Continue</button> <button type="button" id="confirm-cancel">Cancel</button></div>
</dialog>"##,
        user_e = esc(user),
        csrf_e = esc(csrf),
        owner_e = esc(owner),
        for_owner = if owner == user {
            String::new()
        } else {
            format!(" for <strong>{}</strong>", esc(owner))
        },
        data = json_block(&data),
        privs = privileges(privs),
        gear = GEAR,
    );
    shell("Manage API Tokens", &body)
}
