//! Command errors, kept in the three kinds the surfaces map to status codes.

/// Why a command did not take effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The caller's input is unacceptable; the message says what to change. Nothing was written.
    #[error("{0}")]
    Rejected(String),
    /// The graph does not exist.
    #[error("no graph with id {0}")]
    NotFound(String),
    /// A dependency (ledger, registry) is unavailable; retry later. Nothing was written.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// The ledger's storage failed (disk full, read-only, damaged): an operator must act.
    #[error("{0}")]
    Storage(String),
}

impl From<aurora_ledger::Error> for Error {
    fn from(e: aurora_ledger::Error) -> Self {
        match e {
            aurora_ledger::Error::Storage(_) | aurora_ledger::Error::Corrupt(_) => Self::Storage(e.to_string()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<aurora_coord::Error> for Error {
    fn from(e: aurora_coord::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}
