//! The `aurora` binary's library: the command line, the wiring of roles into processes, and the
//! GraphQL client the client subcommands (and the end-to-end tests) use. No domain logic lives
//! here; it composes the library crates.

pub mod backends;
pub mod cli;
pub mod client;
pub mod data_dir;
mod logging;
pub mod node;
mod render;
pub mod roles;

/// mimalloc, not glibc's malloc, for every program that runs Aurora (`aurora`, and the copy the
/// benchmark harness builds): allocation and freeing were the largest CPU cost of a worker
/// draining no-op tasks (glibc's malloc and free were about 11 % of all samples in `perf`; README
/// "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
