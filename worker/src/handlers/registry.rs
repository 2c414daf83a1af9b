//! The handler registry: what a worker can run, by name. Handlers registered when the worker is
//! built (built-ins, typed Rust functions, FaaS functions) are fixed; sources such as a handlers
//! directory replace their whole set at run time, and every change is announced so the worker
//! advertises it and serves the right queues at once.

use super::{Handler, builtin, diagnostic};
use aurora_schemas::HandlerInfo;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// Handlers by name.
pub type ByName = BTreeMap<String, Arc<dyn Handler>>;

/// Handlers by name.
pub struct Registry {
    fixed: ByName,
    /// source → its handlers, replaced as a whole.
    live: RwLock<BTreeMap<String, ByName>>,
    changed: watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Self { fixed: BTreeMap::new(), live: RwLock::default(), changed: watch::channel(0).0 }
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The seed's built-ins (`add`, `multiply`, `concat`, `split`, `sum_floats`,
    /// `long_running_task`) and the diagnostic ones (`echo`, `noop`, `sleep`, `fail`, `flaky`).
    pub fn with_builtins() -> Self {
        let mut r = Self::new();
        for h in builtin::all().into_iter().chain(diagnostic::all()) {
            r.register(h);
        }
        r
    }

    /// Adds or replaces a fixed handler.
    pub fn register(&mut self, handler: Arc<dyn Handler>) -> &mut Self {
        self.fixed.insert(handler.info().name, handler);
        self
    }

    /// Adds or replaces a fixed handler, e.g. one made by [`crate::handler`].
    pub fn add(&mut self, handler: impl Handler + 'static) -> &mut Self {
        self.register(Arc::new(handler))
    }

    /// Replaces every handler of `source` with `handlers`; announces a change if the offered
    /// set (names and signatures) differs. A name that a fixed handler already has is ignored
    /// (sources check for such clashes and report them).
    pub fn set_source(&self, source: &str, handlers: ByName) {
        let before = self.infos();
        {
            let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
            live.insert(source.to_string(), handlers);
        }
        if self.infos() != before {
            self.changed.send_modify(|generation| *generation += 1);
        }
    }

    /// The handler called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Handler>> {
        if let Some(h) = self.fixed.get(name) {
            return Some(h.clone());
        }
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        live.values().find_map(|handlers| handlers.get(name).cloned())
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The names of the fixed handlers (which a source's handlers must not reuse).
    pub fn fixed_names(&self) -> BTreeSet<String> {
        self.fixed.keys().cloned().collect()
    }

    /// Every handler's info, sorted by name.
    pub fn infos(&self) -> Vec<HandlerInfo> {
        let mut all: BTreeMap<String, HandlerInfo> = BTreeMap::new();
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        for (name, h) in live.values().flatten() {
            all.entry(name.clone()).or_insert_with(|| h.info());
        }
        for (name, h) in &self.fixed {
            all.insert(name.clone(), h.info());
        }
        all.into_values().collect()
    }

    /// Notified whenever the offered set changes.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::{Context, HandlerError};
    use async_trait::async_trait;
    use aurora_schemas::TypedValue;

    struct Named(&'static str, &'static str);

    #[async_trait]
    impl Handler for Named {
        fn info(&self) -> HandlerInfo {
            super::super::info(self.0, self.1, &[], &[])
        }
        async fn call(&self, _: Context, _: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
            Ok(vec![])
        }
    }

    fn set(items: &[(&'static str, &'static str)]) -> BTreeMap<String, Arc<dyn Handler>> {
        items.iter().map(|(n, u)| (n.to_string(), Arc::new(Named(n, u)) as Arc<dyn Handler>)).collect()
    }

    #[test]
    fn sources_replace_their_set_and_announce_only_real_changes() {
        let r = Registry::with_builtins();
        let mut changes = r.changes();
        r.set_source("dir", set(&[("upper", "v1")]));
        assert!(r.contains("upper") && r.contains("add"));
        assert!(changes.has_changed().expect("sender alive"));
        changes.mark_unchanged();
        r.set_source("dir", set(&[("upper", "v1")]));
        assert!(!changes.has_changed().expect("sender alive"), "the same set is not a change");
        r.set_source("dir", set(&[("upper", "v2")]));
        assert!(changes.has_changed().expect("sender alive"), "a new usage text is a change");
        changes.mark_unchanged();
        r.set_source("dir", set(&[]));
        assert!(!r.contains("upper"));
        assert!(changes.has_changed().expect("sender alive"));
        // A source cannot shadow a fixed handler.
        r.set_source("dir", set(&[("add", "impostor")]));
        assert_ne!(r.get("add").map(|h| h.info().usage), Some("impostor".to_string()));
        assert_eq!(r.infos().iter().filter(|i| i.name == "add").count(), 1);
    }
}
