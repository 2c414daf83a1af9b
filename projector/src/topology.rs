//! Live graphs for the frontier: each run's shape ([`Topology`], from its frozen spec) and
//! progress ([`Progress`]), loaded from the read store on first use and cached while the run is
//! live. The shape and progress themselves are pure (`aurora_schemas::decide::shape`).

use crate::store::{Error, ReadStore};
use aurora_schemas::GraphId;
pub use aurora_schemas::decide::shape::{Progress, Topology};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
