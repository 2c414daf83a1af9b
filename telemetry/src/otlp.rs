//! The OTLP trace messages Aurora sends (`opentelemetry/proto/collector/trace/v1` and the
//! `trace`, `resource` and `common` messages it uses), declared with their field numbers so prost
//! encodes them; only the fields Aurora fills are declared, which protobuf allows (a receiver
//! reads absent fields as their defaults). Checked against the real definitions by the e2e test,
//! whose receiver decodes with the `opentelemetry-proto` package.

use crate::span::{Kind, Span as Recorded, Value};
use prost::Message as _;

/// `ExportTraceServiceRequest`, the body of `POST /v1/traces`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTraceServiceRequest {
    /// Spans grouped by the resource (process) that produced them.
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// `ResourceSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceSpans {
    /// The process.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Its spans, by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
}

/// `Resource`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// `service.name` and the like.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeSpans {
    /// Who instrumented (Aurora).
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// The spans.
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
}

/// `InstrumentationScope`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    /// `aurora`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Aurora's version.
    #[prost(string, tag = "2")]
    pub version: String,
}

/// `Span`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Span {
    /// 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// 8 bytes, or empty for a root span.
    #[prost(bytes = "vec", tag = "4")]
    pub parent_span_id: Vec<u8>,
    /// The span's name.
    #[prost(string, tag = "5")]
    pub name: String,
    /// `SpanKind`: 1 internal, 2 server, 4 producer, 5 consumer.
    #[prost(int32, tag = "6")]
    pub kind: i32,
    /// Nanoseconds since the Unix epoch.
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    /// Nanoseconds since the Unix epoch.
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    /// Attributes.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// OK or ERROR with a message.
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
}

/// `Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// What went wrong.
    #[prost(string, tag = "2")]
    pub message: String,
    /// `StatusCode`: 0 unset, 1 ok, 2 error.
    #[prost(int32, tag = "3")]
    pub code: i32,
}

/// `KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The attribute's name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Its value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue` (the kinds Aurora uses).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// One of the kinds.
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3")]
    pub value: Option<any_value::Value>,
}

/// `AnyValue`'s `oneof value`.
pub mod any_value {
    /// The kinds of attribute value Aurora sends.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// `string_value`.
        #[prost(string, tag = "1")]
        StringValue(String),
        /// `bool_value`.
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        /// `int_value`.
        #[prost(int64, tag = "3")]
        IntValue(i64),
    }
}

/// `SpanKind` numbers.
fn kind_number(kind: Kind) -> i32 {
    match kind {
        Kind::Internal => 1,
        Kind::Server => 2,
        Kind::Producer => 4,
        Kind::Consumer => 5,
    }
}

fn key_value(key: &str, value: &Value) -> KeyValue {
    let value = match value {
        Value::Str(s) => any_value::Value::StringValue(s.clone()),
        Value::Int(n) => any_value::Value::IntValue(*n),
        Value::Bool(b) => any_value::Value::BoolValue(*b),
    };
    KeyValue { key: key.to_string(), value: Some(AnyValue { value: Some(value) }) }
}

fn nanos(t: chrono::DateTime<chrono::Utc>) -> u64 {
    t.timestamp_nanos_opt().and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

fn span(s: &Recorded) -> Span {
    let status = match &s.error {
        Some(message) => Status { message: message.clone(), code: 2 },
        None => Status { message: String::new(), code: 1 },
    };
    Span {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        parent_span_id: s.parent.map(|p| p.to_vec()).unwrap_or_default(),
        name: s.name.clone(),
        kind: kind_number(s.kind),
        start_time_unix_nano: nanos(s.start),
        end_time_unix_nano: nanos(s.end),
        attributes: s.attributes.iter().map(|(k, v)| key_value(k, v)).collect(),
        status: Some(status),
    }
}

/// The request body for `spans` from the process described by `resource` (its attributes).
pub fn encode(resource: &[(String, Value)], spans: &[Recorded]) -> Vec<u8> {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: resource.iter().map(|(k, v)| key_value(k, v)).collect() }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: "aurora".into(), version: env!("CARGO_PKG_VERSION").into() }),
                spans: spans.iter().map(span).collect(),
            }],
        }],
    };
    request.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_schemas::GraphId;
    use chrono::Utc;

    #[test]
    fn a_span_round_trips_with_its_ids_times_attributes_and_status() {
        let g = GraphId::new();
        let start = Utc::now();
        let s = Recorded::between(
            g,
            Some([7; 8]),
            "attempt",
            Kind::Consumer,
            start,
            start + chrono::Duration::milliseconds(5),
        )
        .attr("aurora.attempt", 2u32)
        .attr("aurora.handler", "add")
        .attr("aurora.takeover", false)
        .failed("boom");
        let body = encode(&[("service.name".into(), "aurora".into())], std::slice::from_ref(&s));
        let back = ExportTraceServiceRequest::decode(body.as_slice()).expect("decodes");
        let rs = &back.resource_spans[0];
        let attrs = &rs.resource.as_ref().expect("resource").attributes;
        assert_eq!(attrs[0].key, "service.name");
        let got = &rs.scope_spans[0].spans[0];
        assert_eq!(got.trace_id, g.0.as_bytes().to_vec());
        assert_eq!(got.parent_span_id, vec![7; 8]);
        assert_eq!(got.name, "attempt");
        assert_eq!(got.kind, 5);
        assert_eq!(got.end_time_unix_nano - got.start_time_unix_nano, 5_000_000);
        assert_eq!(got.status, Some(Status { message: "boom".into(), code: 2 }));
        let attempt = got.attributes.iter().find(|kv| kv.key == "aurora.attempt").expect("attempt attribute");
        assert_eq!(attempt.value, Some(AnyValue { value: Some(any_value::Value::IntValue(2)) }));
    }

    #[test]
    fn a_root_span_has_no_parent_bytes() {
        let g = GraphId::new();
        let s = Recorded::run(g, Utc::now(), Utc::now());
        let back = ExportTraceServiceRequest::decode(encode(&[], &[s]).as_slice()).expect("decodes");
        assert!(back.resource_spans[0].scope_spans[0].spans[0].parent_span_id.is_empty());
    }
}
