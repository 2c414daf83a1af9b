//! Trace export: the spans of a run (its submit, the projector's steps, every attempt) sent to an
//! OpenTelemetry collector over OTLP (HTTP/protobuf) when `tracing.otlp_endpoint` is set.
//!
//! A run is one trace whose id is the graph id, and the ids of the spans other processes hang
//! their spans under are derived, not passed around (`aurora_schemas::trace`): the run's root
//! span from the graph id, a dispatch span from the order's `traceparent`. So the gateway, the
//! projector and every worker export independently and the collector assembles one tree. The
//! exporter is process-wide, like the `tracing` subscriber and the Prometheus registry: code
//! records a [`Span`] and never waits on the collector; when nothing is installed, recording
//! is a no-op.

pub mod export;
pub mod otlp;
pub mod span;

pub use export::{Exporter, enabled, install, record};
pub use span::{Kind, Span, Value};
