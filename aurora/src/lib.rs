//! The `aurora` binary's library: the command line, the wiring of roles into processes, and the
//! GraphQL client the client subcommands (and the end-to-end tests) use. No domain logic lives
//! here; it composes the library crates.

pub mod backends;
pub mod cli;
pub mod client;
mod logging;
pub mod node;
mod render;
pub mod roles;
