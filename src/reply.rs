//! A reply line as the daemon writes it: a [`Response`], or one whose
//! `data` is already JSON text (`api_token_list`, up to
//! `limits.max_tokens_per_user` tokens), so a large reply exists once, as
//! the bytes written, not first as a tree of values several times its
//! size.

use apitokend_proto::{Metadata, Response};

#[derive(Debug)]
pub(crate) struct Reply {
    response: Response,
    /// `data`, rendered; then `response.data` is `None`.
    data_json: Option<Vec<u8>>,
}

impl From<Response> for Reply {
    fn from(response: Response) -> Reply {
        Reply {
            response,
            data_json: None,
        }
    }
}

impl Reply {
    /// `response` (without `data`) with `data_json` as its data.
    pub(crate) fn rendered(mut response: Response, data_json: Vec<u8>) -> Reply {
        response.data = None;
        Reply {
            response,
            data_json: Some(data_json),
        }
    }

    pub(crate) fn metadata(&self) -> &Metadata {
        &self.response.metadata
    }

    pub(crate) fn is_ok(&self) -> bool {
        self.response.is_ok()
    }

    /// The line to write, newline included: the same bytes a
    /// [`Response`] with that data serializes to.
    pub(crate) fn into_line(self) -> serde_json::Result<Vec<u8>> {
        let Some(data) = self.data_json else {
            let mut line = serde_json::to_vec(&self.response)?;
            line.push(b'\n');
            return Ok(line);
        };
        // Around the data, in its own buffer: a large reply is not copied.
        let mut line = data;
        line.splice(0..0, b"{\"data\":".iter().copied());
        line.extend_from_slice(b",\"metadata\":");
        serde_json::to_writer(&mut line, &self.response.metadata)?;
        line.extend_from_slice(b"}\n");
        Ok(line)
    }

    /// As a [`Response`] (for in-process callers: fuzzing, tests).
    pub(crate) fn into_response(self) -> Response {
        let mut response = self.response;
        if let Some(data) = self.data_json {
            response.data = serde_json::from_slice(&data).ok();
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rendered_reply_is_the_line_a_response_would_be() {
        let data = json!({"tokens": {"a": {"name": "a", "acls": {"x": 1}}}});
        let whole =
            Response::ok("api_token_list", Some(data.clone())).with_warnings(vec!["w".into()]);
        let rendered = Reply::rendered(whole.clone(), serde_json::to_vec(&data).unwrap());
        let mut want = serde_json::to_vec(&whole).unwrap();
        want.push(b'\n');
        assert_eq!(rendered.into_line().unwrap(), want);
        let back = Reply::rendered(whole.clone(), serde_json::to_vec(&data).unwrap());
        assert_eq!(back.into_response(), whole);
        let plain = Reply::from(Response::ok("x", None));
        assert_eq!(
            plain.into_line().unwrap(),
            b"{\"metadata\":{\"command\":\"x\",\"result\":1,\"reason\":\"OK\",\"version\":1}}\n"
        );
    }
}
