//! The seed's response envelope, `{"code", "message", "data"}`, with the HTTP status equal to
//! `code` — also for errors, which the seed answered with HTTP 200 and an error string.

use crate::errors::Kind;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Every answer of the REST routes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Envelope {
    /// The HTTP status.
    pub code: u16,
    /// `""` when done, `"continue"` when not finished yet, else what happened or what is wrong.
    pub message: String,
    /// The answer (null on errors).
    #[schema(value_type = Option<Object>)]
    pub data: serde_json::Value,
}

/// A successful answer with `message` (see [`Envelope::message`]).
pub fn ok<T: Serialize>(message: impl Into<String>, data: T) -> Response {
    match serde_json::to_value(data) {
        Ok(data) => respond(StatusCode::OK, &Envelope { code: 200, message: message.into(), data }),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("could not encode the answer: {e}")).into_response(),
    }
}

fn respond(status: StatusCode, envelope: &Envelope) -> Response {
    match serde_json::to_string(envelope) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("could not encode the answer: {e}")).into_response(),
    }
}

/// A refusal: nothing was done, and the message says why and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// What is wrong.
    pub message: String,
}

impl Refusal {
    /// A refusal of `kind` (its status is the one every surface uses).
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { status, message: message.into() }
    }

    /// Bad input (400).
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(Kind::BadInput, message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let message = crate::guard::truncated(&self.message, crate::guard::MAX_ERROR_CHARS);
        respond(self.status, &Envelope { code: self.status.as_u16(), message, data: serde_json::Value::Null })
    }
}

impl From<crate::http::Refused> for Refusal {
    fn from(r: crate::http::Refused) -> Self {
        Self { status: r.status, message: r.message }
    }
}

impl From<aurora_command::Error> for Refusal {
    fn from(e: aurora_command::Error) -> Self {
        let kind = Kind::from(&e);
        if kind == Kind::Unavailable {
            tracing::warn!(error = %e, "dependency unavailable");
            return Self::new(kind, "a backing service is temporarily unavailable; retry shortly");
        }
        Self::new(kind, e.to_string())
    }
}

/// A read-model or registry failure: the kind the caller sees, the details in the log.
pub fn unavailable(e: impl crate::errors::Failure) -> Refusal {
    let kind = e.kind();
    tracing::warn!(error = %e, "a read failed");
    match kind {
        Kind::Storage => Refusal::new(kind, e.to_string()),
        _ => Refusal::new(Kind::Unavailable, "a backing service is temporarily unavailable; retry shortly"),
    }
}
