//! The data directory of an embedded deployment (`aurora dev`): private to its user (the
//! directory 0700, its files 0600, like the token file), used by one process at a time (an
//! exclusive lock, and a refusal that names the holder's pid), and keeping what must survive a
//! restart besides the stores: the admin password's hash (sessions live in `sessions.sqlite`).

use anyhow::{Context as _, bail};
use rustix::fs::{FlockOperation, flock};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const LOCK: &str = "aurora.lock";
const ADMIN_HASH: &str = "admin-password.hash";

/// A data directory this process holds.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

/// The admin user's password for this start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// Its Argon2id hash.
    pub hash: String,
    /// The password, when it was generated just now (shown once).
    pub generated: Option<String>,
}

fn private_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)
}

impl DataDir {
    /// Creates `path` if needed (0700) and takes its lock; refused while another process holds it.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path).with_context(|| format!("creating the data directory {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private", path.display()))?;
        let lock_path = path.join(LOCK);
        let mut lock = private_file(&lock_path).with_context(|| format!("opening {}", lock_path.display()))?;
        if flock(&lock, FlockOperation::NonBlockingLockExclusive).is_err() {
            let holder = read_pid(&mut lock).map(|p| format!(" (pid {p})")).unwrap_or_default();
            bail!(
                "another Aurora{holder} is using the data directory {}; stop it first, or start this one with another \
                 --data-dir",
                path.display()
            );
        }
        lock.set_len(0)?;
        lock.rewind()?;
        writeln!(lock, "{}", std::process::id())?;
        Ok(Self { path: path.to_path_buf(), _lock: lock })
    }

    /// The pid of the process holding `path`'s lock, if one does.
    pub fn holder(path: &Path) -> Option<u32> {
        let mut lock = File::open(path.join(LOCK)).ok()?;
        if flock(&lock, FlockOperation::NonBlockingLockShared).is_ok() {
            return None; // nobody holds it exclusively
        }
        read_pid(&mut lock)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The admin password of this start: `given` (whose hash is then kept), else the kept one, else
    /// a new one (kept, and shown once). `reset` makes a new one even when one is kept.
    pub fn admin(&self, given: Option<&str>, reset: bool) -> anyhow::Result<Admin> {
        let file = self.path.join(ADMIN_HASH);
        let kept =
            std::fs::read_to_string(&file).ok().map(|s| s.trim().to_string()).filter(|s| s.starts_with("$argon2id$"));
        let (hash, generated) = match (given, kept) {
            (Some(pw), _) => (aurora_query_graphql::auth::hash_password(pw), None),
            (None, Some(hash)) if !reset => return Ok(Admin { hash, generated: None }),
            (None, _) => {
                let pw = crate::node::generate_password();
                (aurora_query_graphql::auth::hash_password(&pw), Some(pw))
            }
        };
        let mut f = private_file(&file).with_context(|| format!("writing {}", file.display()))?;
        f.set_len(0)?;
        writeln!(f, "{hash}")?;
        f.sync_all()?;
        Ok(Admin { hash, generated })
    }

    /// Makes every file of the directory private (0600). SQLite gives the journal files it
    /// creates later the database file's permissions.
    pub fn protect(&self) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(&self.path)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))?;
            }
        }
        Ok(())
    }
}

fn read_pid(lock: &mut File) -> Option<u32> {
    let mut text = String::new();
    lock.rewind().ok()?;
    lock.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_at_a_time_and_the_password_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data");
        let held = DataDir::open(&path).expect("first");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // flock locks belong to open files: a second open in this process conflicts like another process.
        let err = DataDir::open(&path).expect_err("second").to_string();
        assert!(err.contains(&format!("(pid {})", std::process::id())), "{err}");
        assert_eq!(DataDir::holder(&path), Some(std::process::id()));
        let first = held.admin(None, false).expect("generated");
        assert!(first.generated.is_some());
        let again = held.admin(None, false).expect("kept");
        assert_eq!((again.hash.as_str(), again.generated), (first.hash.as_str(), None));
        let reset = held.admin(None, true).expect("reset");
        assert!(reset.generated.is_some() && reset.hash != first.hash);
        held.protect().expect("protect");
        let mode = std::fs::metadata(path.join(ADMIN_HASH)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(held);
        assert_eq!(DataDir::holder(&path), None);
        DataDir::open(&path).expect("free again once the holder is gone");
    }
}
