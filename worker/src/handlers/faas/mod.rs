//! FaaS functions as handlers, the seed's `openfaas_driver` and `aliyunfc_driver`: each configured
//! provider (`[[faas]]`) is one handler taking the seed's args — the function's name and a payload
//! string — and returning the function's reply as a string. Both drivers speak their service's
//! documented HTTP API with a timeout; 5xx answers, throttling and timeouts are retried under the
//! task's retry policy, other 4xx answers (bad credentials, unknown function) fail at once.

pub mod aliyunfc;
pub mod openfaas;

use crate::handlers::{Context, Handler, HandlerError};
use async_trait::async_trait;
use aurora_config::Faas;
use aurora_schemas::{HandlerInfo, TypedValue};
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;

/// One function a provider offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// The provider's handler name.
    pub provider: String,
    /// `openfaas` or `aliyunfc`.
    pub driver: String,
    /// The provider's id of the function (its name where it has no other).
    pub id: String,
    /// The name tasks pass as the first arg.
    pub name: String,
    /// What the provider says about it.
    pub description: String,
}

/// A FaaS provider: invokes and lists its functions.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The handler name tasks use.
    fn name(&self) -> &str;
    /// `openfaas` or `aliyunfc`.
    fn driver(&self) -> &'static str;
    /// Where it is.
    fn endpoint(&self) -> &str;
    /// Calls `function` with `payload`; the reply body.
    async fn invoke(&self, function: &str, payload: &str) -> Result<String, HandlerError>;
    /// Every function it offers.
    async fn list(&self) -> Result<Vec<Function>, String>;
}

/// The providers the configuration names.
pub fn providers(entries: &[Faas]) -> Result<Vec<Arc<dyn Provider>>, String> {
    entries
        .iter()
        .map(|f| -> Result<Arc<dyn Provider>, String> {
            match f.driver.as_str() {
                "openfaas" => Ok(Arc::new(openfaas::OpenFaas::new(f)?)),
                "aliyunfc" => Ok(Arc::new(aliyunfc::AliyunFc::new(f)?)),
                other => Err(format!("faas driver `{other}` must be openfaas or aliyunfc")),
            }
        })
        .collect()
}

/// A provider as a handler.
pub struct FaasHandler(pub Arc<dyn Provider>);

#[async_trait]
impl Handler for FaasHandler {
    fn info(&self) -> HandlerInfo {
        let p = &self.0;
        HandlerInfo {
            name: p.name().to_string(),
            usage: format!(
                "{}(string function, string payload) -> string: invokes the function on {} at {} and returns its reply",
                p.name(),
                p.driver(),
                p.endpoint()
            ),
            arg_types: vec!["string".into(), "string".into()],
            result_types: vec!["string".into()],
        }
    }

    async fn call(&self, _: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        let [function, payload] = args.as_slice() else {
            return Err(HandlerError::BadArgs(format!(
                "{} takes two strings (the function's name and the payload), got {} args",
                self.0.name(),
                args.len()
            )));
        };
        let (Some(function), Some(payload)) = (function.value.as_str(), payload.value.as_str()) else {
            return Err(HandlerError::BadArgs(format!("{} takes two strings", self.0.name())));
        };
        let reply = self.0.invoke(function, payload).await?;
        Ok(vec![TypedValue::new("string", reply)])
    }
}

/// An HTTP client bounded by `timeout_ms`.
fn client(f: &Faas) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(f.timeout_ms))
        .connect_timeout(Duration::from_millis(f.timeout_ms.min(10_000)))
        .build()
        .map_err(|e| format!("faas `{}`: cannot build an HTTP client: {e}", f.handler_name()))
}

/// A function name must be one path segment of the provider's URL.
fn check_function_name(provider: &str, function: &str) -> Result<(), HandlerError> {
    let ok = !function.is_empty()
        && function.len() <= 128
        && function.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && function != "."
        && function != "..";
    if ok {
        Ok(())
    } else {
        Err(HandlerError::BadArgs(format!(
            "{provider}: `{}` is not a function name (letters, digits, '-', '_' and '.', at most 128)",
            function.chars().take(64).collect::<String>()
        )))
    }
}

/// A transport failure: retryable, with what happened.
fn transport(provider: &str, what: &str, e: reqwest::Error) -> HandlerError {
    let why = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        format!("could not connect ({e})")
    } else {
        e.to_string()
    };
    HandlerError::Retryable(format!("{provider}: {what} {why}"))
}

/// An HTTP error answer: 5xx, 408 and 429 are worth retrying, other 4xx are not.
fn status_error(provider: &str, what: &str, status: StatusCode, detail: &str) -> HandlerError {
    let detail = detail.trim();
    let detail: String = detail.chars().take(500).collect();
    let message = if detail.is_empty() {
        format!("{provider}: {what} answered {status}")
    } else {
        format!("{provider}: {what} answered {status}: {detail}")
    };
    let hint = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "; check the provider's credentials in [[faas]]",
        StatusCode::NOT_FOUND => "; is the function deployed under that name?",
        _ => "",
    };
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS {
        HandlerError::Retryable(message)
    } else {
        HandlerError::Final(format!("{message}{hint}"))
    }
}

/// `http://` added to an endpoint without a scheme, and no trailing slash.
fn with_scheme(endpoint: &str, default_scheme: &str) -> String {
    let e = endpoint.trim().trim_end_matches('/');
    if e.starts_with("http://") || e.starts_with("https://") {
        e.to_string()
    } else {
        format!("{default_scheme}://{e}")
    }
}

#[cfg(test)]
mod tests;
