//! W3C trace context (`traceparent`) for a run: one run is one trace, whose 128-bit trace id is the
//! graph id, so every event of a run, every delivery and every log line of its attempts can be
//! correlated without storing anything extra. A delivery's parent span id is derived from the
//! task and the stream version the order was made at, and the run's root span id from the graph
//! id, so that processes exporting spans (`aurora-telemetry`) agree on them without talking.

use crate::ids::{GraphId, TaskId};

/// The trace id of a run: the graph id as 32 lowercase hex digits.
pub fn trace_id(graph: GraphId) -> String {
    graph.0.simple().to_string()
}

/// The `traceparent` header of the order that runs `task` at `version` (version 00, sampled).
pub fn traceparent(graph: GraphId, task: TaskId, version: u64) -> String {
    format!("00-{}-{:016x}-01", trace_id(graph), order_span_id(task, version))
}

/// The id of the span that dispatched the order running `task` at `version`: the parent of that
/// order's attempt spans.
pub fn order_span_id(task: TaskId, version: u64) -> u64 {
    let low = task.0.as_u64_pair().1;
    // A span id of zero is invalid in W3C trace context; `| 1` keeps it non-zero.
    (low ^ version.rotate_left(32)) | 1
}

/// The id of a run's root span. Even, so it never equals an order's span id (which is odd).
pub fn run_span_id(graph: GraphId) -> u64 {
    let (high, low) = graph.0.as_u64_pair();
    let id = (high ^ low.rotate_left(17)) & !1;
    if id == 0 { 2 } else { id }
}

/// The trace id and parent span id of a well-formed `traceparent` header.
pub fn parse_traceparent(traceparent: &str) -> Option<(u128, u64)> {
    let trace = trace_id_of(traceparent)?;
    let parent = traceparent.split('-').nth(2)?;
    Some((u128::from_str_radix(trace, 16).ok()?, u64::from_str_radix(parent, 16).ok()?))
}

/// The trace id carried by a `traceparent` header, if the header is well formed.
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let well_formed = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2)
        && (version != "00" || parts.next().is_none());
    well_formed.then_some(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_traceparent_carries_its_trace_id_and_parses_back() {
        let g = GraphId::new();
        let t = TaskId::derive(g, "a");
        let header = traceparent(g, t, 3);
        assert_eq!(header.len(), 55, "{header}");
        assert!(header.starts_with("00-") && header.ends_with("-01"), "{header}");
        assert_eq!(trace_id_of(&header), Some(trace_id(g).as_str()));
        assert_ne!(traceparent(g, t, 3), traceparent(g, t, 5), "each order has its own parent span");
        assert_eq!(parse_traceparent(&header), Some((g.0.as_u128(), order_span_id(t, 3))));
        assert_ne!(run_span_id(g), order_span_id(t, 3), "the root span is not a dispatch span");
        assert_ne!(run_span_id(g), 0);
    }

    #[test]
    fn malformed_headers_carry_no_trace_id() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        ] {
            assert_eq!(trace_id_of(bad), None, "{bad}");
        }
        let good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert_eq!(trace_id_of(good), Some("0af7651916cd43dd8448eb211c80319c"));
    }
}
