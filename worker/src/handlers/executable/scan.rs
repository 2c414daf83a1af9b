//! Reads a handlers directory: every executable file in it (recursively) is a handler named by
//! its file name, with the `NAME.toml` manifest beside it if there is one. Pure apart from reading
//! the directory, so the same scan serves start-up (where problems are fatal) and every rescan
//! (where they are logged).

use super::manifest::Manifest;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One executable found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The executable.
    pub path: PathBuf,
    /// Its manifest, or the seed protocol's defaults.
    pub manifest: Manifest,
}

/// Something in the directory that keeps a handler from being offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Two executables have the same file name; neither is offered.
    Clash {
        /// The handler name.
        name: String,
        /// Both paths.
        paths: [PathBuf; 2],
    },
    /// An executable is named like a handler the worker already has (a built-in, a FaaS
    /// function, one of its own Rust handlers).
    Reserved {
        /// The executable.
        path: PathBuf,
    },
    /// A manifest does not parse or is inconsistent; its executable is not offered.
    Manifest(String),
    /// A manifest's executable is missing or not executable.
    NotExecutable {
        /// The manifest.
        manifest: PathBuf,
    },
}

impl Problem {
    /// Whether the problem stops a worker from starting (a clash is ambiguous; a bad manifest only
    /// withholds its own handler).
    pub fn is_fatal(&self) -> bool {
        matches!(self, Problem::Clash { .. } | Problem::Reserved { .. })
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Clash { name, paths: [a, b] } => write!(
                f,
                "two executables are named `{name}`: {} and {}; handler names must be unique, rename one",
                a.display(),
                b.display()
            ),
            Problem::Reserved { path } => {
                write!(f, "{} is named like a handler this worker already has; rename it", path.display())
            }
            Problem::Manifest(m) => write!(f, "{m}; the handler is not offered until it is fixed"),
            Problem::NotExecutable { manifest } => write!(
                f,
                "{} has no executable beside it (a file of the same name without .toml, with chmod +x)",
                manifest.display()
            ),
        }
    }
}

/// What a scan found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// The handlers to offer, by name.
    pub handlers: BTreeMap<String, Found>,
    /// Everything that kept a handler from being offered.
    pub problems: Vec<Problem>,
}

/// Scans `dir`; `reserved` are names the worker already has. Hidden entries (`.name`) and editor
/// backups (`name~`) are skipped; symbolic links to files count, links to directories are not
/// followed (no loops).
pub fn scan(dir: &Path, reserved: &BTreeSet<String>) -> std::io::Result<Scan> {
    let mut executables: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut manifests: Vec<PathBuf> = Vec::new();
    walk(dir, &mut executables, &mut manifests)?;
    let mut out = Scan::default();
    let mut with_manifest: BTreeSet<PathBuf> = BTreeSet::new();
    for m in manifests {
        let exe = m.with_extension("");
        if !is_executable(&exe) {
            out.problems.push(Problem::NotExecutable { manifest: m });
        } else {
            with_manifest.insert(exe);
        }
    }
    for (name, mut paths) in executables {
        paths.sort();
        if paths.len() > 1 {
            out.problems.push(Problem::Clash { name, paths: [paths[0].clone(), paths[1].clone()] });
            continue;
        }
        let path = paths.remove(0);
        if reserved.contains(&name) {
            out.problems.push(Problem::Reserved { path });
            continue;
        }
        let manifest = if with_manifest.contains(&path) {
            let file = manifest_path(&path);
            match std::fs::read_to_string(&file) {
                Ok(text) => Manifest::parse(&file, &text),
                Err(e) => Err(format!("{}: {e}", file.display())),
            }
        } else {
            Ok(Manifest::seed())
        };
        match manifest {
            Ok(manifest) => {
                out.handlers.insert(name, Found { path, manifest });
            }
            Err(e) => out.problems.push(Problem::Manifest(e)),
        }
    }
    Ok(out)
}

/// `dir/NAME.toml` for `dir/NAME`.
pub fn manifest_path(executable: &Path) -> PathBuf {
    let mut name = executable.file_name().unwrap_or_default().to_os_string();
    name.push(".toml");
    executable.with_file_name(name)
}

fn skipped(name: &str) -> bool {
    name.starts_with('.') || name.ends_with('~')
}

fn walk(
    dir: &Path,
    executables: &mut BTreeMap<String, Vec<PathBuf>>,
    manifests: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue; // a name that is not UTF-8 cannot be a handler name
        };
        if skipped(&name) {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, executables, manifests)?;
        } else if name.ends_with(".toml") {
            manifests.push(path);
        } else if is_executable(&path) {
            executables.entry(name).or_default().push(path);
        }
    }
    Ok(())
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str, executable: bool) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn executables_anywhere_below_are_handlers_named_by_file_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        write(&d.join("upper"), "#!/bin/sh\n", true);
        write(&d.join("py/stats"), "#!/bin/sh\n", true);
        write(
            &d.join("py/stats.toml"),
            "protocol = \"json\"\nargs = [\"[]float64\"]\nresults = [\"float64\"]\n",
            false,
        );
        write(&d.join("notes.txt"), "not a handler", false);
        write(&d.join(".hidden"), "#!/bin/sh\n", true);
        write(&d.join("upper~"), "#!/bin/sh\n", true);
        let s = scan(d, &BTreeSet::new()).expect("scan");
        assert_eq!(s.handlers.keys().collect::<Vec<_>>(), ["stats", "upper"]);
        assert_eq!(s.handlers["upper"].manifest, Manifest::seed());
        assert_eq!(s.handlers["stats"].manifest.args, ["[]float64"]);
        assert!(s.problems.is_empty(), "{:?}", s.problems);
    }

    #[test]
    fn clashes_reserved_names_and_bad_manifests_are_problems() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        write(&d.join("a/dup"), "", true);
        write(&d.join("b/dup"), "", true);
        write(&d.join("add"), "", true);
        write(&d.join("broken"), "", true);
        write(&d.join("broken.toml"), "protocol = \"json\"\nargs = 3\n", false);
        write(&d.join("orphan.toml"), "usage = \"x\"\n", false);
        write(&d.join("fine"), "", true);
        let reserved: BTreeSet<String> = ["add".to_string()].into();
        let s = scan(d, &reserved).expect("scan");
        assert_eq!(s.handlers.keys().collect::<Vec<_>>(), ["fine"]);
        let text: Vec<String> = s.problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("two executables are named `dup`") && t.contains("a/dup") && t.contains("b/dup")),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.contains("/add is named like a handler")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("broken.toml:2:8")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("orphan.toml has no executable")), "{text:?}");
        assert_eq!(s.problems.iter().filter(|p| p.is_fatal()).count(), 2);
    }
}
