//! Alibaba Cloud Function Compute through its HTTP API (version 2016-08-15, the one the seed's
//! `fc-go-sdk` client used): `POST /2016-08-15/services/{service}/functions/{function}/invocations`
//! invokes synchronously, `GET /2016-08-15/services/{service}/functions` lists. Requests are signed
//! as the API documents: `Authorization: FC {AccessKeyId}:{signature}`, the signature being the
//! base64 HMAC-SHA256, under the AccessKey secret, of
//! `VERB \n Content-MD5 \n Content-Type \n Date \n` + the `x-fc-*` headers (lower-case, sorted,
//! `name:value\n`) + the path. A function that fails answers 200 with an `X-Fc-Error-Type` header:
//! that is reported (and retried under the task's policy), not taken for a result as the seed did.

use super::{Function, Provider, check_function_name, client, status_error, transport, with_scheme};
use crate::handlers::HandlerError;
use async_trait::async_trait;
use aurora_config::Faas;
use base64::Engine;
use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use serde::Deserialize;
use std::time::SystemTime;

/// The API version in every path.
pub const API_VERSION: &str = "2016-08-15";

/// One Function Compute service.
pub struct AliyunFc {
    name: String,
    endpoint: String,
    account_id: String,
    service: String,
    access_key_id: String,
    access_key_secret: String,
    http: reqwest::Client,
}

/// The string to sign for a request (see the module doc).
pub fn string_to_sign(
    method: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    fc_headers: &[(&str, &str)],
    resource: &str,
) -> String {
    let mut headers: Vec<(String, &str)> = fc_headers
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("x-fc-"))
        .map(|(k, v)| (k.to_ascii_lowercase(), *v))
        .collect();
    headers.sort();
    let canonical: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    format!("{method}\n{content_md5}\n{content_type}\n{date}\n{canonical}{resource}")
}

/// base64(HMAC-SHA256(secret, text)).
pub fn sign(secret: &str, text: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    functions: Vec<Listed>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    function_name: String,
    #[serde(default)]
    function_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct ServiceError {
    #[serde(rename = "ErrorCode", default)]
    code: String,
    #[serde(rename = "ErrorMessage", default)]
    message: String,
}

impl AliyunFc {
    /// The service an `[[faas]]` entry names (an endpoint without a scheme means https).
    pub fn new(f: &Faas) -> Result<Self, String> {
        let endpoint = with_scheme(&f.endpoint, "https");
        let host = endpoint.split("://").nth(1).unwrap_or_default();
        let account_id = match &f.account_id {
            Some(id) => id.clone(),
            None => host
                .split('.')
                .next()
                .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
                .map(str::to_string)
                .ok_or_else(|| {
                    format!(
                        "faas `{}`: set account_id (the endpoint {endpoint} does not start with the account id, as \
                     ACCOUNT.REGION.fc.aliyuncs.com does)",
                        f.handler_name()
                    )
                })?,
        };
        let mut service = f.service_name.clone().unwrap_or_default();
        if let Some(q) = &f.qualifier {
            service = format!("{service}.{q}");
        }
        Ok(Self {
            name: f.handler_name(),
            endpoint,
            account_id,
            service,
            access_key_id: f.access_key_id.clone().unwrap_or_default(),
            access_key_secret: f.access_key_secret.clone().unwrap_or_default(),
            http: client(f)?,
        })
    }

    /// A signed request for `path` (which starts with `/2016-08-15/`).
    fn request(&self, method: reqwest::Method, path: &str, body: Option<&[u8]>) -> reqwest::RequestBuilder {
        let date = httpdate::fmt_http_date(SystemTime::now());
        let (md5, content_type) = match body {
            Some(b) => (hex::encode(Md5::digest(b)), "application/octet-stream"),
            None => (String::new(), ""),
        };
        let fc_headers = [
            ("x-fc-account-id", self.account_id.as_str()),
            ("x-fc-invocation-type", "Sync"),
            ("x-fc-log-type", "None"),
        ];
        let to_sign = string_to_sign(method.as_str(), &md5, content_type, &date, &fc_headers, path);
        let authorization = format!("FC {}:{}", self.access_key_id, sign(&self.access_key_secret, &to_sign));
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.endpoint))
            .header("date", date)
            .header("authorization", authorization);
        for (k, v) in fc_headers {
            r = r.header(k, v);
        }
        if let Some(b) = body {
            r = r.header("content-type", content_type).header("content-md5", md5).body(b.to_vec());
        }
        r
    }

    fn error_answer(&self, what: &str, status: reqwest::StatusCode, body: &str) -> HandlerError {
        let detail = match serde_json::from_str::<ServiceError>(body) {
            Ok(e) if !e.code.is_empty() => format!("{}: {}", e.code, e.message),
            _ => body.to_string(),
        };
        status_error(&self.name, what, status, &detail)
    }
}

#[async_trait]
impl Provider for AliyunFc {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &'static str {
        "aliyunfc"
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn invoke(&self, function: &str, payload: &str) -> Result<String, HandlerError> {
        check_function_name(&self.name, function)?;
        let what = format!("invoking `{function}`");
        let path = format!("/{API_VERSION}/services/{}/functions/{function}/invocations", self.service);
        let response = self
            .request(reqwest::Method::POST, &path, Some(payload.as_bytes()))
            .send()
            .await
            .map_err(|e| transport(&self.name, &what, e))?;
        let status = response.status();
        let error_type = response.headers().get("x-fc-error-type").and_then(|v| v.to_str().ok()).map(str::to_string);
        let request_id = response.headers().get("x-fc-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = response.text().await.map_err(|e| transport(&self.name, &what, e))?;
        if !status.is_success() {
            return Err(self.error_answer(&what, status, &body));
        }
        if let Some(kind) = error_type {
            let id = request_id.map(|id| format!(" (request {id})")).unwrap_or_default();
            let detail: String = body.trim().chars().take(500).collect();
            return Err(HandlerError::Retryable(format!(
                "{}: `{function}` failed with {kind}{id}: {detail}",
                self.name
            )));
        }
        Ok(body)
    }

    async fn list(&self) -> Result<Vec<Function>, String> {
        let what = "listing functions";
        let path = format!("/{API_VERSION}/services/{}/functions", self.service);
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut request = self.request(reqwest::Method::GET, &path, None);
            if let Some(token) = &next {
                request = request.query(&[("nextToken", token)]);
            }
            let response = request.send().await.map_err(|e| transport(&self.name, what, e).to_string())?;
            let status = response.status();
            let body = response.text().await.map_err(|e| transport(&self.name, what, e).to_string())?;
            if !status.is_success() {
                return Err(self.error_answer(what, status, &body).to_string());
            }
            let page: Page = serde_json::from_str(&body)
                .map_err(|e| format!("{}: {what}: the answer is not a function list ({e})", self.name))?;
            out.extend(page.functions.into_iter().map(|l| Function {
                provider: self.name.clone(),
                driver: "aliyunfc".into(),
                id: l.function_id.unwrap_or_else(|| l.function_name.clone()),
                name: l.function_name,
                description: l.description.unwrap_or_default(),
            }));
            match page.next_token.filter(|t| !t.is_empty()) {
                Some(t) if out.len() < 10_000 => next = Some(t),
                _ => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known answer of the fc-go-sdk's own signature test (`signature_test.go`): the same
    /// string to sign and secret must give the same signature here.
    #[test]
    fn the_signature_matches_the_sdks_known_answer() {
        let text = "GET\nef5b43a0fe1d5b401b62c3ba33a7a3d6\ntext/json\n1583221068\nx-fc-trace-id:trace-id\n\
                    /2016-08-15/proxy/service.LATEST/func/abc 123\na=123 45\nx-fc-access-key-id=akID\n\
                    x-fc-expires=1583221068\nx-fc-security-token=stsToken\nx=456\nx=xyz";
        assert_eq!(sign("S9MWOBG0AOWHSO9HPASP216QOPHT5YR4NLH3A", text), "QFdNhz0Dl+onUM/MvpX940WFH3H8OHayZHbby1c01aI=");
    }

    #[test]
    fn fc_headers_are_lower_cased_sorted_and_alone() {
        let s = string_to_sign(
            "POST",
            "abc",
            "application/octet-stream",
            "Mon, 01 Dec 2026 10:00:00 GMT",
            &[("X-Fc-Log-Type", "None"), ("x-fc-account-id", "123"), ("Host", "ignored")],
            "/2016-08-15/services/s/functions/f/invocations",
        );
        assert_eq!(
            s,
            "POST\nabc\napplication/octet-stream\nMon, 01 Dec 2026 10:00:00 GMT\nx-fc-account-id:123\n\
             x-fc-log-type:None\n/2016-08-15/services/s/functions/f/invocations"
        );
    }
}
