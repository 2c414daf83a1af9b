//! Whether typed values fit a declared signature such as `["int64", "...string"]`: the check a
//! submission's args get against the handler a live worker offers, and an executable's results get
//! against its manifest.
//!
//! A signature is a list of type names; `any` accepts any one value, and a last entry `...T` accepts
//! any number of `T` (or of `[]T`, which variadic handlers flatten). `int` and `int64` (and `byte`
//! and `uint8`) are the same type, and an integer fits where a float is declared (`20` is a fine
//! `float64`), as the seed's `sum_floats` of the results of `multiply` expects.

use crate::value::{ArgType, Scalar};
use std::fmt;

/// One position of a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Param {
    /// Exactly this type.
    Type(ArgType),
    /// Any value.
    Any,
}

impl Param {
    fn parse(name: &str) -> Result<Self, String> {
        if name == "any" {
            return Ok(Param::Any);
        }
        name.parse::<ArgType>().map(Param::Type).map_err(|e| e.to_string())
    }

    fn accepts(&self, ty: &ArgType, variadic: bool) -> bool {
        match self {
            Param::Any => true,
            Param::Type(want) => {
                same(want, ty) || (variadic && !want.slice && ty.slice && fits(want.scalar, ty.scalar))
            }
        }
    }
}

/// Whether a value of type `got` fits a parameter of type `want`.
fn same(want: &ArgType, got: &ArgType) -> bool {
    want.slice == got.slice && fits(want.scalar, got.scalar)
}

fn fits(want: Scalar, got: Scalar) -> bool {
    want == got
        || (matches!(want, Scalar::Float32 | Scalar::Float64) && matches!(got, Scalar::Int(_) | Scalar::Uint(_)))
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::Any => f.write_str("any"),
            Param::Type(t) => write!(f, "{t}"),
        }
    }
}

/// A parsed signature: fixed positions, then optionally a variadic tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    fixed: Vec<Param>,
    rest: Option<Param>,
}

/// Why values do not fit a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// Too few or too many values.
    Count {
        /// What the signature takes, e.g. `exactly 1 (string)`.
        expected: String,
        /// How many were given.
        got: usize,
    },
    /// The value at `position` (0-based) has the wrong type.
    Type {
        /// 0-based position.
        position: usize,
        /// The declared type.
        expected: String,
        /// The value's type.
        got: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Count { expected, got } => write!(f, "takes {expected}, got {got}"),
            Mismatch::Type { position, expected, got } => {
                write!(f, "position {position} must be {expected}, got {got}")
            }
        }
    }
}

impl Signature {
    /// Parses declared type names; `...T` may only come last.
    pub fn parse(types: &[String]) -> Result<Self, String> {
        let mut fixed = Vec::with_capacity(types.len());
        let mut rest = None;
        for (i, name) in types.iter().enumerate() {
            match name.strip_prefix("...") {
                Some(elem) if i + 1 == types.len() => rest = Some(Param::parse(elem)?),
                Some(_) => return Err(format!("`{name}` at position {i}: a variadic `...T` must be the last type")),
                None => fixed.push(Param::parse(name)?),
            }
        }
        Ok(Self { fixed, rest })
    }

    /// Whether values of `types` (in order) fit exactly.
    pub fn check(&self, types: &[ArgType]) -> Result<(), Mismatch> {
        if types.len() < self.fixed.len() || (self.rest.is_none() && types.len() > self.fixed.len()) {
            return Err(Mismatch::Count { expected: self.describe(), got: types.len() });
        }
        self.check_positions(types)
    }

    /// Whether values of `types` can begin an argument list that fits (more values are appended
    /// later, e.g. the predecessors' results of a `passResults` task).
    pub fn check_prefix(&self, types: &[ArgType]) -> Result<(), Mismatch> {
        if self.rest.is_none() && types.len() > self.fixed.len() {
            return Err(Mismatch::Count { expected: self.describe(), got: types.len() });
        }
        self.check_positions(types)
    }

    fn check_positions(&self, types: &[ArgType]) -> Result<(), Mismatch> {
        for (position, ty) in types.iter().enumerate() {
            let (param, variadic) = match self.fixed.get(position) {
                Some(p) => (p, false),
                None => (self.rest.as_ref().expect("the count check admits extra values only with a tail"), true),
            };
            if !param.accepts(ty, variadic) {
                let expected = if variadic { format!("{param} (or []{param})") } else { param.to_string() };
                return Err(Mismatch::Type { position, expected, got: ty.to_string() });
            }
        }
        Ok(())
    }

    /// What the signature takes, e.g. `exactly 2 values (int64, string)` or `any number of values
    /// (...int64)`.
    pub fn describe(&self) -> String {
        let mut names: Vec<String> = self.fixed.iter().map(ToString::to_string).collect();
        if let Some(rest) = &self.rest {
            names.push(format!("...{rest}"));
        }
        let list = if names.is_empty() { String::new() } else { format!(" ({})", names.join(", ")) };
        let n = self.fixed.len();
        let plural = |n: usize| if n == 1 { "value" } else { "values" };
        match (&self.rest, n) {
            (None, _) => format!("exactly {n} {}{list}", plural(n)),
            (Some(_), 0) => format!("any number of values{list}"),
            (Some(_), _) => format!("at least {n} {}{list}", plural(n)),
        }
    }

    /// Whether the exact list of types is known (no `any`, no variadic tail): then the values a
    /// handler with this result signature returns are known before it runs.
    pub fn concrete(&self) -> Option<Vec<ArgType>> {
        if self.rest.is_some() {
            return None;
        }
        self.fixed
            .iter()
            .map(|p| match p {
                Param::Type(t) => Some(t.clone()),
                Param::Any => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(types: &[&str]) -> Signature {
        Signature::parse(&types.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("valid signature")
    }

    fn tys(names: &[&str]) -> Vec<ArgType> {
        names.iter().map(|n| n.parse().expect("known type")).collect()
    }

    #[test]
    fn fixed_signatures_take_exactly_their_types() {
        let s = sig(&["string", "int64"]);
        assert_eq!(s.check(&tys(&["string", "int64"])), Ok(()));
        assert_eq!(s.check(&tys(&["string", "int"])), Ok(()), "int is int64");
        assert_eq!(
            s.check(&tys(&["string", "string"])),
            Err(Mismatch::Type { position: 1, expected: "int64".into(), got: "string".into() })
        );
        let err = s.check(&tys(&["string"])).unwrap_err();
        assert_eq!(err.to_string(), "takes exactly 2 values (string, int64), got 1");
        assert!(s.check(&tys(&["string", "int64", "bool"])).is_err());
        assert!(s.check(&tys(&["string", "int32"])).is_err(), "int32 is not int64");
        let floats = sig(&["float64", "...float32"]);
        assert_eq!(floats.check(&tys(&["int64", "uint8", "[]int32"])), Ok(()), "integers fit floats");
        assert!(sig(&["int64"]).check(&tys(&["float64"])).is_err(), "but floats do not fit integers");
    }

    #[test]
    fn variadic_tails_take_any_number_of_their_type_or_slices_of_it() {
        let s = sig(&["...int64"]);
        assert_eq!(s.check(&[]), Ok(()));
        assert_eq!(s.check(&tys(&["int64", "int64", "[]int64"])), Ok(()));
        let err = s.check(&tys(&["int64", "string"])).unwrap_err();
        assert_eq!(err.to_string(), "position 1 must be int64 (or []int64), got string");
        let s = sig(&["string", "...any"]);
        assert_eq!(s.check(&tys(&["string", "bool", "[]float64"])), Ok(()));
        assert!(s.check(&[]).is_err());
        assert_eq!(s.describe(), "at least 1 value (string, ...any)");
        assert!(Signature::parse(&["...int64".into(), "string".into()]).is_err());
        assert!(Signature::parse(&["decimal".into()]).is_err());
    }

    #[test]
    fn prefixes_leave_room_for_passed_results() {
        let s = sig(&["int64", "int64"]);
        assert_eq!(s.check_prefix(&tys(&["int64"])), Ok(()));
        assert!(s.check_prefix(&tys(&["string"])).is_err());
        assert!(s.check_prefix(&tys(&["int64", "int64", "int64"])).is_err());
    }

    #[test]
    fn concrete_result_lists_are_known_before_running() {
        assert_eq!(sig(&["string", "[]int64"]).concrete(), Some(tys(&["string", "[]int64"])));
        assert_eq!(sig(&["...any"]).concrete(), None);
        assert_eq!(sig(&["any"]).concrete(), None);
        assert_eq!(sig(&[]).concrete(), Some(vec![]));
    }
}
