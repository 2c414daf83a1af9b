//! `NAME.toml`, the manifest beside an executable: its signature, protocol and limits. Without
//! one, an executable speaks the seed's protocol (one string in on stdin, one string out).

use aurora_schemas::signature::Signature;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// How args reach the executable and results come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The seed's: the one `string` arg written to stdin verbatim; stdout is the one `string`
    /// result (one trailing newline removed).
    Seed,
    /// stdin is the JSON array of typed args (`[{"type": "int64", "value": 1}]`), stdout the JSON
    /// array of typed results.
    Json,
}

/// What output an executable may produce when its manifest does not say.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// A parsed, checked manifest (or the seed protocol's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Shown by the `handlers` query.
    pub usage: Option<String>,
    /// Declared arg types (the seed's names; `...T` last for any number).
    pub args: Vec<String>,
    /// Declared result types.
    pub results: Vec<String>,
    /// How args and results travel.
    pub protocol: Protocol,
    /// The attempt timeout when the task sets none.
    pub timeout: Option<Duration>,
    /// Names of the worker's environment variables passed through (besides `PATH`).
    pub env: Vec<String>,
    /// Most bytes of stdout accepted; more fails the attempt.
    pub max_output_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    usage: Option<String>,
    args: Option<Vec<String>>,
    results: Option<Vec<String>>,
    protocol: Option<Protocol>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    env: Vec<String>,
    max_output_bytes: Option<usize>,
}

impl Manifest {
    /// The seed protocol: `(string) -> string`, no timeout of its own.
    pub fn seed() -> Self {
        Self {
            usage: None,
            args: vec!["string".into()],
            results: vec!["string".into()],
            protocol: Protocol::Seed,
            timeout: None,
            env: Vec::new(),
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }

    /// Parses the manifest at `path` whose text is `text`; the error names the file, the line and
    /// what is wrong.
    pub fn parse(path: &Path, text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| line_col(text, s.start)).map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default();
            format!("{}{at}: {}", path.display(), e.message())
        })?;
        let wrong = |what: String| format!("{}: {what}", path.display());
        let protocol = file.protocol.unwrap_or(Protocol::Seed);
        let seed = Self::seed();
        let args = file.args.unwrap_or_else(|| if protocol == Protocol::Seed { seed.args.clone() } else { Vec::new() });
        let results =
            file.results.unwrap_or_else(|| if protocol == Protocol::Seed { seed.results.clone() } else { Vec::new() });
        Signature::parse(&args).map_err(|e| wrong(format!("args: {e}")))?;
        Signature::parse(&results).map_err(|e| wrong(format!("results: {e}")))?;
        if protocol == Protocol::Seed && (args != seed.args || results != seed.results) {
            return Err(wrong(format!(
                "the seed protocol takes one string and returns one string, but args = {args:?} and results = \
                 {results:?}; set protocol = \"json\" for other types"
            )));
        }
        if file.timeout_ms == Some(0) {
            return Err(wrong("timeout_ms must be positive".into()));
        }
        if file.max_output_bytes == Some(0) {
            return Err(wrong("max_output_bytes must be positive".into()));
        }
        if let Some(bad) = file.env.iter().find(|n| n.is_empty() || n.contains('=') || n.contains('\0')) {
            return Err(wrong(format!("env: `{bad}` is not an environment variable name")));
        }
        Ok(Self {
            usage: file.usage,
            args,
            results,
            protocol,
            timeout: file.timeout_ms.map(Duration::from_millis),
            env: file.env,
            max_output_bytes: file.max_output_bytes.unwrap_or(DEFAULT_MAX_OUTPUT_BYTES),
        })
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, String> {
        Manifest::parse(Path::new("dir/stats.toml"), text)
    }

    #[test]
    fn a_json_manifest_declares_its_signature_and_limits() {
        let m = parse(
            r#"
usage = "stats([]float64) -> (float64, float64)"
args = ["[]float64"]
results = ["float64", "float64"]
protocol = "json"
timeout_ms = 1500
env = ["LANG"]
max_output_bytes = 4096
"#,
        )
        .expect("valid");
        assert_eq!(m.protocol, Protocol::Json);
        assert_eq!(m.args, ["[]float64"]);
        assert_eq!(m.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(m.max_output_bytes, 4096);
        assert_eq!(parse("usage = \"shout\"").expect("valid").args, ["string"], "seed protocol by default");
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_problem() {
        let err = parse("usage = \"x\"\nargs = [\"int64\"\nprotocol = \"json\"\n").unwrap_err();
        assert!(err.starts_with("dir/stats.toml:3:"), "{err}");
        let err = parse("usage = \"x\"\nprotocl = \"json\"\n").unwrap_err();
        assert!(err.starts_with("dir/stats.toml:2:1: unknown field `protocl`"), "{err}");
        let err = parse("protocol = \"json\"\nargs = [\"decimal\"]\n").unwrap_err();
        assert!(err.contains("args: `decimal` is not a supported type"), "{err}");
        let err = parse("protocol = \"xml\"\n").unwrap_err();
        assert!(err.starts_with("dir/stats.toml:1:12: unknown variant `xml`"), "{err}");
        let err = parse("args = [\"int64\"]\n").unwrap_err();
        assert!(err.contains("set protocol = \"json\""), "{err}");
        assert!(parse("protocol = \"json\"\ntimeout_ms = 0\n").unwrap_err().contains("timeout_ms must be positive"));
    }
}
