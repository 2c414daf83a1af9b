//! A graph's shape, derived from its frozen spec, and the progress of its tasks: which
//! succeeded, and how many unfinished predecessors each task still has, so that a completion
//! costs work proportional to the finished task's out-edges (not to the graph's edges: a complete
//! DAG of 300 tasks has 44,850).

use crate::{GraphSpec, TaskSpec};
use std::collections::HashMap;

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

    /// Every task reachable from `key`, excluding it.
    pub fn descendants(&self, key: &str) -> Vec<&TaskSpec> {
        let Some(&start) = self.index.get(key) else {
            return Vec::new();
        };
        self.reachable(self.succs[start].iter().copied()).into_iter().map(|i| &self.spec.tasks[i]).collect()
    }

    /// The tasks with `keys` (unknown keys are ignored) and every task reachable from them, in
    /// one traversal, in spec order.
    pub fn with_descendants<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Vec<&TaskSpec> {
        let starts = keys.into_iter().filter_map(|k| self.index.get(k).copied());
        let mut found = self.reachable(starts);
        found.sort_unstable();
        found.into_iter().map(|i| &self.spec.tasks[i]).collect()
    }

    /// The indices reachable from `starts`, `starts` included.
    fn reachable(&self, starts: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut seen = vec![false; self.spec.tasks.len()];
        let mut stack: Vec<usize> = starts.into_iter().collect();
        let mut out = Vec::new();
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut seen[n], true) {
                out.push(n);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EdgeSpec;

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
    fn with_descendants_is_every_task_reachable_from_the_keys_in_spec_order() {
        let topo = complete_dag(5);
        let keys = |ts: Vec<&TaskSpec>| ts.into_iter().map(|t| t.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(topo.with_descendants(["t3", "t1", "nope"])), ["t1", "t2", "t3", "t4"]);
        assert_eq!(keys(topo.with_descendants(["t4"])), ["t4"]);
        let mut below = keys(topo.descendants("t2"));
        below.sort();
        assert_eq!(below, ["t3", "t4"], "descendants exclude the task itself");
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
