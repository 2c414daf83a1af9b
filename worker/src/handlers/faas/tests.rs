//! Both drivers against local HTTP servers that speak each service's documented protocol: the
//! request shape, basic auth (OpenFaaS), the request signature verified with a known key by code
//! written here independently of the driver's (Function Compute), and the error answers.

use super::*;
use crate::handlers::Context;
use aurora_schemas::{GraphId, TaskId};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use hmac::{KeyInit, Mac};
use md5::Digest;
use std::sync::atomic::{AtomicUsize, Ordering};

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    format!("http://{addr}")
}

fn ctx() -> Context {
    let g = GraphId::new();
    Context::new(TaskId::derive(g, "t"), g, 1)
}

fn entry(driver: &str, endpoint: &str) -> Faas {
    Faas {
        name: None,
        driver: driver.into(),
        endpoint: endpoint.into(),
        username: None,
        password: None,
        service_name: None,
        qualifier: None,
        account_id: None,
        access_key_id: None,
        access_key_secret: None,
        timeout_ms: 500,
    }
}

async fn call(h: &FaasHandler, function: &str, payload: &str) -> Result<Vec<TypedValue>, HandlerError> {
    h.call(ctx(), vec![TypedValue::new("string", function), TypedValue::new("string", payload)]).await
}

// ---- OpenFaaS -------------------------------------------------------------------------------

#[derive(Default)]
struct Gateway {
    flaky_calls: AtomicUsize,
}

fn basic_ok(headers: &HeaderMap) -> bool {
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:s3cret"));
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

async fn invoke(
    State(g): State<std::sync::Arc<Gateway>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !basic_ok(&headers) {
        return (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
    }
    let payload = String::from_utf8_lossy(&body).into_owned();
    match name.as_str() {
        "echo" => format!("echo: {payload}").into_response(),
        "json" => r#"{"ok":true}"#.into_response(),
        "flaky" if g.flaky_calls.fetch_add(1, Ordering::SeqCst) == 0 => {
            (StatusCode::BAD_GATEWAY, "upstream connect error").into_response()
        }
        "flaky" => "recovered".into_response(),
        "slow" => {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            "too late".into_response()
        }
        _ => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

async fn list_functions(headers: HeaderMap) -> Response {
    if !basic_ok(&headers) {
        return (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
    }
    axum::Json(serde_json::json!([
        {"name": "echo", "image": "ghcr.io/openfaas/alpine:latest", "namespace": "openfaas-fn", "replicas": 1},
        {"name": "flaky", "image": "flaky:1", "invocationCount": 3}
    ]))
    .into_response()
}

async fn openfaas(username: &str, password: &str) -> FaasHandler {
    let router = Router::new()
        .route("/function/{name}", post(invoke))
        .route("/system/functions", get(list_functions))
        .with_state(std::sync::Arc::new(Gateway::default()));
    let url = serve(router).await;
    let mut f = entry("openfaas", &url);
    f.username = Some(username.into());
    f.password = Some(password.into());
    FaasHandler(providers(&[f]).expect("valid").remove(0))
}

#[tokio::test]
async fn openfaas_invokes_with_basic_auth_and_returns_the_body_as_is() {
    let h = openfaas("admin", "s3cret").await;
    assert_eq!(h.info().name, "openfaas_driver");
    assert_eq!(h.info().arg_types, ["string", "string"]);
    assert_eq!(call(&h, "echo", "héllo").await, Ok(vec![TypedValue::new("string", "echo: héllo")]));
    assert_eq!(call(&h, "json", "").await, Ok(vec![TypedValue::new("string", r#"{"ok":true}"#)]), "no base64");
    let listed = h.0.list().await.expect("lists");
    assert_eq!(listed.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["echo", "flaky"]);
    assert_eq!(listed[0].id, "echo.openfaas-fn");
    assert_eq!(listed[0].description, "image ghcr.io/openfaas/alpine:latest");
}

#[tokio::test]
async fn openfaas_errors_are_classified_for_retry() {
    let h = openfaas("admin", "s3cret").await;
    let err = call(&h, "flaky", "x").await.unwrap_err();
    assert!(
        matches!(&err, HandlerError::Retryable(m) if m.contains("502 Bad Gateway: upstream connect error")),
        "{err:?}"
    );
    assert_eq!(call(&h, "flaky", "x").await, Ok(vec![TypedValue::new("string", "recovered")]), "the retry succeeds");
    let err = call(&h, "slow", "x").await.unwrap_err();
    assert!(matches!(&err, HandlerError::Retryable(m) if m.contains("invoking `slow` timed out")), "{err:?}");
    let err = call(&h, "nope", "x").await.unwrap_err();
    assert!(matches!(&err, HandlerError::Final(m) if m.contains("404 Not Found") && m.contains("deployed")), "{err:?}");
    let err = call(&h, "../system/functions", "x").await.unwrap_err();
    assert!(matches!(err, HandlerError::BadArgs(_)), "a name is one path segment: {err:?}");

    let wrong = openfaas("admin", "guess").await;
    let err = call(&wrong, "echo", "x").await.unwrap_err();
    assert!(
        matches!(&err, HandlerError::Final(m) if m.contains("401 Unauthorized") && m.contains("credentials")),
        "{err:?}"
    );
    assert!(wrong.0.list().await.unwrap_err().contains("401 Unauthorized"));
}

// ---- Function Compute -------------------------------------------------------------------------

const ACCOUNT: &str = "1234567890";
const KEY_ID: &str = "LTAI-test-key";
const SECRET: &str = "known-test-secret";

/// Verifies a request as Function Compute does, written from the API's documentation rather than
/// from the driver: the string to sign rebuilt from what actually arrived.
/// Function Compute's refusal of a request that is not authentic; `None` if it is.
fn refusal(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
    check_signature(method, uri, headers, body).err().map(|(code, msg)| {
        let body = serde_json::json!({"ErrorCode": code, "ErrorMessage": msg});
        (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
    })
}

/// The error code and message Function Compute would answer with, if the request is not
/// authentic.
fn check_signature(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), (&'static str, &'static str)> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let denied = |code: &'static str, msg: &'static str| Err((code, msg));
    if header("x-fc-account-id") != ACCOUNT {
        return denied("InvalidAccountId", "x-fc-account-id is missing or wrong");
    }
    let date = header("date");
    let Ok(sent) = httpdate::parse_http_date(&date) else {
        return denied("InvalidArgument", "the Date header is not an HTTP date");
    };
    let skew =
        sent.elapsed().unwrap_or_default().max(std::time::SystemTime::now().duration_since(sent).unwrap_or_default());
    if skew > std::time::Duration::from_secs(900) {
        return denied("RequestTimeTooSkewed", "the Date is more than 15 minutes off");
    }
    let md5 = header("content-md5");
    if !body.is_empty() && md5 != hex::encode(md5::Md5::digest(body)) {
        return denied("InvalidArgument", "Content-MD5 does not match the body");
    }
    let mut fc: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-fc-"))
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    fc.sort();
    let mut text = format!("{}\n{md5}\n{}\n{date}\n", method.as_str(), header("content-type"));
    for (k, v) in fc {
        text.push_str(&format!("{k}:{v}\n"));
    }
    text.push_str(uri.path());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(text.as_bytes());
    let expected =
        format!("FC {KEY_ID}:{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    if header("authorization") != expected {
        return denied("SignatureNotMatch", "the request signature does not match");
    }
    Ok(())
}

async fn fc_invoke(
    method: Method,
    uri: Uri,
    Path((service, function)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = refusal(&method, &uri, &headers, &body) {
        return denied;
    }
    if service != "svc" {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"ErrorCode": "ServiceNotFound", "ErrorMessage": "no such service"})),
        )
            .into_response();
    }
    if headers.get("x-fc-invocation-type").and_then(|v| v.to_str().ok()) != Some("Sync") {
        return (StatusCode::BAD_REQUEST, "synchronous invocations only in this test").into_response();
    }
    let payload = String::from_utf8_lossy(&body).into_owned();
    match function.as_str() {
        "hello" => format!("hello {payload}").into_response(),
        "boom" => (
            [("x-fc-error-type", "UnhandledInvocationError"), ("x-fc-request-id", "req-42")],
            r#"{"errorMessage":"kaboom","errorType":"Error"}"#,
        )
            .into_response(),
        "overload" => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"ErrorCode": "ResourceExhausted", "ErrorMessage": "try later"})),
        )
            .into_response(),
        "slow" => {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            "too late".into_response()
        }
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"ErrorCode": "FunctionNotFound", "ErrorMessage": "no such function"})),
        )
            .into_response(),
    }
}

async fn fc_list(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(denied) = refusal(&method, &uri, &headers, &[]) {
        return denied;
    }
    let page = match q.get("nextToken").map(String::as_str) {
        None => {
            serde_json::json!({"functions": [{"functionName": "hello", "functionId": "f-1", "description": "says hello"}], "nextToken": "p2"})
        }
        Some("p2") => serde_json::json!({"functions": [{"functionName": "boom", "functionId": "f-2"}]}),
        Some(_) => return (StatusCode::BAD_REQUEST, "bad token").into_response(),
    };
    axum::Json(page).into_response()
}

async fn aliyun(secret: &str) -> FaasHandler {
    let router = Router::new()
        .route("/2016-08-15/services/{service}/functions/{function}/invocations", post(fc_invoke))
        .route("/2016-08-15/services/svc/functions", get(fc_list));
    let url = serve(router).await;
    let mut f = entry("aliyunfc", &url);
    f.account_id = Some(ACCOUNT.into());
    f.service_name = Some("svc".into());
    f.access_key_id = Some(KEY_ID.into());
    f.access_key_secret = Some(secret.into());
    FaasHandler(providers(&[f]).expect("valid").remove(0))
}

#[tokio::test]
async fn function_compute_signs_its_requests_and_returns_the_reply() {
    let h = aliyun(SECRET).await;
    assert_eq!(h.info().name, "aliyunfc_driver");
    assert_eq!(call(&h, "hello", "wörld").await, Ok(vec![TypedValue::new("string", "hello wörld")]));
    let listed = h.0.list().await.expect("lists both pages");
    assert_eq!(
        listed.iter().map(|f| (f.id.as_str(), f.name.as_str())).collect::<Vec<_>>(),
        [("f-1", "hello"), ("f-2", "boom")]
    );
    assert_eq!(listed[0].description, "says hello");
}

#[tokio::test]
async fn function_compute_errors_are_reported_and_classified() {
    let h = aliyun(SECRET).await;
    let err = call(&h, "boom", "").await.unwrap_err();
    assert_eq!(
        err,
        HandlerError::Retryable(
            "aliyunfc_driver: `boom` failed with UnhandledInvocationError (request req-42): {\"errorMessage\":\"kaboom\",\"errorType\":\"Error\"}".into()
        ),
        "a function error is an error, not a result"
    );
    let err = call(&h, "overload", "").await.unwrap_err();
    assert!(
        matches!(&err, HandlerError::Retryable(m) if m.contains("503 Service Unavailable: ResourceExhausted: try later")),
        "{err:?}"
    );
    let err = call(&h, "slow", "").await.unwrap_err();
    assert!(matches!(&err, HandlerError::Retryable(m) if m.contains("timed out")), "{err:?}");
    let err = call(&h, "ghost", "").await.unwrap_err();
    assert!(matches!(&err, HandlerError::Final(m) if m.contains("FunctionNotFound")), "{err:?}");

    let wrong = aliyun("not-the-secret").await;
    let err = call(&wrong, "hello", "x").await.unwrap_err();
    assert!(
        matches!(&err, HandlerError::Final(m) if m.contains("403 Forbidden: SignatureNotMatch") && m.contains("credentials")),
        "{err:?}"
    );
    assert!(wrong.0.list().await.unwrap_err().contains("SignatureNotMatch"));
}

#[test]
fn the_account_id_comes_from_the_endpoint_or_must_be_given() {
    let mut f = entry("aliyunfc", "1234567890.cn-hangzhou.fc.aliyuncs.com");
    f.service_name = Some("s".into());
    assert!(providers(std::slice::from_ref(&f)).is_ok());
    f.endpoint = "fc.example.com".into();
    let err = providers(&[f]).err().expect("refused");
    assert!(err.contains("set account_id"), "{err}");
}
