//! Keeps the registry in step with a handlers directory: scanned at start (a missing directory or
//! an ambiguous name stops the worker), then watched (`notify`, with a periodic rescan as a safety
//! net), so an executable or manifest that is added, changed or removed is offered or withdrawn
//! within seconds.

use super::Executable;
use super::scan::{Found, Problem, Scan, scan};
use crate::handlers::{Handler, Registry};
use notify::{RecursiveMode, Watcher};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// The registry source the directory's handlers are offered under.
pub const SOURCE: &str = "handlers_dir";

/// How often the directory is rescanned even without a notification.
const RESCAN: Duration = Duration::from_secs(3);

/// Changes arriving within this window are handled by one rescan.
const SETTLE: Duration = Duration::from_millis(200);

/// A watched handlers directory.
pub struct Directory {
    dir: PathBuf,
    registry: Arc<Registry>,
    kill_grace: Duration,
    reserved: BTreeSet<String>,
    offered: BTreeMap<String, Found>,
    reported: Vec<Problem>,
}

impl Directory {
    /// Scans `dir` and offers its executables in `registry`. Refused: a missing directory, two
    /// executables with one name, an executable named like a handler the registry already has.
    /// A bad manifest only withholds its own handler (and is logged).
    pub fn open(dir: &Path, registry: Arc<Registry>, kill_grace: Duration) -> Result<Self, String> {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("the handlers directory {} is not a directory", dir.display())),
            Err(e) => {
                return Err(format!(
                    "the handlers directory {} cannot be read ({e}); create it, or point --handlers-dir \
                     (worker.handlers_dir) at the folder of your executables",
                    dir.display()
                ));
            }
        }
        // Absolute, because each executable runs with its own folder as working directory.
        let dir = &std::fs::canonicalize(dir).map_err(|e| format!("the handlers directory {}: {e}", dir.display()))?;
        let reserved = registry.fixed_names();
        let found =
            scan(dir, &reserved).map_err(|e| format!("reading the handlers directory {}: {e}", dir.display()))?;
        let fatal: Vec<String> = found.problems.iter().filter(|p| p.is_fatal()).map(ToString::to_string).collect();
        if !fatal.is_empty() {
            return Err(format!(
                "the handlers directory {} cannot be used:\n  - {}",
                dir.display(),
                fatal.join("\n  - ")
            ));
        }
        let mut d = Self {
            dir: dir.to_path_buf(),
            registry,
            kill_grace,
            reserved,
            offered: BTreeMap::new(),
            reported: Vec::new(),
        };
        d.apply(found);
        Ok(d)
    }

    /// The names offered now.
    pub fn offered(&self) -> Vec<String> {
        self.offered.keys().cloned().collect()
    }

    /// Watches the directory until `shutdown`.
    pub async fn watch(mut self, shutdown: CancellationToken) {
        let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<()>();
        let watcher = notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
            let _ = tx.send(());
        })
        .and_then(|mut w| w.watch(&self.dir, RecursiveMode::Recursive).map(|()| w));
        let _watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(dir = %self.dir.display(), error = %e, every_secs = RESCAN.as_secs(), "cannot watch the handlers directory; rescanning it periodically instead");
                None
            }
        };
        let mut rescan = tokio::time::interval(RESCAN);
        rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(()) = events.recv() => {
                    tokio::time::sleep(SETTLE).await;
                    while events.try_recv().is_ok() {}
                }
                _ = rescan.tick() => {}
            }
            self.rescan();
        }
    }

    /// Reads the directory again and offers what it holds now.
    pub fn rescan(&mut self) {
        match scan(&self.dir, &self.reserved) {
            Ok(found) => self.apply(found),
            Err(e) => {
                if !self.offered.is_empty() {
                    warn!(dir = %self.dir.display(), error = %e, "the handlers directory cannot be read; its handlers are withdrawn");
                }
                self.apply(Scan::default());
            }
        }
    }

    fn apply(&mut self, found: Scan) {
        for p in found.problems.iter().filter(|p| !self.reported.contains(p)) {
            if p.is_fatal() {
                error!(dir = %self.dir.display(), problem = %p, "handlers directory problem");
            } else {
                warn!(dir = %self.dir.display(), problem = %p, "handlers directory problem");
            }
        }
        self.reported = found.problems;
        if found.handlers == self.offered {
            return;
        }
        for (name, f) in &found.handlers {
            match self.offered.get(name) {
                None => info!(handler = %name, path = %f.path.display(), "executable handler offered"),
                Some(old) if old != f => info!(handler = %name, path = %f.path.display(), "executable handler changed"),
                Some(_) => {}
            }
        }
        for name in self.offered.keys().filter(|n| !found.handlers.contains_key(*n)) {
            info!(handler = %name, "executable handler withdrawn");
        }
        let handlers: BTreeMap<String, Arc<dyn Handler>> = found
            .handlers
            .iter()
            .map(|(name, f)| {
                let h = Executable::new(name.clone(), f.path.clone(), f.manifest.clone(), self.kill_grace);
                (name.clone(), Arc::new(h) as Arc<dyn Handler>)
            })
            .collect();
        self.registry.set_source(SOURCE, handlers);
        self.offered = found.handlers;
    }
}
