//! What a worker advertises about each handler it can run, and the catalogue of every live
//! worker's handlers that submissions are checked against.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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

/// Every signature under which some live worker offers each handler name (workers may disagree
/// while a new version of a handler rolls out: a submission fits if it fits one of them).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    offers: HashMap<String, Vec<HandlerInfo>>,
}

impl Catalog {
    /// The signatures offered for `name` (empty if no live worker offers it).
    pub fn offers(&self, name: &str) -> &[HandlerInfo] {
        self.offers.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// Whether some live worker offers `name`.
    pub fn knows(&self, name: &str) -> bool {
        self.offers.contains_key(name)
    }
}

impl FromIterator<HandlerInfo> for Catalog {
    fn from_iter<I: IntoIterator<Item = HandlerInfo>>(iter: I) -> Self {
        let mut offers: HashMap<String, Vec<HandlerInfo>> = HashMap::new();
        for info in iter {
            let same = offers.entry(info.name.clone()).or_default();
            if !same.contains(&info) {
                same.push(info);
            }
        }
        Self { offers }
    }
}
