//! The verify socket's fast path: a request line read in place, and the
//! reply written straight into the connection's buffer.
//!
//! Only the common shape is taken here: `{"command":"verify","args":{...}}`
//! with exactly the four string arguments, none escaped, all valid. Any
//! other line (other fields or commands, escapes, wrong types, an invalid
//! address or function name, bad JSON) goes to the general decoder, which
//! answers it as always: this parser never produces an error of its own,
//! so both paths give one answer to one line.

use serde::Deserialize;

use super::{Grant, Req};
use crate::acl;
use crate::iplist;
use apitokend_proto::ErrorCode;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    command: &'a str,
    #[serde(borrow)]
    args: Args<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args<'a> {
    user: &'a str,
    token: &'a str,
    ip: &'a str,
    function: &'a str,
}

/// The verify request in `line`, borrowed, if it has the common shape.
pub(super) fn parse(line: &[u8]) -> Option<Req<'_>> {
    let parsed: Line<'_> = serde_json::from_slice(line).ok()?;
    if parsed.command != super::COMMAND {
        return None;
    }
    let Args {
        user,
        token,
        ip,
        function,
    } = parsed.args;
    let addr = iplist::parse_caller(ip)?;
    if !acl::is_valid_function(function) {
        return None;
    }
    Some(Req {
        user,
        token,
        ip: addr,
        ip_text: ip,
        function,
    })
}

/// Appends the reply line of an accepted verify: the bytes
/// `Grant::response` serializes to, without building it.
pub(super) fn write_ok(grant: &Grant, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"data\":{\"acls\":[");
    let mut first = true;
    grant.each_acl(|a| {
        if !first {
            out.push(b',');
        }
        first = false;
        string(out, a);
    });
    out.extend_from_slice(b"],\"token_name\":");
    string(out, &grant.snapshot().name);
    out.extend_from_slice(b",\"user\":");
    string(out, &grant.account().name);
    out.extend_from_slice(
        b"},\"metadata\":{\"command\":\"verify\",\"result\":1,\"reason\":\"OK\",\"version\":1}}\n",
    );
}

/// Appends the reply line of a refused verify: the bytes
/// `Response::fail(COMMAND, code, reason)` serializes to.
pub(super) fn write_fail(code: ErrorCode, reason: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"metadata\":{\"command\":\"verify\",\"result\":0,\"reason\":");
    string(out, reason);
    out.extend_from_slice(b",\"version\":1,\"error\":");
    string(out, code.as_str());
    out.extend_from_slice(b"}}\n");
}

fn string(out: &mut Vec<u8>, s: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}
