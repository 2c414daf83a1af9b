//! The write side's decisions as pure functions: given what a run's events say (its shape, its
//! progress, a task's stream) and one new event or outcome, the events to append. The services
//! around them only read, call these, and append conditionally; the given/when/then tests in
//! `tests.rs` cover every branch.

pub mod attempt;
pub mod frontier;
pub mod shape;

#[cfg(test)]
mod tests;
