//! Typed values: the seed's argument and result types (`int8`, `[]string`, …) with range checks.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// A scalar element type of the seed's type system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// `bool`
    Bool,
    /// `int`, `int8` … `int64` (the width in bits; `int` is 64)
    Int(u8),
    /// `uint`, `uint8` … `uint64`
    Uint(u8),
    /// `float32`
    Float32,
    /// `float64`
    Float64,
    /// `string`
    String,
}

/// A type name accepted in args and produced in results: a scalar or a slice of one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArgType {
    /// The element type.
    pub scalar: Scalar,
    /// `[]T` rather than `T`.
    pub slice: bool,
    /// The name as written, e.g. `int` (kept so `int` is not reported back as `int64`).
    name: &'static str,
}

const NAMES: &[(&str, Scalar)] = &[
    ("bool", Scalar::Bool),
    ("int", Scalar::Int(64)),
    ("int8", Scalar::Int(8)),
    ("int16", Scalar::Int(16)),
    ("int32", Scalar::Int(32)),
    ("int64", Scalar::Int(64)),
    ("uint", Scalar::Uint(64)),
    ("uint8", Scalar::Uint(8)),
    ("byte", Scalar::Uint(8)),
    ("uint16", Scalar::Uint(16)),
    ("uint32", Scalar::Uint(32)),
    ("uint64", Scalar::Uint(64)),
    ("float32", Scalar::Float32),
    ("float64", Scalar::Float64),
    ("string", Scalar::String),
];

/// Every type name Aurora accepts, for error messages and the handler catalogue.
pub fn supported_type_names() -> Vec<String> {
    let scalars = NAMES.iter().filter(|(n, _)| *n != "byte").map(|(n, _)| n.to_string());
    let slices = NAMES.iter().map(|(n, _)| format!("[]{n}"));
    scalars.chain(slices).collect()
}

impl ArgType {
    /// The name as written in specs and results.
    pub fn name(&self) -> String {
        if self.slice { format!("[]{}", self.name) } else { self.name.to_string() }
    }

    /// Checks that `value` is a valid value of this type, with range checks; returns what is wrong.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        if self.slice {
            match value {
                Value::Null => Ok(()),
                Value::Array(items) => items.iter().enumerate().try_for_each(|(i, v)| {
                    check_scalar(self.scalar, self.name, v).map_err(|e| format!("element {i}: {e}"))
                }),
                other => Err(format!("expected a JSON array for {}, got {}", self.name(), kind(other))),
            }
        } else {
            check_scalar(self.scalar, self.name, value)
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_scalar(scalar: Scalar, name: &str, v: &Value) -> Result<(), String> {
    match scalar {
        Scalar::Bool if v.is_boolean() => Ok(()),
        Scalar::String if v.is_string() => Ok(()),
        Scalar::Int(bits) => {
            let n = v.as_i64().ok_or_else(|| not_integer(name, v))?;
            let (min, max) =
                if bits == 64 { (i64::MIN, i64::MAX) } else { (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1) };
            if n < min || n > max { Err(format!("{n} is out of range for {name} ({min}..={max})")) } else { Ok(()) }
        }
        Scalar::Uint(bits) => {
            if v.as_i64().is_some_and(|n| n < 0) {
                return Err(format!("{v} is out of range for {name} (it must not be negative)"));
            }
            let n = v.as_u64().ok_or_else(|| not_integer(name, v))?;
            let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
            if n > max { Err(format!("{n} is out of range for {name} (0..={max})")) } else { Ok(()) }
        }
        Scalar::Float64 if v.is_number() => Ok(()),
        Scalar::Float32 => {
            let f = v.as_f64().ok_or_else(|| format!("expected a number for {name}, got {}", kind(v)))?;
            if f.abs() > f32::MAX as f64 { Err(format!("{f} is out of range for float32")) } else { Ok(()) }
        }
        _ => Err(format!("expected {} for {name}, got {}", expected(scalar), kind(v))),
    }
}

fn not_integer(name: &str, v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => format!("{n} is not a whole number, as {name} requires"),
        Value::Number(n) => format!("{n} is out of range for {name}"),
        other => format!("expected an integer for {name}, got {}", kind(other)),
    }
}

fn expected(s: Scalar) -> &'static str {
    match s {
        Scalar::Bool => "a boolean",
        Scalar::String => "a string",
        _ => "a number",
    }
}

/// The reason a type name is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{}` is not a supported type; use one of: {list}", shown(.0), list = supported_type_names().join(", "))]
pub struct UnknownType(pub String);

/// A type name as an error quotes it: at most 40 characters.
fn shown(name: &str) -> String {
    match name.char_indices().nth(40) {
        None => name.to_string(),
        Some((at, _)) => format!("{}… ({} bytes)", &name[..at], name.len()),
    }
}

impl FromStr for ArgType {
    type Err = UnknownType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (slice, base) = match s.strip_prefix("[]") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        NAMES
            .iter()
            .find(|(n, _)| *n == base)
            .map(|(name, scalar)| ArgType { scalar: *scalar, slice, name })
            .ok_or_else(|| UnknownType(s.to_string()))
    }
}

impl fmt::Display for ArgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A value with its type name, as in the seed: `{"type": "int64", "value": 3}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypedValue {
    /// The type name, e.g. `int64` or `[]string`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The JSON value.
    pub value: Value,
}

impl TypedValue {
    /// A value of the given type; not checked (use [`TypedValue::check`]).
    pub fn new(ty: impl Into<String>, value: impl Into<Value>) -> Self {
        Self { ty: ty.into(), value: value.into() }
    }

    /// The value in its type's canonical JSON form: a float type's whole numbers become floats
    /// (`8` → `8.0`), as a program in a language without the distinction may write them.
    pub fn normalized(mut self) -> Self {
        let is_float = matches!(self.ty.trim_start_matches("[]"), "float32" | "float64");
        let as_float = |v: &mut Value| {
            if let Some(f) = v.as_f64().filter(|_| v.is_i64() || v.is_u64()) {
                *v = Value::from(f);
            }
        };
        if is_float {
            match &mut self.value {
                Value::Array(items) => items.iter_mut().for_each(as_float),
                v => as_float(v),
            }
        }
        self
    }

    /// Parses the type name and checks the value against it.
    pub fn check(&self) -> Result<ArgType, String> {
        let ty: ArgType = self.ty.parse().map_err(|e: UnknownType| e.to_string())?;
        ty.check(&self.value)?;
        Ok(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(ty: &str, v: Value) -> Result<ArgType, String> {
        TypedValue::new(ty, v).check()
    }

    #[test]
    fn range_checks_reject_what_the_seed_wrapped() {
        assert!(check("int8", json!(127)).is_ok());
        let err = check("int8", json!(300)).unwrap_err();
        assert!(err.contains("300 is out of range for int8"), "{err}");
        assert!(check("uint", json!(-1)).unwrap_err().contains("must not be negative"));
        assert!(check("uint8", json!(256)).is_err());
        assert!(check("int64", json!(i64::MAX)).is_ok());
        assert!(check("uint64", json!(u64::MAX)).is_ok());
        assert!(check("int64", json!(1.5)).unwrap_err().contains("not a whole number"));
        assert!(check("float32", json!(1e300)).is_err());
        assert!(check("float64", json!(1e300)).is_ok());
    }

    #[test]
    fn float_values_are_normalized_to_floats() {
        assert_eq!(TypedValue::new("float64", 8).normalized().value.to_string(), "8.0");
        assert_eq!(TypedValue::new("[]float32", json!([1, 2.5])).normalized().value, json!([1.0, 2.5]));
        assert_eq!(TypedValue::new("int64", 8).normalized().value.to_string(), "8");
    }

    #[test]
    fn types_and_slices() {
        assert!(check("[]string", json!(["a", "b"])).is_ok());
        assert!(check("[]int16", json!([1, 70000])).unwrap_err().contains("element 1"));
        assert!(check("[]bool", Value::Null).is_ok());
        assert!(check("bool", json!("true")).is_err());
        let err = check("decimal", json!(1)).unwrap_err();
        assert!(err.contains("`decimal` is not a supported type"), "{err}");
        assert_eq!("[]byte".parse::<ArgType>().map(|t| t.name()), Ok("[]byte".to_string()));
        assert_eq!(supported_type_names().len(), 29);
    }
}
