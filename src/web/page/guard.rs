//! What every page reply carries, and the checks a state-changing request
//! must pass before anything is relayed: its `Origin` must be the origin
//! the browser is on (`https://` plus the request's `Host`; never `null`),
//! and, once logged in, it must carry the session's CSRF token (which the
//! daemon compares).

use hyper::header::{
    CACHE_CONTROL, HOST, HeaderMap, HeaderValue, ORIGIN, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};

/// No inline script or style anywhere, nothing from another origin, never
/// framed. Images are inline SVG or data: URLs.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The headers of every page, asset and page API reply.
pub(crate) fn secure(h: &mut HeaderMap) {
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    // `same-origin`, not `no-referrer`: with that Chromium sends
    // `Origin: null` on form posts, which the Origin check refuses.
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// Whether `Origin` equals `https://<Host>`.
pub(crate) fn same_origin(h: &HeaderMap) -> bool {
    let (Some(origin), Some(host)) = (h.get(ORIGIN), h.get(HOST)) else {
        return false;
    };
    let (Ok(origin), Ok(host)) = (origin.to_str(), host.to_str()) else {
        return false;
    };
    !host.is_empty()
        && !host.contains(['/', '@', ' '])
        && origin
            .strip_prefix("https://")
            .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn origin_must_match_the_host() {
        let h = |origin: Option<&'static str>, host: Option<&'static str>| {
            let mut m = HeaderMap::new();
            if let Some(o) = origin {
                m.insert(ORIGIN, HeaderValue::from_static(o));
            }
            if let Some(h) = host {
                m.insert(HOST, HeaderValue::from_static(h));
            }
            same_origin(&m)
        };
        assert!(h(Some("https://127.0.0.1:2087"), Some("127.0.0.1:2087")));
        assert!(h(
            Some("https://WHM.example:2087"),
            Some("whm.example:2087")
        ));
        assert!(!h(Some("null"), Some("127.0.0.1:2087")));
        assert!(!h(None, Some("127.0.0.1:2087")));
        assert!(!h(Some("https://127.0.0.1:2087"), None));
        assert!(!h(Some("http://127.0.0.1:2087"), Some("127.0.0.1:2087")));
        assert!(!h(Some("https://evil.example"), Some("127.0.0.1:2087")));
        assert!(!h(Some("https://127.0.0.1:2087"), Some("127.0.0.1:2088")));
    }
}
