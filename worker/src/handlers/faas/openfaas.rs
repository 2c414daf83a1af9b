//! OpenFaaS through its gateway's documented HTTP API: `POST /function/{name}` invokes
//! synchronously (the body is the payload, the reply body the result, returned as is — no base64
//! wrapping as in the seed), `GET /system/functions` lists, HTTP basic auth when configured.

use super::{Function, Provider, check_function_name, client, status_error, transport, with_scheme};
use crate::handlers::HandlerError;
use async_trait::async_trait;
use aurora_config::Faas;
use serde::Deserialize;

/// One OpenFaaS gateway.
pub struct OpenFaas {
    name: String,
    endpoint: String,
    auth: Option<(String, String)>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Listed {
    name: String,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

impl OpenFaas {
    /// The gateway an `[[faas]]` entry names (an endpoint without a scheme means http, as in the seed).
    pub fn new(f: &Faas) -> Result<Self, String> {
        Ok(Self {
            name: f.handler_name(),
            endpoint: with_scheme(&f.endpoint, "http"),
            auth: f.username.clone().zip(f.password.clone()),
            http: client(f)?,
        })
    }

    fn authed(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Some((user, password)) => r.basic_auth(user, Some(password)),
            None => r,
        }
    }
}

#[async_trait]
impl Provider for OpenFaas {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &'static str {
        "openfaas"
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn invoke(&self, function: &str, payload: &str) -> Result<String, HandlerError> {
        check_function_name(&self.name, function)?;
        let what = format!("invoking `{function}`");
        let url = format!("{}/function/{function}", self.endpoint);
        let request = self.authed(self.http.post(url)).header("content-type", "text/plain").body(payload.to_string());
        let response = request.send().await.map_err(|e| transport(&self.name, &what, e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| transport(&self.name, &what, e))?;
        if !status.is_success() {
            return Err(status_error(&self.name, &what, status, &body));
        }
        Ok(body)
    }

    async fn list(&self) -> Result<Vec<Function>, String> {
        let what = "listing functions";
        let url = format!("{}/system/functions", self.endpoint);
        let response =
            self.authed(self.http.get(url)).send().await.map_err(|e| transport(&self.name, what, e).to_string())?;
        let status = response.status();
        let body = response.text().await.map_err(|e| transport(&self.name, what, e).to_string())?;
        if !status.is_success() {
            return Err(status_error(&self.name, what, status, &body).to_string());
        }
        let listed: Vec<Listed> = serde_json::from_str(&body)
            .map_err(|e| format!("{}: {what}: the gateway's answer is not a function list ({e})", self.name))?;
        Ok(listed
            .into_iter()
            .map(|l| Function {
                provider: self.name.clone(),
                driver: "openfaas".into(),
                id: match &l.namespace {
                    Some(ns) if !ns.is_empty() => format!("{}.{ns}", l.name),
                    _ => l.name.clone(),
                },
                description: l.image.map(|i| format!("image {i}")).unwrap_or_default(),
                name: l.name,
            })
            .collect())
    }
}
