//! The query surface: the async-graphql schema (queries, mutations, subscriptions), the axum
//! router that serves it with GraphiQL, authentication, the remote workers' endpoint, the seed's
//! REST API, and the health and metrics endpoints.
//! Business rules live in `aurora-command`; this crate only translates.

pub mod auth;
pub mod cors;
pub mod errors;
pub mod guard;
pub mod http;
pub mod live;
pub mod process_metrics;
pub mod remote;
pub mod rest;
pub mod schema;
pub mod serve;
pub mod throttle;
pub mod web;
pub mod ws;

pub use auth::{Auth, UserEntry};
pub use http::{Service, router};
pub use schema::{AppSchema, State, build_schema};
