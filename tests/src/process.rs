//! One `aurora` process of any role, started from the binary under test, with its log in a file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The binary under test: `$AURORA_BIN` when set (the benchmarks run the release `aurora`), else
/// `aurora-under-test`, which Cargo builds next to the test executables' directory
/// (`target/<profile>/`) whenever this package's tests are built.
pub fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("AURORA_BIN") {
        let bin = PathBuf::from(bin);
        assert!(bin.exists(), "AURORA_BIN={} does not exist", bin.display());
        return bin;
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = dir.join(format!("aurora-under-test{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is missing; build it with `cargo build -p aurora-e2e`", bin.display());
    bin
}

/// A running `aurora` process (`dev`, `gateway`, `projector`, `worker`, …).
pub struct Process {
    child: Child,
    /// Its GraphiQL or health base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    stdout: Arc<Mutex<Vec<String>>>,
}

/// A process that was started and has not printed its banner yet.
pub struct Starting {
    child: Child,
    banner: Receiver<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    args: Vec<String>,
    log: PathBuf,
}

impl Process {
    /// Starts `aurora <args>` and waits for its banner.
    pub fn spawn(args: &[String], log: &Path) -> Self {
        Self::start(args, log).ready()
    }

    /// Starts `aurora <args>` with stderr appended to `log`; [`Starting::ready`] waits for it.
    pub fn start(args: &[String], log: &Path) -> Starting {
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open log");
        let mut child = Command::new(binary())
            .args(args)
            .env_remove("AURORA_TOKEN")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("start aurora");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, banner) = std::sync::mpsc::channel();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let line = line.trim().to_string();
                kept.lock().unwrap_or_else(|p| p.into_inner()).push(line.clone());
                for prefix in ["GraphiQL:", "health:"] {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        let url = rest.trim().trim_end_matches("/graphql").trim_end_matches("/health").to_string();
                        let _ = tx.send(url);
                    }
                }
            }
        });
        Starting { child, banner, stdout: lines, args: args.to_vec(), log: log.to_path_buf() }
    }

    /// The lines the process printed on stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The operating system's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the process to exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().expect("wait for aurora")
    }
}

impl Starting {
    /// Waits (up to a minute) for the banner that says where the process listens.
    pub fn ready(self) -> Process {
        let Starting { mut child, banner, stdout, args, log } = self;
        match banner.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => {
                // The banner's last line follows the address.
                std::thread::sleep(Duration::from_millis(50));
                Process { child, url, stdout }
            }
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "aurora {args:?} did not come up; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
