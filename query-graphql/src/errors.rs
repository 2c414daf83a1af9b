//! The one mapping from error kind to HTTP status and GraphQL error code, used by every surface.

use async_graphql::ErrorExtensions;

/// The kinds of error a caller can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The input is wrong; the message says what to change.
    BadInput,
    /// No such thing.
    NotFound,
    /// No valid token.
    Unauthenticated,
    /// The token's role may not do this.
    Forbidden,
    /// A dependency is down; retry later.
    Unavailable,
    /// Too many requests of this kind from this client; the message says when to try again.
    RateLimited,
    /// The server's storage failed (disk full, read-only, damaged); an operator must act.
    Storage,
}

impl Kind {
    /// The HTTP status for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadInput => 400,
            Self::NotFound => 404,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::Unavailable => 503,
            Self::RateLimited => 429,
            Self::Storage => 507,
        }
    }

    /// The GraphQL `extensions.code`.
    pub fn code(self) -> &'static str {
        match self {
            Self::BadInput => "BAD_USER_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::Unavailable => "UNAVAILABLE",
            Self::RateLimited => "RATE_LIMITED",
            Self::Storage => "STORAGE_FAILURE",
        }
    }
}

/// A GraphQL error of `kind` with `message`.
pub fn error(kind: Kind, message: impl Into<String>) -> async_graphql::Error {
    let message = message.into();
    if kind == Kind::Unavailable {
        tracing::warn!(error = %message, "dependency unavailable");
        return async_graphql::Error::new("a backing service is temporarily unavailable; retry shortly")
            .extend_with(|_, e| e.set("code", kind.code()));
    }
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", kind.code()))
}

impl From<&aurora_command::Error> for Kind {
    fn from(e: &aurora_command::Error) -> Self {
        match e {
            aurora_command::Error::Rejected(_) => Self::BadInput,
            aurora_command::Error::NotFound(_) => Self::NotFound,
            aurora_command::Error::Unavailable(_) => Self::Unavailable,
            aurora_command::Error::Storage(_) => Self::Storage,
        }
    }
}

/// Converts a command error.
pub fn command(e: aurora_command::Error) -> async_graphql::Error {
    error(Kind::from(&e), e.to_string())
}

/// A backend's failure, with the kind a caller sees.
pub trait Failure: std::fmt::Display {
    /// UNAVAILABLE unless the backend says its storage failed.
    fn kind(&self) -> Kind {
        Kind::Unavailable
    }
}

impl Failure for aurora_ledger::Error {
    fn kind(&self) -> Kind {
        match self {
            Self::Storage(_) | Self::Corrupt(_) => Kind::Storage,
            _ => Kind::Unavailable,
        }
    }
}

impl Failure for aurora_projector::Error {
    fn kind(&self) -> Kind {
        match self {
            Self::Storage(_) | Self::Corrupt(_) => Kind::Storage,
            Self::Unavailable(_) => Kind::Unavailable,
        }
    }
}

impl Failure for aurora_coord::Error {}

/// Converts a backend error (ledger, store, coord): UNAVAILABLE (retry later, details logged), or
/// STORAGE_FAILURE with what failed (an operator must act).
pub fn unavailable(e: impl Failure) -> async_graphql::Error {
    let kind = e.kind();
    if kind == Kind::Storage {
        tracing::error!(error = %e, "storage failure");
    }
    error(kind, e.to_string())
}
