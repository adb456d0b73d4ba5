//! The API's one error shape, `{"error": {"code", "message", "field"?}}`,
//! and the checks on what a client sends (query parameters and JSON
//! bodies) that produce it: each names the parameter or field at fault.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keepup_model::Timestamp;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// Every error the API answers, as JSON.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `bad_request`, `not_found`,
    /// `conflict`, `payload_too_large`, `unavailable`.
    pub code: String,
    /// One sentence for a human.
    pub message: String,
    /// The query parameter or body field at fault, for `bad_request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answer: status, code, message and maybe the field at fault.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    /// 400: `field` is wrong, and `message` says how.
    pub fn bad(field: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    /// 404: there is no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
            field: None,
        }
    }

    /// 409: the thing is not in a state that allows the action.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: message.into(),
            field: None,
        }
    }

    /// 413: the body is over the listener's limit.
    pub fn too_large() -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: "the body is too large".to_owned(),
            field: Some("body".to_owned()),
        }
    }

    /// 503: the store failed; the cause is logged, not shown.
    pub fn unavailable(what: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(what, %error, "API request failed");
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: format!("{what} failed; try again"),
            field: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// Longest text accepted in a query parameter (ids, tags, cursors).
const MAX_PARAM: usize = 256;

/// A request's query parameters, taken one by one by the handler; what is
/// left when it is done is an unknown parameter, refused by [`Self::done`].
pub struct Params(HashMap<String, String>);

impl Params {
    /// Reads the raw query string; a parameter given twice is refused.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut map = HashMap::new();
        for (key, value) in form_pairs(raw.unwrap_or("")) {
            if value.chars().count() > MAX_PARAM {
                return Err(ApiError::bad(
                    &key,
                    format!("longer than {MAX_PARAM} characters"),
                ));
            }
            if map.insert(key.clone(), value).is_some() {
                return Err(ApiError::bad(&key, "given more than once"));
            }
        }
        Ok(Self(map))
    }

    /// A text parameter.
    pub fn text(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    /// One of `allowed`.
    pub fn choice(&mut self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.0.remove(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v)),
            Some(v) => Err(ApiError::bad(
                name,
                format!("{v:?} is not one of {}", allowed.join(", ")),
            )),
        }
    }

    /// The page size: 1 to `max`, `default` when absent.
    pub fn limit(&mut self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.0.remove("limit") {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad(
                    "limit",
                    format!("must be a whole number from 1 to {max}"),
                )),
            },
        }
    }

    /// An RFC 3339 time.
    pub fn time(&mut self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        match self.0.remove(name) {
            None => Ok(None),
            Some(v) => keepup_model::parse_rfc3339(&v).map(Some).ok_or_else(|| {
                ApiError::bad(
                    name,
                    format!("{v:?} is not an RFC 3339 time such as 2026-12-05T20:00:00Z"),
                )
            }),
        }
    }

    /// Refuses any parameter the handler did not take.
    pub fn done(self) -> Result<(), ApiError> {
        let mut unknown: Vec<&String> = self.0.keys().collect();
        unknown.sort();
        match unknown.first() {
            None => Ok(()),
            Some(name) => Err(ApiError::bad(name, "unknown query parameter")),
        }
    }
}

/// `application/x-www-form-urlencoded` pairs, percent- and `+`-decoded;
/// bytes that do not decode to UTF-8 become U+FFFD.
fn form_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON request body, read field by field; unknown fields are refused
/// by [`Self::done`].
pub struct Body(serde_json::Map<String, serde_json::Value>);

impl Body {
    /// Parses `bytes` as a JSON object (an empty body is an empty object).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Self(serde_json::Map::new()));
        }
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(serde_json::Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::bad("body", "must be a JSON object")),
            Err(e) => Err(ApiError::bad("body", format!("not valid JSON: {e}"))),
        }
    }

    /// A text field of 1 to `max` characters; `None` when absent.
    pub fn text(&mut self, name: &str, max: usize) -> Result<Option<String>, ApiError> {
        match self.0.remove(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => {
                let n = s.chars().count();
                if n == 0 || n > max {
                    Err(ApiError::bad(
                        name,
                        format!("must be 1 to {max} characters long"),
                    ))
                } else {
                    Ok(Some(s))
                }
            }
            Some(_) => Err(ApiError::bad(name, "must be a string")),
        }
    }

    /// A text field that must be present.
    pub fn required_text(&mut self, name: &str, max: usize) -> Result<String, ApiError> {
        self.text(name, max)?
            .ok_or_else(|| ApiError::bad(name, "is required"))
    }

    /// Refuses any field the handler did not take.
    pub fn done(self) -> Result<(), ApiError> {
        let mut unknown: Vec<&String> = self.0.keys().collect();
        unknown.sort();
        match unknown.first() {
            None => Ok(()),
            Some(name) => Err(ApiError::bad(name, "unknown field")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode_and_bad_parameters_name_themselves() {
        let mut p = Params::parse(Some("site=my%20shop&tag=a+b&limit=5&x=%zz%")).unwrap();
        assert_eq!(p.text("site").as_deref(), Some("my shop"));
        assert_eq!(p.text("tag").as_deref(), Some("a b"));
        assert_eq!(p.limit(100, 1000).unwrap(), 5);
        assert_eq!(p.text("x").as_deref(), Some("%zz%"));
        p.done().unwrap();
        let err = Params::parse(Some("limit=0"))
            .unwrap()
            .limit(100, 1000)
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("limit"));
        let err = Params::parse(Some("a=1&a=2")).err().unwrap();
        assert_eq!(err.field.as_deref(), Some("a"));
        let err = Params::parse(Some("colour=red"))
            .unwrap()
            .done()
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("colour"));
        let err = Params::parse(Some("from=monday"))
            .unwrap()
            .time("from")
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("from"));
    }

    #[test]
    fn body_fields_are_typed_bounded_and_known() {
        let mut b = Body::parse(br#"{"note": "ok", "reason": 5}"#).unwrap();
        assert_eq!(b.required_text("note", 10).unwrap(), "ok");
        assert_eq!(
            b.text("reason", 10).unwrap_err().field.as_deref(),
            Some("reason")
        );
        let mut b = Body::parse(br#"{"note": "too long"}"#).unwrap();
        assert_eq!(
            b.text("note", 3).unwrap_err().field.as_deref(),
            Some("note")
        );
        assert_eq!(
            Body::parse(b"[1]").err().unwrap().field.as_deref(),
            Some("body")
        );
        assert_eq!(
            Body::parse(b"{").err().unwrap().field.as_deref(),
            Some("body")
        );
        let b = Body::parse(br#"{"extra": 1}"#).unwrap();
        assert_eq!(b.done().unwrap_err().field.as_deref(), Some("extra"));
    }
}
