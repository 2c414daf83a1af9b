//! Diagnostic handlers for tests, demos and benchmarks: `echo`, `noop`, `sleep`, `fail`, `flaky`.

use super::builtin::{flatten, int_arg};
use super::{Context, Handler, HandlerError, info};
use async_trait::async_trait;
use aurora_schemas::{HandlerInfo, TypedValue};
use std::sync::Arc;
use std::time::Duration;

pub(super) fn all() -> Vec<Arc<dyn Handler>> {
    vec![Arc::new(Echo), Arc::new(Noop), Arc::new(Sleep), Arc::new(Fail), Arc::new(Flaky)]
}

fn one_int(name: &str, args: &[TypedValue]) -> Result<i64, HandlerError> {
    match flatten(args).as_slice() {
        [one] => int_arg(name, 0, *one),
        other => Err(HandlerError::BadArgs(format!("{name} takes exactly one int64, got {} args", other.len()))),
    }
}

struct Echo;

#[async_trait]
impl Handler for Echo {
    fn info(&self) -> HandlerInfo {
        info("echo", "echo(...any) -> the same values", &["...any"], &["...any"])
    }

    async fn call(&self, _: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        Ok(args)
    }
}

/// The benchmarks' task: does no work, whatever its arguments, and returns a 16-byte result.
struct Noop;

/// What `noop` returns: 16 bytes, the result size the benchmarks specify.
pub const NOOP_RESULT: &str = "0123456789abcdef";

#[async_trait]
impl Handler for Noop {
    fn info(&self) -> HandlerInfo {
        info("noop", "noop(...any) -> string: does nothing and returns a 16-byte string", &["...any"], &["string"])
    }

    async fn call(&self, _: Context, _: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        Ok(vec![TypedValue::new("string", NOOP_RESULT)])
    }
}

struct Sleep;

#[async_trait]
impl Handler for Sleep {
    fn info(&self) -> HandlerInfo {
        info("sleep", "sleep(int64 ms): waits that long", &["int64"], &[])
    }

    async fn call(&self, _: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        let ms = one_int("sleep", &args)?;
        tokio::time::sleep(Duration::from_millis(ms.max(0) as u64)).await;
        Ok(vec![])
    }
}

struct Fail;

#[async_trait]
impl Handler for Fail {
    fn info(&self) -> HandlerInfo {
        info("fail", "fail(string): always fails with that message", &["string"], &[])
    }

    async fn call(&self, _: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        let msg = args.first().and_then(|a| a.value.as_str()).unwrap_or("fail was called").to_string();
        Err(HandlerError::Retryable(msg))
    }
}

struct Flaky;

#[async_trait]
impl Handler for Flaky {
    fn info(&self) -> HandlerInfo {
        info(
            "flaky",
            "flaky(int64 n): fails on its first n attempts, then returns the attempt number",
            &["int64"],
            &["int64"],
        )
    }

    async fn call(&self, ctx: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        let n = one_int("flaky", &args)?;
        if i64::from(ctx.attempt) <= n {
            Err(HandlerError::Retryable(format!("flaky: attempt {} of the first {n} fails", ctx.attempt)))
        } else {
            Ok(vec![TypedValue::new("int64", ctx.attempt)])
        }
    }
}
