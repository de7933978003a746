//! `api_token_list`: the owner's tokens with privileges as the caller may
//! see them, expiry flags and last use.
//!
//! The reply is written straight to JSON text, token by token: a list of
//! `limits.max_tokens_per_user` tokens, each with a flag per visible
//! privilege, is held once as its bytes (about 1.2 KiB a token), never as
//! a tree of values several times that size.

use serde::Serialize;
use serde::ser::SerializeMap;

use super::Ctx;
use super::owner::owner;
use super::reply::{Done, Outcome};
use super::validate::Failure;
use crate::acl::Holdings;
use crate::authz;
use crate::store::TokenRecord;

/// One token as the list shows it; fields in the order (alphabetical) a
/// JSON object of the same content has always been written in.
#[derive(Serialize)]
struct Entry<'a> {
    acls: Flags<'a>,
    create_time: i64,
    expired: u8,
    expires_at: Option<i64>,
    expires_soon: u8,
    has_full_access: u8,
    last_used_at: Option<i64>,
    last_used_ip: Option<String>,
    name: &'a str,
    whitelist_ips: Option<&'a [String]>,
}

/// Every privilege the caller may see, 1 when the token has it.
struct Flags<'a> {
    visible: &'a [&'a str],
    token: &'a TokenRecord,
    owner: &'a Holdings,
}

impl Serialize for Flags<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.visible.len()))?;
        for privilege in self.visible {
            let has = match &self.token.acls {
                None => self.owner.holds(privilege),
                Some(list) => list.iter().any(|a| a == privilege),
            };
            map.serialize_entry(privilege, &u8::from(has))?;
        }
        map.end()
    }
}

fn render_failed(e: &serde_json::Error) -> Failure {
    crate::logging::error(&format!("cannot render the token list: {e}"));
    Failure::new(
        apitokend_proto::ErrorCode::Internal,
        "cannot render the list",
    )
}

pub(super) fn run(ctx: &Ctx<'_>) -> Outcome {
    let state = ctx.state;
    let owner = owner(state, &ctx.actor.owner)?;
    let viewer = authz::visible_privileges(ctx.caller);
    let now = state.clock.now();
    let catalog = state.catalog();
    let mut visible: Vec<&str> = viewer.visible(&catalog).collect();
    visible.sort_unstable();
    visible.dedup();
    let warning = state.expiry_warning_secs();
    // Room for the whole reply at once (about what a token takes: its
    // fields and a flag per privilege), so the buffer is never regrown
    // and copied while it is large.
    let per_token = 200 + visible.len() * 20;
    let count = state.store.count(&owner.name)?;
    let mut out = Vec::with_capacity(64 + per_token.saturating_mul(count));
    out.extend_from_slice(b"{\"tokens\":{");
    let mut first = true;
    state.store.each(&owner.name, |rec: TokenRecord| {
        let last = state.last_use(&rec)?;
        let entry = Entry {
            acls: Flags {
                visible: &visible,
                token: &rec,
                owner: &owner.holdings,
            },
            create_time: rec.create_time,
            expired: u8::from(rec.is_expired(now)),
            expires_at: rec.expires_at,
            expires_soon: u8::from(
                rec.expires_at
                    .is_some_and(|t| t > now && t - now <= warning),
            ),
            has_full_access: u8::from(rec.acls.is_none()),
            last_used_at: last.as_ref().map(|u| u.at),
            last_used_ip: last.map(|u| u.ip),
            name: &rec.name,
            whitelist_ips: (!rec.whitelist_ips.is_empty()).then_some(&rec.whitelist_ips[..]),
        };
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut out, &rec.name).map_err(|e| render_failed(&e))?;
        out.push(b':');
        serde_json::to_writer(&mut out, &entry).map_err(|e| render_failed(&e))?;
        Ok::<(), Failure>(())
    })?;
    out.extend_from_slice(b"}}");
    Ok(Done::rendered(out))
}
