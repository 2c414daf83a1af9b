//! One finished span, as Aurora records it: ids, name, times, attributes and outcome. Span ids
//! that other processes point at are derived by `aurora_schemas::trace`; the rest are random.

use aurora_schemas::GraphId;
use aurora_schemas::trace;
use chrono::{DateTime, Utc};

/// A trace id: the run's graph id.
pub type TraceId = [u8; 16];

/// A span id (never zero).
pub type SpanId = [u8; 8];

/// What a span stands for, as OTLP's `SpanKind` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Work inside one process (the run, a projector step).
    Internal,
    /// A request served (a submission).
    Server,
    /// A message sent for another process (an order published).
    Producer,
    /// A message received from another process (an attempt run from an order).
    Consumer,
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Str(String),
    /// An integer.
    Int(i64),
    /// A flag.
    Bool(bool),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Int(n.into())
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// A span: started with [`Span::start`] or [`Span::between`], then recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The run's trace.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: SpanId,
    /// The span this one is a child of; `None` for the run's root span.
    pub parent: Option<SpanId>,
    /// What happened, e.g. `attempt`.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// When it started.
    pub start: DateTime<Utc>,
    /// When it ended.
    pub end: DateTime<Utc>,
    /// Key-value attributes (`aurora.task.key`, `aurora.handler`, ...).
    pub attributes: Vec<(String, Value)>,
    /// Why it failed, when it did (OTLP status ERROR with this message).
    pub error: Option<String>,
}

impl Span {
    /// A span of `graph`'s run starting now, under `parent`, with a random id.
    pub fn start(graph: GraphId, parent: Option<SpanId>, name: &str, kind: Kind) -> Self {
        let now = Utc::now();
        Self::between(graph, parent, name, kind, now, now)
    }

    /// A span of `graph`'s run over `start..end`, under `parent`, with a random id.
    pub fn between(
        graph: GraphId,
        parent: Option<SpanId>,
        name: &str,
        kind: Kind,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Self {
        Self {
            trace_id: *graph.0.as_bytes(),
            span_id: random_id(),
            parent,
            name: name.to_string(),
            kind,
            start,
            end: end.max(start),
            attributes: Vec::new(),
            error: None,
        }
    }

    /// The root span of `graph`'s run, over `start..end` (its id is derived from the graph id, so
    /// every process can hang its spans under it before it is recorded).
    pub fn run(graph: GraphId, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { span_id: run_span(graph), ..Self::between(graph, None, "run", Kind::Internal, start, end) }
    }

    /// With this id instead of a random one (a span others point at, e.g. an order's dispatch).
    pub fn with_id(mut self, id: SpanId) -> Self {
        self.span_id = id;
        self
    }

    /// With one more attribute.
    pub fn attr(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.attributes.push((key.to_string(), value.into()));
        self
    }

    /// Marked failed with `error`.
    pub fn failed(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    /// Ends now and hands the span to the process's exporter (a no-op when none is installed).
    pub fn finish(mut self) {
        self.end = Utc::now().max(self.start);
        crate::export::record(self);
    }
}

/// The id of `graph`'s root span.
pub fn run_span(graph: GraphId) -> SpanId {
    trace::run_span_id(graph).to_be_bytes()
}

/// The trace and parent span a `traceparent` header names, when it is well formed.
pub fn parent_of(traceparent: &str) -> Option<(TraceId, SpanId)> {
    let (trace, parent) = trace::parse_traceparent(traceparent)?;
    Some((trace.to_be_bytes(), parent.to_be_bytes()))
}

fn random_id() -> SpanId {
    loop {
        let id: u64 = rand::random();
        if id != 0 {
            return id.to_be_bytes();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_schemas::TaskId;

    #[test]
    fn an_orders_traceparent_names_the_run_and_the_dispatch_span() {
        let g = GraphId::new();
        let t = TaskId::derive(g, "a");
        let header = trace::traceparent(g, t, 4);
        let (trace_id, parent) = parent_of(&header).expect("well formed");
        assert_eq!(trace_id, *g.0.as_bytes(), "the trace is the run");
        assert_eq!(parent, trace::order_span_id(t, 4).to_be_bytes(), "the parent is the order's dispatch span");
        assert_eq!(Span::run(g, Utc::now(), Utc::now()).span_id, run_span(g));
        assert_ne!(run_span(g), [0; 8]);
    }

    #[test]
    fn a_span_never_ends_before_it_starts() {
        let g = GraphId::new();
        let now = Utc::now();
        let s = Span::between(g, None, "x", Kind::Internal, now, now - chrono::Duration::seconds(1));
        assert_eq!(s.end, s.start);
        assert_ne!(s.span_id, [0; 8]);
    }
}
