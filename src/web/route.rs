//! Request paths the front knows: `/json-api/<function>` (with or without
//! WHM's `/cpsessNNNNNNNNNN` session prefix, which token calls may carry
//! and which is ignored) and `/auth` (the nginx gate).

/// What a request path names.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// The function segment as sent (validated by the caller).
    JsonApi(&'a str),
    Auth,
    Other,
}

/// Longest `cpsess` number accepted (cPanel's are ten digits).
const MAX_CPSESS_DIGITS: usize = 32;

/// Classifies a path (no query string).
pub fn classify(path: &str) -> Route<'_> {
    if path == "/auth" {
        return Route::Auth;
    }
    let rest = match path.strip_prefix("/cpsess") {
        Some(after) => {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > MAX_CPSESS_DIGITS {
                return Route::Other;
            }
            &after[digits..]
        }
        None => path,
    };
    match rest.strip_prefix("/json-api/") {
        Some(function) if !function.is_empty() && !function.contains('/') => {
            Route::JsonApi(function)
        }
        _ => Route::Other,
    }
}

/// The function named by an `X-Original-URI` (query and fragment ignored).
pub fn original_uri_function(uri: &str) -> Option<&str> {
    let path = uri.split(['?', '#']).next().unwrap_or("");
    match classify(path) {
        Route::JsonApi(f) => Some(f),
        Route::Auth | Route::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let cases = [
            ("/json-api/applist", Route::JsonApi("applist")),
            (
                "/cpsess0123456789/json-api/listaccts",
                Route::JsonApi("listaccts"),
            ),
            ("/cpsess1/json-api/x", Route::JsonApi("x")),
            ("/auth", Route::Auth),
            ("/auth/", Route::Other),
            ("/json-api/", Route::Other),
            ("/json-api", Route::Other),
            ("/json-api/a/b", Route::Other),
            ("/cpsess/json-api/x", Route::Other),
            ("/cpsessabc/json-api/x", Route::Other),
            ("/cpsess0123456789/auth", Route::Other),
            ("/xml-api/applist", Route::Other),
            ("/", Route::Other),
            ("", Route::Other),
        ];
        for (path, want) in cases {
            assert_eq!(classify(path), want, "{path}");
        }
        let long = format!("/cpsess{}/json-api/x", "1".repeat(40));
        assert_eq!(classify(&long), Route::Other);
    }

    #[test]
    fn original_uris() {
        let cases = [
            ("/json-api/listaccts?api.version=1", Some("listaccts")),
            ("/cpsess0123456789/json-api/listaccts", Some("listaccts")),
            ("/json-api/listaccts#x", Some("listaccts")),
            ("/listaccts", None),
            ("", None),
            ("/auth", None),
        ];
        for (uri, want) in cases {
            assert_eq!(original_uri_function(uri), want, "{uri}");
        }
    }
}
