//! The seed's built-in handlers, with its names and semantics, minus its silent wrap-arounds:
//! integer overflow is an error, not a wrapped result.

use super::{Context, Handler, HandlerError, info};
use async_trait::async_trait;
use aurora_schemas::{HandlerInfo, TypedValue};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn all() -> Vec<Arc<dyn Handler>> {
    vec![
        Arc::new(IntFold { name: "add", usage: "add(...int64) -> int64: the sum", op: i64::checked_add, unit: 0 }),
        Arc::new(IntFold {
            name: "multiply",
            usage: "multiply(...int64) -> int64: the product",
            op: i64::checked_mul,
            unit: 1,
        }),
        Arc::new(Concat),
        Arc::new(Split),
        Arc::new(SumFloats),
        Arc::new(LongRunning),
    ]
}

/// Every element of the args, with slices flattened (variadic handlers take either form).
pub(super) fn flatten(args: &[TypedValue]) -> Vec<(&str, &Value)> {
    let mut out = Vec::new();
    for a in args {
        match (&a.value, a.ty.strip_prefix("[]")) {
            (Value::Array(items), Some(elem)) => out.extend(items.iter().map(|v| (elem, v))),
            (Value::Null, Some(_)) => {}
            (v, _) => out.push((a.ty.as_str(), v)),
        }
    }
    out
}

pub(super) fn int_arg(name: &str, i: usize, (ty, v): (&str, &Value)) -> Result<i64, HandlerError> {
    v.as_i64().ok_or_else(|| {
        HandlerError::BadArgs(format!("{name}: arg {i} must be an integer that fits int64, got {ty} {v}"))
    })
}

fn string_arg(name: &str, i: usize, (ty, v): (&str, &Value)) -> Result<String, HandlerError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| HandlerError::BadArgs(format!("{name}: arg {i} must be a string, got {ty} {v}")))
}

struct IntFold {
    name: &'static str,
    usage: &'static str,
    op: fn(i64, i64) -> Option<i64>,
    unit: i64,
}

#[async_trait]
impl Handler for IntFold {
    fn info(&self) -> HandlerInfo {
        info(self.name, self.usage, &["...int64"], &["int64"])
    }

    async fn call(&self, _: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        let mut acc = self.unit;
        for (i, a) in flatten(&args).into_iter().enumerate() {
            let n = int_arg(self.name, i, a)?;
            acc = (self.op)(acc, n)
                .ok_or_else(|| HandlerError::BadArgs(format!("{}: int64 overflow at arg {i}", self.name)))?;
        }
        Ok(vec![TypedValue::new("int64", acc)])
    }
}

struct Concat;

#[async_trait]
impl Handler for Concat {
    fn info(&self) -> HandlerInfo {
        info("concat", "concat(...string) -> string: the concatenation", &["...string"], &["string"])
    }

    async fn call(&self, _: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        let parts = flatten(&args).into_iter().enumerate().map(|(i, a)| string_arg("concat", i, a));
        Ok(vec![TypedValue::new("string", parts.collect::<Result<String, _>>()?)])
    }
}

struct Split;

#[async_trait]
impl Handler for Split {
    fn info(&self) -> HandlerInfo {
        info("split", "split(string) -> []string: the characters", &["string"], &["[]string"])
    }

    async fn call(&self, _: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        let flat = flatten(&args);
        let [one] = flat.as_slice() else {
            return Err(HandlerError::BadArgs(format!("split takes exactly one string, got {} args", flat.len())));
        };
        let s = string_arg("split", 0, *one)?;
        let chars: Vec<Value> = s.chars().map(|c| Value::String(c.to_string())).collect();
        Ok(vec![TypedValue::new("[]string", chars)])
    }
}

struct SumFloats;

#[async_trait]
impl Handler for SumFloats {
    fn info(&self) -> HandlerInfo {
        info("sum_floats", "sum_floats(...float64) -> float64: the sum", &["...float64"], &["float64"])
    }

    async fn call(&self, _: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        let mut sum = 0.0;
        for (i, (ty, v)) in flatten(&args).into_iter().enumerate() {
            sum += v
                .as_f64()
                .ok_or_else(|| HandlerError::BadArgs(format!("sum_floats: arg {i} must be a number, got {ty} {v}")))?;
        }
        Ok(vec![TypedValue::new("float64", sum)])
    }
}

struct LongRunning;

#[async_trait]
impl Handler for LongRunning {
    fn info(&self) -> HandlerInfo {
        info("long_running_task", "long_running_task(int64 seconds): sleeps, logging each second", &["int64"], &[])
    }

    async fn call(&self, ctx: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        let flat = flatten(&args);
        let secs = match flat.as_slice() {
            [one] => int_arg("long_running_task", 0, *one)?,
            _ => {
                return Err(HandlerError::BadArgs("long_running_task takes exactly one int64 (seconds)".into()));
            }
        };
        for second in 1..=secs.max(0) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tracing::info!(task_id = %ctx.task_id, second, of = secs, "long_running_task tick");
        }
        Ok(vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::Registry;
    use aurora_schemas::{GraphId, TaskId};
    use serde_json::json;

    fn ctx() -> Context {
        let g = GraphId::new();
        Context::new(TaskId::derive(g, "t"), g, 1)
    }

    async fn call(name: &str, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        Registry::with_builtins().get(name).expect("registered").call(ctx(), args).await
    }

    #[tokio::test]
    async fn noop_returns_sixteen_bytes_whatever_it_is_given() {
        let payload = vec![TypedValue::new("string", "x".repeat(100))];
        let out = call("noop", payload).await.expect("noop succeeds");
        assert_eq!(out, vec![TypedValue::new("string", "0123456789abcdef")]);
        assert_eq!(out[0].value.as_str().map(str::len), Some(16));
    }

    #[tokio::test]
    async fn seed_semantics() {
        let ints = |v: &[i64]| v.iter().map(|n| TypedValue::new("int64", *n)).collect::<Vec<_>>();
        assert_eq!(call("add", ints(&[1, 2])).await, Ok(vec![TypedValue::new("int64", 3)]));
        assert_eq!(call("multiply", ints(&[3, 4, 5])).await, Ok(vec![TypedValue::new("int64", 60)]));
        assert_eq!(call("add", vec![TypedValue::new("[]int64", json!([1, 2, 3]))]).await, Ok(ints(&[6])));
        let strs = vec![TypedValue::new("string", "ab"), TypedValue::new("string", "c")];
        assert_eq!(call("concat", strs).await, Ok(vec![TypedValue::new("string", "abc")]));
        assert_eq!(
            call("split", vec![TypedValue::new("string", "hé")]).await,
            Ok(vec![TypedValue::new("[]string", json!(["h", "é"]))])
        );
        let floats = vec![TypedValue::new("float64", 1.5), TypedValue::new("float64", 2.25)];
        assert_eq!(call("sum_floats", floats).await, Ok(vec![TypedValue::new("float64", 3.75)]));
    }

    #[tokio::test]
    async fn overflow_and_bad_args_are_errors() {
        let err = call("add", vec![TypedValue::new("int64", i64::MAX), TypedValue::new("int64", 1)]).await.unwrap_err();
        assert!(err.to_string().contains("overflow"), "{err}");
        let err = call("add", vec![TypedValue::new("string", "x")]).await.unwrap_err();
        assert!(matches!(err, HandlerError::BadArgs(_)));
    }
}
