//! Session tokens in a SQLite file, for `aurora dev`: logins survive a restart of the process, as
//! they survive a gateway restart in distributed mode (where Redis keeps them). Only token hashes
//! are stored, with their user, role and absolute expiry.

use crate::{Error, Session, Sessions};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Sessions in a SQLite file.
#[derive(Clone)]
pub struct SqliteSessions {
    conn: Arc<Mutex<Connection>>,
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("session store: {e}"))
}

impl SqliteSessions {
    /// Opens (creating if needed) the session file at `path`.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let conn = Connection::open(path).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(unavailable)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS sessions (
                token_hash TEXT PRIMARY KEY,
                user TEXT NOT NULL,
                role TEXT NOT NULL,
                expires_at TEXT NOT NULL
            );",
        )
        .map_err(unavailable)?;
        // Expired sessions are of no use to anyone.
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [Utc::now().to_rfc3339()]).map_err(unavailable)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(unavailable)
    }
}

#[async_trait]
impl Sessions for SqliteSessions {
    async fn put(&self, token_hash: &str, session: Session) -> Result<(), Error> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO sessions (token_hash, user, role, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, session.user, session.role, session.expires_at.to_rfc3339()],
            )
            .map(|_| ())
        })
    }

    async fn get(&self, token_hash: &str) -> Result<Option<Session>, Error> {
        let row = self.with(|c| {
            c.query_row("SELECT user, role, expires_at FROM sessions WHERE token_hash = ?1", [token_hash], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .optional()
        })?;
        let Some((user, role, expires_at)) = row else { return Ok(None) };
        let expires_at: DateTime<Utc> = expires_at.parse().map_err(unavailable)?;
        if expires_at <= Utc::now() {
            self.revoke(token_hash).await?;
            return Ok(None);
        }
        Ok(Some(Session { user, role, expires_at }))
    }

    async fn revoke(&self, token_hash: &str) -> Result<(), Error> {
        self.with(|c| c.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash]).map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_sessions_pass_the_conformance_suite_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sessions.sqlite");
        crate::conformance::sessions_expire_and_revoke(&SqliteSessions::open(&path).expect("open")).await;
        let s = SqliteSessions::open(&path).expect("open");
        let session =
            Session { user: "admin".into(), role: "admin".into(), expires_at: Utc::now() + chrono::Duration::hours(1) };
        s.put("h1", session.clone()).await.expect("put");
        drop(s);
        let reopened = SqliteSessions::open(&path).expect("reopen");
        assert_eq!(reopened.get("h1").await.expect("get"), Some(session), "a restart keeps the session");
    }
}
