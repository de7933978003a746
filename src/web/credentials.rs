//! `Authorization: whm user:token`, read exactly as cpsrvd reads it.
//!
//! The scheme is `whm` in any letter case, then spaces, then the user and
//! the token split at the first `:`. No header means "no credentials" (the
//! gate answers 401); anything else that is not that shape (another scheme,
//! several headers, control characters, an empty user or token) is refused
//! here and never reaches the daemon.

use hyper::header::{AUTHORIZATION, HeaderMap};
use zeroize::Zeroizing;

/// Longer than any user name plus token: refused without a look inside.
const MAX_VALUE: usize = 512;

/// A user and token taken from the header. The token is wiped on drop and
/// never printed.
pub struct Credentials {
    pub user: String,
    pub token: Zeroizing<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// What the request carried.
#[must_use]
#[derive(Debug)]
pub enum Presented {
    None,
    /// Not `whm user:token`; the text says why (for the log, never the value).
    Malformed(&'static str),
    Whm(Credentials),
}

pub fn from_headers(headers: &HeaderMap) -> Presented {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Presented::None;
    };
    if values.next().is_some() {
        return Presented::Malformed("several Authorization headers");
    }
    parse(value.as_bytes())
}

/// Parses one header value.
pub fn parse(value: &[u8]) -> Presented {
    if value.len() > MAX_VALUE {
        return Presented::Malformed("Authorization header too long");
    }
    // Tabs are allowed only around the scheme; control bytes nowhere.
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Presented::Malformed("control characters in the Authorization header");
    }
    let Ok(text) = std::str::from_utf8(value) else {
        return Presented::Malformed("the Authorization header is not UTF-8");
    };
    let text = text.trim_matches([' ', '\t']);
    let Some(split) = text.find([' ', '\t']) else {
        return Presented::Malformed("the Authorization header has no credentials");
    };
    let (scheme, rest) = text.split_at(split);
    if !scheme.eq_ignore_ascii_case("whm") {
        return Presented::Malformed("the Authorization scheme is not whm");
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let Some((user, token)) = rest.split_once(':') else {
        return Presented::Malformed("whm credentials without a ':'");
    };
    if user.is_empty() || token.is_empty() {
        return Presented::Malformed("empty user or token");
    }
    if rest.contains('\t') {
        return Presented::Malformed("control characters in the Authorization header");
    }
    Presented::Whm(Credentials {
        user: user.to_owned(),
        token: Zeroizing::new(token.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "UWU28DCA23NKY76CN17MDPKM3O7EFQY8";

    #[test]
    fn header_forms() {
        let ok = |user: &str, token: &str| Some((user.to_owned(), token.to_owned()));
        type Case<'a> = (&'a [u8], Option<(String, String)>);
        let cases: &[Case<'_>] = &[
            (
                b"whm root:UWU28DCA23NKY76CN17MDPKM3O7EFQY8",
                ok("root", TOKEN),
            ),
            (
                b"WHM root:UWU28DCA23NKY76CN17MDPKM3O7EFQY8",
                ok("root", TOKEN),
            ),
            (b"wHm bob:abc", ok("bob", "abc")),
            (b"whm   bob:abc", ok("bob", "abc")),
            (b"whm\tbob:abc", ok("bob", "abc")),
            (b"whm bob:abc ", ok("bob", "abc")),
            // split at the first ':'; the rest is the token (it will not verify)
            (b"whm bob:a:b", ok("bob", "a:b")),
            (b"whm bob:a b", ok("bob", "a b")),
            (b"whm bob", None),
            (b"whm :abc", None),
            (b"whm bob:", None),
            (b"whm :", None),
            (b"whm", None),
            (b"whm ", None),
            (b"basic Ym9iOmFiYw==", None),
            (b"whmbob:abc", None),
            (b"whm: bob:abc", None),
            (b"Bearer abc", None),
            (b"whm bob:ab\x01c", None),
            (b"whm bob:ab\x7fc", None),
            (b"whm bob\t:abc", None),
            (b"whm bob:\xff\xfe", None),
            (b"", None),
        ];
        for (value, want) in cases {
            let got = match parse(value) {
                Presented::Whm(c) => Some((c.user.clone(), c.token.to_string())),
                Presented::Malformed(_) | Presented::None => None,
            };
            assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(value));
        }
        let long = format!("whm bob:{}", "A".repeat(600));
        assert!(matches!(parse(long.as_bytes()), Presented::Malformed(_)));
    }

    #[test]
    fn headers_none_one_or_several() {
        let mut h = HeaderMap::new();
        assert!(matches!(from_headers(&h), Presented::None));
        h.append(AUTHORIZATION, "whm bob:abc".parse().expect("value"));
        assert!(matches!(from_headers(&h), Presented::Whm(_)));
        h.append(AUTHORIZATION, "whm eve:abc".parse().expect("value"));
        assert!(matches!(from_headers(&h), Presented::Malformed(_)));
    }

    #[test]
    fn debug_hides_the_token() {
        let Presented::Whm(c) = parse(format!("whm bob:{TOKEN}").as_bytes()) else {
            unreachable!("parses");
        };
        assert!(!format!("{c:?}").contains(TOKEN));
    }
}
