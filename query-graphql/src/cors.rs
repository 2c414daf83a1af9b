//! Cross-origin requests (`http.cors_origins`): which origins a browser may call Aurora from. The
//! decision is a pure function; the middleware applies it. Nothing is allowed by default, and
//! credentials (cookies) are never allowed: Aurora's tokens travel in the `Authorization` header.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// What a request may do across origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No `Origin`, or one not allowed: no CORS headers (the browser blocks the page's access).
    None,
    /// An allowed origin: answer with these headers.
    Allow(String),
}

/// The allowed origins (`*` allows any, without credentials).
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Arc<Vec<String>>,
}

impl Cors {
    /// Origins as configured (`https://app.example.com`, or `*`).
    pub fn new(origins: Vec<String>) -> Self {
        Self { origins: Arc::new(origins.into_iter().map(|o| o.trim_end_matches('/').to_string()).collect()) }
    }

    /// Whether a request from `origin` may be answered with CORS headers.
    pub fn decide(&self, origin: Option<&str>) -> Decision {
        let Some(origin) = origin else { return Decision::None };
        if self.origins.iter().any(|o| o == "*") {
            return Decision::Allow("*".to_string());
        }
        if self.origins.iter().any(|o| o == origin) { Decision::Allow(origin.to_string()) } else { Decision::None }
    }
}

/// The headers that answer an allowed origin (a preflight also gets the methods and headers).
pub fn headers(allowed: &str, preflight: bool) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(allowed) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if preflight {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    h
}

/// The middleware: answers preflights (`OPTIONS` with `Access-Control-Request-Method`) itself, and
/// adds the headers to every other answer to an allowed origin.
pub async fn layer(State(cors): State<Cors>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string);
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let decision = cors.decide(origin.as_deref());
    if preflight {
        return match decision {
            Decision::Allow(o) => (StatusCode::NO_CONTENT, headers(&o, true)).into_response(),
            Decision::None => StatusCode::FORBIDDEN.into_response(),
        };
    }
    let mut response = next.run(request).await;
    if let Decision::Allow(o) = decision {
        response.headers_mut().extend(headers(&o, false));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_allowed_by_default() {
        assert_eq!(Cors::default().decide(Some("https://evil.example")), Decision::None);
    }

    #[test]
    fn listed_origins_are_echoed_and_others_refused() {
        let cors = Cors::new(vec!["https://app.example.com/".into()]);
        assert_eq!(cors.decide(Some("https://app.example.com")), Decision::Allow("https://app.example.com".into()));
        assert_eq!(cors.decide(Some("https://other.example.com")), Decision::None);
        assert_eq!(cors.decide(None), Decision::None, "same-origin requests need no headers");
    }

    #[test]
    fn a_star_allows_any_origin_and_credentials_are_never_allowed() {
        let cors = Cors::new(vec!["*".into()]);
        assert_eq!(cors.decide(Some("https://x.example")), Decision::Allow("*".into()));
        let h = headers("*", true);
        assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], "authorization, content-type");
    }
}
