//! The write side: validates commands and appends their events. Decisions are taken from the
//! ledger itself (conditional appends), never from read models.

mod error;
pub mod rerun;
mod service;

pub use error::Error;
pub use service::{Service, Submitted};
