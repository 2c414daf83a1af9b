//! The layered loader.

use crate::{Config, Error};
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use std::path::Path;

/// Loads the configuration: defaults, then `file` (if any), then the `AURORA_*` variables among
/// `env` (`AURORA_SERVER__LISTEN` → `server.listen`), then `overrides` (dotted keys), and
/// validates the result.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &[(String, String)],
) -> Result<Config, Error> {
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(Error::Read(format!("config file {} does not exist", path.display())));
        }
        fig = fig.merge(Toml::file(path));
    }
    let env_pairs: Vec<(String, String)> = env
        .into_iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix("AURORA_")?;
            // Variables that are not configuration keys (AURORA_TOKEN, AURORA_ADMIN_PASSWORD, …).
            if !rest.contains("__") && !TOP_LEVEL.contains(&rest.to_ascii_lowercase().as_str()) {
                return None;
            }
            Some((rest.to_ascii_lowercase().replace("__", "."), v))
        })
        .collect();
    fig = fig.merge(Serialized::defaults(nest(&env_pairs)?));
    fig = fig.merge(Serialized::defaults(nest(overrides)?));
    let config: Config = fig.extract().map_err(|e| Error::Read(e.to_string()))?;
    let problems = crate::validate::problems(&config);
    if problems.is_empty() { Ok(config) } else { Err(Error::Invalid(problems)) }
}

const TOP_LEVEL: &[&str] = &["data_dir"];

/// Parses `key=value` command-line overrides.
pub fn parse_overrides(items: &[String]) -> Result<Vec<(String, String)>, Error> {
    items
        .iter()
        .map(|s| {
            s.split_once('=').map(|(k, v)| (k.trim().to_string(), v.to_string())).ok_or_else(|| {
                Error::Read(format!("override `{s}` must look like key=value, e.g. server.listen=0.0.0.0:4332"))
            })
        })
        .collect()
}

/// Turns dotted keys into a nested table, typing values as TOML would (numbers, booleans,
/// arrays), falling back to strings.
fn nest(pairs: &[(String, String)]) -> Result<toml::Table, Error> {
    let mut root = toml::Table::new();
    for (key, raw) in pairs {
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        let parts: Vec<&str> = key.split('.').collect();
        let mut table = &mut root;
        for part in &parts[..parts.len() - 1] {
            let entry = table.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = entry
                .as_table_mut()
                .ok_or_else(|| Error::Read(format!("`{key}` sets a field inside `{part}`, which is not a section")))?;
        }
        table.insert(parts[parts.len() - 1].to_string(), value);
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = std::env::temp_dir().join(format!("aurora-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("a.toml");
        std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:1\"\n[worker]\nslots = 4\n").expect("write");
        let c = load(
            Some(&file),
            env(&[
                ("AURORA_WORKER__SLOTS", "8"),
                ("AURORA_WORKER__LABELS__ZONE", "a"),
                ("AURORA_TOKEN", "x"),
                ("HOME", "/"),
            ]),
            &[("server.listen".into(), "127.0.0.1:2".into())],
        )
        .expect("valid");
        assert_eq!(c.worker.slots, 8, "env beats the file");
        assert_eq!(c.worker.labels.get("zone").map(String::as_str), Some("a"));
        assert_eq!(c.server.listen, "127.0.0.1:2", "overrides beat env");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = load(
            None,
            env(&[
                ("AURORA_WORKER__SLOTS", "0"),
                ("AURORA_SERVER__LISTEN", "nowhere"),
                ("AURORA_BROKER__URI", "kafka://x"),
                ("AURORA_PROJECTOR__PARTITIONS", "0"),
            ]),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("projector.partitions must be between 1 and 256, not 0"), "{err}");
        assert!(err.contains("worker.slots"), "{err}");
        assert!(err.contains("server.listen"), "{err}");
        assert!(err.contains("broker.uri"), "{err}");
    }

    #[test]
    fn the_shipped_examples_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("config/examples exists") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                load(Some(&path), Vec::new(), &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 1, "no example config found in {}", dir.display());
    }

    #[test]
    fn backends_are_chosen_by_uri_scheme() {
        let c = load(None, Vec::new(), &[]).expect("defaults");
        assert_eq!(c.ledger_location(), crate::LedgerLocation::Sqlite("./aurora-data/ledger.sqlite".into()));
        assert!(!c.is_distributed());
        let set = |k: &str, v: &str| (k.to_string(), v.to_string());
        let d = load(
            None,
            Vec::new(),
            &[
                set("ledger.uri", "mongodb://db:27017/?replicaSet=rs0"),
                set("broker.uri", "amqp://guest:guest@mq:5672/%2f"),
                set("coord.uri", "redis://cache:6379/0"),
            ],
        )
        .expect("valid");
        assert_eq!(
            d.ledger_location(),
            crate::LedgerLocation::Mongo("mongodb://db:27017/?replicaSet=rs0".into(), "aurora".into())
        );
        assert!(d.is_distributed());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = load(None, env(&[("AURORA_SERVER__LISTN", "x")]), &[]).unwrap_err().to_string();
        assert!(err.contains("listn"), "{err}");
    }
}
