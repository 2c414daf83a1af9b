//! Bounds on what one GraphQL request may cost, checked by an extension on every query and
//! mutation (HTTP and WebSocket alike): a document may select at most `max_fields` fields (aliases
//! and fragment uses counted as what they expand to), and a response at most `max_response_bytes`
//! of values, counted as they are resolved so that an over-budget query stops instead of growing.
//! (The complexity limit, with list fields costing their page size, is async-graphql's own.)
//! Subscriptions run without the extension (`ws::Operations`): its field and depth checks and its
//! wording of errors ([`Guard::check_fields`], [`Guard::polish`]) are applied around them.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextResolve, ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Value, Variables};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How the response-budget refusal begins (it is told once per response).
const BUDGET: &str = "the response would exceed";

/// The longest error message a response carries; longer ones (which quote a client's input) are
/// cut, so that an error never echoes a large input back.
pub const MAX_ERROR_CHARS: usize = 1_000;

/// The guard's limits.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    /// Complexity one query may have (enforced by async-graphql; named here in its refusal).
    pub max_complexity: usize,
    /// Fields one document may select.
    pub max_fields: usize,
    /// Bytes of values one query or mutation may return.
    pub max_response_bytes: usize,
}

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Request { limits: *self, spent: AtomicUsize::new(0) })
    }
}

struct Request {
    limits: Guard,
    spent: AtomicUsize,
}

#[async_trait::async_trait]
impl Extension for Request {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> async_graphql::Response {
        let mut response = next.run(ctx).await;
        self.limits.polish(&mut response);
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        self.limits.check_fields(&doc)?;
        Ok(doc)
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let leaf = is_leaf(info.return_type);
        let value = next.run(ctx, info).await?;
        if leaf {
            let size = value.as_ref().map(approximate_size).unwrap_or(4);
            let spent = self.spent.fetch_add(size, Ordering::Relaxed) + size;
            if spent > self.limits.max_response_bytes {
                return Err(refused(
                    format!(
                        "{BUDGET} {} bytes (limits.max_response_bytes); ask for less: page lists with \
                         `first` and `after` (graphs, history) or select fewer fields",
                        self.limits.max_response_bytes
                    ),
                    None,
                ));
            }
        }
        Ok(value)
    }
}

impl Guard {
    /// Refuses a document that selects more than `max_fields` fields.
    pub fn check_fields(&self, doc: &ExecutableDocument) -> ServerResult<()> {
        let Some(fields) = field_count(doc) else {
            return Err(refused(
                format!(
                    "the query nests deeper than {MAX_DEPTH} levels (fields, fragments and their spreads each count one): \
                     flatten it"
                ),
                None,
            ));
        };
        if fields > self.max_fields {
            return Err(refused(
                format!(
                    "the query selects {fields} fields (aliases and fragments counted as they expand); the limit is {} \
                     (limits.max_fields): ask for fewer fields per request",
                    self.max_fields
                ),
                None,
            ));
        }
        Ok(())
    }

    /// A response's errors as clients are told them: the response-budget refusal once, the
    /// complexity refusal with the limit and what to do, every message cut to [`MAX_ERROR_CHARS`].
    pub fn polish(&self, response: &mut async_graphql::Response) {
        // One refusal is enough: every field resolved after the budget ran out repeats it.
        let mut budget_told = false;
        response.errors.retain(|e| {
            let budget = e.message.starts_with(BUDGET);
            let keep = !(budget && budget_told);
            budget_told |= budget;
            keep
        });
        for e in &mut response.errors {
            if e.message == "Query is too complex." {
                e.extensions.get_or_insert_with(Default::default).set("code", crate::errors::Kind::BadInput.code());
                e.message = format!(
                    "the query is too complex: over the limit of {} (limits.max_complexity). A list field costs its page \
                     size times what it selects (`graphs(first:)`, `history(first:)`, a run's `tasks` counted as 100): \
                     ask for smaller pages, fewer aliases or fewer fields",
                    self.max_complexity
                );
            }
            e.message = truncated(&e.message, MAX_ERROR_CHARS);
        }
    }
}

/// A refusal of the request as a whole (BAD_USER_INPUT: the caller asked for too much).
fn refused(message: String, pos: Option<async_graphql::Pos>) -> ServerError {
    let mut e = ServerError::new(message, pos);
    e.extensions.get_or_insert_with(Default::default).set("code", crate::errors::Kind::BadInput.code());
    e
}

/// `text` cut to `max` characters, saying how much was cut.
pub fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!("{}… ({} more bytes not shown)", &text[..at], text.len() - at),
    }
}

/// Scalars and enums: the values whose bytes a response is made of (objects and lists only hold
/// them).
fn is_leaf(return_type: &str) -> bool {
    let named = return_type.trim_matches(|c| c == '[' || c == ']' || c == '!');
    !matches!(
        named,
        "GraphRun"
            | "GraphRunConnection"
            | "TaskRun"
            | "LedgerEvent"
            | "TypedValue"
            | "Edge"
            | "PageInfo"
            | "Handler"
            | "Worker"
            | "LoginPayload"
            | "TaskCounts"
            | "FaasFunction"
    ) && !named.starts_with("__")
}

/// The bytes `v` takes as JSON, roughly (without building the text).
fn approximate_size(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Boolean(_) => 5,
        Value::Number(_) => 12,
        Value::String(s) => s.len() + 2,
        Value::Enum(e) => e.len() + 2,
        Value::Binary(b) => b.len() * 2,
        Value::List(items) => 2 + items.iter().map(approximate_size).sum::<usize>(),
        Value::Object(map) => 2 + map.iter().map(|(k, v)| k.len() + 3 + approximate_size(v)).sum::<usize>(),
    }
}

/// How deep a document may nest selections (fields with selections, fragment spreads and inline
/// fragments each count a level): async-graphql's own limit, checked here too because the field
/// count runs before async-graphql's check on the subscription path, and a chain of fragments
/// would otherwise recurse as deep as the client likes.
pub const MAX_DEPTH: usize = 32;

/// Every field the document selects, with fragment spreads counted as the fields they expand to;
/// `None` when it nests deeper than [`MAX_DEPTH`].
pub fn field_count(doc: &ExecutableDocument) -> Option<usize> {
    let mut sizes: HashMap<Name, usize> = HashMap::new();
    let mut visiting = Vec::new();
    let mut total = 0usize;
    for (_, op) in doc.operations.iter() {
        total = total.saturating_add(count_set(&op.node.selection_set, doc, &mut sizes, &mut visiting, 0)?);
    }
    Some(total)
}

fn count_set(
    set: &Positioned<SelectionSet>,
    doc: &ExecutableDocument,
    sizes: &mut HashMap<Name, usize>,
    visiting: &mut Vec<Name>,
    depth: usize,
) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut n = 0usize;
    for item in &set.node.items {
        let add = match &item.node {
            Selection::Field(f) if f.node.selection_set.node.items.is_empty() => 1,
            Selection::Field(f) => {
                1usize.saturating_add(count_set(&f.node.selection_set, doc, sizes, visiting, depth + 1)?)
            }
            Selection::InlineFragment(i) => count_set(&i.node.selection_set, doc, sizes, visiting, depth + 1)?,
            Selection::FragmentSpread(s) => {
                let name = &s.node.fragment_name.node;
                match (sizes.get(name), doc.fragments.get(name)) {
                    (Some(known), _) => *known,
                    // A cycle is refused by validation later; here it only must not loop.
                    (None, _) if visiting.contains(name) => 0,
                    (None, Some(fragment)) => {
                        visiting.push(name.clone());
                        let size = count_set(&fragment.node.selection_set, doc, sizes, visiting, depth + 1)?;
                        visiting.pop();
                        sizes.insert(name.clone(), size);
                        size
                    }
                    (None, None) => 0,
                }
            }
        };
        n = n.saturating_add(add);
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(q: &str) -> usize {
        field_count(&async_graphql::parser::parse_query(q).expect("parses")).expect("within the depth")
    }

    /// A chain of fragments as long as a client likes is refused by depth, without recursing
    /// through it (50,000 levels would overflow the stack); 32 levels are fine.
    #[test]
    fn a_chain_of_fragments_deeper_than_the_limit_is_refused_not_followed() {
        let chain = |n: usize| {
            let mut q = String::from("subscription { ...F0 }");
            for i in 0..n {
                q.push_str(&format!(" fragment F{i} on Subscription {{ ...F{} }}", i + 1));
            }
            q.push_str(&format!(" fragment F{n} on Subscription {{ a }}"));
            async_graphql::parser::parse_query(q).expect("parses")
        };
        assert_eq!(field_count(&chain(30)), Some(1));
        assert_eq!(field_count(&chain(50_000)), None);
        let guard = Guard { max_complexity: 100, max_fields: 100, max_response_bytes: 1_000 };
        let refused = guard.check_fields(&chain(50_000)).unwrap_err();
        assert!(refused.message.contains("deeper than 32 levels"), "{}", refused.message);
    }

    #[test]
    fn aliases_and_fragments_count_as_they_expand() {
        assert_eq!(count("{ a b { c d } }"), 4);
        assert_eq!(count("{ x: a y: a z: a }"), 3);
        // Each level doubles: 2 + 4 + 8 + 16 fields, not the 8 written.
        let bomb = "query { ...F3 ...F3 } fragment F3 on Q { ...F2 ...F2 } fragment F2 on Q { ...F1 ...F1 } \
                    fragment F1 on Q { a b }";
        assert_eq!(count(bomb), 16);
        assert_eq!(count("query { ...A } fragment A on Q { a ...B } fragment B on Q { b ...A }"), 2, "no loop");
    }
}
