//! `status`: what the daemon is doing, for `apitoken status`, `apitoken
//! acls` and `apitoken functions`.
//!
//! Root sees the whole server (sockets, token and owner counts, cache,
//! lockouts, the last reload); a reseller that may manage tokens sees the
//! version, uptime and its own token count. Both may ask for the live
//! tables (`include`: `privileges`, `functions`) and per-owner counts
//! (`owners`; a reseller gets only its own). What each sees is decided by
//! `authz::status_view`.

use apitokend_proto::ErrorCode;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::params::Params;
use super::reply::{Done, Outcome};
use super::validate::Failure;
use crate::acl;
use crate::authz::{self, StatusView};

/// What `include` may ask for.
const SECTIONS: [&str; 3] = ["privileges", "functions", "owners"];

pub(super) fn run(ctx: &Ctx<'_>, args: Params<'_>) -> Outcome {
    let include = args.list("include")?.unwrap_or_default();
    if let Some(bad) = include.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        return Err(Failure::new(
            ErrorCode::BadRequest,
            format!(
                "unknown “include” section “{}” (known: {})",
                crate::text::shown(bad, 40),
                SECTIONS.join(", ")
            ),
        ));
    }
    let wants = |s: &str| include.iter().any(|i| i == s);
    let state = ctx.state;
    let now = state.clock.now();
    let mut data = Map::new();
    data.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    data.insert("started_at".into(), json!(state.started_at));
    data.insert("uptime_secs".into(), json!((now - state.started_at).max(0)));
    data.insert(
        "expiry_warning_days".into(),
        json!(state.expiry_warning_secs() / 86_400),
    );
    let counts = match authz::status_view(ctx.caller) {
        StatusView::Server => {
            let counts = state.store.owner_counts()?;
            data.insert("tokens".into(), json!(counts.values().sum::<usize>()));
            data.insert("owners".into(), json!(counts.len()));
            let (control, verify) = match state.sockets() {
                Some((c, v)) => (
                    json!(c.display().to_string()),
                    json!(v.display().to_string()),
                ),
                None => (Value::Null, Value::Null),
            };
            data.insert("control_socket".into(), control);
            data.insert("verify_socket".into(), verify);
            data.insert("verified_cache_entries".into(), json!(state.verified.len()));
            let count =
                |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
            data.insert("verifies_fast".into(), json!(count(&state.verifies.fast)));
            data.insert(
                "verifies_general".into(),
                json!(count(&state.verifies.general)),
            );
            data.insert("lockouts".into(), json!(state.lockout.list(now).len()));
            let reload = state.last_reload().map(|r| {
                json!({
                    "at": r.at,
                    "result": if r.problems.is_empty() { "ok" } else { "problems" },
                    "problems": r.problems,
                })
            });
            data.insert("last_reload".into(), reload.unwrap_or(Value::Null));
            counts
        }
        StatusView::Owner => {
            let owner = &ctx.actor.owner;
            let n = state.store.list(owner)?.len();
            data.insert("tokens".into(), json!(n));
            [(owner.clone(), n)].into_iter().collect()
        }
    };
    if wants("owners") {
        data.insert("owner_tokens".into(), json!(counts));
    }
    if wants("privileges") {
        let viewer = authz::visible_privileges(ctx.caller);
        let catalog = state.catalog();
        let privileges: Vec<Value> = catalog
            .categorised()
            .filter(|(name, _)| viewer.holds(name))
            .map(|(name, category)| {
                json!({
                    "name": name,
                    "category": category,
                    "bypasses_limits": u8::from(acl::bypasses_limits(name)),
                })
            })
            .collect();
        data.insert("privileges".into(), json!(privileges));
    }
    if wants("functions") {
        let table = state.functions();
        let functions: Map<String, Value> = table
            .entries()
            .into_iter()
            .map(|(f, needs)| (f.to_owned(), json!(needs)))
            .collect();
        data.insert("functions".into(), Value::Object(functions));
    }
    Ok(Done::data(Value::Object(data)))
}
