//! A graph's shape, derived from its frozen spec and cached while the run is live.

use crate::store::{Error, ReadStore};
use aurora_schemas::{GraphId, GraphSpec, TaskSpec};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Predecessors (in edge order) and successors of every task.
#[derive(Debug)]
pub struct Topology {
    /// The frozen, normalized spec.
    pub spec: GraphSpec,
    index: HashMap<String, usize>,
    preds: Vec<Vec<usize>>,
    succs: Vec<Vec<usize>>,
}

impl Topology {
    /// The shape of `spec` (which passed validation: keys unique, edges valid).
    pub fn new(spec: GraphSpec) -> Self {
        let index: HashMap<String, usize> = spec.tasks.iter().enumerate().map(|(i, t)| (t.key.clone(), i)).collect();
        let mut preds = vec![Vec::new(); spec.tasks.len()];
        let mut succs = vec![Vec::new(); spec.tasks.len()];
        for e in &spec.edges {
            if let (Some(&f), Some(&t)) = (index.get(&e.from), index.get(&e.to)) {
                preds[t].push(f);
                succs[f].push(t);
            }
        }
        Self { spec, index, preds, succs }
    }

    /// The task with `key`.
    pub fn task(&self, key: &str) -> Option<&TaskSpec> {
        self.index.get(key).map(|&i| &self.spec.tasks[i])
    }

    /// Direct successors of `key`.
    pub fn successors(&self, key: &str) -> Vec<&TaskSpec> {
        self.index.get(key).map(|&i| self.succs[i].iter().map(|&s| &self.spec.tasks[s]).collect()).unwrap_or_default()
    }

    /// Direct predecessors of `key`, in edge order (the order results are passed in).
    pub fn predecessors(&self, key: &str) -> Vec<&TaskSpec> {
        self.index.get(key).map(|&i| self.preds[i].iter().map(|&p| &self.spec.tasks[p]).collect()).unwrap_or_default()
    }

    /// Every task reachable from `key`, excluding it.
    pub fn descendants(&self, key: &str) -> Vec<&TaskSpec> {
        let Some(&start) = self.index.get(key) else {
            return Vec::new();
        };
        let mut seen = vec![false; self.spec.tasks.len()];
        let mut stack = self.succs[start].clone();
        let mut out = Vec::new();
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut seen[n], true) {
                out.push(&self.spec.tasks[n]);
                stack.extend(&self.succs[n]);
            }
        }
        out
    }
}

/// Topologies of live graphs, loaded from the read store on first use.
#[derive(Default)]
pub struct Cache {
    map: Mutex<HashMap<GraphId, Arc<Topology>>>,
}

const MAX_CACHED: usize = 10_000;

impl Cache {
    /// The topology of `graph`, if its spec is known.
    pub async fn get(&self, store: &dyn ReadStore, graph: GraphId) -> Result<Option<Arc<Topology>>, Error> {
        if let Some(t) = self.lock().get(&graph) {
            return Ok(Some(t.clone()));
        }
        let Some(spec) = store.graph_spec(graph).await? else {
            return Ok(None);
        };
        let topo = Arc::new(Topology::new(spec));
        let mut map = self.lock();
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(graph, topo.clone());
        Ok(Some(topo))
    }

    /// Forgets a graph that ended.
    pub fn evict(&self, graph: GraphId) {
        self.lock().remove(&graph);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<GraphId, Arc<Topology>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}
