//! `lockout_list` and `lockout_clear`: root's view of, and way out of, the
//! verify path's brute-force lockout.

use apitokend_proto::ErrorCode;
use serde_json::{Value, json};

use super::Ctx;
use super::params::Params;
use super::reply::{Done, Outcome};
use super::validate::Failure;
use crate::iplist;
use crate::text::shown;

pub(super) fn list(ctx: &Ctx<'_>) -> Done {
    let now = ctx.state.clock.now();
    let lockouts: Vec<Value> = ctx
        .state
        .lockout
        .list(now)
        .into_iter()
        .map(|l| {
            json!({
                "ip": iplist::format(&l.net),
                "failures": l.failures,
                "locked_until": l.locked_until,
            })
        })
        .collect();
    Done::data(json!({ "lockouts": lockouts }))
}

pub(super) fn clear(ctx: &Ctx<'_>, args: Params<'_>) -> Outcome {
    let lockout = &ctx.state.lockout;
    let now = ctx.state.clock.now();
    let all = args.single("all")?.is_some_and(|v| v == "1");
    let ips = args.list("ip")?.unwrap_or_default();
    let cleared = match (all, ips.is_empty()) {
        (true, true) => lockout.clear(None, now),
        (false, false) => {
            let mut parsed = Vec::with_capacity(ips.len());
            for ip in &ips {
                parsed.push(iplist::parse_caller(ip).ok_or_else(|| {
                    Failure::new(
                        ErrorCode::InvalidIp,
                        format!("“{}” is not an IP address", shown(ip, 64)),
                    )
                })?);
            }
            lockout.clear(Some(&parsed), now)
        }
        (true, false) | (false, true) => {
            return Err(Failure::new(
                ErrorCode::BadRequest,
                "give “ip” (repeatable) or “all=1”, not both",
            ));
        }
    };
    let cleared: Vec<String> = cleared.iter().map(iplist::format).collect();
    Ok(Done::data(json!({ "cleared": cleared })))
}
