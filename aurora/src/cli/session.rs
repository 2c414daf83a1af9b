//! `aurora login` and `aurora logout`: the password read without echo, the token saved in
//! `~/.aurora/token`, a file only its owner can read in a directory only its owner can enter.

use super::{ClientArgs, client, explain, server_url};
use crate::client::Client;
use anyhow::Context as _;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn token_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".aurora").join("token"))
}

/// The token `aurora login` saved, if any.
pub fn saved_token() -> Option<String> {
    let saved = std::fs::read_to_string(token_file()?).ok()?;
    Some(saved.trim().to_string()).filter(|t| !t.is_empty())
}

/// A secret asked for on the terminal without echo, or read from stdin when it is not a terminal.
pub fn read_secret(prompt: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt).context("reading the password from the terminal");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn save(token: &str) -> anyhow::Result<Option<PathBuf>> {
    let Some(path) = token_file() else { return Ok(None) };
    let dir = path.parent().expect("the token file is in a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    // An older file keeps its mode on open: make sure.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(token.as_bytes())?;
    Ok(Some(path))
}

/// `aurora login`.
pub async fn login(args: &ClientArgs, username: &str, password: Option<String>) -> anyhow::Result<ExitCode> {
    let password = match password {
        Some(p) => p,
        None => read_secret(&format!("password for {username}: "))?,
    };
    let server = server_url(&args.server)?;
    let token = Client::new(&server, None).login(username, &password).await.map_err(|e| explain(&server, e))?;
    if let Some(path) = save(&token)? {
        eprintln!("logged in; token saved to {}", path.display());
    }
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

/// `aurora logout`: revokes the token on the server (everywhere) and forgets it.
pub async fn logout(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let c = client(args)?;
    if c.token().is_none() {
        eprintln!("not logged in (no token saved and none given)");
        return Ok(ExitCode::SUCCESS);
    }
    let revoked = c.query("mutation { logout }", serde_json::json!({})).await;
    let forgotten = args.token.is_none() && token_file().is_some_and(|p| std::fs::remove_file(p).is_ok());
    match revoked {
        Ok(_) => eprintln!("logged out: the token is revoked{}", if forgotten { " and forgotten" } else { "" }),
        Err(e) if e.codes().iter().any(|c| c == "UNAUTHENTICATED") => {
            eprintln!("the token had already expired or been revoked{}", if forgotten { "; forgotten" } else { "" })
        }
        Err(e) => return Err(explain(c.server(), e)),
    }
    Ok(ExitCode::SUCCESS)
}
