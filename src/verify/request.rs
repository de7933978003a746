//! A verify request's arguments, checked: who, the token (moved out of
//! `args` into a zeroizing buffer), from where, for which function.

use std::net::IpAddr;

use apitokend_proto::ErrorCode;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{Refusal, Req, refuse};
use crate::acl;
use crate::decode::string_arg;
use crate::iplist;
use crate::text::shown;

pub(super) struct VerifyArgs {
    user: String,
    token: Zeroizing<String>,
    ip: IpAddr,
    ip_text: String,
    function: String,
}

impl VerifyArgs {
    pub(super) fn req(&self) -> Req<'_> {
        Req {
            user: &self.user,
            token: &self.token,
            ip: self.ip,
            ip_text: &self.ip_text,
            function: &self.function,
        }
    }
}

fn bad(why: String) -> Refusal {
    refuse(ErrorCode::BadRequest, why)
}

pub(super) fn parse_args(args: &mut Map<String, Value>) -> Result<VerifyArgs, Refusal> {
    let token = Zeroizing::new(string_arg(args.remove("token"), "token").map_err(bad)?);
    let text = |key: &str| string_arg(args.get(key).cloned(), key).map_err(bad);
    let user = text("user")?;
    let ip_text = text("ip")?;
    let function = text("function")?;
    let ip = iplist::parse_caller(&ip_text).ok_or_else(|| {
        bad(if ip_text.trim().is_empty() {
            "argument “ip” is empty".to_owned()
        } else {
            format!(
                "argument “ip” is not an IP address: “{}”",
                shown(&ip_text, 64)
            )
        })
    })?;
    if !acl::is_valid_function(&function) {
        return Err(bad("argument “function” is not a function name".to_owned()));
    }
    Ok(VerifyArgs {
        user,
        token,
        ip,
        ip_text,
        function,
    })
}
