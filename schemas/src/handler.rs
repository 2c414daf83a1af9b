//! What a worker advertises about each handler it can run.

use serde::{Deserialize, Serialize};

/// A handler's name and signature, as listed by the `handlers` query and the worker registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandlerInfo {
    /// The name tasks use.
    pub name: String,
    /// What it does and how to call it.
    pub usage: String,
    /// The arg types, in order; a `...T` entry means any number of `T` (variadic).
    pub arg_types: Vec<String>,
    /// The result types.
    pub result_types: Vec<String>,
}
