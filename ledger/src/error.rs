//! Ledger errors: a version conflict (reload and retry), bad input, an unavailable store.

use aurora_schemas::StreamId;

/// What went wrong with a ledger call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The stream moved: it is at `actual`, not `expected`. Reload and decide again.
    #[error("stream {stream} is at version {actual}, not the expected {expected}")]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// The version the caller expected.
        expected: u64,
        /// The stream's version now.
        actual: u64,
    },
    /// The append carried a fencing token older than one the store has seen for its lease: the
    /// caller no longer holds the lease and must stop writing.
    #[error("lease {lease}: token {token} is fenced out by token {current}; this process no longer holds the lease")]
    Fenced {
        /// The lease.
        lease: String,
        /// The token the append carried.
        token: u64,
        /// The greatest token the store has seen.
        current: u64,
    },
    /// The request itself is malformed (a bug in the caller).
    #[error("invalid append: {0}")]
    Invalid(String),
    /// The store could not be reached or failed; retryable.
    #[error("ledger store unavailable: {0}")]
    Unavailable(String),
    /// A stored event could not be decoded, or the store's file is damaged.
    #[error("stored event is corrupt: {0}")]
    Corrupt(String),
    /// The store cannot write (disk full, read-only, I/O error): retrying will not help until an
    /// operator acts.
    #[error("the ledger's storage failed: {0}")]
    Storage(String),
}

impl Error {
    /// Whether this is a version conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    /// Whether the append was refused because its lease holder was fenced out.
    pub fn is_fenced(&self) -> bool {
        matches!(self, Self::Fenced { .. })
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match storage_failure(&e) {
            Some(StorageFailure::Full) => Self::Storage(format!("the disk is full ({e}); free space on the server")),
            Some(StorageFailure::ReadOnly) => Self::Storage(format!("the store is read-only ({e})")),
            Some(StorageFailure::Io) => Self::Storage(format!("an I/O error ({e})")),
            Some(StorageFailure::Corrupt) => Self::Corrupt(format!("the database file is damaged ({e})")),
            None => Self::Unavailable(e.to_string()),
        }
    }
}

/// The SQLite failures an operator must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFailure {
    /// No space left.
    Full,
    /// The file or directory cannot be written.
    ReadOnly,
    /// The disk failed.
    Io,
    /// The file is not a sound database.
    Corrupt,
}

/// Which storage failure `e` is, if it is one.
pub fn storage_failure(e: &rusqlite::Error) -> Option<StorageFailure> {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code()? {
        C::DiskFull => Some(StorageFailure::Full),
        C::ReadOnly | C::CannotOpen | C::PermissionDenied => Some(StorageFailure::ReadOnly),
        C::SystemIoFailure => Some(StorageFailure::Io),
        C::DatabaseCorrupt | C::NotADatabase => Some(StorageFailure::Corrupt),
        _ => None,
    }
}
