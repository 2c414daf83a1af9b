//! One validation pass that lists every problem.

use crate::Config;
use std::net::SocketAddr;

pub(crate) fn problems(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if c.server.listen.parse::<SocketAddr>().is_err() {
        out.push(format!("server.listen `{}` is not a host:port address such as 127.0.0.1:4332", c.server.listen));
    }
    for (i, o) in c.http.cors_origins.iter().enumerate() {
        let scheme = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
        if o != "*" && !scheme.is_some_and(|rest| !rest.is_empty() && !rest.trim_end_matches('/').contains('/')) {
            out.push(format!(
                "http.cors_origins[{i}] `{o}` is not an origin such as https://app.example.com (scheme and host, optional port, no path) or *"
            ));
        }
    }
    if let Some(endpoint) = &c.tracing.otlp_endpoint {
        let rest = endpoint.strip_prefix("http://").or_else(|| endpoint.strip_prefix("https://"));
        if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
            out.push(format!(
                "tracing.otlp_endpoint `{endpoint}` is not an OTLP/HTTP collector URL such as http://127.0.0.1:4318"
            ));
        }
    }
    out.extend(metric_problems(&c.metrics));
    if c.http.send_max_wait_secs == 0 {
        out.push("http.send_max_wait_secs must be at least 1 (seconds a REST send may wait for its run)".into());
    }
    if c.data_dir.as_os_str().is_empty() {
        out.push("data_dir must not be empty".into());
    }
    let ledger = c.ledger.uri.as_str();
    let mongo = ledger.starts_with("mongodb://") || ledger.starts_with("mongodb+srv://");
    if !(ledger.is_empty() || ledger == "memory://" || ledger.starts_with("sqlite://") || mongo) {
        out.push(format!("ledger.uri `{ledger}` must be sqlite://PATH, memory:// or mongodb://HOST:PORT/…"));
    }
    if mongo && c.ledger.namespace.trim().is_empty() {
        out.push("ledger.namespace (the MongoDB database) must not be empty".into());
    }
    if !(c.broker.uri == "local://" || c.broker.uri.starts_with("amqp://") || c.broker.uri.starts_with("amqps://")) {
        out.push(format!("broker.uri `{}` must be local:// or amqp://USER:PASS@HOST:PORT/VHOST", c.broker.uri));
    }
    if !(c.coord.uri == "local://" || c.coord.uri.starts_with("redis://") || c.coord.uri.starts_with("rediss://")) {
        out.push(format!("coord.uri `{}` must be local:// or redis://HOST:PORT/DB", c.coord.uri));
    }
    for (i, u) in c.auth.users.iter().enumerate() {
        if u.name.trim().is_empty() {
            out.push(format!("auth.users[{i}].name must not be empty"));
        }
        if !u.password_hash.starts_with("$argon2id$") {
            out.push(format!(
                "auth.users[{i}] ({}): password_hash must be an Argon2id hash; make one with `aurora hash-password`",
                u.name
            ));
        }
        if !["admin", "operator", "viewer", "worker"].contains(&u.role.as_str()) {
            out.push(format!(
                "auth.users[{i}] ({}): role `{}` must be admin, operator, viewer or worker",
                u.name, u.role
            ));
        }
    }
    if c.auth.token_ttl_secs == 0 {
        out.push("auth.token_ttl_secs must be positive".into());
    }
    if c.worker.slots == 0 {
        out.push("worker.slots must be at least 1".into());
    }
    if !(1..=256).contains(&c.projector.partitions) {
        out.push(format!("projector.partitions must be between 1 and 256, not {}", c.projector.partitions));
    }
    if c.projector.batch_max == 0 {
        out.push("projector.batch_max must be at least 1".into());
    }
    if c.projector.schedule_to_start_secs == 0 {
        out.push("projector.schedule_to_start_secs must be positive".into());
    }
    let mut faas_names = std::collections::BTreeSet::new();
    for (i, f) in c.faas.iter().enumerate() {
        let at = format!("faas[{i}] ({})", f.handler_name());
        if !faas_names.insert(f.handler_name()) {
            out.push(format!(
                "{at}: another faas entry has the same name; give each one its own `name` (the handler tasks use)"
            ));
        }
        if f.endpoint.trim().is_empty() {
            out.push(format!("{at}: endpoint must not be empty"));
        }
        if f.timeout_ms == 0 {
            out.push(format!("{at}: timeout_ms must be positive"));
        }
        match f.driver.as_str() {
            "openfaas" => {
                if f.username.is_some() != f.password.is_some() {
                    out.push(format!("{at}: basic auth needs both username and password"));
                }
            }
            "aliyunfc" => {
                for (key, value) in [
                    ("service_name", &f.service_name),
                    ("access_key_id", &f.access_key_id),
                    ("access_key_secret", &f.access_key_secret),
                ] {
                    if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
                        out.push(format!("{at}: the aliyunfc driver needs {key}"));
                    }
                }
            }
            other => out.push(format!("{at}: driver `{other}` must be openfaas or aliyunfc")),
        }
    }
    if let Some(dir) = &c.worker.handlers_dir
        && dir.as_os_str().is_empty()
    {
        out.push("worker.handlers_dir must not be empty (leave it out to offer no executables)".into());
    }
    let l = &c.limits;
    for (key, value) in [
        ("max_body_bytes", l.max_body_bytes),
        ("anonymous_max_body_bytes", l.anonymous_max_body_bytes),
        ("max_response_bytes", l.max_response_bytes),
        ("max_complexity", l.max_complexity),
        ("max_fields", l.max_fields),
        ("max_connections", l.max_connections),
        ("max_sockets_per_token", l.max_sockets_per_token),
        ("max_subscriptions_per_token", l.max_subscriptions_per_token),
        ("max_subscriptions", l.max_subscriptions),
        ("login_concurrency", l.login_concurrency),
    ] {
        if value == 0 {
            out.push(format!("limits.{key} must be at least 1"));
        }
    }
    for (key, value) in [
        ("request_timeout_secs", l.request_timeout_secs),
        ("header_read_timeout_secs", l.header_read_timeout_secs),
        ("body_read_timeout_secs", l.body_read_timeout_secs),
        ("connection_init_timeout_secs", l.connection_init_timeout_secs),
        ("logins_per_minute", u64::from(l.logins_per_minute)),
        ("login_failures_before_backoff", u64::from(l.login_failures_before_backoff)),
    ] {
        if value == 0 {
            out.push(format!("limits.{key} must be positive"));
        }
    }
    if !["text", "json"].contains(&c.log.format.as_str()) {
        out.push(format!("log.format `{}` must be text or json", c.log.format));
    }
    out
}

fn prometheus_name(s: &str, colons: bool) -> bool {
    let ok = |c: char, first: bool| {
        c.is_ascii_alphabetic() || c == '_' || (colons && c == ':') || (!first && c.is_ascii_digit())
    };
    let mut chars = s.chars();
    chars.next().is_some_and(|c| ok(c, true)) && chars.all(|c| ok(c, false))
}

/// `[[metrics]]`: names Prometheus accepts and Aurora does not use itself, known kinds, labels,
/// increasing buckets for histograms only.
fn metric_problems(metrics: &[crate::Metric]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, m) in metrics.iter().enumerate() {
        let at = format!("metrics[{i}] (`{}`)", m.name);
        if !prometheus_name(&m.name, true) {
            out.push(format!("{at}: the name must be letters, digits, `_` and `:`, not starting with a digit"));
        } else if m.name.starts_with("aurora_") || m.name.starts_with("process_") {
            out.push(format!("{at}: names starting with aurora_ or process_ are Aurora's own; choose another"));
        }
        if !seen.insert(m.name.as_str()) {
            out.push(format!("{at}: declared twice"));
        }
        if m.help.trim().is_empty() {
            out.push(format!("{at}: `help` must say what it measures (it is shown on /metrics)"));
        }
        if !["counter", "gauge", "histogram", "summary"].contains(&m.kind.as_str()) {
            out.push(format!("{at}: kind `{}` is not one of counter, gauge, histogram, summary", m.kind));
        }
        let mut labels = std::collections::HashSet::new();
        for l in &m.labels {
            let reserved = (m.kind == "histogram" && l == "le") || (m.kind == "summary" && l == "quantile");
            if !prometheus_name(l, false) || l.starts_with("__") || reserved {
                out.push(format!(
                    "{at}: `{l}` cannot be a label name (letters, digits and `_`; not `__…`, `le` or `quantile`)"
                ));
            }
            if !labels.insert(l.as_str()) {
                out.push(format!("{at}: label `{l}` is listed twice"));
            }
        }
        if !m.buckets.is_empty() && m.kind != "histogram" {
            out.push(format!("{at}: `buckets` is for histograms only"));
        }
        if m.buckets.iter().any(|b| !b.is_finite()) || m.buckets.windows(2).any(|w| w[0] >= w[1]) {
            out.push(format!("{at}: `buckets` must be finite and increasing"));
        }
    }
    out
}
