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
        }
    }
}

/// Converts a command error.
pub fn command(e: aurora_command::Error) -> async_graphql::Error {
    error(Kind::from(&e), e.to_string())
}

/// Converts any backend error (ledger, store, coord) into UNAVAILABLE.
pub fn unavailable(e: impl std::fmt::Display) -> async_graphql::Error {
    error(Kind::Unavailable, e.to_string())
}
