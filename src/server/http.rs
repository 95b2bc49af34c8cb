//! HTTP plumbing for the SCIM server: replies, bodies with a size limit, query strings.

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use warp::http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use super::error::ApiError;
use crate::scim::error::{ScimError, error_body};

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

pub type Reply = Response<Vec<u8>>;

/// A JSON reply with the SCIM content type.
pub fn json(status: u16, body: &Value) -> Reply {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = Response::new(bytes);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    r
}

/// An empty reply (204, 304) that still carries the SCIM content type.
pub fn empty(status: u16) -> Reply {
    let mut r = Response::new(Vec::new());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    r
}

/// A SCIM error reply (RFC 7644 §3.12), with the headers its status calls for.
pub fn error(e: &ApiError) -> Reply {
    let mut r = json(e.status, &error_body(e.status, e.scim_type, &e.detail));
    if e.status == 401 {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"scimdesk\""),
        );
    }
    r
}

pub fn method_not_allowed(allow: &'static str) -> Reply {
    let mut r = error(&ApiError::new(
        405,
        format!("method not allowed here; allowed: {allow}"),
    ));
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

pub fn with_header(mut r: Reply, name: header::HeaderName, value: &str) -> Reply {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

/// A header given more than once, or not as text.
#[derive(Debug)]
pub struct BadHeader;

/// The single value of a header; None when absent, Err when repeated or not text.
pub fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &header::HeaderName,
) -> Result<Option<&'h str>, BadHeader> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(BadHeader);
    }
    first.to_str().map(Some).map_err(|_| BadHeader)
}

/// Most bytes of an oversized body read and thrown away before the 413 is sent, so that a
/// client that writes its whole body before reading the reply gets the reply instead of a
/// broken pipe. A declared body larger than this is answered at once.
pub const DRAIN_LIMIT: u64 = 64 << 20;

/// Reads a request body of at most `limit` bytes (413 beyond), whatever its framing. An
/// oversized body up to [`DRAIN_LIMIT`] is read to its end (and dropped) before the error.
pub async fn read_body<S, B>(
    headers: &HeaderMap,
    mut stream: S,
    limit: usize,
) -> Result<Vec<u8>, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let too_large = || {
        ApiError::new(
            413,
            format!("the request body is larger than the server's limit of {limit} bytes"),
        )
    };
    let declared = match single_header(headers, &header::CONTENT_LENGTH) {
        Ok(Some(len)) => len.trim().parse::<u64>().ok(),
        _ => None,
    };
    if declared.is_some_and(|n| n > limit as u64) {
        if declared.is_some_and(|n| n <= DRAIN_LIMIT) {
            drain(&mut stream, 0).await;
        }
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|_| {
            ApiError::from(ScimError::invalid_syntax(
                "the request body could not be read",
            ))
        })?;
        if body.len() + chunk.remaining() > limit {
            let seen = (body.len() + chunk.remaining()) as u64;
            drain(&mut stream, seen).await;
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            body.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(body)
}

/// Reads and drops the rest of a body, up to [`DRAIN_LIMIT`] bytes in all.
async fn drain<S, B>(stream: &mut S, mut seen: u64)
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    while seen <= DRAIN_LIMIT {
        match stream.next().await {
            Some(Ok(chunk)) => seen += chunk.remaining() as u64,
            _ => return,
        }
    }
}

/// Parses a JSON body: invalid UTF-8, malformed JSON and empty bodies are 400 invalidSyntax.
pub fn parse_json(body: &[u8]) -> Result<Value, ScimError> {
    if std::str::from_utf8(body).is_err() {
        return Err(ScimError::invalid_syntax(
            "the request body is not valid UTF-8",
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}

/// Decodes an `application/x-www-form-urlencoded` query string.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, ScimError> {
    crate::util::query_pairs(raw)
        .ok_or_else(|| ScimError::invalid_value("the query string is not valid UTF-8"))
}

/// Decodes one path segment; None when it is not UTF-8.
pub fn decode_segment(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings() {
        let q =
            parse_query("filter=userName%20eq%20%22a%40b.com%22&startIndex=1&count=100").unwrap();
        assert_eq!(q[0], ("filter".into(), "userName eq \"a@b.com\"".into()));
        assert_eq!(q[2], ("count".into(), "100".into()));
        assert_eq!(
            parse_query("a=1+2&b").unwrap(),
            [("a".into(), "1 2".into()), ("b".into(), "".into())]
        );
        assert!(parse_query("a=%FF").is_err());
    }

    #[test]
    fn json_bodies() {
        assert_eq!(parse_json(b"{\"a\":1}").unwrap()["a"], 1);
        assert_eq!(
            parse_json(b"\xff\xfe").unwrap_err().scim_type,
            Some("invalidSyntax")
        );
        assert_eq!(
            parse_json(b"  ").unwrap_err().scim_type,
            Some("invalidSyntax")
        );
        assert_eq!(
            parse_json(b"{").unwrap_err().scim_type,
            Some("invalidSyntax")
        );
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(
            parse_json(deep.as_bytes()).unwrap_err().scim_type,
            Some("invalidSyntax")
        );
    }
}
