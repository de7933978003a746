//! The session cookie: `apitokend_session`, `HttpOnly; Secure;
//! SameSite=Strict; Path=/`. It holds the daemon's session id and nothing
//! else; the front keeps no session state of its own.

use hyper::header::{COOKIE, HeaderMap, HeaderValue};

pub(crate) const NAME: &str = "apitokend_session";

/// The session id the browser sent, if it has the shape of one.
pub(crate) fn session(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == NAME
                && v.len() == 64
                && v.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Some(v.to_owned());
            }
        }
    }
    None
}

/// `Set-Cookie` for a new session.
pub(crate) fn set(id: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{NAME}={id}; HttpOnly; Secure; SameSite=Strict; Path=/"
    ))
    .ok()
}

/// `Set-Cookie` that removes it.
pub(crate) fn clear() -> HeaderValue {
    HeaderValue::from_static(
        "apitokend_session=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0",
    )
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_a_well_formed_session_cookie() {
        let id = "ab".repeat(32);
        let mut h = HeaderMap::new();
        assert_eq!(session(&h), None);
        h.append(
            COOKIE,
            HeaderValue::from_str(&format!("x=1; {NAME}={id}")).unwrap(),
        );
        assert_eq!(session(&h).as_deref(), Some(id.as_str()));
        let mut bad = HeaderMap::new();
        bad.append(
            COOKIE,
            HeaderValue::from_static("apitokend_session=zz; other=1"),
        );
        assert_eq!(session(&bad), None);
        let set = set(&id).unwrap();
        let set = set.to_str().unwrap();
        for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(part), "{set}");
        }
    }
}
