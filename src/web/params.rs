//! WHM API 1 parameters from a query string and a request body, in the
//! form the control socket takes: a JSON object whose values are strings
//! or, for a repeated key, arrays of strings (`acl=a&acl=b`); WHM's `-N`
//! suffixes (`acl-1`) pass through for the daemon to interpret.
//!
//! `api.*` keys are WHM's call options, not function parameters: they are
//! taken out, and `api.version` selects the API.

use serde_json::{Map, Value};

/// Most parameters one request may carry.
pub const MAX_PARAMS: usize = 1024;
const MAX_KEY: usize = 256;

#[derive(Debug, Default, PartialEq)]
pub struct Params {
    /// `api.version` as sent (first occurrence); `None` when absent.
    pub version: Option<String>,
    pub args: Map<String, Value>,
    count: usize,
}

/// Why parameters were refused (HTTP 400); names the problem, not the bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct ParamError(pub &'static str);

/// The body encodings understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    Form,
    Json,
}

impl BodyKind {
    /// From a `Content-Type` value; `None` for a type we do not read.
    pub fn from_content_type(value: &str) -> Option<BodyKind> {
        let essence = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-www-form-urlencoded" => Some(BodyKind::Form),
            "application/json" => Some(BodyKind::Json),
            _ => None,
        }
    }
}

impl Params {
    /// `a=1&b=2` (also a form body).
    pub fn add_urlencoded(&mut self, text: &[u8]) -> Result<(), ParamError> {
        for pair in text.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            let key = decode(k)?;
            let value = decode(v)?;
            self.add(key, Value::String(value))?;
        }
        Ok(())
    }

    /// A JSON object body: values are strings, numbers, booleans (as 1/0)
    /// or arrays of those.
    pub fn add_json(&mut self, body: &[u8]) -> Result<(), ParamError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|_| ParamError("the body is not valid JSON"))?;
        let Value::Object(map) = value else {
            return Err(ParamError("the JSON body must be an object"));
        };
        for (key, value) in map {
            match value {
                Value::Array(items) => {
                    for item in items {
                        self.add(key.clone(), scalar(item)?)?;
                    }
                }
                other => self.add(key, scalar(other)?)?,
            }
        }
        Ok(())
    }

    fn add(&mut self, key: String, value: Value) -> Result<(), ParamError> {
        self.count += 1;
        if self.count > MAX_PARAMS {
            return Err(ParamError("too many parameters"));
        }
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(ParamError("a parameter name is empty or too long"));
        }
        if key.starts_with("api.") {
            if key == "api.version" && self.version.is_none() {
                self.version = Some(match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                });
            }
            return Ok(());
        }
        match self.args.get_mut(&key) {
            None => {
                self.args.insert(key, value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(first) => {
                let first = first.take();
                self.args.insert(key, Value::Array(vec![first, value]));
            }
        }
        Ok(())
    }

    /// The WHM API version asked for: absent means 0 (WHM API 0).
    pub fn api_version(&self) -> ApiVersion {
        match self.version.as_deref().map(str::trim) {
            None | Some("") => ApiVersion::Other("0".to_owned()),
            Some("1") => ApiVersion::V1,
            Some(other) => ApiVersion::Other(other.to_owned()),
        }
    }
}

#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    /// What was asked for, as sent (for the "unknown app" reply).
    Other(String),
}

fn scalar(value: Value) -> Result<Value, ParamError> {
    match value {
        Value::String(_) => Ok(value),
        Value::Number(n) => Ok(Value::String(n.to_string())),
        Value::Bool(b) => Ok(Value::String(if b { "1" } else { "0" }.to_owned())),
        Value::Null => Ok(Value::String(String::new())),
        Value::Array(_) | Value::Object(_) => Err(ParamError(
            "a JSON parameter must be a string, a number or an array of them",
        )),
    }
}

/// Percent-decoding with `+` as space; the result must be UTF-8.
pub fn decode(bytes: &[u8]) -> Result<String, ParamError> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).and_then(|&b| hex(b)),
                    bytes.get(i + 2).and_then(|&b| hex(b)),
                ) else {
                    return Err(ParamError("a malformed %-escape in the parameters"));
                };
                out.push((h * 16 + l) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ParamError("parameters must be UTF-8"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(q: &str) -> Result<Params, ParamError> {
        let mut p = Params::default();
        p.add_urlencoded(q.as_bytes())?;
        Ok(p)
    }

    #[test]
    fn urlencoded_forms() {
        let cases: &[(&str, Value)] = &[
            ("", json!({})),
            ("token_name=deploy", json!({"token_name": "deploy"})),
            ("acl=a&acl=b&acl=c", json!({"acl": ["a", "b", "c"]})),
            (
                "acl-1=list-accts&acl-2=acct-summary",
                json!({"acl-1": "list-accts", "acl-2": "acct-summary"}),
            ),
            (
                "whitelist_ip=10.0.0.0%2F8",
                json!({"whitelist_ip": "10.0.0.0/8"}),
            ),
            ("a=x+y%20z", json!({"a": "x y z"})),
            ("a", json!({"a": ""})),
            ("a=&&b=1", json!({"a": "", "b": "1"})),
            ("a=1=2", json!({"a": "1=2"})),
            ("n=%C3%A9", json!({"n": "é"})),
            ("api.version=1&api.filter=x&x=1", json!({"x": "1"})),
        ];
        for (q, want) in cases {
            assert_eq!(&Value::Object(query(q).unwrap().args), want, "{q}");
        }
        for bad in ["a=%", "a=%4", "a=%zz", "a=%ff", "=1"] {
            assert!(query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_version() {
        let cases = [
            ("api.version=1", ApiVersion::V1),
            ("api.version=1&api.version=2", ApiVersion::V1),
            ("", ApiVersion::Other("0".into())),
            ("api.version=", ApiVersion::Other("0".into())),
            ("api.version=2", ApiVersion::Other("2".into())),
            ("api.version=0", ApiVersion::Other("0".into())),
        ];
        for (q, want) in cases {
            assert_eq!(query(q).unwrap().api_version(), want, "{q}");
        }
    }

    #[test]
    fn json_bodies() {
        let mut p = query("api.version=1&acl=a").unwrap();
        p.add_json(
            br#"{"acl": ["b", "c"], "token_name": "t", "expires_at": 1900000000, "x": true}"#,
        )
        .unwrap();
        assert_eq!(
            Value::Object(p.args),
            json!({"acl": ["a", "b", "c"], "token_name": "t", "expires_at": "1900000000", "x": "1"})
        );
        let mut p = Params::default();
        p.add_json(br#"{"api.version": 1}"#).unwrap();
        assert_eq!(p.api_version(), ApiVersion::V1);
        for bad in [
            &b"[1]"[..],
            b"{",
            b"{\"a\": {\"b\": 1}}",
            b"{\"a\": [[1]]}",
            b"\xff",
        ] {
            assert!(Params::default().add_json(bad).is_err());
        }
    }

    #[test]
    fn parameter_count_is_capped() {
        let q = "a=1&".repeat(MAX_PARAMS + 1);
        assert_eq!(query(&q).unwrap_err(), ParamError("too many parameters"));
        assert!(query(&"a=1&".repeat(MAX_PARAMS)).is_ok());
    }

    #[test]
    fn content_types() {
        let cases = [
            ("application/json", Some(BodyKind::Json)),
            ("Application/JSON; charset=utf-8", Some(BodyKind::Json)),
            ("application/x-www-form-urlencoded", Some(BodyKind::Form)),
            ("multipart/form-data; boundary=x", None),
            ("text/plain", None),
        ];
        for (ct, want) in cases {
            assert_eq!(BodyKind::from_content_type(ct), want, "{ct}");
        }
    }
}
