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
    let defaults = toml::Table::try_from(Config::default()).expect("the defaults always serialise");
    let mut problems = Vec::new();
    if let Some(path) = file {
        if !path.exists() {
            return Err(Error::Read(format!("config file {} does not exist", path.display())));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::Read(format!("{}: {e}", path.display())))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            let at = e.span().map(|s| line_col(&text, s.start)).map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default();
            Error::Read(format!("{}{at}: {}", path.display(), e.message()))
        })?;
        problems.extend(check_layer(&table, &defaults, "", &|_| format!("in {}", path.display())));
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
    let mut env_table = nest(&env_pairs)?;
    let mut override_table = nest(overrides)?;
    stringify_labels(&mut env_table);
    stringify_labels(&mut override_table);
    let env_name = |key: &str| format!("from AURORA_{}", key.to_ascii_uppercase().replace('.', "__"));
    problems.extend(check_layer(&env_table, &defaults, "", &env_name));
    problems.extend(check_layer(&override_table, &defaults, "", &|key| format!("from --set {key}=…")));
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    fig = fig.merge(Serialized::defaults(env_table));
    fig = fig.merge(Serialized::defaults(override_table));
    let config: Config = fig.extract().map_err(|e| {
        Error::Invalid(e.into_iter().map(|err| format!("{}: {}", err.path.join("."), err.kind)).collect())
    })?;
    let problems = crate::validate::problems(&config);
    if problems.is_empty() { Ok(config) } else { Err(Error::Invalid(problems)) }
}

/// Keys that exist although the defaults leave them out (they have no default value).
const OPTIONAL: &[&str] = &["server.web_dir", "worker.handlers_dir", "faas", "metrics"];

/// The key of `path` directly inside the section `prefix` ("" for the top), if it is one.
fn child_of<'a>(prefix: &str, path: &'a str) -> Option<&'a str> {
    let rest = if prefix.is_empty() { path } else { path.strip_prefix(prefix)?.strip_prefix('.')? };
    (!rest.contains('.')).then_some(rest)
}

/// What a value looks like, as a user would say it.
fn shown(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Table(_) => "a section".into(),
        toml::Value::Array(_) => "a list".into(),
        other => other.to_string(),
    }
}

fn expected(default: &toml::Value) -> &'static str {
    match default {
        toml::Value::String(_) => "text (in quotes in TOML)",
        toml::Value::Integer(_) => "a whole number",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "true or false",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a section",
        toml::Value::Datetime(_) => "a date and time",
    }
}

/// Every key of `layer` that does not exist, and every value of the wrong kind, judged against
/// the defaults' shapes and named as the user wrote it (`worker.slots: expected a whole number,
/// got "abc" (from --set worker.slots=…)`).
fn check_layer(
    layer: &toml::Table,
    defaults: &toml::Table,
    prefix: &str,
    source: &dyn Fn(&str) -> String,
) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in layer {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        let Some(default) = defaults.get(key) else {
            if !OPTIONAL.contains(&path.as_str()) {
                let section = if prefix.is_empty() { "the configuration".to_string() } else { format!("[{prefix}]") };
                let mut known: Vec<&str> = defaults.keys().map(String::as_str).collect();
                known.extend(OPTIONAL.iter().filter_map(|o| child_of(prefix, o)));
                known.sort();
                out.push(format!("{path}: no such key ({}); {section} has {}", source(&path), known.join(", ")));
            }
            continue;
        };
        match (default, value) {
            (toml::Value::Table(d), toml::Value::Table(v)) if !d.is_empty() => {
                out.extend(check_layer(v, d, &path, source))
            }
            (toml::Value::Table(_), toml::Value::Table(_)) => {} // a free-form map (labels)
            (toml::Value::Integer(_), toml::Value::Integer(n)) if *n < 0 => {
                out.push(format!("{path}: expected a whole number of 0 or more, got {n} ({})", source(&path)));
            }
            (d, v) if std::mem::discriminant(d) == std::mem::discriminant(v) => {}
            (d, v) => out.push(format!("{path}: expected {}, got {} ({})", expected(d), shown(v), source(&path))),
        }
    }
    out
}

/// Label values are text: `--set worker.labels.gpu=true` means the label `gpu=true`, not a boolean.
fn stringify_labels(layer: &mut toml::Table) {
    if let Some(toml::Value::Table(worker)) = layer.get_mut("worker")
        && let Some(toml::Value::Table(labels)) = worker.get_mut("labels")
    {
        for (_, v) in labels.iter_mut() {
            if !v.is_str() && !v.is_table() && !v.is_array() {
                *v = toml::Value::String(v.to_string());
            }
        }
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    (before.matches('\n').count() + 1, before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1)
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
    fn cors_origins_must_be_origins() {
        let ok = load(None, vec![], &[("http.cors_origins".into(), r#"["https://app.example.com:8443", "*"]"#.into())])
            .expect("origins and a star are valid");
        assert_eq!(ok.http.cors_origins.len(), 2);
        let err = load(
            None,
            vec![],
            &[
                ("http.cors_origins".into(), r#"["app.example.com", "https://a.example/path"]"#.into()),
                ("http.send_max_wait_secs".into(), "0".into()),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("http.cors_origins[0] `app.example.com` is not an origin"), "{err}");
        assert!(err.contains("http.cors_origins[1]"), "{err}");
        assert!(err.contains("http.send_max_wait_secs must be at least 1"), "{err}");
    }

    #[test]
    fn the_otlp_endpoint_must_be_an_http_url() {
        let ok = load(None, vec![], &[("tracing.otlp_endpoint".into(), r#""http://127.0.0.1:4318""#.into())])
            .expect("an http URL is valid");
        assert_eq!(ok.tracing.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        let err = load(None, vec![], &[("tracing.otlp_endpoint".into(), r#""127.0.0.1:4318""#.into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tracing.otlp_endpoint `127.0.0.1:4318` is not an OTLP/HTTP collector URL"), "{err}");
    }

    #[test]
    fn user_metrics_are_checked_all_at_once() {
        let dir = std::env::temp_dir().join(format!("aurora-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("m.toml");
        std::fs::write(
            &file,
            "[[metrics]]\nname = \"jobs_total\"\nhelp = \"Jobs\"\nkind = \"counter\"\nlabels = [\"kind\"]\n\
             [[metrics]]\nname = \"aurora_mine\"\nhelp = \"\"\nkind = \"meter\"\nlabels = [\"a\", \"a\", \"9x\"]\nbuckets = [1.0]\n\
             [[metrics]]\nname = \"size\"\nhelp = \"Size\"\nkind = \"histogram\"\nbuckets = [2.0, 1.0]\n",
        )
        .expect("write");
        let err = load(Some(&file), vec![], &[]).unwrap_err().to_string();
        for needle in [
            "metrics[1] (`aurora_mine`): names starting with aurora_ or process_ are Aurora's own",
            "metrics[1] (`aurora_mine`): `help` must say what it measures",
            "kind `meter` is not one of counter, gauge, histogram, summary",
            "label `a` is listed twice",
            "`9x` cannot be a label name",
            "`buckets` is for histograms only",
            "metrics[2] (`size`): `buckets` must be finite and increasing",
        ] {
            assert!(err.contains(needle), "`{needle}` in:\n{err}");
        }
        assert!(!err.contains("metrics[0]"), "jobs_total is fine:\n{err}");
        let _ = std::fs::remove_dir_all(dir);
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
        assert!(
            err.contains("server.listn: no such key (from AURORA_SERVER__LISTN); [server] has listen, web_dir"),
            "{err}"
        );
    }

    #[test]
    fn wrong_kinds_read_as_the_user_wrote_them_all_at_once() {
        let dir = std::env::temp_dir().join(format!("aurora-config-kinds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("bad.toml");
        std::fs::write(&file, "[server]\nlisten = 1\n[worker]\ngrace_secs = -1\n").expect("write");
        let err = load(
            Some(&file),
            env(&[("AURORA_WORKER__SLOTS", "abc")]),
            &[("worker.enabled".into(), "yes".into()), ("worker.labels.gpu".into(), "true".into())],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&format!("server.listen: expected text (in quotes in TOML), got 1 (in {})", file.display())),
            "{err}"
        );
        assert!(err.contains("worker.grace_secs: expected a whole number of 0 or more, got -1"), "{err}");
        assert!(
            err.contains("worker.slots: expected a whole number, got \"abc\" (from AURORA_WORKER__SLOTS)"),
            "{err}"
        );
        assert!(
            err.contains("worker.enabled: expected true or false, got \"yes\" (from --set worker.enabled=…)"),
            "{err}"
        );
        assert!(!err.contains("gpu"), "a label is text whatever it looks like: {err}");
        assert!(!err.contains("load.rs"), "no source paths of our code: {err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
