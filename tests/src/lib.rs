//! The end-to-end harness: starts Aurora as real processes — one `aurora dev`, or a distributed
//! deployment of separate gateways, projectors and workers — logs in, and offers the checks every
//! scenario shares.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

pub mod checks;
pub mod cluster;
pub mod graphs;
pub mod process;
pub mod server;

pub use checks::{assert_invariants, states, task, types};
pub use process::{Process, binary};
pub use server::{Deployment, Server};

use std::path::{Path, PathBuf};

/// The admin password every test deployment uses.
pub const PASSWORD: &str = "e2e-password";

/// A scratch directory for one test, removed when dropped unless the test failed.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh directory under the target dir (so failures leave logs to read).
    pub fn new(name: &str) -> Self {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
        let dir = base.join(format!("{name}-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs each named scenario, an `async fn(Deployment)`, once per deployment: as
/// `embedded::<name>` always, and as `distributed::<name>` with the `service-tests` feature
/// (which `scripts/test` turns on), so every core scenario is also checked across processes.
#[macro_export]
macro_rules! scenarios {
    ($($name:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Deployment::Embedded).await
                }
            )+
        }
        #[cfg(feature = "service-tests")]
        mod distributed {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Deployment::Distributed).await
                }
            )+
        }
    };
}
