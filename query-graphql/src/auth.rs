//! Users with Argon2id password hashes, and opaque bearer tokens stored (hashed) in the session
//! store with an expiry, revocable by `logout`.

use crate::throttle::{Key, Throttle};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use aurora_coord::{Session, Sessions};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// A configured user.
#[derive(Debug, Clone)]
pub struct UserEntry {
    /// Argon2id PHC string.
    pub password_hash: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user name.
    pub user: String,
    /// The role.
    pub role: String,
    /// The SHA-256 of the token used (for logout).
    pub token_hash: String,
    /// When the token stops being valid.
    pub expires_at: DateTime<Utc>,
}

impl Principal {
    /// Whether this principal may change things (submit, cancel).
    pub fn may_write(&self) -> bool {
        self.role == "admin" || self.role == "operator"
    }

    /// Whether this principal may connect remote workers (`/workers/ws`).
    pub fn may_run_workers(&self) -> bool {
        self.role == "admin" || self.role == "worker"
    }
}

/// Login and token checks.
#[derive(Clone)]
pub struct Auth {
    users: Arc<HashMap<String, UserEntry>>,
    sessions: Arc<dyn Sessions>,
    token_ttl: chrono::Duration,
    /// A real hash checked for unknown users, so timing does not tell which names exist.
    dummy_hash: Arc<String>,
    /// Password checks (Argon2: memory- and CPU-hungry by design) running at once.
    password_checks: Arc<tokio::sync::Semaphore>,
    /// Attempts per client address and user name.
    throttle: Arc<Throttle>,
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password (deliberately not told apart).
    #[error("wrong username or password")]
    BadCredentials,
    /// Too many attempts from this address or for this name; try again after the wait.
    #[error("too many login attempts {}; try again in {} s", who(&.0.key), .0.retry_after.as_secs().max(1))]
    Throttled(crate::throttle::Refused),
    /// The session store is down.
    #[error(transparent)]
    Unavailable(#[from] aurora_coord::Error),
}

fn who(key: &Key) -> String {
    match key {
        Key::Addr(a) => format!("from {a}"),
        Key::User(u) => format!("for user `{}`", crate::guard::truncated(u, 64)),
    }
}

/// Hashes a password as Argon2id (PHC string), as `aurora hash-password` prints it.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt length");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with defaults cannot fail")
        .to_string()
}

fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// SHA-256 hex of a token: what the session store keys on.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Auth {
    /// Users by name, sessions in `sessions`, tokens living `token_ttl`.
    pub fn new(users: HashMap<String, UserEntry>, sessions: Arc<dyn Sessions>, token_ttl: std::time::Duration) -> Self {
        let token_ttl = chrono::Duration::from_std(token_ttl).unwrap_or(chrono::Duration::hours(24));
        let defaults = aurora_config::Limits::default();
        Self {
            users: Arc::new(users),
            sessions,
            token_ttl,
            dummy_hash: Arc::new(hash_password("not a password")),
            password_checks: Arc::new(tokio::sync::Semaphore::new(defaults.login_concurrency)),
            throttle: Arc::new(Throttle::new(defaults.logins_per_minute, defaults.login_failures_before_backoff)),
        }
    }

    /// The same, with the login limits of `limits`.
    pub fn with_limits(mut self, limits: &aurora_config::Limits) -> Self {
        self.password_checks = Arc::new(tokio::sync::Semaphore::new(limits.login_concurrency.max(1)));
        self.throttle = Arc::new(Throttle::new(limits.logins_per_minute, limits.login_failures_before_backoff));
        self
    }

    /// Checks the password and issues a token. Every attempt counts against the throttle of the
    /// client address (`client`) and of the user name; the check (Argon2) runs off the async
    /// threads, a bounded number at a time.
    pub async fn login(
        &self,
        user: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<(String, DateTime<Utc>), LoginError> {
        let mut keys = vec![Key::User(user.to_string())];
        keys.extend(client.map(Key::Addr));
        self.throttle.attempt(&keys, Instant::now()).map_err(LoginError::Throttled)?;
        let entry = self.users.get(user).cloned();
        let password = password.to_string();
        let hash = entry.as_ref().map(|e| e.password_hash.clone()).unwrap_or_else(|| self.dummy_hash.to_string());
        let ok = match self.password_checks.clone().acquire_owned().await {
            Ok(permit) => tokio::task::spawn_blocking(move || {
                let ok = verify(&password, &hash);
                drop(permit);
                ok
            })
            .await
            .unwrap_or(false),
            Err(_) => false,
        };
        let ok = ok && entry.is_some();
        self.throttle.outcome(&keys, ok, Instant::now());
        let Some(entry) = entry.filter(|_| ok) else {
            tracing::info!(user = %crate::guard::truncated(user, 64), client = ?client, "login refused");
            return Err(LoginError::BadCredentials);
        };
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = format!("aur_{}", hex::encode(raw));
        let expires_at = Utc::now() + self.token_ttl;
        self.sessions
            .put(&token_hash(&token), Session { user: user.to_string(), role: entry.role.clone(), expires_at })
            .await?;
        tracing::info!(user, "login");
        Ok((token, expires_at))
    }

    /// The principal behind an `Authorization` header value (`Bearer <token>`), if valid.
    pub async fn resolve(&self, header: Option<&str>) -> Result<Option<Principal>, aurora_coord::Error> {
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))) else {
            return Ok(None);
        };
        let hash = token_hash(token.trim());
        Ok(self.sessions.get(&hash).await?.map(|s| Principal {
            user: s.user,
            role: s.role,
            token_hash: hash,
            expires_at: s.expires_at,
        }))
    }

    /// The same, also accepting the bare token (`Authorization: <token>`), as the original's clients
    /// send it (its REST routes).
    pub async fn resolve_seed(&self, header: Option<&str>) -> Result<Option<Principal>, aurora_coord::Error> {
        match header.map(str::trim) {
            Some(h) if !h.is_empty() && !h.contains(' ') => self.resolve(Some(&format!("Bearer {h}"))).await,
            other => self.resolve(other).await,
        }
    }

    /// The role of a configured user.
    pub fn role_of(&self, user: &str) -> Option<String> {
        self.users.get(user).map(|u| u.role.clone())
    }

    /// Whether `principal`'s token is still valid (not expired, not revoked).
    pub async fn still_valid(&self, principal: &Principal) -> Result<bool, aurora_coord::Error> {
        if principal.expires_at <= Utc::now() {
            return Ok(false);
        }
        Ok(self.sessions.get(&principal.token_hash).await?.is_some())
    }

    /// Revokes a token everywhere.
    pub async fn logout(&self, principal: &Principal) -> Result<(), aurora_coord::Error> {
        self.sessions.revoke(&principal.token_hash).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_coord::LocalCoord;

    fn auth(ttl_ms: u64) -> Auth {
        let mut users = HashMap::new();
        users.insert("admin".to_string(), UserEntry { password_hash: hash_password("s3cret"), role: "admin".into() });
        Auth::new(users, Arc::new(LocalCoord::new()), std::time::Duration::from_millis(ttl_ms))
    }

    #[tokio::test]
    async fn login_resolve_logout() {
        let a = auth(60_000);
        assert!(matches!(a.login("admin", "wrong", None).await, Err(LoginError::BadCredentials)));
        assert!(matches!(a.login("ghost", "s3cret", None).await, Err(LoginError::BadCredentials)));
        let (token, _) = a.login("admin", "s3cret", None).await.expect("login");
        let p = a.resolve(Some(&format!("Bearer {token}"))).await.expect("up").expect("valid");
        assert_eq!(p.user, "admin");
        assert!(a.resolve(Some(&token)).await.expect("up").is_none(), "the Bearer scheme is required");
        let seed = a.resolve_seed(Some(&token)).await.expect("up").expect("the REST routes take the bare token");
        assert_eq!(seed.user, "admin");
        assert!(a.resolve_seed(Some(&format!("Bearer {token}"))).await.expect("up").is_some());
        assert!(a.resolve_seed(Some("aur_not-a-token")).await.expect("up").is_none());
        assert_eq!(a.role_of("admin").as_deref(), Some("admin"));
        a.logout(&p).await.expect("logout");
        assert!(a.resolve(Some(&format!("Bearer {token}"))).await.expect("up").is_none(), "revoked");
    }

    #[tokio::test]
    async fn tokens_expire() {
        let a = auth(50);
        let (token, _) = a.login("admin", "s3cret", None).await.expect("login");
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        assert!(a.resolve(Some(&format!("Bearer {token}"))).await.expect("up").is_none(), "expired");
    }
}
