//! Typed handlers from plain async functions: the arg and result types are derived from the
//! function's own types, so a Rust handler's signature is written once.
//!
//! ```
//! use aurora_worker::{Registry, handler, HandlerError};
//!
//! let mut registry = Registry::with_builtins();
//! registry.add(
//!     handler("area", |_ctx, (w, h): (i64, i64)| async move {
//!         w.checked_mul(h).ok_or(HandlerError::bad_args("area: the product overflows int64"))
//!     })
//!     .usage("area(int64 w, int64 h) -> int64"),
//! );
//! let area = registry.get("area").expect("registered").info();
//! assert_eq!(area.arg_types, ["int64", "int64"]);
//! assert_eq!(area.result_types, ["int64"]);
//! ```

use super::{Context, Handler, HandlerError};
use async_trait::async_trait;
use aurora_schemas::{HandlerInfo, TypedValue};
use serde_json::Value;
use std::marker::PhantomData;

/// A scalar of Aurora's type system (`int64`, `string`, …) as a Rust type.
pub trait Scalar: Sized + Send + 'static {
    /// The type name, e.g. `int64`.
    const NAME: &'static str;
    /// The value from JSON, if it is one of this type.
    fn from_json(value: &Value) -> Option<Self>;
    /// The value as JSON.
    fn to_json(self) -> Value;
}

macro_rules! int_scalar {
    ($($t:ty => $name:literal via $get:ident),+ $(,)?) => {$(
        impl Scalar for $t {
            const NAME: &'static str = $name;
            fn from_json(value: &Value) -> Option<Self> {
                value.$get().and_then(|n| <$t>::try_from(n).ok())
            }
            fn to_json(self) -> Value {
                Value::from(self)
            }
        }
    )+};
}

int_scalar! {
    i8 => "int8" via as_i64, i16 => "int16" via as_i64, i32 => "int32" via as_i64, i64 => "int64" via as_i64,
    u8 => "uint8" via as_u64, u16 => "uint16" via as_u64, u32 => "uint32" via as_u64, u64 => "uint64" via as_u64,
}

impl Scalar for f64 {
    const NAME: &'static str = "float64";
    fn from_json(value: &Value) -> Option<Self> {
        value.as_f64()
    }
    fn to_json(self) -> Value {
        Value::from(self)
    }
}

impl Scalar for f32 {
    const NAME: &'static str = "float32";
    fn from_json(value: &Value) -> Option<Self> {
        value.as_f64().map(|f| f as f32)
    }
    fn to_json(self) -> Value {
        Value::from(self)
    }
}

impl Scalar for bool {
    const NAME: &'static str = "bool";
    fn from_json(value: &Value) -> Option<Self> {
        value.as_bool()
    }
    fn to_json(self) -> Value {
        Value::from(self)
    }
}

impl Scalar for String {
    const NAME: &'static str = "string";
    fn from_json(value: &Value) -> Option<Self> {
        value.as_str().map(str::to_string)
    }
    fn to_json(self) -> Value {
        Value::from(self)
    }
}

/// One typed value: a [`Scalar`] or a `Vec` of one (`[]T`).
pub trait Arg: Sized + Send + 'static {
    /// The type name, e.g. `int64` or `[]string`.
    fn type_name() -> String;
    /// The value, if `value` holds one of this type.
    fn from_value(value: &TypedValue) -> Option<Self>;
    /// The value with its type name.
    fn into_value(self) -> TypedValue;
}

macro_rules! scalar_arg {
    ($($t:ty),+) => {$(
        impl Arg for $t {
            fn type_name() -> String {
                <$t as Scalar>::NAME.to_string()
            }
            fn from_value(value: &TypedValue) -> Option<Self> {
                <$t as Scalar>::from_json(&value.value)
            }
            fn into_value(self) -> TypedValue {
                TypedValue::new(<$t as Scalar>::NAME, self.to_json())
            }
        }
    )+};
}

scalar_arg!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, bool, String);

impl<T: Scalar> Arg for Vec<T> {
    fn type_name() -> String {
        format!("[]{}", T::NAME)
    }
    fn from_value(value: &TypedValue) -> Option<Self> {
        match &value.value {
            Value::Null => Some(Vec::new()),
            Value::Array(items) => items.iter().map(T::from_json).collect(),
            _ => None,
        }
    }
    fn into_value(self) -> TypedValue {
        TypedValue::new(Self::type_name(), Value::Array(self.into_iter().map(T::to_json).collect()))
    }
}

/// A handler's whole argument list: `()`, a tuple of [`Arg`]s, or [`Variadic`].
pub trait Args: Sized + Send + 'static {
    /// The declared arg types.
    fn types() -> Vec<String>;
    /// The args, converted; an error says which position does not fit.
    fn from_args(args: Vec<TypedValue>) -> Result<Self, HandlerError>;
}

fn position<T: Arg>(args: &[TypedValue], i: usize) -> Result<T, HandlerError> {
    let a = &args[i];
    T::from_value(a)
        .ok_or_else(|| HandlerError::BadArgs(format!("arg {i} must be {}, got {} {}", T::type_name(), a.ty, a.value)))
}

fn arity(args: &[TypedValue], n: usize) -> Result<(), HandlerError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(HandlerError::BadArgs(format!("takes exactly {n} args, got {}", args.len())))
    }
}

impl Args for () {
    fn types() -> Vec<String> {
        Vec::new()
    }
    fn from_args(args: Vec<TypedValue>) -> Result<Self, HandlerError> {
        arity(&args, 0)
    }
}

macro_rules! tuple_args {
    ($n:literal: $($t:ident $i:tt),+) => {
        impl<$($t: Arg),+> Args for ($($t,)+) {
            fn types() -> Vec<String> {
                vec![$($t::type_name()),+]
            }
            fn from_args(args: Vec<TypedValue>) -> Result<Self, HandlerError> {
                arity(&args, $n)?;
                Ok(($(position::<$t>(&args, $i)?,)+))
            }
        }
    };
}

tuple_args!(1: A 0);
tuple_args!(2: A 0, B 1);
tuple_args!(3: A 0, B 1, C 2);
tuple_args!(4: A 0, B 1, C 2, D 3);
tuple_args!(5: A 0, B 1, C 2, D 3, E 4);
tuple_args!(6: A 0, B 1, C 2, D 3, E 4, F 5);

/// Any number of `T` (declared `...T`); `[]T` args are flattened into it, as the built-ins do.
#[derive(Debug, Clone, PartialEq)]
pub struct Variadic<T>(pub Vec<T>);

impl<T: Scalar> Args for Variadic<T> {
    fn types() -> Vec<String> {
        vec![format!("...{}", T::NAME)]
    }
    fn from_args(args: Vec<TypedValue>) -> Result<Self, HandlerError> {
        let mut out = Vec::new();
        for (i, a) in args.iter().enumerate() {
            let bad = || HandlerError::BadArgs(format!("arg {i} must be {} or []{}, got {}", T::NAME, T::NAME, a.ty));
            match (&a.value, a.ty.starts_with("[]")) {
                (Value::Array(items), true) => {
                    for v in items {
                        out.push(T::from_json(v).ok_or_else(bad)?);
                    }
                }
                (Value::Null, true) => {}
                (v, false) => out.push(T::from_json(v).ok_or_else(bad)?),
                _ => return Err(bad()),
            }
        }
        Ok(Variadic(out))
    }
}

/// What a handler returns: `()`, one [`Arg`], or a tuple of them.
pub trait Results: Send + 'static {
    /// The declared result types.
    fn types() -> Vec<String>;
    /// The results with their type names.
    fn into_results(self) -> Vec<TypedValue>;
}

impl Results for () {
    fn types() -> Vec<String> {
        Vec::new()
    }
    fn into_results(self) -> Vec<TypedValue> {
        Vec::new()
    }
}

impl<T: Arg> Results for T {
    fn types() -> Vec<String> {
        vec![T::type_name()]
    }
    fn into_results(self) -> Vec<TypedValue> {
        vec![self.into_value()]
    }
}

macro_rules! tuple_results {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Arg),+> Results for ($($t,)+) {
            fn types() -> Vec<String> {
                vec![$($t::type_name()),+]
            }
            fn into_results(self) -> Vec<TypedValue> {
                vec![$(self.$i.into_value()),+]
            }
        }
    };
}

tuple_results!(A 0, B 1);
tuple_results!(A 0, B 1, C 2);
tuple_results!(A 0, B 1, C 2, D 3);

/// A handler made from an async function; see [`handler`].
pub struct Typed<A, R, F, Fut> {
    name: String,
    usage: Option<String>,
    f: F,
    _types: PhantomData<fn(A) -> (R, Fut)>,
}

/// A handler called `name` that runs `f` with the attempt's [`Context`] and its args converted to
/// `A`; its advertised signature is `A`'s and `R`'s types.
pub fn handler<A, R, F, Fut>(name: impl Into<String>, f: F) -> Typed<A, R, F, Fut>
where
    A: Args,
    R: Results,
    F: Fn(Context, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, HandlerError>> + Send + 'static,
{
    Typed { name: name.into(), usage: None, f, _types: PhantomData }
}

impl<A, R, F, Fut> Typed<A, R, F, Fut> {
    /// The usage text the `handlers` query shows (default: the name and signature).
    pub fn usage(mut self, usage: impl Into<String>) -> Self {
        self.usage = Some(usage.into());
        self
    }
}

#[async_trait]
impl<A, R, F, Fut> Handler for Typed<A, R, F, Fut>
where
    A: Args,
    R: Results,
    F: Fn(Context, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, HandlerError>> + Send + 'static,
{
    fn info(&self) -> HandlerInfo {
        let (args, results) = (A::types(), R::types());
        let usage = self
            .usage
            .clone()
            .unwrap_or_else(|| format!("{}({}) -> ({})", self.name, args.join(", "), results.join(", ")));
        HandlerInfo { name: self.name.clone(), usage, arg_types: args, result_types: results }
    }

    async fn call(&self, ctx: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        let args = A::from_args(args).map_err(|e| match e {
            HandlerError::BadArgs(m) => HandlerError::BadArgs(format!("{}: {m}", self.name)),
            other => other,
        })?;
        Ok((self.f)(ctx, args).await?.into_results())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_schemas::{GraphId, TaskId};
    use serde_json::json;

    fn ctx() -> Context {
        let g = GraphId::new();
        Context::new(TaskId::derive(g, "t"), g, 1)
    }

    #[tokio::test]
    async fn types_come_from_the_function() {
        let h = handler("resize", |_ctx, (path, w, tags): (String, i64, Vec<String>)| async move {
            Ok((format!("{path}@{w}"), tags.len() as u32))
        });
        let info = h.info();
        assert_eq!(info.arg_types, ["string", "int64", "[]string"]);
        assert_eq!(info.result_types, ["string", "uint32"]);
        assert_eq!(info.usage, "resize(string, int64, []string) -> (string, uint32)");
        let out = h
            .call(
                ctx(),
                vec![
                    TypedValue::new("string", "a.png"),
                    TypedValue::new("int64", 640),
                    TypedValue::new("[]string", json!(["x", "y"])),
                ],
            )
            .await
            .expect("runs");
        assert_eq!(out, vec![TypedValue::new("string", "a.png@640"), TypedValue::new("uint32", 2)]);
    }

    #[tokio::test]
    async fn args_that_do_not_fit_are_bad_args_naming_the_position() {
        let h = handler("inc", |_ctx, (n,): (i8,)| async move { Ok(n.saturating_add(1)) });
        let err = h.call(ctx(), vec![TypedValue::new("int64", 300)]).await.unwrap_err();
        assert_eq!(err, HandlerError::BadArgs("inc: arg 0 must be int8, got int64 300".into()));
        let err = h.call(ctx(), vec![]).await.unwrap_err();
        assert!(matches!(err, HandlerError::BadArgs(m) if m.contains("exactly 1 args")));
    }

    #[tokio::test]
    async fn variadic_args_flatten_slices_and_unit_returns_nothing() {
        let h = handler("total", |_ctx, Variadic(ns): Variadic<f64>| async move { Ok(ns.iter().sum::<f64>()) });
        assert_eq!(h.info().arg_types, ["...float64"]);
        let args = vec![TypedValue::new("float64", 1.5), TypedValue::new("[]float64", json!([2.0, 0.5]))];
        assert_eq!(h.call(ctx(), args).await, Ok(vec![TypedValue::new("float64", 4.0)]));
        let unit = handler("nothing", |_ctx, (): ()| async move { Ok(()) });
        assert_eq!(unit.info().result_types, Vec::<String>::new());
        assert_eq!(unit.call(ctx(), vec![]).await, Ok(vec![]));
        let failing = handler("nope", |_ctx, (): ()| async move { Err::<(), _>(HandlerError::retry("later")) });
        assert_eq!(failing.call(ctx(), vec![]).await, Err(HandlerError::Retryable("later".into())));
    }
}
