//! Control request parameters with WHM's form conventions.
//!
//! A repeated parameter may arrive as `acl=[a,b]`, `acl=a`, or `acl-1=a`,
//! `acl-2=b` (any `-N` suffix, ordered by N); all mean the same. Values are
//! strings or integers; anything else is a type error naming the key.
//! Unknown keys are ignored, as WHM does.

use serde_json::{Map, Value};

/// A wrong or missing argument; the message names the key.
#[derive(Debug, PartialEq, Eq)]
pub struct ArgError(pub String);

#[derive(Debug, Clone, Copy)]
pub struct Params<'a>(pub &'a Map<String, Value>);

fn scalar(key: &str, v: &Value) -> Result<String, ArgError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        _ => Err(ArgError(format!(
            "argument “{key}” must be a string or an integer"
        ))),
    }
}

/// The N of `key-N`, if `candidate` has that form.
fn suffix_of(candidate: &str, key: &str) -> Option<u64> {
    let rest = candidate.strip_prefix(key)?.strip_prefix('-')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

impl Params<'_> {
    /// Every value given for `key`, bare key first, then `key-N` by N.
    /// `None` when the key is not present in any form.
    pub fn list(&self, key: &str) -> Result<Option<Vec<String>>, ArgError> {
        let mut out = Vec::new();
        let mut present = false;
        if let Some(v) = self.0.get(key) {
            present = true;
            match v {
                Value::Array(items) => {
                    for item in items {
                        out.push(scalar(key, item)?);
                    }
                }
                other => out.push(scalar(key, other)?),
            }
        }
        let mut numbered: Vec<(u64, &str, &Value)> = self
            .0
            .iter()
            .filter_map(|(k, v)| suffix_of(k, key).map(|n| (n, k.as_str(), v)))
            .collect();
        numbered.sort_by_key(|(n, _, _)| *n);
        for (_, k, v) in numbered {
            present = true;
            out.push(scalar(k, v)?);
        }
        Ok(present.then_some(out))
    }

    /// One value for `key`; several values are an error.
    pub fn single(&self, key: &str) -> Result<Option<String>, ArgError> {
        match self.list(key)? {
            None => Ok(None),
            Some(mut v) if v.len() == 1 => Ok(v.pop()),
            Some(v) if v.is_empty() => Err(ArgError(format!("argument “{key}” is empty"))),
            Some(_) => Err(ArgError(format!(
                "argument “{key}” must be given only once"
            ))),
        }
    }

    pub fn required(&self, key: &str) -> Result<String, ArgError> {
        self.single(key)?
            .ok_or_else(|| ArgError(crate::decode::missing(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn suffixes_are_ordered_by_number() {
        let m = args(json!({"acl-10": "c", "acl-2": "b", "acl": "a", "aclx": "no", "acl-": "no"}));
        let got = Params(&m).list("acl").unwrap().unwrap();
        assert_eq!(got, vec!["a", "b", "c"]);
    }

    #[test]
    fn arrays_numbers_and_absence() {
        let m = args(json!({"acl": ["x", "y"], "expires_at": 12}));
        assert_eq!(Params(&m).list("acl").unwrap().unwrap(), vec!["x", "y"]);
        assert_eq!(Params(&m).single("expires_at").unwrap().unwrap(), "12");
        assert_eq!(Params(&m).list("whitelist_ip").unwrap(), None);
        assert_eq!(Params(&m).list("acl-1").unwrap(), None);
    }

    #[test]
    fn wrong_types_name_the_key() {
        for bad in [
            json!({"token_name": true}),
            json!({"token_name": {"a": 1}}),
            json!({"token_name": 1.5}),
            json!({"token_name": [null]}),
        ] {
            let m = args(bad);
            let e = Params(&m).single("token_name").unwrap_err();
            assert!(e.0.contains("token_name"), "{}", e.0);
        }
        let m = args(json!({"token_name": ["a", "b"]}));
        assert!(Params(&m).single("token_name").is_err());
        let m = args(json!({}));
        assert!(
            Params(&m)
                .required("token_name")
                .unwrap_err()
                .0
                .contains("required")
        );
    }
}
