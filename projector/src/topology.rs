//! A graph's shape, derived from its frozen spec and cached while the run is live, with the
//! progress of its tasks: which succeeded, and how many unfinished predecessors each task still
//! has, so that a completion costs work proportional to the finished task's out-edges (not to the
//! graph's edges: a complete DAG of 300 tasks has 44,850).

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

    /// The index of the task with `key`.
    pub fn index_of(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// The task at index `i`.
    pub fn at(&self, i: usize) -> &TaskSpec {
        &self.spec.tasks[i]
    }

    /// Direct predecessors of the task at `i`, in edge order.
    pub fn predecessors_of(&self, i: usize) -> impl Iterator<Item = &TaskSpec> {
        self.preds[i].iter().map(|&p| &self.spec.tasks[p])
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

/// Which tasks of a run succeeded, and how many predecessors each task still waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    succeeded: Vec<bool>,
    waiting_for: Vec<u32>,
}

impl Progress {
    /// The progress of a run of `topo` in which `succeeded(i)` says which tasks succeeded.
    pub fn new(topo: &Topology, succeeded: impl Fn(usize) -> bool) -> Self {
        let succeeded: Vec<bool> = (0..topo.spec.tasks.len()).map(succeeded).collect();
        let waiting_for = topo.preds.iter().map(|ps| ps.iter().filter(|&&p| !succeeded[p]).count() as u32).collect();
        Self { succeeded, waiting_for }
    }

    /// Marks the task at `i` succeeded (again is harmless) and returns its successors whose
    /// predecessors have all succeeded — each time, so that re-processing an event after a restart
    /// re-proposes the same dispatches (which the ledger then refuses as already made).
    pub fn succeed(&mut self, topo: &Topology, i: usize) -> Vec<usize> {
        if !std::mem::replace(&mut self.succeeded[i], true) {
            for &s in &topo.succs[i] {
                self.waiting_for[s] -= 1;
            }
        }
        topo.succs[i].iter().copied().filter(|&s| self.waiting_for[s] == 0).collect()
    }
}

/// A live graph: its shape and, once a task of it succeeded, its progress.
pub struct Live {
    /// The shape.
    pub topology: Topology,
    progress: tokio::sync::Mutex<Option<Progress>>,
}

impl Live {
    /// The progress, loaded from the read store the first time (the rows after the batch being
    /// reacted to), then kept up to date by [`Progress::succeed`].
    pub async fn progress(
        &self,
        store: &dyn ReadStore,
        graph: GraphId,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<Progress>>, Error> {
        let mut guard = self.progress.lock().await;
        if guard.is_none() {
            let rows = store.graph_tasks(graph).await?;
            let done: std::collections::HashSet<&str> =
                rows.iter().filter(|r| r.state == aurora_schemas::TaskState::Success).map(|r| r.key.as_str()).collect();
            *guard = Some(Progress::new(&self.topology, |i| done.contains(self.topology.spec.tasks[i].key.as_str())));
        }
        Ok(guard)
    }
}

impl std::ops::Deref for Live {
    type Target = Topology;
    fn deref(&self) -> &Topology {
        &self.topology
    }
}

/// Live graphs, loaded from the read store on first use.
#[derive(Default)]
pub struct Cache {
    map: Mutex<HashMap<GraphId, Arc<Live>>>,
}

const MAX_CACHED: usize = 10_000;

impl Cache {
    /// The live graph `graph`, if its spec is known.
    pub async fn get(&self, store: &dyn ReadStore, graph: GraphId) -> Result<Option<Arc<Live>>, Error> {
        if let Some(t) = self.lock().get(&graph) {
            return Ok(Some(t.clone()));
        }
        let Some(spec) = store.graph_spec(graph).await? else {
            return Ok(None);
        };
        let topo = Arc::new(Live { topology: Topology::new(spec), progress: Default::default() });
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<GraphId, Arc<Live>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_schemas::EdgeSpec;

    fn complete_dag(n: usize) -> Topology {
        let tasks =
            (0..n).map(|i| TaskSpec { key: format!("t{i}"), name: "noop".into(), ..Default::default() }).collect();
        let edges = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| EdgeSpec { from: format!("t{i}"), to: format!("t{j}") }))
            .collect();
        Topology::new(GraphSpec { tasks, edges, ..Default::default() })
    }

    #[test]
    fn a_task_is_ready_once_its_last_predecessor_succeeds() {
        let topo = complete_dag(4);
        let mut p = Progress::new(&topo, |_| false);
        assert_eq!(p.succeed(&topo, 0), vec![1], "t1 waits only for t0; t2 and t3 wait for more");
        assert_eq!(p.succeed(&topo, 1), vec![2]);
        assert_eq!(p.succeed(&topo, 1), vec![2], "re-processing proposes the same dispatch, and counts nothing twice");
        assert_eq!(p.succeed(&topo, 2), vec![3]);
        assert_eq!(p.succeed(&topo, 3), Vec::<usize>::new());
    }

    #[test]
    fn progress_loaded_midway_agrees_with_progress_kept_from_the_start() {
        let topo = complete_dag(6);
        let mut kept = Progress::new(&topo, |_| false);
        for i in 0..3 {
            kept.succeed(&topo, i);
        }
        let loaded = Progress::new(&topo, |i| i < 3);
        assert_eq!(kept, loaded);
    }
}
