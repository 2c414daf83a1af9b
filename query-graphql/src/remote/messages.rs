//! The messages of the remote worker protocol (`docs/worker-protocol.md`), and the checks of what
//! a client sends: pure functions, so every refusal and its wording is unit-tested.

use aurora_schemas::signature::Signature;
use aurora_schemas::{HandlerInfo, Labels, TaskId, TypedValue};
use serde_json::{Value, json};
use std::collections::HashSet;

/// The protocol versions this server speaks.
pub const PROTOCOLS: &[u64] = &[1];
/// The WebSocket subprotocol.
pub const SUBPROTOCOL: &str = "aurora-worker.v1";

/// A close code and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 4400, 4401, 4403, 4408, 1011.
    pub code: u16,
    /// The full explanation.
    pub message: String,
}

impl Refusal {
    /// A protocol violation (4400).
    pub fn protocol(message: impl Into<String>) -> Self {
        Self { code: 4400, message: message.into() }
    }
}

/// What a valid `hello` declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The version asked for.
    pub protocol: u64,
    /// The bearer token.
    pub token: String,
    /// A human name for logs.
    pub name: Option<String>,
    /// Labels selectors match.
    pub labels: Labels,
    /// Tasks in flight at once.
    pub concurrency: usize,
    /// The handlers offered.
    pub handlers: Vec<HandlerInfo>,
}

/// A message from a client after `hello`.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The attempt succeeded.
    Result {
        /// The attempt.
        attempt_id: String,
        /// Its results.
        results: Vec<TypedValue>,
    },
    /// The attempt failed.
    Failure {
        /// The attempt.
        attempt_id: String,
        /// What went wrong (cut to 4,096 characters).
        error: String,
        /// Whether to retry under the task's policy.
        retry: bool,
        /// Diagnostic text (its last 16,384 characters).
        traceback: Option<String>,
    },
    /// How far an attempt is.
    Progress {
        /// The attempt.
        attempt_id: String,
        /// 0 to 1.
        fraction: f64,
        /// What the worker says (cut to 1,000 characters).
        message: Option<String>,
    },
    /// A user-defined metric update (`{"name", "labels", "inc" | "set" | "observe"}`).
    Metric(Value),
    /// Liveness.
    Heartbeat,
    /// Send no more tasks on this connection.
    Drain,
}

fn object(text: &str) -> Result<serde_json::Map<String, Value>, Refusal> {
    let v: Value = serde_json::from_str(text).map_err(|e| Refusal::protocol(format!("not JSON: {e}")))?;
    match v {
        Value::Object(m) if m.get("type").is_some_and(Value::is_string) => Ok(m),
        _ => Err(Refusal::protocol("a message must be a JSON object with a string \"type\"")),
    }
}

fn kind(m: &serde_json::Map<String, Value>) -> &str {
    m.get("type").and_then(Value::as_str).unwrap_or_default()
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The first `n` characters of `s`, with `…` when cut.
fn head(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        None => s.to_string(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

/// The last `n` characters of `s`.
fn tail(s: &str, n: usize) -> String {
    let count = chars(s);
    if count <= n { s.to_string() } else { s.chars().skip(count - n).collect() }
}

/// Checks the first message; the refusal is the first problem in the order the protocol gives:
/// shape, version, token (4401), then the declaration (the role is checked by the caller between
/// the token and the declaration).
pub fn hello(text: &str) -> Result<(Hello, serde_json::Map<String, Value>), Refusal> {
    let m = object(text)?;
    if kind(&m) != "hello" {
        return Err(Refusal::protocol(format!("the first message must be hello, got {}", head(kind(&m), 40))));
    }
    let protocol = m
        .get("protocol")
        .and_then(Value::as_u64)
        .ok_or_else(|| Refusal::protocol("protocol: missing or not an integer"))?;
    if !PROTOCOLS.contains(&protocol) {
        return Err(Refusal::protocol(format!("unsupported protocol {protocol}; this server speaks 1")));
    }
    let token = match m.get("token") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        _ => return Err(Refusal { code: 4401, message: "a token is required in hello".into() }),
    };
    Ok((Hello { protocol, token, name: None, labels: Labels::new(), concurrency: 1, handlers: Vec::new() }, m))
}

/// The worker declaration of a `hello` (checked after the token and role).
pub fn declaration(hello: Hello, m: &serde_json::Map<String, Value>) -> Result<Hello, Refusal> {
    let bad = |path: &str, what: String| Refusal::protocol(format!("{path}: {what}"));
    let w = match m.get("worker") {
        Some(Value::Object(w)) => w,
        Some(_) => return Err(bad("worker", "must be an object".into())),
        None => return Err(bad("worker", "missing".into())),
    };
    let name = match w.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) if chars(n) <= 200 => Some(n.clone()),
        Some(Value::String(_)) => return Err(bad("worker.name", "at most 200 characters".into())),
        Some(_) => return Err(bad("worker.name", "must be a string".into())),
    };
    let mut labels = Labels::new();
    match w.get("labels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(l)) => {
            if l.len() > 64 {
                return Err(bad("worker.labels", format!("at most 64 labels, got {}", l.len())));
            }
            for (k, v) in l {
                let path = format!("worker.labels.{}", head(k, 40));
                if k.is_empty() || chars(k) > 200 {
                    return Err(bad(&path, "a label key has 1 to 200 characters".into()));
                }
                match v {
                    Value::String(s) if chars(s) <= 200 => {
                        labels.insert(k.clone(), s.clone());
                    }
                    Value::String(_) => return Err(bad(&path, "at most 200 characters".into())),
                    _ => return Err(bad(&path, "must be a string".into())),
                }
            }
        }
        Some(_) => return Err(bad("worker.labels", "must be an object of strings".into())),
    }
    let concurrency = match w.get("concurrency") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=1024) => n as usize,
            _ => return Err(bad("worker.concurrency", format!("must be 1..=1024, got {v}"))),
        },
    };
    let list = match w.get("handlers") {
        Some(Value::Array(l)) if !l.is_empty() && l.len() <= 1000 => l,
        Some(Value::Array(l)) => return Err(bad("worker.handlers", format!("1 to 1,000 handlers, got {}", l.len()))),
        Some(_) => return Err(bad("worker.handlers", "must be an array".into())),
        None => return Err(bad("worker.handlers", "missing".into())),
    };
    let mut seen = HashSet::new();
    let mut handlers = Vec::with_capacity(list.len());
    for (i, h) in list.iter().enumerate() {
        let at = format!("worker.handlers[{i}]");
        let Value::Object(h) = h else { return Err(bad(&at, "must be an object".into())) };
        let name = match h.get("name") {
            Some(Value::String(n))
                if !n.is_empty() && chars(n) <= 200 && !n.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                n.clone()
            }
            Some(Value::String(n)) => {
                return Err(bad(
                    &format!("{at}.name"),
                    format!("{:?} must have 1 to 200 characters, without whitespace", head(n, 40)),
                ));
            }
            _ => return Err(bad(&format!("{at}.name"), "missing or not a string".into())),
        };
        if !seen.insert(name.clone()) {
            return Err(bad(&format!("{at}.name"), format!("duplicate {name:?}")));
        }
        let types = |field: &str| -> Result<Vec<String>, Refusal> {
            match h.get(field) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(ts)) => {
                    let mut out = Vec::with_capacity(ts.len());
                    for (j, t) in ts.iter().enumerate() {
                        let Some(t) = t.as_str() else {
                            return Err(bad(&format!("{at}.{field}[{j}]"), "must be a type name".into()));
                        };
                        out.push(t.to_string());
                        if let Err(e) = Signature::parse(&out) {
                            let e = e.replace('`', "\"");
                            return Err(bad(
                                &format!("{at}.{field}[{j}]"),
                                format!("unknown type {:?}: {}", head(t, 40), head(&e, 200)),
                            ));
                        }
                    }
                    Ok(out)
                }
                Some(_) => Err(bad(&format!("{at}.{field}"), "must be an array of type names".into())),
            }
        };
        let (args, results) = (types("args")?, types("results")?);
        let usage = match h.get("usage") {
            None | Some(Value::Null) => format!("{name}({}) -> ({})", args.join(", "), results.join(", ")),
            Some(Value::String(u)) if chars(u) <= 1000 => u.clone(),
            Some(Value::String(_)) => return Err(bad(&format!("{at}.usage"), "at most 1,000 characters".into())),
            Some(_) => return Err(bad(&format!("{at}.usage"), "must be a string".into())),
        };
        handlers.push(HandlerInfo { name, usage, arg_types: args, result_types: results });
    }
    Ok(Hello { name, labels, concurrency, handlers, ..hello })
}

/// `task_id/attempt` parsed.
pub fn attempt_of(attempt_id: &str) -> Result<(TaskId, u32), Refusal> {
    let bad =
        || Refusal::protocol(format!("attempt_id {:?} is not of the form <task_id>/<attempt>", head(attempt_id, 80)));
    let (task, n) = attempt_id.rsplit_once('/').ok_or_else(bad)?;
    let task: TaskId = task.parse().map_err(|_| bad())?;
    let n: u32 = n.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(bad());
    }
    Ok((task, n))
}

/// The attempt id of attempt `attempt` of `task`.
pub fn attempt_id(task: TaskId, attempt: u32) -> String {
    format!("{task}/{attempt}")
}

fn string_field(m: &serde_json::Map<String, Value>, field: &str, ty: &str) -> Result<String, Refusal> {
    m.get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Refusal::protocol(format!("{ty}.{field}: missing or not a string")))
}

/// A message after `hello`.
pub fn incoming(text: &str) -> Result<Incoming, Refusal> {
    let m = object(text)?;
    let ty = kind(&m).to_string();
    match ty.as_str() {
        "heartbeat" => Ok(Incoming::Heartbeat),
        "metric" => {
            let mut update = m.clone();
            update.remove("type");
            update.remove("attempt_id");
            Ok(Incoming::Metric(Value::Object(update)))
        }
        "drain" => Ok(Incoming::Drain),
        "hello" => Err(Refusal::protocol("hello may be sent once per connection")),
        "result" => {
            let attempt_id = string_field(&m, "attempt_id", "result")?;
            attempt_of(&attempt_id)?;
            let results = match m.get("results") {
                Some(Value::Array(r)) if r.len() <= 1000 => serde_json::from_value(Value::Array(r.clone()))
                    .map_err(|e| Refusal::protocol(format!("result.results: not a list of typed values ({e})")))?,
                Some(Value::Array(r)) => {
                    return Err(Refusal::protocol(format!("result.results: at most 1,000 values, got {}", r.len())));
                }
                _ => return Err(Refusal::protocol("result.results: missing or not an array")),
            };
            Ok(Incoming::Result { attempt_id, results })
        }
        "failure" => {
            let attempt_id = string_field(&m, "attempt_id", "failure")?;
            attempt_of(&attempt_id)?;
            let error = string_field(&m, "error", "failure")?;
            let error = if error.is_empty() { "failed".to_string() } else { head(&error, 4096) };
            let retry = match m.get("retry") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(Refusal::protocol("failure.retry: must be true or false")),
            };
            let traceback = match m.get("traceback") {
                None | Some(Value::Null) => None,
                Some(Value::String(t)) => Some(tail(t, 16_384)),
                Some(_) => return Err(Refusal::protocol("failure.traceback: must be a string")),
            };
            Ok(Incoming::Failure { attempt_id, error, retry, traceback })
        }
        "progress" => {
            let attempt_id = string_field(&m, "attempt_id", "progress")?;
            attempt_of(&attempt_id)?;
            let fraction =
                m.get("fraction").and_then(Value::as_f64).filter(|f| (0.0..=1.0).contains(f)).ok_or_else(|| {
                    Refusal::protocol(format!(
                        "progress.fraction: must be a number from 0 to 1, got {}",
                        m.get("fraction").cloned().unwrap_or(Value::Null)
                    ))
                })?;
            let message = match m.get("message") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(head(s, 1000)),
                Some(_) => return Err(Refusal::protocol("progress.message: must be a string")),
            };
            Ok(Incoming::Progress { attempt_id, fraction, message })
        }
        other => Err(Refusal::protocol(format!("unknown message type {:?}", head(other, 40)))),
    }
}

/// `welcome`.
pub fn welcome(worker_id: &str, heartbeat_ms: u64, metrics: Vec<Value>) -> String {
    json!({ "type": "welcome", "protocol": 1, "worker_id": worker_id, "heartbeat_ms": heartbeat_ms, "metrics": metrics })
        .to_string()
}

/// `error`, before a close.
pub fn error(r: &Refusal) -> String {
    json!({ "type": "error", "code": r.code, "message": r.message }).to_string()
}

/// `ack`.
pub fn ack(attempt_id: &str, status: &str, message: Option<&str>) -> String {
    let mut v = json!({ "type": "ack", "attempt_id": attempt_id, "status": status });
    if let Some(m) = message {
        v["message"] = json!(m);
    }
    v.to_string()
}

/// `cancel`.
pub fn cancel(attempt_id: &str, reason: &str) -> String {
    json!({ "type": "cancel", "attempt_id": attempt_id, "reason": reason }).to_string()
}

/// `heartbeat`.
pub fn heartbeat() -> String {
    json!({ "type": "heartbeat" }).to_string()
}

/// The close reason for `message`: at most 123 bytes, cut at a character boundary.
pub fn close_reason(message: &str) -> String {
    let mut end = message.len().min(123);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello_text(worker: Value) -> String {
        json!({ "type": "hello", "protocol": 1, "token": "aur_x", "worker": worker }).to_string()
    }

    fn declare(worker: Value) -> Result<Hello, Refusal> {
        let (h, m) = hello(&hello_text(worker))?;
        declaration(h, &m)
    }

    #[test]
    fn a_valid_hello_declares_handlers_labels_and_concurrency() {
        let h = declare(json!({ "name": "py-1", "labels": {"lang": "py"}, "concurrency": 8, "handlers": [
            {"name": "resize", "args": ["string", "int64"], "results": ["string"]},
            {"name": "sum", "args": ["...float64"], "results": ["float64"], "usage": "adds"}
        ]}))
        .expect("valid");
        assert_eq!(h.concurrency, 8);
        assert_eq!(h.labels.get("lang").map(String::as_str), Some("py"));
        assert_eq!(h.handlers[0].usage, "resize(string, int64) -> (string)");
        assert_eq!(h.handlers[1].arg_types, ["...float64"]);
    }

    #[test]
    fn refusals_come_in_the_protocols_order_and_name_the_problem() {
        assert_eq!(hello("nope").unwrap_err().code, 4400);
        assert!(hello("nope").unwrap_err().message.contains("JSON"));
        assert!(hello("[1]").unwrap_err().message.contains("object"));
        assert!(hello(r#"{"type":"heartbeat"}"#).unwrap_err().message.contains("hello"));
        let v2 = json!({"type":"hello","protocol":2,"worker":{}}).to_string();
        assert_eq!(hello(&v2).unwrap_err().message, "unsupported protocol 2; this server speaks 1");
        let no_token = json!({"type":"hello","protocol":1,"worker":{}}).to_string();
        assert_eq!(hello(&no_token).unwrap_err().code, 4401);
        let err = declare(json!({"handlers":[{"name":"x","args":["int64","int65"]}]})).unwrap_err();
        assert!(err.message.starts_with("worker.handlers[0].args[1]: unknown type \"int65\""), "{}", err.message);
        let err = declare(json!({"handlers":[{"name":"x"},{"name":"x"}]})).unwrap_err();
        assert_eq!(err.message, "worker.handlers[1].name: duplicate \"x\"");
        assert_eq!(
            declare(json!({"handlers":[{"name":"x"}],"concurrency":0})).unwrap_err().message,
            "worker.concurrency: must be 1..=1024, got 0"
        );
        assert_eq!(declare(json!({})).unwrap_err().message, "worker.handlers: missing");
    }

    #[test]
    fn messages_after_hello() {
        let id = format!("{}/1", TaskId(uuid::Uuid::nil()));
        let r = incoming(&json!({"type":"result","attempt_id":id,"results":[{"type":"int64","value":1}]}).to_string())
            .expect("result");
        assert!(matches!(r, Incoming::Result { ref results, .. } if results.len() == 1));
        let long = "x".repeat(5000);
        let f = incoming(&json!({"type":"failure","attempt_id":id,"error":long,"retry":false}).to_string())
            .expect("failure");
        assert!(matches!(f, Incoming::Failure { retry: false, ref error, .. } if error.chars().count() == 4097));
        assert!(
            incoming(&json!({"type":"progress","attempt_id":id,"fraction":1.5}).to_string())
                .unwrap_err()
                .message
                .contains("fraction")
        );
        assert!(
            incoming(&json!({"type":"result","attempt_id":"abc","results":[]}).to_string())
                .unwrap_err()
                .message
                .contains("attempt_id")
        );
        assert_eq!(incoming(r#"{"type":"pause"}"#).unwrap_err().message, "unknown message type \"pause\"");
        assert_eq!(close_reason(&"é".repeat(100)).len(), 122, "cut at a character boundary");
    }
}
